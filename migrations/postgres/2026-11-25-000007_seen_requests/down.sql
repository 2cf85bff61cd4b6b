DROP TABLE seen_requests;
