DROP INDEX audit_pulls_status;
