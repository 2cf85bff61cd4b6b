CREATE INDEX documents_lookup ON documents (doctype, udf_key);
DROP INDEX documents_known_key;
