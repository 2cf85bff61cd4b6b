//! PostgreSQL's bulk insert of new documents, in PostgreSQL's binary COPY format.
//!
//! A multi-row `INSERT … VALUES` makes the server parse, plan and bind 20 parameters a
//! row; COPY streams the rows instead. COPY cannot skip a clashing row, so there are two
//! ways in, both skipping exactly the rows the row-by-row path would refuse:
//! - **direct**: the batch's DocIds already taken are asked first (minted DocIds clash a
//!   few times in a hundred once a doc type fills up) and left out, and the rest is
//!   copied straight into `documents` under a savepoint. A DocId taken after it was
//!   checked fails the COPY, which is asked again and copied once more; a row whose
//!   live search fields are taken (a re-run) fails it too, and the batch goes the
//!   staged way instead.
//! - **staged**: COPY into a table private to the session, then one `INSERT … SELECT …
//!   ON CONFLICT DO NOTHING RETURNING doc_id`. Its speculative insertion and the second
//!   pass cost PostgreSQL half as much again as a COPY into the table (1M bench rows:
//!   16.5 s against 10.9 s), so it is kept for batches likely to clash.

use chrono::NaiveDateTime;
use diesel::pg::PgConnection;
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error};
use diesel::sql_types::{Array, Bool, Text};
use std::collections::HashSet;

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
#[diesel(
    table_name = documents_incoming,
    table_name = super::schema::documents,
    treat_none_as_default_value = false
)]
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

/// The unique index of (doc_id, doctype), named in a clash's error.
const DOC_ID_INDEX: &str = "documents_doc_id";

#[derive(QueryableByName)]
struct Present {
    #[diesel(sql_type = Bool)]
    present: bool,
}

#[derive(QueryableByName)]
struct Written {
    #[diesel(sql_type = Text)]
    doc_id: String,
    #[diesel(sql_type = diesel::sql_types::Nullable<Text>)]
    udf_key: Option<String>,
}

/// Inserts the documents whose DocId and live search fields are free; returns which of
/// them it inserted, in their order. `likely_free`: the caller expects no live search
/// fields among them (its last batch had none), so the direct way is tried first;
/// `checked`: their DocIds were found free already. Runs inside the caller's
/// transaction: a rollback takes everything with it.
pub(super) fn insert_many_if_free(
    conn: &mut PgConnection,
    rows: &[Incoming<'_>],
    likely_free: bool,
    checked: bool,
) -> QueryResult<Vec<bool>> {
    let Some(doctype) = rows.first().map(|r| r.doctype) else {
        return Ok(Vec::new());
    };
    if !likely_free || rows.iter().any(|r| r.doctype != doctype) {
        return insert_staged(conn, rows);
    }
    let ids = || rows.iter().map(|r| r.doc_id).collect::<Vec<&str>>();
    let mut taken = if checked {
        HashSet::new()
    } else {
        taken_doc_ids(conn, doctype, &ids())?
    };
    // A DocId checked on the other connection may have been taken since by a row this
    // connection wrote: asked again here, where this transaction's rows are seen, and
    // copied once more, rather than staging the whole batch (three times the cost).
    for last in [false, true] {
        let free: Vec<bool> = rows.iter().map(|r| !taken.contains(r.doc_id)).collect();
        let to_copy: Vec<&Incoming> = rows
            .iter()
            .zip(&free)
            .filter(|(_, f)| **f)
            .map(|(r, _)| r)
            .collect();
        // A savepoint, so that a clash undoes this COPY only.
        let copied = conn.transaction(|c| {
            diesel::copy_from(super::schema::documents::table)
                .from_insertable(to_copy)
                .execute(c)
        });
        match copied {
            Ok(_) => return Ok(free),
            Err(Error::DatabaseError(DatabaseErrorKind::UniqueViolation, info))
                if !last && info.constraint_name() == Some(DOC_ID_INDEX) =>
            {
                taken = taken_doc_ids(conn, doctype, &ids())?;
            }
            Err(Error::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => break,
            Err(e) => return Err(e),
        }
    }
    insert_staged(conn, rows)
}

#[derive(QueryableByName)]
struct Taken {
    #[diesel(sql_type = Text)]
    doc_id: String,
}

/// Which of these DocIds `doctype` already has (committed, or written by this
/// connection's open transaction), in one query.
pub(super) fn taken_doc_ids(
    conn: &mut PgConnection,
    doctype: &str,
    ids: &[&str],
) -> QueryResult<HashSet<String>> {
    // One index probe per DocId asked, whatever the table's size: with `doc_id =
    // ANY($2)` the planner read the whole table (a parallel sequential scan) once a
    // batch was more than a few percent of it, ~180 ms of three processes per 50,000
    // DocIds at 1M rows and growing with the table. The LIMIT keeps the subquery from
    // being turned into that join.
    let taken = diesel::sql_query(
        "SELECT t.id AS doc_id FROM unnest($2::text[]) AS t(id), \
         LATERAL (SELECT 1 FROM documents d WHERE d.doctype = $1 AND d.doc_id = t.id LIMIT 1) AS found",
    )
    .bind::<Text, _>(doctype)
    .bind::<Array<Text>, _>(ids)
    .load::<Taken>(conn)?;
    Ok(taken.into_iter().map(|t| t.doc_id).collect())
}

/// The staged way: every clash skipped by the database, row by row.
fn insert_staged(conn: &mut PgConnection, rows: &[Incoming<'_>]) -> QueryResult<Vec<bool>> {
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
         ON CONFLICT DO NOTHING RETURNING doc_id, udf_key"
    ))
    .load::<Written>(conn)?;
    // Emptied now, not only at commit: a transaction may stage more than one chunk.
    diesel::sql_query("TRUNCATE documents_incoming").execute(conn)?;
    // Each row written answers for one row asked: two rows may give the same DocId
    // (a file's own DocIds), and only the one that went in is written.
    let mut written: HashSet<(String, Option<String>)> =
        written.into_iter().map(|w| (w.doc_id, w.udf_key)).collect();
    Ok(rows
        .iter()
        .map(|r| written.remove(&(r.doc_id.to_string(), r.udf_key.map(str::to_string))))
        .collect())
}
