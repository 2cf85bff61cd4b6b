DROP INDEX documents_doc_id;
DROP INDEX documents_live_key;
CREATE UNIQUE INDEX documents_doc_id ON documents (doctype, doc_id);
CREATE UNIQUE INDEX documents_live_key ON documents (doctype, udf_key)
    WHERE status IN ('issued', 'pending');
