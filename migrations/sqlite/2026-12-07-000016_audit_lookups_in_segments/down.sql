CREATE INDEX audit_pulls_search ON audit_pulls (doctype, search);
DROP TABLE audit_lookups;
DROP TABLE audit_segments;
