//! DocIds of rows in a department's own table: a `linked` row in `documents` ties the
//! department row's key columns (in `udf_key`) to a DocId minted on its first pull, and
//! keeps the bytes signed then.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::documents::{blob_id, insert_if_free, put_blob, status, NewDocument, MINT_ATTEMPTS};
use super::record_query::{
    each_asked, filled, with_prepared_size, KnownAmong, KnownBy, MOST_AMONG,
};
use super::schema::{blobs, documents};
use super::{DbConn, StoreError};
use crate::uri::DocIdSpace;

/// What dlrepo knows of a department row it has handed a DocId: revoked ones too, so
/// that a cancelled row never gets a fresh DocId.
#[derive(Debug, Clone, Queryable)]
pub struct LinkedDoc {
    pub doc_id: String,
    pub status: String,
    /// The row's digest when its document was last made (`DeptRow::digest`; a SHA-256
    /// `DeptRow::legacy_digest` when it was made before 2026-12-07; none for a link
    /// whose document was never made, such as a row cancelled before its first read).
    pub fingerprint: Option<String>,
    /// The Aadhaar reference its push rows were queued under, if any.
    pub aadhaar: Option<String>,
}

/// The DocId of a department-table row, if it has been pulled (or scanned) before.
pub fn linked_doc(
    conn: &mut DbConn,
    doctype: &str,
    row_key: &str,
) -> Result<Option<LinkedDoc>, StoreError> {
    // At most one row is known per key (`link_new`), the first when a race has left a
    // second for a moment; a fixed statement, prepared once.
    Ok(KnownBy {
        doctype,
        key: row_key,
    }
    .load::<LinkedDoc>(conn)?
    .into_iter()
    .next())
}

/// A department row's link read for a pull, with the signed bytes kept for it when the
/// reader asked for them (`linked_blob`).
#[derive(Debug, Clone)]
pub struct Known {
    pub doc: LinkedDoc,
    pub kept: Option<Vec<u8>>,
}

/// [`linked_doc`] of several row keys, answered in their order; with `kept`, each
/// one's [`linked_blob`] too. PostgreSQL: one query per 32 keys, so that a batch of
/// department pulls reads its links in one round trip; SQLite: the prepared lookups
/// of each key, in-process.
pub fn linked_docs_among(
    conn: &mut DbConn,
    doctype: &str,
    keys: &[&str],
    kept: bool,
) -> Result<Vec<Option<Known>>, StoreError> {
    let DbConn::Postgres(c) = conn else {
        return keys
            .iter()
            .map(|k| match linked_doc(conn, doctype, k)? {
                Some(doc) => with_kept(conn, doctype, doc, kept).map(Some),
                None => Ok(None),
            })
            .collect();
    };
    let found = known_among::<false>(c, doctype, keys, kept)?;
    Ok(each_asked(keys, found)
        .into_iter()
        .map(|f| f.map(|(_, known)| known))
        .collect())
}

/// [`linked_row_key`] of several DocIds, answered in their order, as
/// [`linked_docs_among`].
pub fn linked_row_keys_among(
    conn: &mut DbConn,
    doctype: &str,
    doc_ids: &[&str],
    kept: bool,
) -> Result<Vec<Option<(String, Known)>>, StoreError> {
    let DbConn::Postgres(c) = conn else {
        return doc_ids
            .iter()
            .map(|id| match linked_row_key(conn, doctype, id)? {
                Some((key, doc)) => Ok(Some((key, with_kept(conn, doctype, doc, kept)?))),
                None => Ok(None),
            })
            .collect();
    };
    let found = known_among::<true>(c, doctype, doc_ids, kept)?;
    Ok(each_asked(doc_ids, found)
        .into_iter()
        .map(|f| {
            let (key, known) = f?;
            Some((key?, known)).filter(|(_, k)| is_known(&k.doc))
        })
        .collect())
}

/// A link read alone, with its kept bytes when asked for.
fn with_kept(
    conn: &mut DbConn,
    doctype: &str,
    doc: LinkedDoc,
    kept: bool,
) -> Result<Known, StoreError> {
    let kept = match kept {
        true => linked_blob(conn, doctype, &doc.doc_id)?,
        false => None,
    };
    Ok(Known { doc, kept })
}

/// [`KnownAmong`] of any number of values: by each value asked, the row's key and
/// what is known of it (with its kept bytes when `kept`).
fn known_among<const BY_DOC_ID: bool>(
    c: &mut diesel::PgConnection,
    doctype: &str,
    values: &[&str],
    kept: bool,
) -> Result<HashMap<String, (Option<String>, Known)>, StoreError> {
    match kept {
        true => known_among_of::<BY_DOC_ID, true>(c, doctype, values),
        false => known_among_of::<BY_DOC_ID, false>(c, doctype, values),
    }
}

fn known_among_of<const BY_DOC_ID: bool, const KEPT: bool>(
    c: &mut diesel::PgConnection,
    doctype: &str,
    values: &[&str],
) -> Result<HashMap<String, (Option<String>, Known)>, StoreError> {
    type Row = (
        String,
        Option<String>,
        String,
        String,
        Option<String>,
        Option<String>,
        Option<Vec<u8>>,
        i64,
    );
    let mut found: HashMap<String, (i64, (Option<String>, Known))> = HashMap::new();
    for chunk in values.chunks(MOST_AMONG) {
        let rows: Vec<Row> = with_prepared_size!(chunk.len(), N => KnownAmong::<N, BY_DOC_ID, KEPT> {
            doctype,
            values: &filled::<N>(chunk),
        }
        .load(c)?);
        for (asked, key, doc_id, status, fingerprint, aadhaar, kept, id) in rows {
            // The first link of a key (KnownBy's order): a second is one that lost a
            // race and is being taken back.
            if found.get(&asked).is_some_and(|(first, _)| *first < id) {
                continue;
            }
            let doc = LinkedDoc {
                doc_id,
                status,
                fingerprint,
                aadhaar,
            };
            found.insert(asked, (id, (key, Known { doc, kept })));
        }
    }
    Ok(found
        .into_iter()
        .map(|(asked, (_, known))| (asked, known))
        .collect())
}

/// A document dlrepo tied to a department row: linked, or revoked since.
fn is_known(d: &LinkedDoc) -> bool {
    d.status == status::LINKED || d.status == status::REVOKED
}

/// The department row key behind a linked DocId, and what dlrepo knows of it (revoked
/// ones too): enough for a Pull Doc of an unchanged row to read its link once.
pub fn linked_row_key(
    conn: &mut DbConn,
    doctype: &str,
    doc_id: &str,
) -> Result<Option<(String, LinkedDoc)>, StoreError> {
    // By (doc_id, doctype) alone, its status told here: with the statuses in the SQL,
    // PostgreSQL could take `documents_known_key` by doc type alone (its condition
    // matches) and read every known row of the doc type, as it did with statistics
    // from an empty table (5-10 ms a pull).
    Ok(documents::table
        .filter(documents::doctype.eq(doctype))
        .filter(documents::doc_id.eq(doc_id))
        .select((
            documents::udf_key,
            (
                documents::doc_id,
                documents::status,
                documents::fingerprint,
                documents::aadhaar,
            ),
        ))
        .load::<(Option<String>, LinkedDoc)>(conn)?
        .into_iter()
        .find(|(_, d)| is_known(d))
        .and_then(|(k, d)| k.map(|k| (k, d))))
}

/// A DocId minted for a department row the caller has just found unlinked, inserted
/// with what the row says (`state`; none: a bare link, for a row cancelled before its
/// first read), in one INSERT. Both unique indexes arbitrate races: when another server
/// or a scan linked the row meanwhile, that link is returned instead (as is one linked
/// and revoked meanwhile, which the indexes do not see: [`known_besides`]), so a row
/// never gets two DocIds. The bool: whether this call made the link.
pub fn link_new(
    conn: &mut DbConn,
    doctype: &str,
    row_key: &str,
    space: &DocIdSpace,
    state: Option<&RowState<'_>>,
    now: NaiveDateTime,
) -> Result<(LinkedDoc, bool), StoreError> {
    let mut doc = NewDocument::bare(doctype, status::LINKED, Some(row_key), now);
    if let Some(state) = state {
        doc.fingerprint = Some(state.fingerprint.to_string());
        doc.aadhaar = state.aadhaar.map(str::to_string);
        doc.doc_name = state.doc_name.map(str::to_string);
        doc.holder_name = state.holder_name.map(str::to_string);
        doc.issued_on = state.issued_on.map(str::to_string);
        doc.valid_from = state.valid_from.map(str::to_string);
        doc.valid_to = state.valid_to.map(str::to_string);
    }
    for _ in 0..MINT_ATTEMPTS {
        doc.doc_id = space.mint();
        if insert_if_free(conn, &doc)? {
            if let Some(earlier) = known_besides(conn, doctype, row_key, &doc.doc_id)? {
                return Ok((earlier, false));
            }
            let made = LinkedDoc {
                doc_id: doc.doc_id,
                status: status::LINKED.into(),
                fingerprint: doc.fingerprint,
                aadhaar: doc.aadhaar,
            };
            return Ok((made, true));
        }
        // Refused by the key's index (linked meanwhile) or by the DocId's (taken).
        if let Some(d) = linked_doc(conn, doctype, row_key)? {
            return Ok((d, false));
        }
    }
    Err(StoreError::Unavailable(format!(
        "no free DocId for {doctype} after {MINT_ATTEMPTS} attempts: raise expected_count"
    )))
}

/// After `link_new` inserted `mine`: the row's first known link when that is not
/// `mine`, with `mine` taken back. `documents_linked` covers linked rows only (imported
/// documents keep their search key when revoked, and two of them may share it), so a
/// row linked and then revoked by another server or a scan after the caller found it
/// unlinked does not refuse the INSERT. Read after it, not before: the INSERT returns
/// only once whatever it raced has committed, so this read sees it (READ COMMITTED),
/// where a read before the INSERT left a round trip's window for a second DocId. The
/// first link wins (by id): of two racing inserters each may see the other's row, and
/// only the later one gives way.
fn known_besides(
    conn: &mut DbConn,
    doctype: &str,
    row_key: &str,
    mine: &str,
) -> Result<Option<LinkedDoc>, StoreError> {
    let first = linked_doc(conn, doctype, row_key)?;
    let Some(first) = first.filter(|d| d.doc_id != mine) else {
        return Ok(None);
    };
    diesel::delete(
        documents::table
            .filter(documents::doctype.eq(doctype))
            .filter(documents::doc_id.eq(mine))
            .filter(documents::status.eq(status::LINKED)),
    )
    .execute(conn)?;
    Ok(Some(first))
}

/// What a department row says now, as dlrepo records it with its DocId.
pub struct RowState<'a> {
    pub fingerprint: &'a str,
    /// The Aadhaar reference its pushes go under from now on.
    pub aadhaar: Option<&'a str>,
    pub doc_name: Option<&'a str>,
    pub holder_name: Option<&'a str>,
    pub issued_on: Option<&'a str>,
    pub valid_from: Option<&'a str>,
    pub valid_to: Option<&'a str>,
}

/// Records that the row changed (or is seen for the first time): the bytes made from
/// it before go to `document_versions`, and the document is made again on its next
/// pull. Compare-and-set on the fingerprint: false when another server or scan
/// recorded this change first.
pub fn record_change(
    conn: &mut DbConn,
    doctype: &str,
    doc_id: &str,
    before: Option<&str>,
    now_state: &RowState<'_>,
    now: NaiveDateTime,
) -> Result<bool, StoreError> {
    conn.transaction(|conn| {
        // Found by (doc_id, doctype) with no LIMIT and no status in the SQL: a LIMIT or
        // a bound status (which a partial index's condition names) makes SQLite
        // prepare the statement again each time it runs, and a status in the SQL let
        // PostgreSQL take `documents_linked` by doc type alone. Then written by its id
        // (once per change: that statement is not worth keeping prepared).
        let made: Option<(i64, String, Option<String>, Option<String>)> = documents::table
            .filter(documents::doctype.eq(doctype))
            .filter(documents::doc_id.eq(doc_id))
            .select((
                documents::id,
                documents::status,
                documents::blob_sha256,
                documents::xml_sha256,
            ))
            .load(conn)?
            .into_iter()
            .next();
        let (id, blob, xml) = match made {
            Some((id, s, blob, xml)) if s == status::LINKED => (id, blob, xml),
            _ => return Ok(false),
        };
        let this = || {
            documents::table
                .filter(documents::id.eq(id))
                .filter(documents::status.eq(status::LINKED))
        };
        let set = (
            documents::fingerprint.eq(now_state.fingerprint),
            documents::blob_sha256.eq(None::<String>),
            documents::xml_sha256.eq(None::<String>),
            documents::signed_with.eq(None::<String>),
            documents::aadhaar.eq(now_state.aadhaar),
            documents::doc_name.eq(now_state.doc_name),
            documents::holder_name.eq(now_state.holder_name),
            documents::issued_on.eq(now_state.issued_on),
            documents::valid_from.eq(now_state.valid_from),
            documents::valid_to.eq(now_state.valid_to),
            documents::updated_at.eq(now),
        );
        let n = match before {
            Some(f) => diesel::update(this().filter(documents::fingerprint.eq(f)))
                .set(set)
                .execute(conn)?,
            None => diesel::update(this().filter(documents::fingerprint.is_null()))
                .set(set)
                .execute(conn)?,
        };
        if n == 0 {
            return Ok(false);
        }
        if blob.is_some() || xml.is_some() {
            let copy = super::versions::Replaced {
                doctype,
                doc_id,
                blob_sha256: blob.as_deref(),
                xml_sha256: xml.as_deref(),
                fingerprint: before,
            };
            super::versions::keep(conn, &copy, now)?;
        }
        Ok(true)
    })
}

/// Records a row's digest in a new form when it still has the old one (compare-and-set:
/// a change recorded meanwhile wins). Not a change of the document: nothing else moves.
pub fn set_fingerprint(
    conn: &mut DbConn,
    doctype: &str,
    doc_id: &str,
    old: &str,
    new: &str,
) -> Result<(), StoreError> {
    diesel::update(
        documents::table
            .filter(documents::doctype.eq(doctype))
            .filter(documents::doc_id.eq(doc_id))
            .filter(documents::fingerprint.eq(old)),
    )
    .set(documents::fingerprint.eq(new))
    .execute(conn)?;
    Ok(())
}

/// Revokes a linked document: false when it was not live.
pub fn revoke_linked(
    conn: &mut DbConn,
    doctype: &str,
    doc_id: &str,
    now: NaiveDateTime,
) -> Result<bool, StoreError> {
    Ok(diesel::update(
        documents::table
            .filter(documents::doctype.eq(doctype))
            .filter(documents::doc_id.eq(doc_id))
            .filter(documents::status.eq(status::LINKED)),
    )
    .set((
        documents::status.eq(status::REVOKED),
        documents::updated_at.eq(now),
    ))
    .execute(conn)?
        == 1)
}

/// A live linked document, as a scan of them sees it.
#[derive(Debug, Clone, Queryable)]
pub struct LinkedRow {
    pub doc_id: String,
    pub row_key: Option<String>,
    pub aadhaar: Option<String>,
}

/// Linked documents of a doc type in DocId order after `after`: a scan of what dlrepo
/// handed out, in constant memory.
pub fn linked_page(
    conn: &mut DbConn,
    doctype: &str,
    after: &str,
    limit: i64,
) -> Result<Vec<LinkedRow>, StoreError> {
    Ok(documents::table
        .filter(documents::doctype.eq(doctype))
        .filter(documents::status.eq(status::LINKED))
        .filter(documents::doc_id.gt(after))
        .order(documents::doc_id)
        .limit(limit)
        .select((documents::doc_id, documents::udf_key, documents::aadhaar))
        .load(conn)?)
}

/// The stored (signed) bytes of a linked department document, once made.
pub fn linked_blob(
    conn: &mut DbConn,
    doctype: &str,
    doc_id: &str,
) -> Result<Option<Vec<u8>>, StoreError> {
    Ok(documents::table
        .inner_join(blobs::table)
        .filter(documents::doctype.eq(doctype))
        .filter(documents::doc_id.eq(doc_id))
        .filter(documents::status.eq(status::LINKED))
        .select(blobs::content)
        .first(conn)
        .optional()?)
}

/// Keeps the signed bytes of a linked document, unless a concurrent first pull already
/// did; returns the bytes that are kept.
pub fn keep_linked_blob(
    conn: &mut DbConn,
    doctype: &str,
    doc_id: &str,
    made_from: &str,
    bytes: &[u8],
    signed_with: Option<&str>,
    now: NaiveDateTime,
) -> Result<Vec<u8>, StoreError> {
    let sha = blob_id(bytes);
    super::write_transaction(conn, |conn| {
        put_blob(conn, &sha, bytes, now)?;
        // Only for the row as it is recorded now (`made_from`: the digest of the row the
        // bytes were made from): a change recorded meanwhile by another server or a
        // scan must not have the earlier version's bytes kept, and served, under it.
        diesel::update(
            documents::table
                .filter(documents::doctype.eq(doctype))
                .filter(documents::doc_id.eq(doc_id))
                .filter(documents::status.eq(status::LINKED))
                .filter(documents::fingerprint.eq(made_from))
                .filter(documents::blob_sha256.is_null()),
        )
        .set((
            documents::blob_sha256.eq(&sha),
            documents::signed_with.eq(signed_with),
            documents::made_from.eq(super::documents::made::RENDER),
        ))
        .execute(conn)?;
        Ok(linked_blob(conn, doctype, doc_id)?.unwrap_or_else(|| bytes.to_vec()))
    })
}
