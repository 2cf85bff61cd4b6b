-- Pull URI finds a document through documents_live_key (its query names the index's
-- statuses literally), so the older full (doctype, udf_key) index only cost every
-- imported row a third random index insert. Department rows (linked or revoked) are
-- found through an index of their own, which imported documents enter only when revoked.
CREATE INDEX documents_known_key ON documents (doctype, udf_key)
    WHERE status IN ('linked', 'revoked');
DROP INDEX documents_lookup;
