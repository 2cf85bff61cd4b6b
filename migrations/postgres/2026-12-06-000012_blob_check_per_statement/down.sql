DROP TRIGGER blobs_referenced ON blobs;
DROP FUNCTION blobs_unreferenced();
DROP TRIGGER documents_blobs_updated ON documents;
DROP TRIGGER documents_blobs_inserted ON documents;
DROP FUNCTION documents_blobs_present();
ALTER TABLE documents ADD CONSTRAINT documents_blob_sha256_fkey
    FOREIGN KEY (blob_sha256) REFERENCES blobs (sha256);
