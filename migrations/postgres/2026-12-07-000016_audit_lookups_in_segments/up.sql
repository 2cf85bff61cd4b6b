-- The audit trail's lookups (`dlrepo audit find`, the console's document page) through
-- keys that enter their index in order. The index on (doctype, search) took one random
-- page write per pull, the largest part of what the audit trail costs a pull
-- (BENCHMARKS.md). Now the audit writer copies the keys of many new rows at once,
-- sorted, under the next segment number, so the index grows at its right edge; rows not
-- yet in a segment (after the last segment's last_id) are few and read directly.
CREATE TABLE audit_segments (
    seg     INTEGER PRIMARY KEY NOT NULL,
    last_id BIGINT NOT NULL
);
-- lookup: 's <doctype> <search>' or 'u <uri>'.
CREATE TABLE audit_lookups (
    seg    INTEGER NOT NULL,
    lookup TEXT COLLATE "C" NOT NULL,
    id     BIGINT NOT NULL,
    PRIMARY KEY (seg, lookup, id)
);
-- The rows already there: segment 1. Inserts of servers still running wait, so that
-- none has taken an id below the segment's end and commits after it.
LOCK TABLE audit_pulls IN SHARE MODE;
INSERT INTO audit_lookups (seg, lookup, id)
    SELECT 1, ('s ' || doctype || ' ' || search) COLLATE "C", id FROM audit_pulls
        WHERE doctype IS NOT NULL AND search IS NOT NULL
    UNION ALL
    SELECT 1, ('u ' || uri) COLLATE "C", id FROM audit_pulls WHERE uri IS NOT NULL
    ORDER BY 2, 3;
INSERT INTO audit_segments (seg, last_id) SELECT 1, id FROM audit_pulls ORDER BY id DESC LIMIT 1;
DROP INDEX audit_pulls_search;
