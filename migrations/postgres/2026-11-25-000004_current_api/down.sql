ALTER TABLE documents DROP COLUMN xml_sha256;
ALTER TABLE documents DROP COLUMN data;
ALTER TABLE documents DROP COLUMN holder_phone;
ALTER TABLE documents DROP COLUMN holder_gender;
ALTER TABLE documents DROP COLUMN holder_dob;
