-- Documents residents shared with the department through DigiLocker's requester
-- widget: one copy per (user_ref, doc_id), however often the upload service is called.
CREATE TABLE requester_documents (
    id           BIGSERIAL PRIMARY KEY,
    user_ref     TEXT NOT NULL,
    doc_id       TEXT NOT NULL,
    source_host  TEXT NOT NULL,
    content_type TEXT,
    sha256       TEXT NOT NULL,
    size         BIGINT NOT NULL,
    content      BYTEA NOT NULL,
    received_at  TIMESTAMP NOT NULL,
    UNIQUE (user_ref, doc_id)
);
