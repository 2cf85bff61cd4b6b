-- Document bytes, stored once per distinct content (rows may share a file).
CREATE TABLE blobs (
    sha256     TEXT PRIMARY KEY NOT NULL,
    content    BLOB NOT NULL,
    size       BIGINT NOT NULL,
    created_at TIMESTAMP NOT NULL
);

-- One row per DocId of a doc type: reserved by `mint`, issued by `import`, revoked later.
CREATE TABLE documents (
    id          INTEGER PRIMARY KEY NOT NULL,
    doctype     TEXT NOT NULL,
    doc_id      TEXT NOT NULL,
    status      TEXT NOT NULL,
    -- The UDF values in the doc type's configured order, joined by U+001F.
    udf_key     TEXT,
    doc_name    TEXT,
    holder_name TEXT,
    aadhaar     TEXT,
    issued_on   TEXT,
    valid_from  TEXT,
    valid_to    TEXT,
    blob_sha256 TEXT REFERENCES blobs (sha256),
    created_at  TIMESTAMP NOT NULL,
    updated_at  TIMESTAMP NOT NULL
);

-- DocIds are unique per doc type: minting retries on a clash instead of checking first.
CREATE UNIQUE INDEX documents_doc_id ON documents (doctype, doc_id);
-- The Pull URI lookup.
CREATE INDEX documents_lookup ON documents (doctype, udf_key);
