DROP INDEX documents_doc_id;
DROP INDEX documents_live_key;
ALTER TABLE documents
    ALTER COLUMN doctype TYPE TEXT COLLATE "default",
    ALTER COLUMN doc_id TYPE TEXT COLLATE "default",
    ALTER COLUMN udf_key TYPE TEXT COLLATE "default";
CREATE UNIQUE INDEX documents_doc_id ON documents (doctype, doc_id);
CREATE UNIQUE INDEX documents_live_key ON documents (doctype, udf_key)
    WHERE status IN ('issued', 'pending');
