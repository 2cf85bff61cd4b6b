//! PostgreSQL's bulk insert of new documents: binary COPY into a table private to the
//! session, then one `INSERT … SELECT … ON CONFLICT DO NOTHING RETURNING doc_id`.
//!
//! A multi-row `INSERT … VALUES` makes the server parse, plan and bind 20 parameters a
//! row; COPY streams the rows in PostgreSQL's binary format instead. COPY alone cannot
//! skip a clashing DocId (minted DocIds clash a few times in a hundred once a doc type
//! fills up), so the rows land in a staging table first and the one INSERT keeps the
//! exact semantics of the row-by-row path: clashing rows are skipped and reported by
//! omission from the returned DocIds.

use chrono::NaiveDateTime;
use diesel::pg::PgConnection;
use diesel::prelude::*;
use diesel::sql_types::{Bool, Text};

use super::schema::IMPORTED_COLUMNS as COLUMNS;

diesel::table! {
    /// `pg_temp.documents_incoming`: the columns of `documents` that an import writes.
    /// Temporary, so it is the session's own, is never WAL-logged, and has no indexes
    /// or foreign keys to maintain while the rows stream in.
    documents_incoming (doctype, doc_id) {
        doctype -> Text,
        doc_id -> Text,
        status -> Text,
        udf_key -> Nullable<Text>,
        doc_name -> Nullable<Text>,
        holder_name -> Nullable<Text>,
        aadhaar -> Nullable<Text>,
        issued_on -> Nullable<Text>,
        valid_from -> Nullable<Text>,
        valid_to -> Nullable<Text>,
        blob_sha256 -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        holder_dob -> Nullable<Text>,
        holder_gender -> Nullable<Text>,
        holder_phone -> Nullable<Text>,
        data -> Nullable<Text>,
        xml_sha256 -> Nullable<Text>,
        fingerprint -> Nullable<Text>,
        signed_with -> Nullable<Text>,
        made_from -> Nullable<Text>,
    }
}

/// A new document borrowed as a row of the staging table (no copy of its strings); also
/// the row `sqlite_bulk` binds.
#[derive(Insertable)]
#[diesel(table_name = documents_incoming, treat_none_as_default_value = false)]
pub(super) struct Incoming<'a> {
    pub doctype: &'a str,
    pub doc_id: &'a str,
    pub status: &'a str,
    pub udf_key: Option<&'a str>,
    pub doc_name: Option<&'a str>,
    pub holder_name: Option<&'a str>,
    pub aadhaar: Option<&'a str>,
    pub issued_on: Option<&'a str>,
    pub valid_from: Option<&'a str>,
    pub valid_to: Option<&'a str>,
    pub blob_sha256: Option<&'a str>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub holder_dob: Option<&'a str>,
    pub holder_gender: Option<&'a str>,
    pub holder_phone: Option<&'a str>,
    pub data: Option<&'a str>,
    pub xml_sha256: Option<&'a str>,
    pub fingerprint: Option<&'a str>,
    pub signed_with: Option<&'a str>,
    pub made_from: Option<&'a str>,
}

#[derive(QueryableByName)]
struct Present {
    #[diesel(sql_type = Bool)]
    present: bool,
}

#[derive(QueryableByName)]
struct Written {
    #[diesel(sql_type = Text)]
    doc_id: String,
}

/// Inserts the documents whose DocId and live search fields are free; returns the
/// DocIds it inserted. Runs inside the caller's transaction: a rollback takes the
/// staging table's rows (and, on a first use, the table itself) with it.
pub(super) fn insert_many_if_free(
    conn: &mut PgConnection,
    rows: Vec<Incoming<'_>>,
) -> QueryResult<Vec<String>> {
    // Created on the session's first import batch. Asked first rather than with IF NOT
    // EXISTS, whose "already exists" notice libpq would print for every batch.
    let present = diesel::sql_query(
        "SELECT to_regclass('pg_temp.documents_incoming') IS NOT NULL AS present",
    )
    .get_result::<Present>(conn)?
    .present;
    if !present {
        diesel::sql_query(format!(
            "CREATE TEMPORARY TABLE documents_incoming ON COMMIT DELETE ROWS AS \
             SELECT {COLUMNS} FROM documents WITH NO DATA"
        ))
        .execute(conn)?;
    }
    diesel::copy_from(documents_incoming::table)
        .from_insertable(rows)
        .execute(conn)?;
    // In the order they were copied (the caller's lookup-key order), so the index pages
    // fill in sequence.
    let written = diesel::sql_query(format!(
        "INSERT INTO documents ({COLUMNS}) SELECT {COLUMNS} FROM documents_incoming \
         ON CONFLICT DO NOTHING RETURNING doc_id"
    ))
    .load::<Written>(conn)?;
    // Emptied now, not only at commit: a transaction may stage more than one chunk.
    diesel::sql_query("TRUNCATE documents_incoming").execute(conn)?;
    Ok(written.into_iter().map(|w| w.doc_id).collect())
}
