-- The Aadhaar Data Vault: every Aadhaar number dlrepo stores, encrypted (AES-256-GCM:
-- nonce, ciphertext and tag) under the key named by key_id, found by a keyed hash.
-- Documents and the outbox hold only a reference: "vault:" + lookup_hash + ":" + the
-- last four digits (which may be shown).
CREATE TABLE aadhaar_vault (
    id BIGSERIAL PRIMARY KEY,
    lookup_hash TEXT NOT NULL UNIQUE,
    key_id      TEXT NOT NULL,
    sealed      BYTEA NOT NULL,
    created_at  TIMESTAMP NOT NULL,
    updated_at  TIMESTAMP NOT NULL
);
CREATE INDEX aadhaar_vault_key ON aadhaar_vault (key_id);
