//! The Aadhaar Data Vault (UIDAI: entities that store Aadhaar numbers keep them
//! encrypted, in a vault of their own, with the keys kept apart).
//!
//! Every number is sealed with AES-256-GCM under the current key and found by a keyed
//! hash (HMAC-SHA256 under a lookup key that never rotates), so equal numbers give equal
//! references without anyone being able to test a guess. Documents and the outbox hold
//! only the reference `vault:<hash>:<last four digits>`; the number is opened again only
//! while a push file is built.
//!
//! The key file (or `DLREPO_VAULT_KEYS`) holds lines `lookup <64 hex>` and
//! `key <id> <64 hex>`; the last `key` line is the one new numbers are sealed with, the
//! others still open what they sealed until `dlrepo vault rotate-key` has moved every
//! row to the current one.

use std::path::Path;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use openssl::symm::{decrypt_aead, encrypt_aead, Cipher};

use crate::auth::{hmac_sha256, to_hex};
use crate::store::schema::{aadhaar_vault, documents, push_outbox};
use crate::store::{DbConn, StoreError};

const PREFIX: &str = "vault:";
const NONCE: usize = 12;
const TAG: usize = 16;

impl From<VaultError> for StoreError {
    fn from(e: VaultError) -> Self {
        match e {
            VaultError::Store(s) => s,
            other => StoreError::Vault(other.to_string()),
        }
    }
}

impl From<diesel::result::Error> for VaultError {
    fn from(e: diesel::result::Error) -> Self {
        VaultError::Store(e.into())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error("cannot read the vault keys from {path}: {reason}")]
    Keys { path: String, reason: String },
    #[error("vault key '{0}' is not in the key file: it sealed numbers that cannot be opened without it")]
    UnknownKey(String),
    #[error("a sealed Aadhaar number did not open: wrong key or damaged row")]
    Open,
    #[error("the vault holds no number for a reference in the outbox")]
    Missing,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("encryption failed: {0}")]
    Crypto(String),
}

/// The vault's keys, loaded once.
pub struct Vault {
    lookup: [u8; 32],
    /// (id, key); the last is current.
    keys: Vec<(String, [u8; 32])>,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Vault(current key {})", self.current_id())
    }
}

fn hex32(s: &str) -> Option<[u8; 32]> {
    if s.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(s.get(i * 2..i * 2 + 2)?, 16).ok()?;
    }
    Some(out)
}

impl Vault {
    /// Parses the key file's text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Vault, VaultError> {
        let bad = |reason: String| VaultError::Keys {
            path: origin.to_string(),
            reason,
        };
        let mut lookup = None;
        let mut keys: Vec<(String, [u8; 32])> = Vec::new();
        // `;` separates lines too, for keys given in one environment variable.
        let text = text.replace(';', "\n");
        for (n, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let parts: Vec<&str> = line.split_whitespace().collect();
            match parts[..] {
                ["lookup", hex] => {
                    lookup = Some(hex32(hex).ok_or_else(|| {
                        bad(format!("line {}: lookup key is not 64 hex digits", n + 1))
                    })?)
                }
                ["key", id, hex] => {
                    let k = hex32(hex).ok_or_else(|| {
                        bad(format!("line {}: key {id} is not 64 hex digits", n + 1))
                    })?;
                    if keys.iter().any(|(i, _)| i == id) {
                        return Err(bad(format!("key id {id} appears twice")));
                    }
                    keys.push((id.to_string(), k));
                }
                _ => {
                    return Err(bad(format!(
                        "line {}: expected 'lookup HEX' or 'key ID HEX'",
                        n + 1
                    )))
                }
            }
        }
        let lookup = lookup.ok_or_else(|| bad("no 'lookup' line".into()))?;
        if keys.is_empty() {
            return Err(bad("no 'key' line".into()));
        }
        Ok(Vault { lookup, keys })
    }

    /// Loads the keys from a file, which others must not be able to read.
    pub fn load(path: &Path) -> Result<Vault, VaultError> {
        let origin = path.display().to_string();
        if let Some(mode) = crate::files::open_to_others(path) {
            return Err(VaultError::Keys {
                path: origin,
                reason: format!("group or others can read it (mode {mode:o}): chmod 600"),
            });
        }
        let text = std::fs::read_to_string(path).map_err(|e| VaultError::Keys {
            path: origin.clone(),
            reason: e.to_string(),
        })?;
        Vault::parse(&text, &origin)
    }

    /// A new key file's text: a lookup key and a first key, from the system's CSPRNG.
    pub fn new_key_file() -> Result<String, VaultError> {
        let mut l = [0u8; 32];
        let mut k = [0u8; 32];
        openssl::rand::rand_bytes(&mut l).map_err(|e| VaultError::Crypto(e.to_string()))?;
        openssl::rand::rand_bytes(&mut k).map_err(|e| VaultError::Crypto(e.to_string()))?;
        Ok(format!(
            "# dlrepo Aadhaar vault keys: keep apart from the database and its backups.\nlookup {}\nkey k1 {}\n",
            to_hex(&l),
            to_hex(&k)
        ))
    }

    /// A `key` line for a new current key, to append to the file before rotating.
    pub fn new_key_line(&self) -> Result<String, VaultError> {
        let mut k = [0u8; 32];
        openssl::rand::rand_bytes(&mut k).map_err(|e| VaultError::Crypto(e.to_string()))?;
        let mut n = self.keys.len() + 1;
        while self.keys.iter().any(|(id, _)| *id == format!("k{n}")) {
            n += 1;
        }
        Ok(format!("key k{n} {}\n", to_hex(&k)))
    }

    pub fn current_id(&self) -> &str {
        self.keys.last().map_or("", |(id, _)| id.as_str())
    }

    fn key(&self, id: &str) -> Result<&[u8; 32], VaultError> {
        self.keys
            .iter()
            .find(|(i, _)| i == id)
            .map(|(_, k)| k)
            .ok_or_else(|| VaultError::UnknownKey(id.to_string()))
    }

    /// The reference documents and the outbox hold instead of the number.
    pub fn reference(&self, aadhaar: &str) -> String {
        let hash = to_hex(&hmac_sha256(&self.lookup, aadhaar.as_bytes()));
        let tail: String = aadhaar
            .chars()
            .skip(aadhaar.chars().count().saturating_sub(4))
            .collect();
        format!("{PREFIX}{hash}:{tail}")
    }

    /// nonce || ciphertext || tag, the lookup hash bound in as associated data so a
    /// sealed number cannot be moved to another row.
    fn seal_with(&self, id: &str, hash: &str, aadhaar: &str) -> Result<Vec<u8>, VaultError> {
        let key = self.key(id)?;
        let mut nonce = [0u8; NONCE];
        openssl::rand::rand_bytes(&mut nonce).map_err(|e| VaultError::Crypto(e.to_string()))?;
        let mut tag = [0u8; TAG];
        let ct = encrypt_aead(
            Cipher::aes_256_gcm(),
            key,
            Some(&nonce),
            hash.as_bytes(),
            aadhaar.as_bytes(),
            &mut tag,
        )
        .map_err(|e| VaultError::Crypto(e.to_string()))?;
        let mut out = nonce.to_vec();
        out.extend(ct);
        out.extend(tag);
        Ok(out)
    }

    fn open(&self, id: &str, hash: &str, sealed: &[u8]) -> Result<String, VaultError> {
        if sealed.len() < NONCE + TAG {
            return Err(VaultError::Open);
        }
        let (nonce, rest) = sealed.split_at(NONCE);
        let (ct, tag) = rest.split_at(rest.len() - TAG);
        let plain = decrypt_aead(
            Cipher::aes_256_gcm(),
            self.key(id)?,
            Some(nonce),
            hash.as_bytes(),
            ct,
            tag,
        )
        .map_err(|_| VaultError::Open)?;
        String::from_utf8(plain).map_err(|_| VaultError::Open)
    }

    /// Puts the number in the vault (once per number) and returns its reference. Runs
    /// inside the caller's transaction, with the document that refers to it.
    pub fn store(
        &self,
        conn: &mut DbConn,
        aadhaar: &str,
        now: NaiveDateTime,
    ) -> Result<String, VaultError> {
        let reference = self.reference(aadhaar);
        let hash = hash_of(&reference);
        let sealed = self.seal_with(self.current_id(), hash, aadhaar)?;
        let row = (
            aadhaar_vault::lookup_hash.eq(hash),
            aadhaar_vault::key_id.eq(self.current_id()),
            aadhaar_vault::sealed.eq(&sealed),
            aadhaar_vault::created_at.eq(now),
            aadhaar_vault::updated_at.eq(now),
        );
        match conn {
            DbConn::Sqlite(c) => diesel::insert_into(aadhaar_vault::table)
                .values(row)
                .on_conflict_do_nothing()
                .execute(c),
            DbConn::Postgres(c) => diesel::insert_into(aadhaar_vault::table)
                .values(row)
                .on_conflict_do_nothing()
                .execute(c),
        }
        .map_err(StoreError::from)?;
        Ok(reference)
    }

    /// [`Vault::store`] for many numbers, in multi-row statements (an import's batch).
    pub fn store_many(
        &self,
        conn: &mut DbConn,
        numbers: &[&str],
        now: NaiveDateTime,
    ) -> Result<(), VaultError> {
        let current = self.current_id();
        for chunk in numbers.chunks(1000) {
            let mut rows = Vec::with_capacity(chunk.len());
            for n in chunk {
                let reference = self.reference(n);
                let hash = hash_of(&reference).to_string();
                let sealed = self.seal_with(current, &hash, n)?;
                rows.push((
                    aadhaar_vault::lookup_hash.eq(hash),
                    aadhaar_vault::key_id.eq(current),
                    aadhaar_vault::sealed.eq(sealed),
                    aadhaar_vault::created_at.eq(now),
                    aadhaar_vault::updated_at.eq(now),
                ));
            }
            match conn {
                DbConn::Sqlite(c) => diesel::insert_into(aadhaar_vault::table)
                    .values(&rows)
                    .on_conflict_do_nothing()
                    .execute(c),
                DbConn::Postgres(c) => diesel::insert_into(aadhaar_vault::table)
                    .values(&rows)
                    .on_conflict_do_nothing()
                    .execute(c),
            }
            .map_err(StoreError::from)?;
        }
        Ok(())
    }

    /// The number behind a reference; anything that is not a reference (rows written
    /// before the vault) is returned as it is.
    pub fn reveal(&self, conn: &mut DbConn, value: &str) -> Result<String, VaultError> {
        if !value.starts_with(PREFIX) {
            return Ok(value.to_string());
        }
        let hash = hash_of(value);
        let row: Option<(String, Vec<u8>)> = aadhaar_vault::table
            .filter(aadhaar_vault::lookup_hash.eq(hash))
            .select((aadhaar_vault::key_id, aadhaar_vault::sealed))
            .first(conn)
            .optional()
            .map_err(StoreError::from)?;
        let (id, sealed) = row.ok_or(VaultError::Missing)?;
        self.open(&id, hash, &sealed)
    }

    /// `dlrepo vault rotate-key`, in transactions of `batch` rows so that a kill loses
    /// at most the batch in flight; running it again carries on. First any number still
    /// stored in clear (from before the vault) is sealed, then every row under an older
    /// key is opened and sealed again under the current one. Returns (sealed, rotated).
    pub fn rotate(
        &self,
        conn: &mut DbConn,
        batch: i64,
        now: NaiveDateTime,
    ) -> Result<(u64, u64), VaultError> {
        let sealed = self.seal_clear(conn, batch, now)?;
        let mut rotated = 0u64;
        let current = self.current_id().to_string();
        loop {
            let n = crate::store::write_transaction(conn, |conn| -> Result<u64, VaultError> {
                let rows: Vec<(i64, String, String, Vec<u8>)> = aadhaar_vault::table
                    .filter(aadhaar_vault::key_id.ne(&current))
                    .select((
                        aadhaar_vault::id,
                        aadhaar_vault::lookup_hash,
                        aadhaar_vault::key_id,
                        aadhaar_vault::sealed,
                    ))
                    .order(aadhaar_vault::id)
                    .limit(batch)
                    .load(conn)
                    .map_err(StoreError::from)?;
                for (id, hash, key_id, old) in &rows {
                    let plain = self.open(key_id, hash, old)?;
                    let new = self.seal_with(&current, hash, &plain)?;
                    diesel::update(aadhaar_vault::table.filter(aadhaar_vault::id.eq(id)))
                        .set((
                            aadhaar_vault::key_id.eq(&current),
                            aadhaar_vault::sealed.eq(new),
                            aadhaar_vault::updated_at.eq(now),
                        ))
                        .execute(conn)
                        .map_err(StoreError::from)?;
                }
                Ok(rows.len() as u64)
            })?;
            rotated += n;
            if n == 0 {
                return Ok((sealed, rotated));
            }
        }
    }

    /// Numbers stored in clear by versions before the vault, in documents and the
    /// outbox, replaced by references.
    fn seal_clear(
        &self,
        conn: &mut DbConn,
        batch: i64,
        now: NaiveDateTime,
    ) -> Result<u64, VaultError> {
        let mut total = 0u64;
        loop {
            let n = crate::store::write_transaction(conn, |conn| -> Result<u64, VaultError> {
                let docs: Vec<(i64, String)> = documents::table
                    .filter(documents::aadhaar.is_not_null())
                    .filter(documents::aadhaar.not_like(format!("{PREFIX}%")))
                    .select((documents::id, documents::aadhaar.assume_not_null()))
                    .limit(batch)
                    .load(conn)
                    .map_err(StoreError::from)?;
                for (id, a) in &docs {
                    let r = self.store(conn, a, now)?;
                    diesel::update(documents::table.filter(documents::id.eq(id)))
                        .set(documents::aadhaar.eq(r))
                        .execute(conn)
                        .map_err(StoreError::from)?;
                }
                let queued: Vec<(i64, String)> = push_outbox::table
                    .filter(push_outbox::aadhaar.not_like(format!("{PREFIX}%")))
                    .select((push_outbox::id, push_outbox::aadhaar))
                    .limit(batch)
                    .load(conn)
                    .map_err(StoreError::from)?;
                for (id, a) in &queued {
                    let r = self.store(conn, a, now)?;
                    diesel::update(push_outbox::table.filter(push_outbox::id.eq(id)))
                        .set(push_outbox::aadhaar.eq(r))
                        .execute(conn)
                        .map_err(StoreError::from)?;
                }
                Ok((docs.len() + queued.len()) as u64)
            })?;
            total += n;
            if n == 0 {
                return Ok(total);
            }
        }
    }

    /// (rows under the current key, rows under older keys).
    pub fn status(&self, conn: &mut DbConn) -> Result<(i64, i64), VaultError> {
        let current: i64 = aadhaar_vault::table
            .filter(aadhaar_vault::key_id.eq(self.current_id()))
            .count()
            .get_result(conn)
            .map_err(StoreError::from)?;
        let older: i64 = aadhaar_vault::table
            .filter(aadhaar_vault::key_id.ne(self.current_id()))
            .count()
            .get_result(conn)
            .map_err(StoreError::from)?;
        Ok((current, older))
    }
}

/// The lookup hash inside a reference.
fn hash_of(reference: &str) -> &str {
    reference
        .strip_prefix(PREFIX)
        .and_then(|r| r.split(':').next())
        .unwrap_or("")
}

/// What may be shown of a number or a reference: its last four digits.
pub fn last4(value: &str) -> String {
    let n = value.chars().count();
    value.chars().skip(n.saturating_sub(4)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_hide_the_number_and_seals_open_only_with_their_key() {
        let v = Vault::parse(&Vault::new_key_file().expect("keys"), "test").expect("parse");
        let r = v.reference("234123412346");
        assert!(r.starts_with("vault:") && r.ends_with(":2346"), "{r}");
        assert!(!r.contains("23412341"));
        assert_eq!(
            r,
            v.reference("234123412346"),
            "equal numbers, equal references"
        );
        let hash = hash_of(&r);
        let sealed = v.seal_with("k1", hash, "234123412346").expect("seal");
        assert_eq!(v.open("k1", hash, &sealed).expect("open"), "234123412346");
        assert!(
            v.open("k1", "another", &sealed).is_err(),
            "bound to its row"
        );
        let mut broken = sealed.clone();
        broken[NONCE] ^= 1;
        assert!(v.open("k1", hash, &broken).is_err());
        assert!(matches!(
            v.open("k9", hash, &sealed),
            Err(VaultError::UnknownKey(_))
        ));
    }

    #[test]
    fn key_file_problems_are_named() {
        let zeros = "0".repeat(64);
        let no_lookup = format!("key k1 {zeros}");
        for (text, want) in [
            (no_lookup.as_str(), "no 'lookup'"),
            ("lookup 00\nkey k1 00", "64 hex"),
            (
                "lookup 0000000000000000000000000000000000000000000000000000000000000000",
                "no 'key'",
            ),
            ("hello", "expected"),
        ] {
            let e = Vault::parse(text, "f").expect_err(text).to_string();
            assert!(e.contains(want), "{text}: {e}");
        }
    }
}
