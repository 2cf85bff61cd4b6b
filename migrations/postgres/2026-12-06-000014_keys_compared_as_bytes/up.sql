-- The doc type, DocId and search-field key are identifiers, compared for equality and
-- kept in B-tree order; how a language sorts them does not matter. Under the database's
-- own collation (even C.UTF-8) each index comparison called strcoll on copies of both
-- values, and an imported row is two random inserts into these indexes. Under "C" it is
-- a memcmp: a 1M-row import took 14% less CPU and ran 14% faster. Equality is the same,
-- and queries need no change: a column's own collation wins over a parameter's default.
-- The table is not rewritten; its indexes on these columns are rebuilt (3 s for 1M
-- documents).
ALTER TABLE documents
    ALTER COLUMN doctype TYPE TEXT COLLATE "C",
    ALTER COLUMN doc_id TYPE TEXT COLLATE "C",
    ALTER COLUMN udf_key TYPE TEXT COLLATE "C";
