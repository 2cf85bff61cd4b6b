//! What a department row says, as one value ([`DeptRow::digest`]): it tells a row the
//! department changed from one dlrepo has already made a document of, on every read.

use super::department::DeptRow;

/// Marks a [`DeptRow::digest`]; a fingerprint without it is a [`DeptRow::legacy_digest`].
const DIGEST_PREFIX: &str = "b3:";

impl DeptRow {
    /// What the row says, as one value: it changes exactly when the document would.
    /// With a version column, that column; else every mapped column and the document.
    /// BLAKE3: every pull of a row reads and digests its document column, and SHA-256
    /// of a 31 KiB PDF (with the CPU's SHA instructions) was 15% of a server answering
    /// such pulls (BENCHMARKS.md, 2026-12-07).
    pub fn digest(&self) -> String {
        let mut h = blake3::Hasher::new();
        self.feed(|bytes| {
            h.update(bytes);
        });
        format!("{DIGEST_PREFIX}{}", h.finalize().to_hex())
    }

    /// The digest as dlrepo made it before 2026-12-07 (SHA-256), still recorded for the
    /// rows read before an upgrade: told apart so that an upgrade changes no document.
    pub fn legacy_digest(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        self.feed(|bytes| h.update(bytes));
        super::documents::blob_id(&h.finalize())
    }

    /// Whether `fingerprint` is this row's in the form made before [`DeptRow::digest`]
    /// (for the caller to record it anew).
    pub fn has_legacy_digest(&self, fingerprint: &str) -> bool {
        !fingerprint.starts_with(DIGEST_PREFIX) && fingerprint == self.legacy_digest()
    }

    /// The bytes a digest is of, in order.
    fn feed(&self, mut update: impl FnMut(&[u8])) {
        let mut part = |label: &str, v: Option<&[u8]>| {
            update(label.as_bytes());
            match v {
                // Length-prefixed: no two rows hash alike by moving text between fields.
                Some(v) => {
                    update(&(v.len() as u64).to_be_bytes());
                    update(v);
                }
                None => update(&u64::MAX.to_be_bytes()),
            }
        };
        if let Some(v) = &self.version {
            part("version", Some(v.as_bytes()));
        } else {
            for (label, v) in [
                ("holder_name", &self.holder_name),
                ("doc_name", &self.doc_name),
                ("issued_on", &self.issued_on),
                ("valid_from", &self.valid_from),
                ("valid_to", &self.valid_to),
                ("aadhaar", &self.aadhaar),
                ("dob", &self.dob),
                ("gender", &self.gender),
                ("phone", &self.phone),
            ] {
                part(label, v.as_deref().map(str::as_bytes));
            }
            part("content", self.content.as_deref());
            for (label, v) in &self.fields {
                part(label, Some(v.as_bytes()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row() -> DeptRow {
        DeptRow {
            row_key: "1001".into(),
            holder_name: Some("Asha Rao".into()),
            doc_name: None,
            issued_on: Some("01-06-2026".into()),
            valid_from: None,
            valid_to: None,
            aadhaar: None,
            dob: None,
            gender: None,
            phone: None,
            content: Some(b"%PDF-1.7 test".to_vec()),
            fields: vec![("Total marks".into(), "477".into())],
            revoked: false,
            version: None,
        }
    }

    /// The values earlier releases recorded (an independent Python rendering of their
    /// SHA-256 digest): were these to drift, an upgrade would re-make and re-push every
    /// department document.
    #[test]
    fn the_legacy_digest_is_what_earlier_releases_recorded() {
        let r = row();
        let old = "be6e5e6905896a10a0ea7d9b220d495c2b49cd4c3b8548f6131b3f69f559061f";
        assert_eq!(r.legacy_digest(), old);
        assert!(r.has_legacy_digest(old));
        let versioned = DeptRow {
            version: Some("7".into()),
            ..row()
        };
        let old = "2a6d3afc2fb40d6024f89e3d47e130a540a6f69e363df88294129fc876069d4d";
        assert_eq!(versioned.legacy_digest(), old);
    }

    #[test]
    fn the_digest_changes_with_the_row_and_is_never_taken_for_a_legacy_one() {
        let r = row();
        let d = r.digest();
        assert!(d.starts_with(DIGEST_PREFIX));
        assert_eq!(d, row().digest());
        assert!(!r.has_legacy_digest(&d));
        let changed = DeptRow {
            content: Some(b"%PDF-1.7 other".to_vec()),
            ..row()
        };
        assert_ne!(changed.digest(), d);
        assert!(!changed.has_legacy_digest(&r.legacy_digest()));
        // Text moved between fields is a change too (length-prefixed parts).
        let moved = DeptRow {
            holder_name: Some("Asha".into()),
            doc_name: Some(" Rao".into()),
            ..row()
        };
        assert_ne!(moved.digest(), d);
    }
}
