-- The blob check of migration 12, cheaper for a large statement (an import's COPY of
-- 50,000 rows): the distinct blobs in one hashed pass compared as bytes (`count(DISTINCT
-- ...)` sorted the rows under the database's collation, 25 to 32 ms a batch), then
-- those few looked up by key and locked, instead of a second pass over the rows (~20
-- ms). ~20 ms a batch in all, against ~45 (EXPLAIN ANALYZE on a copy of a batch;
-- BENCHMARKS.md, 2026-12-07).
CREATE OR REPLACE FUNCTION documents_blobs_present() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    wanted TEXT[];
    present BIGINT;
    missing TEXT;
BEGIN
    SELECT array_agg(sha) INTO wanted FROM (
        SELECT DISTINCT blob_sha256 COLLATE "C" AS sha FROM written
        WHERE blob_sha256 IS NOT NULL
    ) AS distinct_blobs;
    IF wanted IS NULL THEN
        RETURN NULL;
    END IF;
    -- A join, not `= ANY(wanted)`: with many values that read the whole of `blobs`.
    SELECT count(*) INTO present FROM (
        SELECT 1 FROM blobs JOIN unnest(wanted) AS w(sha) ON blobs.sha256 = w.sha
        FOR KEY SHARE OF blobs
    ) AS locked;
    IF present < cardinality(wanted) THEN
        SELECT w.sha INTO missing FROM unnest(wanted) AS w(sha)
        WHERE NOT EXISTS (SELECT 1 FROM blobs b WHERE b.sha256 = w.sha)
        LIMIT 1;
        RAISE EXCEPTION 'insert or update on table "documents" violates foreign key constraint "documents_blob_sha256_fkey"'
            USING ERRCODE = 'foreign_key_violation',
                  DETAIL = format('Key (blob_sha256)=(%s) is not present in table "blobs".', missing),
                  TABLE = 'documents',
                  CONSTRAINT = 'documents_blob_sha256_fkey';
    END IF;
    RETURN NULL;
END $$;
