DROP TABLE audit_counted;
DROP TABLE audit_latencies;
DROP TABLE audit_counts;
