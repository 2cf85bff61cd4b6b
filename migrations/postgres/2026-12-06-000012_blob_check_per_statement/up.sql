-- A document's blob_sha256 must name bytes in `blobs`, as the foreign key made sure, but
-- checked once a statement instead of once a row. The foreign key ran a query of its
-- own for every row written: 28% of the one backend that a PostgreSQL import keeps
-- busy (`perf`, 1M bench rows), and an import went 58,000-64,000 -> 73,000-76,000
-- rows/s with these triggers (BENCHMARKS.md). One statement's rows share their checks:
-- its distinct blobs are locked and counted once. A single-row write pays ~20 us more.
ALTER TABLE documents DROP CONSTRAINT IF EXISTS documents_blob_sha256_fkey;

-- After each INSERT or UPDATE of documents: every blob named by its rows is there.
-- KEY SHARE, as the foreign key took: a blob cannot be deleted under a document
-- whose transaction is still open, and a blob deleted meanwhile is not counted.
CREATE FUNCTION documents_blobs_present() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    wanted BIGINT;
    present BIGINT;
    missing TEXT;
BEGIN
    SELECT count(DISTINCT blob_sha256) INTO wanted FROM written;
    IF wanted = 0 THEN
        RETURN NULL;
    END IF;
    SELECT count(*) INTO present FROM (
        SELECT 1 FROM blobs WHERE sha256 IN (SELECT blob_sha256 FROM written)
        FOR KEY SHARE
    ) AS locked;
    IF present < wanted THEN
        SELECT w.blob_sha256 INTO missing FROM written w
        WHERE w.blob_sha256 IS NOT NULL
          AND NOT EXISTS (SELECT 1 FROM blobs b WHERE b.sha256 = w.blob_sha256)
        LIMIT 1;
        RAISE EXCEPTION 'insert or update on table "documents" violates foreign key constraint "documents_blob_sha256_fkey"'
            USING ERRCODE = 'foreign_key_violation',
                  DETAIL = format('Key (blob_sha256)=(%s) is not present in table "blobs".', missing),
                  TABLE = 'documents',
                  CONSTRAINT = 'documents_blob_sha256_fkey';
    END IF;
    RETURN NULL;
END $$;

-- Two triggers: one with transition tables may have only one event.
CREATE TRIGGER documents_blobs_inserted AFTER INSERT ON documents
    REFERENCING NEW TABLE AS written
    FOR EACH STATEMENT EXECUTE FUNCTION documents_blobs_present();
CREATE TRIGGER documents_blobs_updated AFTER UPDATE ON documents
    REFERENCING NEW TABLE AS written
    FOR EACH STATEMENT EXECUTE FUNCTION documents_blobs_present();

-- The foreign key's other half: a blob a document names is neither deleted nor renamed.
-- (dlrepo itself never deletes blobs; this guards the DBA's hand.)
CREATE FUNCTION blobs_unreferenced() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.sha256 = OLD.sha256 THEN
        RETURN NEW;
    END IF;
    IF EXISTS (SELECT 1 FROM documents WHERE blob_sha256 = OLD.sha256) THEN
        RAISE EXCEPTION 'update or delete on table "blobs" violates foreign key constraint "documents_blob_sha256_fkey" on table "documents"'
            USING ERRCODE = 'foreign_key_violation',
                  DETAIL = format('Key (sha256)=(%s) is still referenced from table "documents".', OLD.sha256),
                  TABLE = 'blobs',
                  CONSTRAINT = 'documents_blob_sha256_fkey';
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER blobs_referenced BEFORE DELETE OR UPDATE OF sha256 ON blobs
    FOR EACH ROW EXECUTE FUNCTION blobs_unreferenced();
