//! SQLite's bulk insert of new documents: one prepared single-row `INSERT … ON CONFLICT
//! DO NOTHING`, bound and stepped once per row through SQLite's C API, on the very
//! connection (and so in the very transaction) that diesel holds.
//!
//! Why not diesel's multi-row INSERT, which this replaced (BENCHMARKS.md, import):
//! - diesel walks 21 bind parameters a row through its query builder and formats both
//!   timestamps of every row with chrono; here each row binds borrowed text, and a
//!   timestamp is formatted once per distinct value (a batch shares one);
//! - a multi-row INSERT may abort half-way, so SQLite keeps a statement journal: a copy
//!   of every index page the statement touches first. A single-row statement needs none.
//!
//! diesel does not hand out its `sqlite3*`. So every SQLite connection dlrepo opens gets
//! a SQL function, `dlrepo_connection_handle()`, registered by `sqlite3_auto_extension`
//! before the first open, that answers the handle of the connection it runs on: the
//! handle is asked of the connection itself, never kept or guessed.

use std::ffi::{c_char, c_int, CStr};
use std::sync::Once;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error};
use diesel::sql_types::BigInt;
use diesel::sqlite::SqliteConnection;
use libsqlite3_sys as ffi;

use super::pg_bulk::Incoming;
use super::schema::IMPORTED_COLUMNS as COLUMNS;

/// The function that answers a connection's own handle.
const HANDLE_FN: &CStr = c"dlrepo_connection_handle";

/// Registers [`HANDLE_FN`] for every SQLite connection opened from now on. Called
/// before each open; only the first call does anything.
pub(super) fn register_on_every_connection() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // SAFETY: `add_handle_fn` has the signature SQLite calls entry points with.
        unsafe { ffi::sqlite3_auto_extension(Some(add_handle_fn)) };
    });
}

unsafe extern "C" fn add_handle_fn(
    db: *mut ffi::sqlite3,
    _err: *mut *mut c_char,
    _api: *const ffi::sqlite3_api_routines,
) -> c_int {
    // DIRECTONLY: the function cannot be reached from a trigger or a view that a file
    // might bring along, only from statements dlrepo prepares itself.
    ffi::sqlite3_create_function_v2(
        db,
        HANDLE_FN.as_ptr(),
        0,
        ffi::SQLITE_UTF8 | ffi::SQLITE_DIRECTONLY,
        std::ptr::null_mut(),
        Some(answer_handle),
        None,
        None,
        None,
    )
}

unsafe extern "C" fn answer_handle(
    ctx: *mut ffi::sqlite3_context,
    _argc: c_int,
    _argv: *mut *mut ffi::sqlite3_value,
) {
    ffi::sqlite3_result_int64(ctx, ffi::sqlite3_context_db_handle(ctx) as i64);
}

#[derive(QueryableByName)]
struct Handle {
    #[diesel(sql_type = BigInt)]
    handle: i64,
}

/// A prepared statement, finalized when dropped (on every return path, errors too).
struct Statement {
    db: *mut ffi::sqlite3,
    stmt: *mut ffi::sqlite3_stmt,
}

impl Drop for Statement {
    fn drop(&mut self) {
        // SAFETY: `stmt` came from sqlite3_prepare_v2 on `db` and is finalized once.
        unsafe { ffi::sqlite3_finalize(self.stmt) };
    }
}

impl Statement {
    fn prepare(db: *mut ffi::sqlite3, sql: &str) -> QueryResult<Statement> {
        let mut stmt = std::ptr::null_mut();
        let len = c_int::try_from(sql.len()).map_err(|_| too_big())?;
        // SAFETY: `db` is the open connection the caller holds exclusively; the SQL is
        // passed with its length, so it needs no terminating NUL.
        let rc = unsafe {
            ffi::sqlite3_prepare_v2(
                db,
                sql.as_ptr().cast(),
                len,
                &mut stmt,
                std::ptr::null_mut(),
            )
        };
        if rc != ffi::SQLITE_OK {
            return Err(error(db, rc));
        }
        Ok(Statement { db, stmt })
    }

    /// Binds `value` (or NULL) to parameter `i` (1-based). SQLITE_STATIC: SQLite keeps
    /// the pointer and reads the text in place when the statement steps, so the text
    /// must live until then; every row binds all parameters before its step.
    fn bind(&mut self, i: c_int, value: Option<&str>) -> QueryResult<()> {
        // SAFETY: `stmt` is live; the text is `len` valid bytes, and stays so until the
        // step that reads it (see above).
        let rc = unsafe {
            match value {
                None => ffi::sqlite3_bind_null(self.stmt, i),
                Some(v) => {
                    let len = c_int::try_from(v.len()).map_err(|_| too_big())?;
                    ffi::sqlite3_bind_text(
                        self.stmt,
                        i,
                        v.as_ptr().cast(),
                        len,
                        ffi::SQLITE_STATIC(),
                    )
                }
            }
        };
        if rc != ffi::SQLITE_OK {
            return Err(error(self.db, rc));
        }
        Ok(())
    }

    /// Runs the bound statement; true when it wrote a row (false: DO NOTHING).
    fn step_wrote(&mut self) -> QueryResult<bool> {
        // SAFETY: `stmt` is live and every parameter is bound.
        let rc = unsafe { ffi::sqlite3_step(self.stmt) };
        let result = if rc == ffi::SQLITE_DONE {
            // SAFETY: same connection, right after its statement completed.
            Ok(unsafe { ffi::sqlite3_changes64(self.db) } == 1)
        } else {
            Err(error(self.db, rc))
        };
        // SAFETY: `stmt` is live. Its return code repeats the step's error, handled above.
        unsafe { ffi::sqlite3_reset(self.stmt) };
        result
    }
}

/// SQLite's own message for `rc`, as the diesel error the rest of the store handles
/// (`is_busy` reads "database is locked" from it, as from diesel's own errors).
fn error(db: *mut ffi::sqlite3, rc: c_int) -> Error {
    // SAFETY: `db` is open; its message is copied before any other call on it.
    let message = unsafe {
        let m = ffi::sqlite3_errmsg(db);
        if m.is_null() {
            format!("SQLite error {rc}")
        } else {
            CStr::from_ptr(m).to_string_lossy().into_owned()
        }
    };
    // SAFETY: `db` is open.
    let kind = match unsafe { ffi::sqlite3_extended_errcode(db) } {
        ffi::SQLITE_CONSTRAINT_UNIQUE | ffi::SQLITE_CONSTRAINT_PRIMARYKEY => {
            DatabaseErrorKind::UniqueViolation
        }
        ffi::SQLITE_CONSTRAINT_FOREIGNKEY => DatabaseErrorKind::ForeignKeyViolation,
        ffi::SQLITE_CONSTRAINT_NOTNULL => DatabaseErrorKind::NotNullViolation,
        ffi::SQLITE_CONSTRAINT_CHECK => DatabaseErrorKind::CheckViolation,
        _ => DatabaseErrorKind::Unknown,
    };
    Error::DatabaseError(kind, Box::new(message))
}

/// A text over 2 GiB, which SQLite's C API cannot take in one piece.
fn too_big() -> Error {
    Error::DatabaseError(
        DatabaseErrorKind::Unknown,
        Box::new("a value is longer than SQLite accepts (2 GiB)".to_string()),
    )
}

/// A timestamp as diesel writes one into SQLite (so both read back alike), formatted
/// once per distinct value.
struct Stamps {
    last: Option<(NaiveDateTime, String)>,
}

impl Stamps {
    fn text(&mut self, t: NaiveDateTime) -> &str {
        if self.last.as_ref().map(|(at, _)| *at) != Some(t) {
            self.last = Some((t, t.format("%F %T%.f").to_string()));
        }
        self.last.as_ref().map_or("", |(_, s)| s.as_str())
    }
}

/// Inserts the documents whose DocId and live search fields are free; returns which
/// of them it inserted, in their order. Runs inside the caller's transaction, on its
/// connection.
pub(super) fn insert_many_if_free(
    conn: &mut SqliteConnection,
    docs: &[Incoming<'_>],
) -> QueryResult<Vec<bool>> {
    let handle = diesel::sql_query(format!(
        "SELECT {}() AS handle",
        HANDLE_FN.to_string_lossy()
    ))
    .get_result::<Handle>(conn)?
    .handle;
    // The connection's own handle (see the module's head). It stays valid while `conn`
    // is borrowed here, and nothing else uses the connection meanwhile.
    let db = handle as usize as *mut ffi::sqlite3;
    // Declared before the statement, so they are freed after it.
    let (mut created, mut updated) = (Stamps { last: None }, Stamps { last: None });
    let params = (1..=21)
        .map(|i| format!("?{i}"))
        .collect::<Vec<_>>()
        .join(", ");
    let mut stmt = Statement::prepare(
        db,
        &format!("INSERT INTO documents ({COLUMNS}) VALUES ({params}) ON CONFLICT DO NOTHING"),
    )?;
    let mut written = Vec::with_capacity(docs.len());
    for d in docs {
        let (created, updated) = (created.text(d.created_at), updated.text(d.updated_at));
        // In COLUMNS' order.
        let values: [Option<&str>; 21] = [
            Some(d.doctype),
            Some(d.doc_id),
            Some(d.status),
            d.udf_key,
            d.doc_name,
            d.holder_name,
            d.aadhaar,
            d.issued_on,
            d.valid_from,
            d.valid_to,
            d.blob_sha256,
            Some(created),
            Some(updated),
            d.holder_dob,
            d.holder_gender,
            d.holder_phone,
            d.data,
            d.xml_sha256,
            d.fingerprint,
            d.signed_with,
            d.made_from,
        ];
        for (i, v) in (1..).zip(values) {
            stmt.bind(i, v)?;
        }
        written.push(stmt.step_wrote()?);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::schema::documents;
    use crate::store::{establish, migrate, DbConn};
    use diesel::connection::SimpleConnection;

    const BLOB: &str = "abababababababababababababababababababababababababababababababab";

    fn doc<'a>(doc_id: &'a str, key: &'a str, now: NaiveDateTime) -> Incoming<'a> {
        Incoming {
            doctype: "MARKS",
            doc_id,
            status: "issued",
            udf_key: Some(key),
            doc_name: Some("Mark Sheet"),
            holder_name: None,
            aadhaar: None,
            issued_on: None,
            valid_from: None,
            valid_to: None,
            blob_sha256: Some(BLOB),
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

    fn sqlite(dir: &tempfile::TempDir) -> (SqliteConnection, NaiveDateTime) {
        let mut conn = establish(&dir.path().join("t.sqlite3").to_string_lossy()).expect("open");
        migrate(&mut conn).expect("migrate");
        let DbConn::Sqlite(mut c) = conn else {
            unreachable!()
        };
        c.batch_execute(&format!(
            "INSERT INTO blobs (sha256, content, size, created_at) \
             VALUES ('{BLOB}', x'25504446', 4, '2026-01-01 00:00:00')"
        ))
        .expect("blob");
        (c, chrono::Utc::now().naive_utc())
    }

    type Stored = (
        String,
        Option<String>,
        Option<String>,
        NaiveDateTime,
        NaiveDateTime,
    );

    fn stored(c: &mut SqliteConnection, doc_id: &str) -> Option<Stored> {
        documents::table
            .filter(documents::doc_id.eq(doc_id))
            .select((
                documents::doc_id,
                documents::udf_key,
                documents::doc_name,
                documents::created_at,
                documents::updated_at,
            ))
            .first(c)
            .optional()
            .expect("read")
    }

    #[test]
    fn skips_taken_doc_ids_and_live_keys_and_reads_back_as_diesel_wrote_it() {
        let dir = tempfile::tempdir().expect("dir");
        let (mut c, now) = sqlite(&dir);
        let first = [
            doc("AAAAA", "1\u{1f}2020", now),
            doc("BBBBB", "2\u{1f}2020", now),
        ];
        assert_eq!(
            insert_many_if_free(&mut c, &first).expect("insert"),
            [true, true]
        );
        // A taken DocId, a taken live key, and one free row.
        let second = [
            doc("AAAAA", "3\u{1f}2020", now),
            doc("CCCCC", "2\u{1f}2020", now),
            doc("DDDDD", "4\u{1f}2020", now),
        ];
        assert_eq!(
            insert_many_if_free(&mut c, &second).expect("insert"),
            [false, false, true]
        );
        assert!(stored(&mut c, "CCCCC").is_none());
        let back = stored(&mut c, "DDDDD").expect("row");
        assert_eq!(back.1.as_deref(), Some("4\u{1f}2020"));
        assert_eq!(back.2.as_deref(), Some("Mark Sheet"));
        assert_eq!((back.3, back.4), (now, now), "timestamps read back exactly");
    }

    #[test]
    fn a_row_sqlite_refuses_is_an_error_that_names_why_and_writes_nothing() {
        let dir = tempfile::tempdir().expect("dir");
        let (mut c, now) = sqlite(&dir);
        let mut orphan = doc("EEEEE", "5\u{1f}2020", now);
        let missing = "cd".repeat(32);
        orphan.blob_sha256 = Some(&missing);
        let err = insert_many_if_free(&mut c, &[orphan]).expect_err("no such blob");
        assert!(
            matches!(
                err,
                Error::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, _)
            ),
            "{err:?}"
        );
        assert!(err.to_string().contains("FOREIGN KEY"), "{err}");
        assert!(stored(&mut c, "EEEEE").is_none());
    }
}
