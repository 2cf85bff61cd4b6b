//! Replay memory: which (orgId, txn) were already answered, until their ts window ends.
//!
//! Every pull writes one row here, so where the row goes matters. On PostgreSQL it is
//! the database's `seen_requests`, shared by every server on it. On SQLite it is a file
//! of its own beside the database (`<database>-requests`): a write to the documents'
//! file makes every other pooled connection drop the pages it had cached the next time
//! it reads, so a write per pull had every pull read the documents' B-trees afresh.
//! Servers on one SQLite file share the side file as they share the database.

use std::ops::DerefMut;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use chrono::NaiveDateTime;
use diesel::connection::SimpleConnection;
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::sql_types::{BigInt, Text, Timestamp};

use super::schema::seen_requests;
use super::{DbConn, StoreError};

/// Where a server remembers the requests it answered.
pub struct Memory {
    /// SQLite: the side file and its one connection (the memory's writes queue on it,
    /// as they would on SQLite's write lock, without the lock's sleeping retries).
    beside: Option<Beside>,
}

/// A request to remember: who sent it, its txn, and until when.
#[derive(Debug, Clone, Copy)]
pub struct Seen<'a> {
    pub org_id: &'a str,
    pub txn: &'a str,
    pub expires_at: NaiveDateTime,
}

struct Beside {
    path: PathBuf,
    database: PathBuf,
    conn: Mutex<Option<DbConn>>,
}

impl Memory {
    /// The memory of the database at `url`: beside a SQLite file, in PostgreSQL (and in
    /// an in-memory SQLite database, which has no file to be beside).
    pub fn of(url: &str) -> Memory {
        let beside = super::sqlite_file(url).map(|database| Beside {
            path: side_file(database),
            database: database.to_path_buf(),
            conn: Mutex::new(None),
        });
        Memory { beside }
    }

    /// The side file, when there is one.
    pub fn side_file(&self) -> Option<&Path> {
        self.beside.as_ref().map(|b| b.path.as_path())
    }

    /// Opens the side file now (start-up), so that a problem with it stops the server
    /// with its reason instead of failing every pull.
    pub fn open(&self) -> Result<(), StoreError> {
        match &self.beside {
            Some(b) => b.with(|_| Ok(())),
            None => Ok(()),
        }
    }

    /// Records a request; false when the same (org_id, txn) was recorded before and has
    /// not expired: a replay. The primary key decides, so two servers cannot both
    /// accept it. `db` gives the database's connection, asked for only when the memory
    /// is in the database.
    pub fn first_time<C: DerefMut<Target = DbConn>>(
        &self,
        db: impl FnOnce() -> Result<C, StoreError>,
        org_id: &str,
        txn: &str,
        expires_at: NaiveDateTime,
    ) -> Result<bool, StoreError> {
        self.with(db, |c| record(c, org_id, txn, expires_at))
    }

    /// [`Memory::first_time`] for several requests at once, answered in their order (a
    /// request twice in `seen` is new the first time only): one transaction on SQLite,
    /// one statement on PostgreSQL, where a write a request was a round trip and a
    /// commit a request.
    ///
    /// The outer error: none was recorded. An inner one: that request's second look
    /// failed on PostgreSQL, after the INSERT had recorded the others.
    pub fn first_times<C: DerefMut<Target = DbConn>>(
        &self,
        db: impl FnOnce() -> Result<C, StoreError>,
        seen: &[Seen<'_>],
    ) -> Result<Vec<Result<bool, StoreError>>, StoreError> {
        self.with(db, |c| {
            let mut inserted = match c {
                DbConn::Postgres(pg) => insert_all(pg, seen)?,
                DbConn::Sqlite(_) => {
                    return c.transaction(|c| {
                        seen.iter()
                            .map(|s| record(c, s.org_id, s.txn, s.expires_at).map(Ok))
                            .collect()
                    })
                }
            };
            // Those the INSERT did not insert (replays, or rows expired but not yet
            // pruned) are looked at one by one; of one request twice in `seen`, the
            // first is the one inserted.
            Ok(seen
                .iter()
                .map(|s| {
                    if inserted.remove(&(s.org_id.to_string(), s.txn.to_string())) {
                        return Ok(true);
                    }
                    revive(c, s.org_id, s.txn, s.expires_at)
                })
                .collect())
        })
    }

    /// Forgets one request: it was not answered after all (the database or a document
    /// failed), so DigiLocker's retry with the same txn must get through.
    pub fn forget<C: DerefMut<Target = DbConn>>(
        &self,
        db: impl FnOnce() -> Result<C, StoreError>,
        org_id: &str,
        txn: &str,
    ) -> Result<(), StoreError> {
        self.with(db, |c| {
            diesel::delete(
                seen_requests::table
                    .filter(seen_requests::org_id.eq(org_id))
                    .filter(seen_requests::txn.eq(txn)),
            )
            .execute(c)?;
            Ok(())
        })
    }

    /// Forgets requests whose window has ended; returns how many.
    pub fn prune<C: DerefMut<Target = DbConn>>(
        &self,
        db: impl FnOnce() -> Result<C, StoreError>,
        now: NaiveDateTime,
    ) -> Result<usize, StoreError> {
        self.with(db, |c| {
            Ok(
                diesel::delete(seen_requests::table.filter(seen_requests::expires_at.lt(now)))
                    .execute(c)?,
            )
        })
    }

    fn with<C: DerefMut<Target = DbConn>, T>(
        &self,
        db: impl FnOnce() -> Result<C, StoreError>,
        f: impl FnOnce(&mut DbConn) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        match &self.beside {
            Some(b) => b.with(f),
            None => f(&mut *db()?),
        }
    }
}

/// `dlrepo.sqlite3` → `dlrepo.sqlite3-requests` (SQLite names its own files beside the
/// database the same way: `-wal`, `-shm`).
fn side_file(database: &Path) -> PathBuf {
    let mut name = database.as_os_str().to_owned();
    name.push("-requests");
    PathBuf::from(name)
}

impl Beside {
    fn with<T>(
        &self,
        f: impl FnOnce(&mut DbConn) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut guard = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        let conn = match &mut *guard {
            Some(conn) => conn,
            closed @ None => closed.insert(self.connect()?),
        };
        let result = f(conn);
        if result.is_err() {
            // Open afresh next time: the file may have been removed or replaced.
            *guard = None;
        }
        result
    }

    /// Opens the side file, made owner-only like the database (it names callers and
    /// their transactions); the first server to open it takes over what the database's
    /// own `seen_requests` still remembers (requests answered before an upgrade).
    fn connect(&self) -> Result<DbConn, StoreError> {
        let setup = |e: std::io::Error| {
            StoreError::Setup(format!("cannot create {}: {e}", self.path.display()))
        };
        crate::files::ensure_private(&self.path).map_err(setup)?;
        let path = self.path.to_string_lossy();
        let mut c = diesel::SqliteConnection::establish(&path)
            .map_err(|e| StoreError::Unavailable(format!("{path}: {e}")))?;
        // The busy timeout first: servers starting together open the file at once, and
        // turning on WAL waits for the others' locks. 4 KiB pages: a request's row is
        // small, and each commit writes its pages whole (16 KiB pages: 6,800 against
        // 8,500 to 10,100 pulls/s with replays refused).
        // Not worth an fsync (synchronous=FULL is for documents and the outbox): in WAL
        // mode NORMAL still keeps the file consistent, and at worst a power cut forgets
        // the last few requests, whose windows are short.
        super::set_up_sqlite(
            &mut c,
            "PRAGMA busy_timeout = 10000; PRAGMA page_size = 4096; PRAGMA journal_mode = WAL; \
             PRAGMA synchronous = NORMAL;",
        )?;
        let docs = self.database.to_string_lossy();
        diesel::sql_query("ATTACH DATABASE ? AS docs")
            .bind::<Text, _>(docs.as_ref())
            .execute(&mut c)?;
        let made = take_over(&mut c);
        let detached = c.batch_execute("DETACH DATABASE docs");
        made?;
        detached?;
        Ok(DbConn::Sqlite(c))
    }
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// Creates the side file's table once, with the unexpired rows of the database's own.
/// In one write transaction, so that of two servers starting together one does it.
fn take_over(c: &mut diesel::SqliteConnection) -> Result<(), StoreError> {
    c.immediate_transaction(|c| {
        let there = diesel::sql_query(
            "SELECT count(*) AS n FROM main.sqlite_master \
             WHERE type = 'table' AND name = 'seen_requests'",
        )
        .get_result::<Count>(c)?
        .n;
        if there == 0 {
            c.batch_execute(
                "CREATE TABLE main.seen_requests (
                     org_id     TEXT NOT NULL,
                     txn        TEXT NOT NULL,
                     expires_at TIMESTAMP NOT NULL,
                     PRIMARY KEY (org_id, txn)
                 );
                 CREATE INDEX main.seen_requests_expiry ON seen_requests (expires_at);",
            )?;
            diesel::sql_query(
                "INSERT OR IGNORE INTO main.seen_requests (org_id, txn, expires_at) \
                 SELECT org_id, txn, expires_at FROM docs.seen_requests WHERE expires_at >= ?",
            )
            .bind::<Timestamp, _>(chrono::Utc::now().naive_utc())
            .execute(c)?;
        }
        Ok(())
    })
}

fn record(
    conn: &mut DbConn,
    org_id: &str,
    txn: &str,
    expires_at: NaiveDateTime,
) -> Result<bool, StoreError> {
    let inserted = match conn {
        DbConn::Sqlite(c) => diesel::insert_into(seen_requests::table)
            .values((
                seen_requests::org_id.eq(org_id),
                seen_requests::txn.eq(txn),
                seen_requests::expires_at.eq(expires_at),
            ))
            .on_conflict_do_nothing()
            .execute(c)?,
        DbConn::Postgres(c) => RecordUnsynced {
            org_id,
            txn,
            expires_at,
        }
        .execute(c)?,
    };
    if inserted == 1 {
        return Ok(true);
    }
    revive(conn, org_id, txn, expires_at)
}

/// A request not inserted: new after all when its row's window has ended but the row
/// is not pruned yet, and the request is a later one (a replay carries the same ts, so
/// the same expiry: sent just as its window ended, it must not pass as new).
fn revive(
    conn: &mut DbConn,
    org_id: &str,
    txn: &str,
    expires_at: NaiveDateTime,
) -> Result<bool, StoreError> {
    let revived = diesel::update(
        seen_requests::table
            .filter(seen_requests::org_id.eq(org_id))
            .filter(seen_requests::txn.eq(txn))
            .filter(seen_requests::expires_at.lt(chrono::Utc::now().naive_utc()))
            .filter(seen_requests::expires_at.lt(expires_at)),
    )
    .set(seen_requests::expires_at.eq(expires_at))
    .execute(conn)?;
    Ok(revived == 1)
}

/// Several requests in one INSERT ([`RecordAllUnsynced`]): the (org_id, txn) inserted.
fn insert_all(
    c: &mut PgConnection,
    seen: &[Seen<'_>],
) -> Result<std::collections::HashSet<(String, String)>, StoreError> {
    let q = RecordAllUnsynced {
        org_ids: seen.iter().map(|s| s.org_id).collect(),
        txns: seen.iter().map(|s| s.txn).collect(),
        expires_at: seen.iter().map(|s| s.expires_at).collect(),
    };
    Ok(q.load::<(String, String)>(c)?.into_iter().collect())
}

/// PostgreSQL's INSERT of one request, committed without waiting for its WAL to reach
/// the disk: `set_config(..., true)` holds for the statement's own transaction only, so
/// the connection's later writes (documents, outbox) still commit durably. As on
/// SQLite's side file (`synchronous = NORMAL`), the row is visible to every server at
/// once, and a crash forgets at most the last few requests. Waiting for the flush held
/// a PostgreSQL pull at 62% of the rate (BENCHMARKS.md, 2026-12-07, second session).
/// Fixed SQL with a static query id: prepared once per connection.
struct RecordUnsynced<'a> {
    org_id: &'a str,
    txn: &'a str,
    expires_at: NaiveDateTime,
}

impl QueryId for RecordUnsynced<'_> {
    type QueryId = RecordUnsynced<'static>;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl QueryFragment<Pg> for RecordUnsynced<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql("INSERT INTO seen_requests (org_id, txn, expires_at) SELECT ");
        out.push_bind_param::<Text, str>(self.org_id)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, str>(self.txn)?;
        out.push_sql(", ");
        out.push_bind_param::<Timestamp, NaiveDateTime>(&self.expires_at)?;
        out.push_sql(
            " FROM (SELECT set_config('synchronous_commit', 'off', true)) AS unsynced \
             ON CONFLICT DO NOTHING",
        );
        Ok(())
    }
}

impl<Conn> RunQueryDsl<Conn> for RecordUnsynced<'_> {}

/// [`RecordUnsynced`] of several requests: one INSERT from three arrays, returning the
/// (org_id, txn) it inserted. Fixed SQL: prepared once per connection.
struct RecordAllUnsynced<'a> {
    org_ids: Vec<&'a str>,
    txns: Vec<&'a str>,
    expires_at: Vec<NaiveDateTime>,
}

impl QueryId for RecordAllUnsynced<'_> {
    type QueryId = RecordAllUnsynced<'static>;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl diesel::query_builder::Query for RecordAllUnsynced<'_> {
    type SqlType = (Text, Text);
}

impl QueryFragment<Pg> for RecordAllUnsynced<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        use diesel::sql_types::Array;
        out.push_sql(
            "INSERT INTO seen_requests (org_id, txn, expires_at) \
             SELECT r.org_id, r.txn, r.expires_at FROM unnest(",
        );
        out.push_bind_param::<Array<Text>, Vec<&str>>(&self.org_ids)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Text>, Vec<&str>>(&self.txns)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Timestamp>, Vec<NaiveDateTime>>(&self.expires_at)?;
        out.push_sql(
            ") AS r(org_id, txn, expires_at), \
             (SELECT set_config('synchronous_commit', 'off', true)) AS unsynced \
             ON CONFLICT DO NOTHING RETURNING org_id, txn",
        );
        Ok(())
    }
}

impl<Conn> RunQueryDsl<Conn> for RecordAllUnsynced<'_> {}
