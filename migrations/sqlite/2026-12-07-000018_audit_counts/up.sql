-- Running counts of the audit trail, for the usage report and the console's dashboard:
-- read row by row, today's dashboard took 4.85 s at 3M pulls that day, and a month's
-- report twice the time of a pass over the month. The audit writer counts the rows of
-- each segment it seals (`audit_segments`: every row up to its last_id committed),
-- per day, and moves `audit_counted` on in the same transaction; a report adds the
-- counts of its days to the rows after `audit_counted.last_id`, read one by one. The
-- rows already here are counted by the writer a segment's worth at a time.
-- day: 'YYYY-MM-DD' (UTC); doctype '-' and reason '' where the row has none.
CREATE TABLE audit_counts (
    day      TEXT NOT NULL,
    doctype  TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    status   INTEGER NOT NULL,
    reason   TEXT NOT NULL,
    n        BIGINT NOT NULL,
    PRIMARY KEY (day, doctype, endpoint, status, reason)
);
-- Latencies per day and doc type, in the report's buckets (`audit::latency`).
CREATE TABLE audit_latencies (
    day     TEXT NOT NULL,
    doctype TEXT NOT NULL,
    bucket  INTEGER NOT NULL,
    n       BIGINT NOT NULL,
    PRIMARY KEY (day, doctype, bucket)
);
CREATE TABLE audit_counted (
    one     INTEGER PRIMARY KEY NOT NULL CHECK (one = 1),
    last_id BIGINT NOT NULL
);
INSERT INTO audit_counted (one, last_id) VALUES (1, 0);
