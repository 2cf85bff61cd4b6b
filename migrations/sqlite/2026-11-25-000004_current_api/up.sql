-- The current issuer API (v1.13 / 3.0): the holder's date of birth, gender and phone
-- for IssuedTo and resident matching, further fields for the certificate XML, and the
-- signed certificate XML itself once made (kept, so every pull serves the same bytes).
ALTER TABLE documents ADD COLUMN holder_dob TEXT;
ALTER TABLE documents ADD COLUMN holder_gender TEXT;
ALTER TABLE documents ADD COLUMN holder_phone TEXT;
-- Further fields of the row (JSON object: name -> text), for CertificateData.
ALTER TABLE documents ADD COLUMN data TEXT;
ALTER TABLE documents ADD COLUMN xml_sha256 TEXT;
