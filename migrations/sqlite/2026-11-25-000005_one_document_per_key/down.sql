ALTER TABLE documents DROP COLUMN fingerprint;
DROP INDEX documents_live_key;
