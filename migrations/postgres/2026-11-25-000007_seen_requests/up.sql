-- Requests already answered, so that a captured request cannot be replayed within the
-- ts window: one row per (orgId, txn), shared by every server on this database and kept
-- across restarts until it expires (pruned in the background).
CREATE TABLE seen_requests (
    org_id     TEXT NOT NULL,
    txn        TEXT NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    PRIMARY KEY (org_id, txn)
);
CREATE INDEX seen_requests_expiry ON seen_requests (expires_at);
