-- The Aadhaar Data Vault: every Aadhaar number dlrepo stores, encrypted (AES-256-GCM:
-- nonce, ciphertext and tag) under the key named by key_id, found by a keyed hash.
-- Documents and the outbox hold only a reference: "vault:" + lookup_hash + ":" + the
-- last four digits (which may be shown).
CREATE TABLE aadhaar_vault (
    id INTEGER PRIMARY KEY NOT NULL,
    lookup_hash TEXT NOT NULL UNIQUE,
    key_id      TEXT NOT NULL,
    sealed      BLOB NOT NULL,
    created_at  TIMESTAMP NOT NULL,
    updated_at  TIMESTAMP NOT NULL
);
CREATE INDEX aadhaar_vault_key ON aadhaar_vault (key_id);
