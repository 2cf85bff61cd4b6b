DROP INDEX documents_linked;
