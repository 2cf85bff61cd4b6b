//! `document_versions`: the copies a document replaced, kept with the bytes they name
//! (a department row's change, `dlrepo resign`, `import --correct`), so that a copy
//! once served can still be told and shown, and its bytes are referred to.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{document_versions as v, documents};
use super::{DbConn, StoreError};

/// A copy of a document, as it was until `replaced_at`.
pub struct Replaced<'a> {
    pub doctype: &'a str,
    pub doc_id: &'a str,
    pub blob_sha256: Option<&'a str>,
    pub xml_sha256: Option<&'a str>,
    /// What the row it was made from said, when it was made from one.
    pub fingerprint: Option<&'a str>,
}

/// Keeps the copy the caller has just replaced.
pub fn keep(
    conn: &mut DbConn,
    copy: &Replaced<'_>,
    replaced_at: NaiveDateTime,
) -> Result<(), StoreError> {
    diesel::insert_into(v::table)
        .values((
            v::doctype.eq(copy.doctype),
            v::doc_id.eq(copy.doc_id),
            v::blob_sha256.eq(copy.blob_sha256),
            v::xml_sha256.eq(copy.xml_sha256),
            v::fingerprint.eq(copy.fingerprint),
            v::replaced_at.eq(replaced_at),
        ))
        .execute(conn)?;
    Ok(())
}

/// Keeps what the document `doc_id` holds now, if in one of `statuses` and made (a
/// pending one has no copy to keep), read and copied in one statement: for a caller
/// about to overwrite it.
pub fn keep_current(
    conn: &mut DbConn,
    doctype: &str,
    doc_id: &str,
    statuses: &[&str],
    replaced_at: NaiveDateTime,
) -> Result<(), StoreError> {
    use diesel::IntoSql;
    let current = documents::table
        .filter(documents::doctype.eq(doctype))
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
            replaced_at.into_sql::<diesel::sql_types::Timestamp>(),
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
