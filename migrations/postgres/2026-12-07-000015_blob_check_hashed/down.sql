CREATE OR REPLACE FUNCTION documents_blobs_present() RETURNS trigger LANGUAGE plpgsql AS $$
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
