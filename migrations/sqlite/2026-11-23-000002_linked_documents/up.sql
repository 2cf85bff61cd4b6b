-- A document served from a department's own table gets a DocId the first time it is
-- pulled: a 'linked' row whose udf_key holds the department row's key columns. One
-- DocId per department row, even when two first pulls race.
CREATE UNIQUE INDEX documents_linked ON documents (doctype, udf_key) WHERE status = 'linked';
