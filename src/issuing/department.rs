//! A department-table document follows its row. Each time dlrepo reads the row (a pull,
//! or `dlrepo push scan`) it compares the row's digest with the one its document was
//! made from: a changed row gets its document made and signed again under the same
//! URI (the earlier copy is kept in `document_versions`), a cancelled row is revoked,
//! and the push rows of each change are queued in the same transaction.

use chrono::NaiveDateTime;

use super::{outbox_row, push_actions, Facts, PushFacts};
use crate::doctype::DocType;
use crate::push::outbox::{self, Action};
use crate::store::department::DeptRow;
use crate::store::documents::{self, status};
use crate::store::linked::{self, LinkedDoc, RowState};
use crate::store::{self, DbConn, StoreError};
use crate::uri::DocUri;
use crate::vault::Vault;

/// What became of a row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Followed {
    /// Served under this DocId; `changed` when its document is to be made again,
    /// `first` when dlrepo had not read the row before.
    Live {
        doc_id: String,
        changed: bool,
        first: bool,
    },
    /// Cancelled by the department, or revoked with `dlrepo revoke`: never served;
    /// `now` when this read found the cancellation.
    Revoked { doc_id: String, now: bool },
}

fn push_facts<'a>(
    uri: &'a DocUri,
    doctype: &'a DocType,
    row: &'a DeptRow,
    aadhaar: &'a str,
) -> PushFacts<'a> {
    PushFacts {
        aadhaar,
        uri,
        doc_name: row.doc_name.as_deref().unwrap_or(&doctype.name),
        issued_on: row.issued_on.as_deref(),
        valid_from: row.valid_from.as_deref(),
        valid_to: row.valid_to.as_deref(),
    }
}

/// A row whose document column is still empty, of a doc type that awaits documents
/// rather than rendering them (Status 9): not pushed until it has one.
pub fn awaiting(doctype: &DocType, row: &DeptRow) -> bool {
    doctype.await_documents
        && row.content.is_none()
        && doctype
            .source
            .as_ref()
            .is_some_and(|s| s.document_column.is_some())
}

/// What the caller of [`follow`] knows of the row's link.
pub enum Link {
    /// Not read: `follow` reads it.
    Unread,
    /// Read just now: the row's link, or none (the row was never read before).
    Read(Option<LinkedDoc>),
}

/// Ties the row to its DocId and records what changed since dlrepo last read it. The
/// Aadhaar number (from the department's column) goes into the vault; only its
/// reference is kept and queued. `known`: the row's link when the caller has just read
/// it (a Pull Doc finds the row by it; a batch of Pull URIs reads them together), so
/// that it is not read again. The bool: whether the caller's link was current (so
/// what was read with it, such as the bytes kept for it, is too).
pub fn follow(
    conn: &mut DbConn,
    issuer_id: &str,
    doctype: &DocType,
    row: &DeptRow,
    known: Link,
    vault: Option<&Vault>,
) -> Result<(Followed, bool), StoreError> {
    // Most reads find a row followed before and unchanged: one read, no write lock (on
    // SQLite every pull would otherwise wait its turn behind every other).
    let digest = row.digest();
    let now = chrono::Utc::now().naive_utc();
    let (followed, current) = match known {
        Link::Read(Some(known)) => (unchanged(known, row, &digest), true),
        Link::Read(None) => (first_read(conn, doctype, row, &digest, vault, now)?, false),
        Link::Unread => (followed_already(conn, doctype, row, &digest)?, false),
    };
    if let Some(followed) = followed {
        return Ok((followed, current));
    }
    Ok((
        record(conn, issuer_id, doctype, row, &digest, vault, now)?,
        false,
    ))
}

/// A row read just now as never linked, on PostgreSQL, with no Aadhaar number to seal
/// (so no push row to queue): linked by its one INSERT, which `link_new` arbitrates as
/// in `record`, without the transaction's BEGIN and COMMIT. Four round trips of six
/// (the batch's two reads, the INSERT and `link_new`'s read after it), each a network
/// round trip to a database on another host. `None`: `record` does it (SQLite, where
/// writers take turns; a number to seal, which must commit with its push rows; a
/// cancelled row; linked meanwhile).
fn first_read(
    conn: &mut DbConn,
    doctype: &DocType,
    row: &DeptRow,
    digest: &str,
    vault: Option<&Vault>,
    now: NaiveDateTime,
) -> Result<Option<Followed>, StoreError> {
    let sealed = row.aadhaar.is_some() && vault.is_some();
    if !matches!(conn, DbConn::Postgres(_)) || sealed || row.revoked {
        return Ok(None);
    }
    // A row linked (and perhaps revoked) since the batch read: `link_new` finds its
    // link after the INSERT and hands it back.
    let state = row_state(row, digest, None);
    let space = &doctype.id_space;
    Ok(
        match linked::link_new(conn, &doctype.code, &row.row_key, space, Some(&state), now)? {
            (made, true) => Some(Followed::Live {
                doc_id: made.doc_id,
                changed: true,
                first: true,
            }),
            (_, false) => None,
        },
    )
}

/// `follow`'s writes, for a row whose read found something to record (`digest` is the
/// row's): in one write transaction, which reads the row's link again under the lock.
fn record(
    conn: &mut DbConn,
    issuer_id: &str,
    doctype: &DocType,
    row: &DeptRow,
    digest: &str,
    vault: Option<&Vault>,
    now: NaiveDateTime,
) -> Result<Followed, StoreError> {
    store::write_transaction(conn, |conn| {
        let known = match linked::linked_doc(conn, &doctype.code, &row.row_key)? {
            Some(known) => known,
            // Read for the first time (most writes on result day): DocId and state in
            // one INSERT, where linking and then recording the change took an INSERT,
            // a SELECT and an UPDATE inside a savepoint, all under the write lock. A
            // row cancelled before then is linked bare, and revoked below.
            None => {
                let reference = match row.revoked {
                    true => Ok(None),
                    false => aadhaar_reference(conn, doctype, row, vault, now)?,
                };
                let sealed = reference.as_ref().ok().and_then(Option::as_deref);
                let state = row_state(row, digest, sealed);
                let live = (!row.revoked).then_some(&state);
                let space = &doctype.id_space;
                match linked::link_new(conn, &doctype.code, &row.row_key, space, live, now)? {
                    (made, true) if !row.revoked => {
                        let uri = DocUri::of(issuer_id, &doctype.code, &made.doc_id);
                        let reference = usable(reference, &uri);
                        queue_pushes(conn, &uri, doctype, row, None, reference.as_deref(), now)?;
                        return Ok(Followed::Live {
                            doc_id: made.doc_id,
                            changed: true,
                            first: true,
                        });
                    }
                    // Cancelled, or linked meanwhile by another server: followed below
                    // as a known row.
                    (known, _) => known,
                }
            }
        };
        let uri = DocUri::of(issuer_id, &doctype.code, &known.doc_id);
        if known.status == status::REVOKED {
            return Ok(Followed::Revoked {
                doc_id: known.doc_id,
                now: false,
            });
        }
        if row.revoked {
            linked::revoke_linked(conn, &doctype.code, &known.doc_id, now)?;
            if let Some(a) = &known.aadhaar {
                outbox::enqueue(
                    conn,
                    &[outbox_row(
                        &push_facts(&uri, doctype, row, a),
                        Action::Delete,
                        now,
                    )],
                )?;
            }
            return Ok(Followed::Revoked {
                doc_id: known.doc_id,
                now: true,
            });
        }
        if known.fingerprint.as_deref() == Some(digest) {
            return Ok(Followed::Live {
                doc_id: known.doc_id,
                changed: false,
                first: false,
            });
        }
        // Recorded before an upgrade changed how rows are digested: the same row, its
        // digest recorded anew (once), and nothing made or pushed again.
        if let Some(old) = known.fingerprint.as_deref() {
            if row.has_legacy_digest(old) {
                linked::set_fingerprint(conn, &doctype.code, &known.doc_id, old, digest)?;
                return Ok(Followed::Live {
                    doc_id: known.doc_id,
                    changed: false,
                    first: false,
                });
            }
        }
        let reference = usable(aadhaar_reference(conn, doctype, row, vault, now)?, &uri);
        let state = row_state(row, digest, reference.as_deref());
        let recorded = linked::record_change(
            conn,
            &doctype.code,
            &known.doc_id,
            known.fingerprint.as_deref(),
            &state,
            now,
        )?;
        if recorded {
            let before = known.aadhaar.as_deref();
            queue_pushes(conn, &uri, doctype, row, before, reference.as_deref(), now)?;
        }
        Ok(Followed::Live {
            doc_id: known.doc_id,
            changed: recorded,
            first: known.fingerprint.is_none(),
        })
    })
}

/// The Aadhaar reference a row's pushes go under: its number sealed in the vault, once
/// there is a document to push. `Err` inside: the number is not valid (not pushed), for
/// the caller to warn about under the row's URI.
fn aadhaar_reference(
    conn: &mut DbConn,
    doctype: &DocType,
    row: &DeptRow,
    vault: Option<&Vault>,
    now: NaiveDateTime,
) -> Result<Result<Option<String>, String>, StoreError> {
    let (Some(a), Some(v)) = (&row.aadhaar, vault) else {
        return Ok(Ok(None));
    };
    if awaiting(doctype, row) {
        return Ok(Ok(None));
    }
    Ok(match crate::aadhaar::normalize(a) {
        Ok(n) => Ok(Some(v.store(conn, &n, now).map_err(StoreError::from)?)),
        Err(e) => Err(e.to_string()),
    })
}

/// The reference, or none after a warning that the row's number is not valid.
fn usable(reference: Result<Option<String>, String>, uri: &DocUri) -> Option<String> {
    reference.unwrap_or_else(|reason| {
        tracing::warn!(uri = %uri, reason = %reason, "department row's Aadhaar number is not valid: not pushed");
        None
    })
}

fn row_state<'a>(row: &'a DeptRow, digest: &'a str, aadhaar: Option<&'a str>) -> RowState<'a> {
    RowState {
        fingerprint: digest,
        aadhaar,
        doc_name: row.doc_name.as_deref(),
        holder_name: row.holder_name.as_deref(),
        issued_on: row.issued_on.as_deref(),
        valid_from: row.valid_from.as_deref(),
        valid_to: row.valid_to.as_deref(),
    }
}

/// The push rows of a recorded change (`before`: the reference pushed until now), in
/// the caller's transaction.
fn queue_pushes(
    conn: &mut DbConn,
    uri: &DocUri,
    doctype: &DocType,
    row: &DeptRow,
    before: Option<&str>,
    now_ref: Option<&str>,
    now: NaiveDateTime,
) -> Result<(), StoreError> {
    let rows: Vec<_> = push_actions(Action::Update, before, now_ref)
        .into_iter()
        .map(|(a, action)| outbox_row(&push_facts(uri, doctype, row, a), action, now))
        .collect();
    outbox::enqueue(conn, &rows)
}

/// What reading the row comes to when there is nothing to record (its document revoked,
/// or the row as its document was made from), found by one read; `None` when `follow`
/// has something to write.
fn followed_already(
    conn: &mut DbConn,
    doctype: &DocType,
    row: &DeptRow,
    digest: &str,
) -> Result<Option<Followed>, StoreError> {
    Ok(linked::linked_doc(conn, &doctype.code, &row.row_key)?
        .and_then(|known| unchanged(known, row, digest)))
}

fn unchanged(known: LinkedDoc, row: &DeptRow, digest: &str) -> Option<Followed> {
    if known.status == status::REVOKED {
        return Some(Followed::Revoked {
            doc_id: known.doc_id,
            now: false,
        });
    }
    let same = !row.revoked && known.fingerprint.as_deref() == Some(digest);
    same.then_some(Followed::Live {
        doc_id: known.doc_id,
        changed: false,
        first: false,
    })
}

/// What `dlrepo push scan` found.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ScanReport {
    pub rows: u64,
    /// Rows dlrepo had not read before (a DocId minted or found, an A queued when the
    /// row has an Aadhaar number).
    pub new: u64,
    pub changed: u64,
    /// Cancelled by the department since the last read.
    pub cancelled: u64,
    /// Handed a DocId once, no longer in the department's table: revoked.
    pub gone: u64,
}

/// Reads a department's whole table in key order, page by page (constant memory, one
/// transaction a page), following every row; then revokes the documents whose row
/// disappeared. Running it again is the resume: a row already followed is unchanged.
pub fn scan(
    conn: &mut DbConn,
    issuer_id: &str,
    doctype: &DocType,
    table: &crate::store::department::DeptTable,
    vault: Option<&Vault>,
    mut progress: impl FnMut(&ScanReport),
) -> Result<ScanReport, StoreError> {
    const PAGE: i64 = 1000;
    let mut report = ScanReport::default();
    let mut after: Option<String> = None;
    loop {
        let rows = table.page(after.as_deref(), PAGE)?;
        let Some(last) = rows.last() else { break };
        after = Some(last.row_key.clone());
        let now = chrono::Utc::now().naive_utc();
        // The rows with nothing to record are told by reads alone; the others are
        // followed in one write transaction (the write lock held for those only).
        let mut to_write = Vec::new();
        for row in &rows {
            let digest = row.digest();
            if followed_already(conn, doctype, row, &digest)?.is_some() {
                report.rows += 1;
            } else {
                to_write.push((row, digest));
            }
        }
        if to_write.is_empty() {
            progress(&report);
            continue;
        }
        store::write_transaction(conn, |conn| {
            for (row, digest) in to_write {
                match record(conn, issuer_id, doctype, row, &digest, vault, now)? {
                    Followed::Live { first: true, .. } => report.new += 1,
                    Followed::Live { changed: true, .. } => report.changed += 1,
                    Followed::Live { .. } => {}
                    Followed::Revoked { now: true, .. } => report.cancelled += 1,
                    Followed::Revoked { .. } => {}
                }
                report.rows += 1;
            }
            Ok::<_, StoreError>(())
        })?;
        progress(&report);
    }
    // Whether the department's table still has the row behind a link.
    let present = |key: &Option<String>| -> Result<bool, StoreError> {
        Ok(match key {
            Some(k) => table.find_by_key(k)?.is_some(),
            None => false,
        })
    };
    let mut after_id = String::new();
    loop {
        let page = linked::linked_page(conn, &doctype.code, &after_id, PAGE)?;
        let Some(last) = page.last() else {
            break;
        };
        after_id = last.doc_id.clone();
        let now = chrono::Utc::now().naive_utc();
        // The department's table is read before the write lock is taken, and only
        // when a row is gone.
        let mut gone = Vec::new();
        for linked in &page {
            if !present(&linked.row_key)? {
                gone.push(linked);
            }
        }
        if gone.is_empty() {
            progress(&report);
            continue;
        }
        store::write_transaction(conn, |conn| {
            for linked::LinkedRow {
                doc_id,
                row_key,
                aadhaar,
            } in gone
            {
                // Asked again under the lock (a few rows): a row the department
                // reloaded (deleted, then inserted) meanwhile is not gone.
                if present(row_key)? || !linked::revoke_linked(conn, &doctype.code, doc_id, now)? {
                    continue;
                }
                report.gone += 1;
                if let Some(a) = aadhaar {
                    let r = documents::find_by_doc_id(conn, &doctype.code, doc_id)?;
                    let uri = DocUri::of(issuer_id, &doctype.code, doc_id);
                    let facts = PushFacts {
                        aadhaar: a,
                        uri: &uri,
                        doc_name: r
                            .as_ref()
                            .and_then(|r| r.doc_name.as_deref())
                            .unwrap_or(&doctype.name),
                        issued_on: r.as_ref().and_then(|r| r.issued_on.as_deref()),
                        valid_from: r.as_ref().and_then(|r| r.valid_from.as_deref()),
                        valid_to: r.as_ref().and_then(|r| r.valid_to.as_deref()),
                    };
                    outbox::enqueue(conn, &[outbox_row(&facts, Action::Delete, now)])?;
                }
            }
            Ok::<_, StoreError>(())
        })?;
        progress(&report);
    }
    Ok(report)
}

/// A department row's facts, as an imported row's would be.
pub fn facts(row: &DeptRow, doc_id: &str) -> Facts {
    Facts {
        doc_id: doc_id.to_string(),
        doc_name: row.doc_name.clone(),
        holder_name: row.holder_name.clone(),
        dob: row.dob.clone(),
        gender: row.gender.clone(),
        phone: row.phone.clone(),
        aadhaar: row.aadhaar.clone(),
        issued_on: row.issued_on.clone(),
        valid_from: row.valid_from.clone(),
        valid_to: row.valid_to.clone(),
        fields: row.fields.clone(),
    }
}

/// The row's document unsigned, as a server without a signing key serves it: the row's
/// own PDF, or the certificate rendered from the row. Nothing is kept, so it is not
/// named either (a SHA-256 of every document served, 3% of a department pull).
pub fn make_unsigned(
    config: &crate::config::Config,
    doctype: &DocType,
    row: &DeptRow,
    uri: &DocUri,
) -> Result<Vec<u8>, super::IssueError> {
    match &row.content {
        Some(bytes) => {
            super::check_pdf(bytes)?;
            Ok(bytes.clone())
        }
        None => super::render(config, doctype, &facts(row, &uri.doc_id), uri),
    }
}

/// A department row's document: its own PDF, or a certificate rendered from it; signed.
pub fn make(
    config: &crate::config::Config,
    doctype: &DocType,
    row: &DeptRow,
    uri: &DocUri,
    signer: Option<&crate::docs::keys::SigningKey>,
) -> Result<super::Blob, super::IssueError> {
    match &row.content {
        Some(bytes) => super::seal(bytes.clone(), signer),
        None => super::render_and_seal(config, doctype, &facts(row, &uri.doc_id), uri, signer),
    }
}
