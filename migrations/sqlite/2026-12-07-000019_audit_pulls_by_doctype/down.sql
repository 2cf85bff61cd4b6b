DROP INDEX audit_pulls_doctype;
