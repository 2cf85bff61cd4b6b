-- One live (issued or pending) document per doc type and search-field values: an
-- import that is run twice, or two imports at once, can never issue a second one.
-- On a database that already holds duplicates this fails: `dlrepo check-data` lists
-- them (README, "Data protection").
CREATE UNIQUE INDEX documents_live_key ON documents (doctype, udf_key)
    WHERE status IN ('issued', 'pending');
-- What an imported row said (its values and its file's SHA-256), to tell a re-run
-- ("already issued, unchanged") from a different row for the same person (a conflict).
ALTER TABLE documents ADD COLUMN fingerprint TEXT;
