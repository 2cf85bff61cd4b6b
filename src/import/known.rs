//! What the writer knows of the live documents a batch's rows meet: the batch's
//! lookup, when it is worth one, and where a row differs from its live document.

use std::collections::HashMap;
use std::sync::Arc;

use super::row::{Content, ValidRow};
use crate::store::documents::{self, DocRecord, LiveDoc};
use crate::store::{DbConn, StoreError};

/// The first field in which a row differs from the live document with its search-field
/// values; `None` when it says the same.
pub(super) fn differing_field(
    old: &DocRecord,
    old_fingerprint: Option<&str>,
    row: &ValidRow,
) -> Option<&'static str> {
    let (new, doc_id_given) = (&row.doc, !row.minted);
    let fields: [(&'static str, &Option<String>, &Option<String>); 10] = [
        ("doc_name", &old.doc_name, &new.doc_name),
        ("holder_name", &old.holder_name, &new.holder_name),
        ("aadhaar", &old.aadhaar, &new.aadhaar),
        ("issued_on", &old.issued_on, &new.issued_on),
        ("valid_from", &old.valid_from, &new.valid_from),
        ("valid_to", &old.valid_to, &new.valid_to),
        ("dob", &old.holder_dob, &new.holder_dob),
        ("gender", &old.holder_gender, &new.holder_gender),
        ("phone", &old.holder_phone, &new.holder_phone),
        ("further columns", &old.data, &new.data),
    ];
    if let Some((name, _, _)) = fields.iter().find(|(_, a, b)| a != b) {
        return Some(name);
    }
    if doc_id_given && new.doc_id != old.doc_id {
        return Some("doc_id");
    }
    // Same values: only the file can differ, and only a fingerprint can tell. The
    // fingerprint covers the DocId a row gives (checked above), so the DocId is left
    // out of the comparison: the row's is also tried with the DocId the other way, the
    // document's for a row that mints its own (the document's first row gave it), ""
    // for a row that gives it (the document was minted under it). Both had been
    // refused, "pdf differs", with the file unchanged.
    match (old_fingerprint, row.doc.fingerprint.as_deref()) {
        (Some(a), Some(b)) if a != b => {
            let other = if doc_id_given {
                ""
            } else {
                old.doc_id.as_str()
            };
            (row.fingerprint_as(other) != a).then_some("pdf")
        }
        _ => None,
    }
}

/// Live documents looked up for a whole batch at once (PostgreSQL, in a re-run), each
/// answer used once: the first row with a key takes it, a later one asks the database. A write on
/// the row path forgets them all, since it may change another key's live document
/// (`--correct` of a given DocId can move it to other search fields).
#[derive(Default)]
pub(super) struct KnownLive(HashMap<String, Option<LiveDoc>>);

impl KnownLive {
    /// The live documents of a batch's search fields (sorted by them), looked up
    /// together.
    pub(super) fn fetch(
        conn: &mut DbConn,
        doctype: &str,
        batch: &[ValidRow],
    ) -> Result<Self, StoreError> {
        let mut keys: Vec<&str> = batch
            .iter()
            .filter_map(|r| r.doc.udf_key.as_deref())
            .collect();
        keys.dedup();
        // Even one key: a batch of one row found issued must not store its bytes.
        if keys.is_empty() {
            return Ok(Self::default());
        }
        let found = documents::find_live_by_keys(conn, doctype, &keys)?;
        // Every key asked is known: live (Some) or not (None).
        let mut known: HashMap<String, Option<LiveDoc>> =
            keys.iter().map(|k| (k.to_string(), None)).collect();
        for doc in found {
            if let Some(key) = doc.0.udf_key.clone() {
                known.insert(key, Some(doc));
            }
        }
        Ok(Self(known))
    }

    /// Whether the row's search fields are known to have a live document.
    pub(super) fn is_live(&self, row: &ValidRow) -> bool {
        let key = row.doc.udf_key.as_deref();
        key.is_some_and(|k| matches!(self.0.get(k), Some(Some(_))))
    }

    /// Whether the row's search fields were looked up, live or not.
    pub(super) fn knows(&self, row: &ValidRow) -> bool {
        let key = row.doc.udf_key.as_deref();
        key.is_some_and(|k| self.0.contains_key(k))
    }

    pub(super) fn forget(&mut self, row: &ValidRow) {
        if self.0.is_empty() {
            return;
        }
        if let Some(k) = row.doc.udf_key.as_deref() {
            self.0.remove(k);
        }
    }

    pub(super) fn take(
        &mut self,
        conn: &mut DbConn,
        doctype: &str,
        key: &str,
    ) -> Result<Option<LiveDoc>, StoreError> {
        match self.0.remove(key) {
            Some(known) => Ok(known),
            None => documents::find_live_by_key(conn, doctype, key),
        }
    }
}

/// Whether a row of the batch has bytes made for it alone: a certificate rendered for
/// it, or a file no other row of the batch names, signed (a signature is new bytes each
/// time). Stored for a row then found issued, they would be kept for nothing. A file
/// many rows share is one copy a batch at most, and looking the batch up first costs
/// more than it: 15% of an import of 200,000 rows sharing 4 signed files.
pub(super) fn own_bytes(batch: &[ValidRow], signing: bool) -> bool {
    let mut files = HashMap::new();
    for row in batch {
        match &row.content {
            Content::Render(_) | Content::Rendered(..) => return true,
            Content::File(f) if signing => *files.entry(Arc::as_ptr(f)).or_insert(0) += 1,
            _ => {}
        }
    }
    files.values().any(|&n| n == 1)
}
