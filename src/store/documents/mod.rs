//! Queries on documents and their bytes: writing them here; finding them, their bytes
//! and reserved DocIds in the files beside.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::pg_bulk::Incoming;
use super::record_query::{status_in, LIVE_SQL};
use super::schema::documents;
use super::{DbConn, StoreError};

mod bytes;
mod find;
mod reserve;

pub use bytes::{blob_id, keep_xml, put_blob, put_blobs, xml_blob};
pub use find::{
    find_by_doc_id, find_by_doc_ids_among, find_by_udfs, find_by_udfs_among, find_live_by_key,
    find_live_by_keys, DocRecord, LiveDoc, Lookup,
};
pub use reserve::{reserve, SpaceExhausted, MINT_ATTEMPTS};

/// Joins UDF values in the doc type's configured order. Values never hold control
/// characters (they are refused before any query), so the key splits back unambiguously.
pub const UDF_SEPARATOR: char = '\u{1f}';

pub fn udf_key<S: AsRef<str>>(values: &[S]) -> String {
    let mut key = String::new();
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            key.push(UDF_SEPARATOR);
        }
        key.push_str(v.as_ref());
    }
    key
}

/// Lifecycle of a DocId.
pub mod status {
    /// Minted by `dlrepo mint`, not yet bound to a document.
    pub const RESERVED: &str = "reserved";
    pub const ISSUED: &str = "issued";
    pub const REVOKED: &str = "revoked";
    /// Tied to a row of a department's own table; the bytes come from there.
    pub const LINKED: &str = "linked";
    /// Recorded before its document exists: Pull URI answers Status 9 (pending).
    pub const PENDING: &str = "pending";
}

// None is bound as NULL, not DEFAULT: SQLite's multi-row INSERT needs that.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = documents, treat_none_as_default_value = false)]
pub struct NewDocument {
    pub doctype: String,
    pub doc_id: String,
    pub status: String,
    pub udf_key: Option<String>,
    pub doc_name: Option<String>,
    pub holder_name: Option<String>,
    pub aadhaar: Option<String>,
    pub issued_on: Option<String>,
    pub valid_from: Option<String>,
    pub valid_to: Option<String>,
    pub blob_sha256: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub holder_dob: Option<String>,
    pub holder_gender: Option<String>,
    pub holder_phone: Option<String>,
    pub data: Option<String>,
    pub xml_sha256: Option<String>,
    /// What an imported row said, to recognise it when the same file is imported again.
    pub fingerprint: Option<String>,
    /// The signing certificate's id (`SigningKey::cert_id`) when the bytes are signed.
    pub signed_with: Option<String>,
    /// `made::RENDER` or `made::FILE`.
    pub made_from: Option<String>,
}

impl<'a> From<&'a NewDocument> for Incoming<'a> {
    fn from(d: &'a NewDocument) -> Self {
        Incoming {
            doctype: &d.doctype,
            doc_id: &d.doc_id,
            status: &d.status,
            udf_key: d.udf_key.as_deref(),
            doc_name: d.doc_name.as_deref(),
            holder_name: d.holder_name.as_deref(),
            aadhaar: d.aadhaar.as_deref(),
            issued_on: d.issued_on.as_deref(),
            valid_from: d.valid_from.as_deref(),
            valid_to: d.valid_to.as_deref(),
            blob_sha256: d.blob_sha256.as_deref(),
            created_at: d.created_at,
            updated_at: d.updated_at,
            holder_dob: d.holder_dob.as_deref(),
            holder_gender: d.holder_gender.as_deref(),
            holder_phone: d.holder_phone.as_deref(),
            data: d.data.as_deref(),
            xml_sha256: d.xml_sha256.as_deref(),
            fingerprint: d.fingerprint.as_deref(),
            signed_with: d.signed_with.as_deref(),
            made_from: d.made_from.as_deref(),
        }
    }
}

/// How a document's bytes were made (`documents.made_from`).
pub mod made {
    pub const RENDER: &str = "render";
    pub const FILE: &str = "file";
}

impl NewDocument {
    /// A row without document data (a reservation, or a link to a department row);
    /// `doc_id` is filled in when minted.
    pub fn bare(doctype: &str, status: &str, udf_key: Option<&str>, now: NaiveDateTime) -> Self {
        NewDocument {
            doctype: doctype.to_string(),
            doc_id: String::new(),
            status: status.to_string(),
            udf_key: udf_key.map(str::to_string),
            doc_name: None,
            holder_name: None,
            aadhaar: None,
            issued_on: None,
            valid_from: None,
            valid_to: None,
            blob_sha256: None,
            created_at: now,
            updated_at: now,
            holder_dob: None,
            holder_gender: None,
            holder_phone: None,
            data: None,
            xml_sha256: None,
            fingerprint: None,
            signed_with: None,
            made_from: None,
        }
    }
}

/// Inserts unless (doctype, doc_id) is taken; true when inserted. The unique index is
/// the arbiter, so concurrent importers can never hand out the same DocId.
pub fn insert_if_free(conn: &mut DbConn, doc: &NewDocument) -> Result<bool, StoreError> {
    let n = on_backend!(conn, c => diesel::insert_into(documents::table)
        .values(doc)
        .on_conflict_do_nothing()
        .execute(c))?;
    Ok(n == 1)
}

/// What overwriting a document writes: everything it says, never its identity or its
/// creation time. The certificate XML is made afresh from the new data.
#[derive(AsChangeset)]
#[diesel(table_name = documents, treat_none_as_null = true)]
struct Overwrite<'a> {
    status: &'a str,
    udf_key: Option<&'a str>,
    doc_name: Option<&'a str>,
    holder_name: Option<&'a str>,
    aadhaar: Option<&'a str>,
    issued_on: Option<&'a str>,
    valid_from: Option<&'a str>,
    valid_to: Option<&'a str>,
    blob_sha256: Option<&'a str>,
    updated_at: NaiveDateTime,
    holder_dob: Option<&'a str>,
    holder_gender: Option<&'a str>,
    holder_phone: Option<&'a str>,
    data: Option<&'a str>,
    xml_sha256: Option<&'a str>,
    fingerprint: Option<&'a str>,
    signed_with: Option<&'a str>,
    made_from: Option<&'a str>,
}

impl<'a> From<&'a NewDocument> for Overwrite<'a> {
    fn from(d: &'a NewDocument) -> Self {
        Overwrite {
            status: &d.status,
            udf_key: d.udf_key.as_deref(),
            doc_name: d.doc_name.as_deref(),
            holder_name: d.holder_name.as_deref(),
            aadhaar: d.aadhaar.as_deref(),
            issued_on: d.issued_on.as_deref(),
            valid_from: d.valid_from.as_deref(),
            valid_to: d.valid_to.as_deref(),
            blob_sha256: d.blob_sha256.as_deref(),
            updated_at: d.updated_at,
            holder_dob: d.holder_dob.as_deref(),
            holder_gender: d.holder_gender.as_deref(),
            holder_phone: d.holder_phone.as_deref(),
            data: d.data.as_deref(),
            xml_sha256: None,
            fingerprint: d.fingerprint.as_deref(),
            signed_with: d.signed_with.as_deref(),
            made_from: d.made_from.as_deref(),
        }
    }
}

/// Writes `doc`'s data over the row of its DocId if that row is in status `from`.
fn overwrite(conn: &mut DbConn, doc: &NewDocument, from: &str) -> Result<bool, StoreError> {
    let n = diesel::update(
        documents::table
            .filter(documents::doctype.eq(&doc.doctype))
            .filter(documents::doc_id.eq(&doc.doc_id))
            .filter(documents::status.eq(from)),
    )
    .set(Overwrite::from(doc))
    .execute(conn)?;
    Ok(n == 1)
}

/// Makes the caller's transaction the only one adding documents of `doctype` until it
/// ends, on PostgreSQL (SQLite's write lock already does). Two transactions that each
/// inserted a random DocId the other then drew would wait on each other until
/// PostgreSQL aborted one ("deadlock detected"): two imports into one doc type at once
/// failed so. They now take turns, a transaction each, as on SQLite.
pub fn lock_doctype(conn: &mut DbConn, doctype: &str) -> Result<(), StoreError> {
    if let DbConn::Postgres(c) = conn {
        diesel::sql_query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
            .bind::<diesel::sql_types::Text, _>(format!("dlrepo: new documents of {doctype}"))
            .execute(c)?;
    }
    Ok(())
}

/// Issues a document on a DocId reserved by `mint`; true when such a reservation existed.
pub fn issue_reserved(conn: &mut DbConn, doc: &NewDocument) -> Result<bool, StoreError> {
    overwrite(conn, doc, status::RESERVED)
}

/// More than one live document for the same search-field values: what databases
/// written before the one-per-key rule may hold. (doc type, DocIds.)
pub fn duplicates(conn: &mut DbConn) -> Result<Vec<(String, Vec<String>)>, StoreError> {
    let rows: Vec<(String, Option<String>, String)> = documents::table
        .filter(status_in(LIVE_SQL))
        .filter(documents::udf_key.is_not_null())
        .select((documents::doctype, documents::udf_key, documents::doc_id))
        .order((
            documents::doctype,
            documents::udf_key,
            documents::created_at,
        ))
        .load(conn)?;
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    type Group = ((String, Option<String>), Vec<String>);
    let mut group: Option<Group> = None;
    for (doctype, key, doc_id) in rows {
        match &mut group {
            Some((k, ids)) if k.0 == doctype && k.1 == key => ids.push(doc_id),
            _ => {
                if let Some((k, ids)) = group.take().filter(|(_, ids)| ids.len() > 1) {
                    out.push((k.0, ids));
                }
                group = Some(((doctype, key), vec![doc_id]));
            }
        }
    }
    if let Some((k, ids)) = group.filter(|(_, ids)| ids.len() > 1) {
        out.push((k.0, ids));
    }
    Ok(out)
}

/// A correction of the live document with these search-field values (same DocId);
/// its DocId, or None when there was none. The copy it replaces is kept, as by
/// [`correct`].
pub fn correct_by_key(conn: &mut DbConn, doc: &NewDocument) -> Result<Option<String>, StoreError> {
    let live = || {
        documents::table
            .filter(documents::doctype.eq(&doc.doctype))
            .filter(documents::udf_key.eq(&doc.udf_key))
            .filter(status_in(LIVE_SQL))
    };
    let Some(doc_id) = live()
        .select(documents::doc_id)
        .first::<String>(conn)
        .optional()?
    else {
        return Ok(None);
    };
    super::versions::keep_current(
        conn,
        &doc.doctype,
        &doc_id,
        &[status::ISSUED, status::PENDING],
        doc.updated_at,
    )?;
    diesel::update(live())
        .set(Overwrite::from(doc))
        .execute(conn)?;
    Ok(Some(doc_id))
}

/// A correction: replaces an issued document's data and bytes under the same DocId. The
/// copy it replaces is kept in `document_versions`, as a department row's change and
/// `dlrepo resign` keep theirs (its bytes had stayed stored, referred to by nothing).
pub fn correct(conn: &mut DbConn, doc: &NewDocument) -> Result<bool, StoreError> {
    super::versions::keep_current(
        conn,
        &doc.doctype,
        &doc.doc_id,
        &[status::ISSUED],
        doc.updated_at,
    )?;
    overwrite(conn, doc, status::ISSUED)
}

/// What a revocation needs to tell the central locker.
#[derive(Debug, Queryable)]
pub struct Revoked {
    pub aadhaar: Option<String>,
    pub doc_name: Option<String>,
    pub issued_on: Option<String>,
    pub valid_from: Option<String>,
    pub valid_to: Option<String>,
}

/// Revokes an issued document; None when there is no issued document of that DocId.
pub fn revoke(
    conn: &mut DbConn,
    doctype: &str,
    doc_id: &str,
    now: NaiveDateTime,
) -> Result<Option<Revoked>, StoreError> {
    let target = documents::table
        .filter(documents::doctype.eq(doctype))
        .filter(documents::doc_id.eq(doc_id))
        .filter(documents::status.eq(status::ISSUED));
    let found: Option<Revoked> = target
        .select((
            documents::aadhaar,
            documents::doc_name,
            documents::issued_on,
            documents::valid_from,
            documents::valid_to,
        ))
        .first(conn)
        .optional()?;
    if found.is_some() {
        diesel::update(target)
            .set((
                documents::status.eq(status::REVOKED),
                documents::updated_at.eq(now),
            ))
            .execute(conn)?;
    }
    Ok(found)
}

pub fn count_by_status(conn: &mut DbConn, doctype: &str, st: &str) -> Result<i64, StoreError> {
    Ok(documents::table
        .filter(documents::doctype.eq(doctype))
        .filter(documents::status.eq(st))
        .count()
        .get_result(conn)?)
}
