//! Documents residents shared with the department: one copy per (user_ref, doc_id),
//! however often DigiLocker's library calls the upload service for it.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::store::schema::requester_documents;
use crate::store::{DbConn, StoreError};

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = requester_documents)]
pub struct Received {
    pub user_ref: String,
    pub doc_id: String,
    pub source_host: String,
    pub content_type: Option<String>,
    pub sha256: String,
    pub size: i64,
    pub content: Vec<u8>,
    pub received_at: NaiveDateTime,
}

/// Keeps the document unless this reference already has one; true when stored now.
pub fn keep(conn: &mut DbConn, r: &Received) -> Result<bool, StoreError> {
    let n = match conn {
        DbConn::Sqlite(c) => diesel::insert_into(requester_documents::table)
            .values(r)
            .on_conflict_do_nothing()
            .execute(c)?,
        DbConn::Postgres(c) => diesel::insert_into(requester_documents::table)
            .values(r)
            .on_conflict_do_nothing()
            .execute(c)?,
    };
    Ok(n == 1)
}

/// The SHA-256 of the document a reference already holds.
pub fn held(conn: &mut DbConn, user_ref: &str, doc_id: &str) -> Result<Option<String>, StoreError> {
    Ok(requester_documents::table
        .filter(requester_documents::user_ref.eq(user_ref))
        .filter(requester_documents::doc_id.eq(doc_id))
        .select(requester_documents::sha256)
        .first(conn)
        .optional()?)
}

/// What `dlrepo requester list` shows: newest first, never the bytes.
#[derive(Debug, Queryable)]
pub struct Listed {
    pub user_ref: String,
    pub doc_id: String,
    pub source_host: String,
    pub content_type: Option<String>,
    pub size: i64,
    pub sha256: String,
    pub received_at: NaiveDateTime,
}

pub fn list(conn: &mut DbConn, limit: i64) -> Result<Vec<Listed>, StoreError> {
    Ok(requester_documents::table
        .order(requester_documents::id.desc())
        .limit(limit)
        .select((
            requester_documents::user_ref,
            requester_documents::doc_id,
            requester_documents::source_host,
            requester_documents::content_type,
            requester_documents::size,
            requester_documents::sha256,
            requester_documents::received_at,
        ))
        .load(conn)?)
}
