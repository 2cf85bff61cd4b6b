DROP TABLE audit_pushes;
DROP TABLE audit_pulls;
