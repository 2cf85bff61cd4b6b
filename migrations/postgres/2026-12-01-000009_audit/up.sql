-- The audit trail: one row per Pull URI / Pull Doc answer, one per push attempt. Never
-- an Aadhaar number, a key, a keyhash or document bytes; search values as configured
-- (a keyed hash, masked, or none). Pruned after audit.retention_days.
CREATE TABLE audit_pulls (
    id         BIGSERIAL PRIMARY KEY,
    at         TIMESTAMP NOT NULL,
    caller     TEXT,
    endpoint   TEXT NOT NULL,
    api        TEXT NOT NULL,
    ver        TEXT,
    doctype    TEXT,
    uri        TEXT,
    search     TEXT,
    status     INTEGER NOT NULL,
    http       INTEGER NOT NULL,
    reason     TEXT,
    latency_us BIGINT NOT NULL
);
CREATE INDEX audit_pulls_at ON audit_pulls (at);
CREATE INDEX audit_pulls_search ON audit_pulls (doctype, search);
CREATE TABLE audit_pushes (
    id        BIGSERIAL PRIMARY KEY,
    at        TIMESTAMP NOT NULL,
    file_name TEXT NOT NULL,
    rows      BIGINT NOT NULL,
    attempt   INTEGER NOT NULL,
    outcome   TEXT NOT NULL,
    message   TEXT NOT NULL
);
CREATE INDEX audit_pushes_at ON audit_pushes (at);
