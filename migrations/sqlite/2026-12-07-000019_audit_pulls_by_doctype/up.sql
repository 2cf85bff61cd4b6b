-- The console's pull log filtered by doc type: newest first among that doc type's rows.
-- Without an index, a doc type pulled rarely read the whole trail backwards to find its
-- last hundred answers. Each pull adds its entry at the right edge of its doc type's
-- part of the index (ids only grow), a few pages written in place, not a random page.
CREATE INDEX audit_pulls_doctype ON audit_pulls (doctype, id);
