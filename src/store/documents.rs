//! Queries on documents and their bytes.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::pg_bulk::Incoming;
use super::record_query::{
    status_in, LiveFactsAmong, LiveFactsBy, RecordBy, RecordsAmong, LIVE_SQL,
};
use super::schema::{blobs, documents};
use super::{DbConn, StoreError};
use crate::uri::DocIdSpace;

/// Runs the same diesel code on the concrete connection of either backend, for the few
/// statements `MultiConnection` cannot express (upserts).
macro_rules! on_backend {
    ($conn:expr, $c:ident => $body:expr) => {
        match $conn {
            DbConn::Sqlite($c) => $body,
            DbConn::Postgres($c) => $body,
        }
    };
}

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

/// A stored document as a pull needs it: what it says and its (signed) PDF.
#[derive(Debug, Clone, PartialEq, Eq, Queryable)]
pub struct DocRecord {
    pub doc_id: String,
    pub status: String,
    pub udf_key: Option<String>,
    pub doc_name: Option<String>,
    pub holder_name: Option<String>,
    pub holder_dob: Option<String>,
    pub holder_gender: Option<String>,
    pub holder_phone: Option<String>,
    pub aadhaar: Option<String>,
    pub issued_on: Option<String>,
    pub valid_from: Option<String>,
    pub valid_to: Option<String>,
    /// Further fields, a JSON object of name to text.
    pub data: Option<String>,
    pub xml_sha256: Option<String>,
    pub content: Option<Vec<u8>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    NotFound,
    Found(Box<DocRecord>),
    Ambiguous,
}

/// The Pull URI lookup: one indexed query on (udf_key, doctype), prepared once per
/// connection (see [`super::record_query`]). Issued and pending documents count;
/// revoked ones do not.
pub fn find_by_udfs(conn: &mut DbConn, doctype: &str, key: &str) -> Result<Lookup, StoreError> {
    let q = RecordBy::<false> {
        doctype,
        value: key,
    };
    let mut rows: Vec<DocRecord> = on_backend!(conn, c => q.load(c))?;
    Ok(match rows.len() {
        0 => Lookup::NotFound,
        1 => Lookup::Found(Box::new(rows.remove(0))),
        _ => Lookup::Ambiguous,
    })
}

/// [`find_by_udfs`] for several keys of one doc type at once, answered in the keys'
/// order (a key asked twice gets the same answer twice). PostgreSQL: one query, however
/// many keys; SQLite: the prepared lookup of each key, in-process.
pub fn find_by_udfs_among(
    conn: &mut DbConn,
    doctype: &str,
    keys: &[&str],
) -> Result<Vec<Lookup>, StoreError> {
    let DbConn::Postgres(c) = conn else {
        return keys
            .iter()
            .map(|key| find_by_udfs(conn, doctype, key))
            .collect();
    };
    let rows = records_among::<false>(c, doctype, keys)?;
    Ok(answer_each(keys, rows, |r| {
        r.udf_key.as_deref().unwrap_or_default()
    }))
}

/// [`find_by_doc_id`] for several DocIds of one doc type at once, as
/// [`find_by_udfs_among`]: `Found` or `NotFound` for each, in their order.
pub fn find_by_doc_ids_among(
    conn: &mut DbConn,
    doctype: &str,
    doc_ids: &[&str],
) -> Result<Vec<Lookup>, StoreError> {
    let DbConn::Postgres(c) = conn else {
        return doc_ids
            .iter()
            .map(|id| {
                Ok(find_by_doc_id(conn, doctype, id)?
                    .map_or(Lookup::NotFound, |r| Lookup::Found(Box::new(r))))
            })
            .collect();
    };
    let rows = records_among::<true>(c, doctype, doc_ids)?;
    Ok(answer_each(doc_ids, rows, |r| r.doc_id.as_str()))
}

/// [`RecordsAmong`] of any number of values, in as few statements as the prepared
/// sizes allow.
fn records_among<const BY_DOC_ID: bool>(
    c: &mut PgConnection,
    doctype: &str,
    values: &[&str],
) -> Result<Vec<DocRecord>, StoreError> {
    Ok(match values.len() {
        0 => Vec::new(),
        1 => padded::<1, BY_DOC_ID>(c, doctype, values)?,
        2 => padded::<2, BY_DOC_ID>(c, doctype, values)?,
        3..=4 => padded::<4, BY_DOC_ID>(c, doctype, values)?,
        5..=8 => padded::<8, BY_DOC_ID>(c, doctype, values)?,
        9..=16 => padded::<16, BY_DOC_ID>(c, doctype, values)?,
        _ => {
            let mut rows = Vec::new();
            for chunk in values.chunks(32) {
                rows.extend(padded::<32, BY_DOC_ID>(c, doctype, chunk)?);
            }
            rows
        }
    })
}

/// [`RecordsAmong`] of up to `N` values, the last repeated to fill the `N` places (the
/// index scan reads a repeated value once).
fn padded<const N: usize, const BY_DOC_ID: bool>(
    c: &mut PgConnection,
    doctype: &str,
    values: &[&str],
) -> Result<Vec<DocRecord>, StoreError> {
    let Some(last) = values.last() else {
        return Ok(Vec::new());
    };
    let mut places = [*last; N];
    for (place, value) in places.iter_mut().zip(values) {
        *place = value;
    }
    let q = RecordsAmong::<N, BY_DOC_ID> {
        doctype,
        values: &places,
    };
    Ok(q.load(c)?)
}

/// The rows found for several values, told to each value asked (in order): none is
/// `NotFound`, two are `Ambiguous`. The last ask of a value takes its record (and its
/// PDF) instead of a copy.
fn answer_each(
    asked: &[&str],
    rows: Vec<DocRecord>,
    value_of: impl Fn(&DocRecord) -> &str,
) -> Vec<Lookup> {
    let mut found: HashMap<String, Vec<DocRecord>> = HashMap::new();
    for row in rows {
        found
            .entry(value_of(&row).to_string())
            .or_default()
            .push(row);
    }
    let mut asks: HashMap<&str, usize> = HashMap::new();
    for value in asked {
        *asks.entry(value).or_default() += 1;
    }
    asked
        .iter()
        .map(|value| {
            let last = asks.get_mut(value).is_some_and(|n| {
                *n -= 1;
                *n == 0
            });
            match found.get_mut(*value) {
                None => Lookup::NotFound,
                Some(docs) if docs.len() > 1 => Lookup::Ambiguous,
                Some(docs) if last => docs
                    .pop()
                    .map_or(Lookup::NotFound, |d| Lookup::Found(Box::new(d))),
                Some(docs) => docs
                    .first()
                    .map_or(Lookup::NotFound, |d| Lookup::Found(Box::new(d.clone()))),
            }
        })
        .collect()
}

/// The Pull Doc lookup, by the unique (doc_id, doctype).
pub fn find_by_doc_id(
    conn: &mut DbConn,
    doctype: &str,
    doc_id: &str,
) -> Result<Option<DocRecord>, StoreError> {
    let q = RecordBy::<true> {
        doctype,
        value: doc_id,
    };
    let rows: Vec<DocRecord> = on_backend!(conn, c => q.load(c))?;
    Ok(rows.into_iter().next())
}

/// The kept certificate XML of a document (issued or linked), once made.
pub fn xml_blob(conn: &mut DbConn, sha256: &str) -> Result<Option<Vec<u8>>, StoreError> {
    Ok(blobs::table
        .filter(blobs::sha256.eq(sha256))
        .select(blobs::content)
        .first(conn)
        .optional()?)
}

/// Keeps a document's signed certificate XML, unless a concurrent first request
/// already did; returns the bytes that are kept, so every pull serves the same.
pub fn keep_xml(
    conn: &mut DbConn,
    doctype: &str,
    doc_id: &str,
    bytes: &[u8],
    now: NaiveDateTime,
) -> Result<Vec<u8>, StoreError> {
    let sha = blob_id(bytes);
    super::write_transaction(conn, |conn| {
        put_blob(conn, &sha, bytes, now)?;
        diesel::update(
            documents::table
                .filter(documents::doctype.eq(doctype))
                .filter(documents::doc_id.eq(doc_id))
                .filter(documents::xml_sha256.is_null()),
        )
        .set(documents::xml_sha256.eq(&sha))
        .execute(conn)?;
        let kept: Option<String> = documents::table
            .filter(documents::doctype.eq(doctype))
            .filter(documents::doc_id.eq(doc_id))
            .select(documents::xml_sha256)
            .first::<Option<String>>(conn)
            .optional()?
            .flatten();
        match kept {
            Some(k) if k != sha => Ok(xml_blob(conn, &k)?.unwrap_or_else(|| bytes.to_vec())),
            _ => Ok(bytes.to_vec()),
        }
    })
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

/// A live document (its `content` not read: `None`) and the fingerprint of the row it
/// was imported from.
pub type LiveDoc = (DocRecord, Option<String>);

/// The live (issued or pending) document of a doc type with these search-field
/// values, with what its row said when imported; its bytes are not read.
pub fn find_live_by_key(
    conn: &mut DbConn,
    doctype: &str,
    key: &str,
) -> Result<Option<LiveDoc>, StoreError> {
    let q = LiveFactsBy { doctype, key };
    let rows: Vec<LiveDoc> = on_backend!(conn, c => q.load(c))?;
    Ok(rows.into_iter().next())
}

/// The live documents of a doc type with any of these search-field values, without
/// their bytes: one query per 10,000 keys on PostgreSQL, where a lookup per row is a
/// round trip per row (a re-run of a million rows made a million); on SQLite the
/// prepared lookup of each key, microseconds in-process.
pub fn find_live_by_keys(
    conn: &mut DbConn,
    doctype: &str,
    keys: &[&str],
) -> Result<Vec<LiveDoc>, StoreError> {
    let DbConn::Postgres(c) = conn else {
        let mut found = Vec::new();
        for key in keys {
            found.extend(find_live_by_key(conn, doctype, key)?);
        }
        return Ok(found);
    };
    let mut found = Vec::with_capacity(keys.len());
    for chunk in keys.chunks(10_000) {
        let q = LiveFactsAmong {
            doctype,
            keys: chunk,
        };
        found.extend(q.load::<LiveDoc>(c)?);
    }
    Ok(found)
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
    keep_replaced(conn, doc, &doc_id, &[status::ISSUED, status::PENDING])?;
    diesel::update(live())
        .set(Overwrite::from(doc))
        .execute(conn)?;
    Ok(Some(doc_id))
}

/// A correction: replaces an issued document's data and bytes under the same DocId. The
/// copy it replaces is kept in `document_versions`, as a department row's change and
/// `dlrepo resign` keep theirs (its bytes had stayed stored, referred to by nothing).
pub fn correct(conn: &mut DbConn, doc: &NewDocument) -> Result<bool, StoreError> {
    keep_replaced(conn, doc, &doc.doc_id, &[status::ISSUED])?;
    overwrite(conn, doc, status::ISSUED)
}

/// Copies what the document `doc_id` of `doc`'s doc type holds now, if in one of
/// `statuses` and made (a pending one has no copy to keep, as `linked::record_change`
/// keeps none), into `document_versions`.
fn keep_replaced(
    conn: &mut DbConn,
    doc: &NewDocument,
    doc_id: &str,
    statuses: &[&str],
) -> Result<(), StoreError> {
    use super::schema::document_versions as v;
    use diesel::IntoSql;
    let current = documents::table
        .filter(documents::doctype.eq(&doc.doctype))
        .filter(documents::doc_id.eq(doc_id))
        .filter(documents::status.eq_any(statuses))
        .filter(
            documents::blob_sha256
                .is_not_null()
                .or(documents::xml_sha256.is_not_null()),
        )
        .select((
            documents::doctype,
            documents::doc_id,
            documents::blob_sha256,
            documents::xml_sha256,
            documents::fingerprint,
            doc.updated_at.into_sql::<diesel::sql_types::Timestamp>(),
        ));
    diesel::insert_into(v::table)
        .values(current)
        .into_columns((
            v::doctype,
            v::doc_id,
            v::blob_sha256,
            v::xml_sha256,
            v::fingerprint,
            v::replaced_at,
        ))
        .execute(conn)?;
    Ok(())
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

/// A blob's name: the lowercase hex SHA-256 of its bytes.
pub fn blob_id(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    crate::auth::to_hex(&Sha256::digest(bytes))
}

/// Stores bytes under their SHA-256 unless already there.
pub fn put_blob(
    conn: &mut DbConn,
    sha256: &str,
    content: &[u8],
    now: NaiveDateTime,
) -> Result<(), StoreError> {
    let row = blob_row(sha256, content, now);
    on_backend!(conn, c => diesel::insert_into(blobs::table)
        .values(row)
        .on_conflict_do_nothing()
        .execute(c))?;
    Ok(())
}

/// One row of `blobs`, as [`put_blob`] and [`put_blobs`] insert it.
type BlobRow<'a> = (
    diesel::dsl::Eq<blobs::sha256, &'a str>,
    diesel::dsl::Eq<blobs::content, &'a [u8]>,
    diesel::dsl::Eq<blobs::size, i64>,
    diesel::dsl::Eq<blobs::created_at, NaiveDateTime>,
);

fn blob_row<'a>(sha256: &'a str, content: &'a [u8], now: NaiveDateTime) -> BlobRow<'a> {
    (
        blobs::sha256.eq(sha256),
        blobs::content.eq(content),
        blobs::size.eq(content.len() as i64),
        blobs::created_at.eq(now),
    )
}

/// Stores many blobs, each unless already there. PostgreSQL takes them in a few
/// statements instead of a round trip each: an import of rows that each name a PDF of
/// their own had spent most of its time in those round trips. SQLite, in process, takes
/// them one by one.
pub fn put_blobs(
    conn: &mut DbConn,
    blobs: &[(&str, &[u8])],
    now: NaiveDateTime,
) -> Result<(), StoreError> {
    match conn {
        DbConn::Sqlite(_) => {
            for (sha256, content) in blobs {
                put_blob(conn, sha256, content, now)?;
            }
        }
        DbConn::Postgres(c) => {
            // Within PostgreSQL's 65,535 parameters (4 a blob), and a statement's bytes
            // kept to what a batch holds anyway.
            const MAX_ROWS: usize = 10_000;
            const MAX_BYTES: usize = 16 << 20;
            let mut rest = blobs;
            while !rest.is_empty() {
                let mut n = 0;
                let mut bytes = 0;
                while n < rest.len() && n < MAX_ROWS && (n == 0 || bytes < MAX_BYTES) {
                    bytes += rest[n].1.len();
                    n += 1;
                }
                let (these, later) = rest.split_at(n);
                let rows: Vec<_> = these
                    .iter()
                    .map(|(sha256, content)| blob_row(sha256, content, now))
                    .collect();
                diesel::insert_into(blobs::table)
                    .values(rows)
                    .on_conflict_do_nothing()
                    .execute(c)?;
                rest = later;
            }
        }
    }
    Ok(())
}

/// Clashes tolerated for one DocId before giving up: with a space 10x the documents, the
/// chance of even two in a row is below 1%.
pub const MINT_ATTEMPTS: usize = 16;

#[derive(Debug, thiserror::Error)]
#[error("no free DocId after {MINT_ATTEMPTS} attempts: the DocId space of {0} is nearly full; raise expected_count")]
pub struct SpaceExhausted(pub String);

/// `dlrepo mint`: reserves `count` fresh DocIds in one transaction.
pub fn reserve(
    conn: &mut DbConn,
    doctype: &str,
    space: &DocIdSpace,
    count: usize,
    now: NaiveDateTime,
) -> Result<Vec<String>, StoreError> {
    // Minters and imports of one doc type take turns (lock_doctype), so none waits on
    // another's uncommitted DocIds. Ids still go in sorted, and a deadlock PostgreSQL
    // breaks by aborting this transaction (with a writer that takes no turn) is retried.
    let mut attempt = 0u64;
    loop {
        let result = super::write_transaction(conn, |conn| {
            lock_doctype(conn, doctype)?;
            let mut ids = Vec::with_capacity(count);
            let mut doc = NewDocument::bare(doctype, status::RESERVED, None, now);
            for _ in 0..MINT_ATTEMPTS {
                let mut round: Vec<String> = std::iter::repeat_with(|| space.mint())
                    .take(count - ids.len())
                    .collect();
                round.sort_unstable();
                round.dedup();
                for id in round {
                    doc.doc_id = id;
                    if insert_if_free(conn, &doc)? {
                        ids.push(doc.doc_id.clone());
                    }
                }
                if ids.len() == count {
                    return Ok(ids);
                }
            }
            Err(StoreError::Unavailable(
                SpaceExhausted(doctype.to_string()).to_string(),
            ))
        });
        match result {
            Err(e) if attempt < 30 && super::is_retryable(&e) => {
                attempt += 1;
                std::thread::sleep(std::time::Duration::from_millis(
                    rand::random::<u64>() % (20 * attempt.min(10)) + 10,
                ));
            }
            other => return other,
        }
    }
}

pub fn count_by_status(conn: &mut DbConn, doctype: &str, st: &str) -> Result<i64, StoreError> {
    Ok(documents::table
        .filter(documents::doctype.eq(doctype))
        .filter(documents::status.eq(st))
        .count()
        .get_result(conn)?)
}
