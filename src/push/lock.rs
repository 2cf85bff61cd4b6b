//! One pusher at a time per database, whichever server or command it runs in.
//!
//! On PostgreSQL a session-level advisory lock, taken on the very connection the
//! pusher then works on: the server drops it the moment that connection ends, so a
//! crashed or killed server can never keep it, and a pusher that lost its connection
//! can record nothing more. (`SELECT ... FOR UPDATE SKIP LOCKED` on files would only
//! stop two senders sharing a file; it would not tell who may build files or take over
//! a dead sender's one.) On SQLite every process is on the same host as the file: an
//! OS lock on a file beside it, released by the kernel when its holder dies.
//!
//! Holding the lock is what makes a file found `in_flight` safe to take over: its
//! sender is no longer pushing, whichever host it ran on.

use std::fs::File;
use std::path::PathBuf;

use diesel::sql_types::{BigInt, Bool};
use diesel::RunQueryDsl;

use crate::store::{DbConn, StoreError};

/// The advisory lock id of the pusher ("dlrepopu" as bytes, arbitrary but fixed).
const PUSH_LOCK_ID: i64 = 0x646c_7265_706f_7075;

/// Proof that this process is the one pusher of its database until released.
pub enum PushLock {
    Postgres,
    /// Beside the database file, so every process that opens it finds the same one.
    Sqlite(File),
    Memory,
}

#[derive(diesel::QueryableByName)]
struct MainFile {
    #[diesel(sql_type = diesel::sql_types::Text)]
    file: String,
}

#[derive(diesel::QueryableByName)]
struct Locked {
    #[diesel(sql_type = Bool)]
    locked: bool,
}

impl PushLock {
    /// Takes the lock without waiting; `Ok(None)` when another pusher holds it.
    pub fn try_acquire(conn: &mut DbConn) -> Result<Option<PushLock>, StoreError> {
        match conn {
            DbConn::Postgres(c) => {
                let got: Locked = diesel::sql_query("SELECT pg_try_advisory_lock($1) AS locked")
                    .bind::<BigInt, _>(PUSH_LOCK_ID)
                    .get_result(c)?;
                Ok(got.locked.then_some(PushLock::Postgres))
            }
            DbConn::Sqlite(c) => {
                let main: MainFile =
                    diesel::sql_query("SELECT file FROM pragma_database_list WHERE name = 'main'")
                        .get_result(c)?;
                if main.file.is_empty() {
                    // An in-memory database has no other process to share it with.
                    return Ok(Some(PushLock::Memory));
                }
                let path = PathBuf::from(format!("{}.push-lock", main.file));
                let file = crate::files::open_private_append(&path).map_err(|e| {
                    StoreError::Unavailable(format!("cannot open {}: {e}", path.display()))
                })?;
                match file.try_lock() {
                    Ok(()) => Ok(Some(PushLock::Sqlite(file))),
                    Err(std::fs::TryLockError::WouldBlock) => Ok(None),
                    Err(std::fs::TryLockError::Error(e)) => Err(StoreError::Unavailable(format!(
                        "cannot lock {}: {e}",
                        path.display()
                    ))),
                }
            }
        }
    }

    /// Gives the lock back (it also goes when the connection or process ends).
    pub fn release(self, conn: &mut DbConn) {
        match (self, conn) {
            (PushLock::Postgres, DbConn::Postgres(c)) => {
                let unlocked = diesel::sql_query("SELECT pg_advisory_unlock($1) AS locked")
                    .bind::<BigInt, _>(PUSH_LOCK_ID)
                    .get_result::<Locked>(c);
                if let Err(e) = unlocked {
                    tracing::warn!(error = %e, "could not release the push lock; it goes with the connection");
                }
            }
            (PushLock::Sqlite(file), _) => drop(file),
            (PushLock::Postgres, DbConn::Sqlite(_)) | (PushLock::Memory, _) => {}
        }
    }
}
