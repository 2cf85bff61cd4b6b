//! Documents' bytes (PDFs, certificate XML), stored once under their SHA-256.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::super::schema::{blobs, documents};
use super::super::{DbConn, StoreError};

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
    super::super::write_transaction(conn, |conn| {
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
