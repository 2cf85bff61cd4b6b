ALTER TABLE documents DROP COLUMN made_from;
ALTER TABLE documents DROP COLUMN signed_with;
DROP TABLE document_versions;
