DROP TABLE aadhaar_vault;
