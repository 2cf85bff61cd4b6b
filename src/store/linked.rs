//! DocIds of rows in a department's own table: a `linked` row in `documents` ties the
//! department row's key columns (in `udf_key`) to a DocId minted on its first pull, and
//! keeps the bytes signed then.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::documents::{blob_id, insert_if_free, put_blob, status, NewDocument, MINT_ATTEMPTS};
use super::schema::{blobs, documents};
use super::{DbConn, StoreError};
use crate::uri::DocIdSpace;

/// The DocId of a department-table row, if it has been pulled before.
pub fn linked_doc_id(
    conn: &mut DbConn,
    doctype: &str,
    row_key: &str,
) -> Result<Option<String>, StoreError> {
    Ok(documents::table
        .filter(documents::doctype.eq(doctype))
        .filter(documents::udf_key.eq(row_key))
        .filter(documents::status.eq(status::LINKED))
        .select(documents::doc_id)
        .first(conn)
        .optional()?)
}

/// The department row key behind a linked DocId.
pub fn linked_row_key(
    conn: &mut DbConn,
    doctype: &str,
    doc_id: &str,
) -> Result<Option<String>, StoreError> {
    Ok(documents::table
        .filter(documents::doctype.eq(doctype))
        .filter(documents::doc_id.eq(doc_id))
        .filter(documents::status.eq(status::LINKED))
        .select(documents::udf_key)
        .first::<Option<String>>(conn)
        .optional()?
        .flatten())
}

/// The stable DocId of a department row: the existing one, or a freshly minted one.
/// Both unique indexes arbitrate races: a second first-pull of the same row finds the
/// winner's DocId instead of making another.
pub fn link(
    conn: &mut DbConn,
    doctype: &str,
    row_key: &str,
    space: &DocIdSpace,
    now: NaiveDateTime,
) -> Result<String, StoreError> {
    if let Some(id) = linked_doc_id(conn, doctype, row_key)? {
        return Ok(id);
    }
    let mut doc = NewDocument::bare(doctype, status::LINKED, Some(row_key), now);
    for _ in 0..MINT_ATTEMPTS {
        doc.doc_id = space.mint();
        if insert_if_free(conn, &doc)? {
            return Ok(doc.doc_id);
        }
        if let Some(id) = linked_doc_id(conn, doctype, row_key)? {
            return Ok(id);
        }
    }
    Err(StoreError::Unavailable(format!(
        "no free DocId for {doctype} after {MINT_ATTEMPTS} attempts: raise expected_count"
    )))
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
    bytes: &[u8],
    now: NaiveDateTime,
) -> Result<Vec<u8>, StoreError> {
    let sha = blob_id(bytes);
    conn.transaction(|conn| {
        put_blob(conn, &sha, bytes, now)?;
        diesel::update(
            documents::table
                .filter(documents::doctype.eq(doctype))
                .filter(documents::doc_id.eq(doc_id))
                .filter(documents::status.eq(status::LINKED))
                .filter(documents::blob_sha256.is_null()),
        )
        .set(documents::blob_sha256.eq(&sha))
        .execute(conn)?;
        Ok(linked_blob(conn, doctype, doc_id)?.unwrap_or_else(|| bytes.to_vec()))
    })
}
