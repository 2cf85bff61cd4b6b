//! An import's bulk writes of new documents, on either backend: PostgreSQL's in
//! `pg_bulk.rs`, SQLite's in `sqlite_bulk.rs`.

use std::collections::HashSet;

use super::documents::NewDocument;
use super::pg_bulk::{self, Incoming};
use super::sqlite_bulk;
use super::{DbConn, StoreError};

/// Inserts many rows, skipping those whose DocId or live search fields are taken;
/// returns which of them it inserted, in their order. `likely_free`: the caller expects
/// no row's search fields to have a live document (PostgreSQL then copies the rows
/// straight in); `checked`: their DocIds were found free ([`taken_doc_ids`]).
pub fn insert_many_if_free(
    conn: &mut DbConn,
    docs: &[&NewDocument],
    likely_free: bool,
    checked: bool,
) -> Result<Vec<bool>, StoreError> {
    let rows: Vec<Incoming> = docs.iter().map(|d| Incoming::from(*d)).collect();
    match conn {
        DbConn::Postgres(c) => Ok(pg_bulk::insert_many_if_free(
            c,
            &rows,
            likely_free,
            checked,
        )?),
        DbConn::Sqlite(c) => Ok(sqlite_bulk::insert_many_if_free(c, &rows)?),
    }
}

/// Which of these DocIds of `doctype` are taken, in one query; None on SQLite, whose
/// bulk insert skips them itself.
pub fn taken_doc_ids(
    conn: &mut DbConn,
    doctype: &str,
    ids: &[&str],
) -> Result<Option<HashSet<String>>, StoreError> {
    match conn {
        DbConn::Postgres(c) => Ok(Some(pg_bulk::taken_doc_ids(c, doctype, ids)?)),
        DbConn::Sqlite(_) => Ok(None),
    }
}
