-- Every earlier signed copy of a document that was made again (its department row
-- changed, or `dlrepo resign`): kept for the audit trail, never served.
CREATE TABLE document_versions (
    id          INTEGER PRIMARY KEY NOT NULL,
    doctype     TEXT NOT NULL,
    doc_id      TEXT NOT NULL,
    blob_sha256 TEXT REFERENCES blobs (sha256),
    xml_sha256  TEXT,
    fingerprint TEXT,
    replaced_at TIMESTAMP NOT NULL
);
CREATE INDEX document_versions_doc ON document_versions (doctype, doc_id);
-- The signing certificate (SHA-256 of its DER) a document's stored bytes were signed
-- with: what `dlrepo resign` compares, so that a resumed run signs nothing twice.
ALTER TABLE documents ADD COLUMN signed_with TEXT;
-- How the stored bytes were made: 'render' (from a template, made again by resign) or
-- 'file' (the department's own PDF, signed again on top). NULL: from before this.
ALTER TABLE documents ADD COLUMN made_from TEXT;
