-- Document bytes are stored out of line as they are, without PostgreSQL's compression
-- (pglz). PDFs are compressed already (their streams, their images): pglz saved nothing
-- on rendered certificates (602 MiB in, 602 MiB stored) and was 63% of the server's CPU
-- in an import of rows that each name a PDF of their own. Rows already stored keep the
-- form they have; both are read the same way.
ALTER TABLE blobs ALTER COLUMN content SET STORAGE EXTERNAL;
