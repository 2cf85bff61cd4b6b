-- CSV files of URIs for the central locker. A file's rows are fixed when it is built,
-- so a resend is the same file.
CREATE TABLE push_files (
    id           INTEGER PRIMARY KEY NOT NULL,
    file_name    TEXT NOT NULL UNIQUE,
    -- ready | in_flight | pushed | failed | exported
    status       TEXT NOT NULL,
    row_count    BIGINT NOT NULL,
    attempts     INTEGER NOT NULL,
    -- "host:pid" of the process sending it, to take over after a crash.
    claimed_by   TEXT,
    last_message TEXT,
    created_at   TIMESTAMP NOT NULL,
    updated_at   TIMESTAMP NOT NULL
);

-- One row per change to push (A add, U update, D delete), written in the same
-- transaction as the change itself.
CREATE TABLE push_outbox (
    id         INTEGER PRIMARY KEY NOT NULL,
    file_id    BIGINT REFERENCES push_files (id),
    aadhaar    TEXT NOT NULL,
    uri        TEXT NOT NULL,
    doc_type   TEXT NOT NULL,
    doc_name   TEXT NOT NULL,
    doc_id     TEXT NOT NULL,
    issued_on  TEXT,
    valid_from TEXT,
    valid_to   TEXT,
    action     TEXT NOT NULL,
    time_stamp TIMESTAMP NOT NULL
);

CREATE INDEX push_outbox_file ON push_outbox (file_id, id);
CREATE INDEX push_files_status ON push_files (status, id);
