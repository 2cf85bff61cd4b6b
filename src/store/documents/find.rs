//! Finding documents: by search fields or DocId for a pull (its bytes read), and the
//! live ones an import compares its rows with (their bytes not read).

use std::collections::HashMap;

use diesel::prelude::*;

use super::super::record_query::{
    each_asked, padded, with_prepared_size, LiveFactsAmong, LiveFactsBy, RecordBy, RecordsAmong,
    MOST_AMONG,
};
use super::super::{DbConn, StoreError};

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
    let mut rows = Vec::new();
    for chunk in values.chunks(MOST_AMONG) {
        with_prepared_size!(chunk.len(), N => {
            let q = RecordsAmong::<N, BY_DOC_ID> {
                doctype,
                values: &padded::<N>(chunk),
            };
            rows.extend(q.load::<DocRecord>(c)?);
        });
    }
    Ok(rows)
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
    each_asked(asked, found)
        .into_iter()
        .map(|docs| match docs {
            None => Lookup::NotFound,
            Some(docs) if docs.len() > 1 => Lookup::Ambiguous,
            Some(docs) => docs
                .into_iter()
                .next()
                .map_or(Lookup::NotFound, |d| Lookup::Found(Box::new(d))),
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
