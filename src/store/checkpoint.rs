//! A long SQLite write's WAL, copied back into the database file on a thread of its own.
//!
//! In WAL mode every commit appends the pages it changed to the `-wal` file, and a
//! checkpoint copies them back into the database. Left to SQLite, the connection that
//! commits also checkpoints, on the import's one writing thread, which is its
//! bottleneck; SQLite's own bulk INSERT of a million rows ran 18% faster without it
//! (BENCHMARKS.md, import). Here the writer's automatic checkpoints are off and a
//! second connection checkpoints after each commit while the writer goes on with the
//! next batch, on the machine's other core.
//!
//! The WAL must not grow without end: SQLite starts it again from the top only when a
//! writer begins a transaction after a checkpoint has copied every frame. The writer
//! never waits while the WAL is smaller than [`WAL_LIMIT`]; past it, it waits for the
//! checkpoint of its last commit before its next batch, so the WAL restarts.

use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::BigInt;

use super::{establish, DbConn, StoreError, BULK_AUTOCHECKPOINT};

/// How large the WAL may grow before the writer waits for a checkpoint to catch up.
const WAL_LIMIT: u64 = 256 << 20;

/// What the two threads share.
#[derive(Default)]
struct State {
    /// Commits the writer has asked to have copied back.
    wanted: u64,
    /// Commits copied back.
    done: u64,
    /// Bytes in the WAL when the last checkpoint ended.
    wal_bytes: u64,
    stop: bool,
    /// The checkpointer gave up; the writer then checkpoints again itself.
    failed: bool,
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    changed: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves plain numbers: still usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The checkpointing thread of one SQLite import.
pub struct Checkpointer {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

/// What `PRAGMA wal_checkpoint` answers (also `busy` and `checkpointed`, unused).
#[derive(QueryableByName)]
struct Outcome {
    /// Frames in the WAL.
    #[diesel(sql_type = BigInt)]
    log: i64,
}

#[derive(QueryableByName)]
struct PageSize {
    #[diesel(sql_type = BigInt)]
    page_size: i64,
}

impl Checkpointer {
    /// Takes over checkpoints of `writer`'s database; None on PostgreSQL, which has
    /// none of this.
    pub fn start(writer: &mut DbConn, url: &str) -> Result<Option<Checkpointer>, StoreError> {
        let DbConn::Sqlite(w) = writer else {
            return Ok(None);
        };
        // Opened here so that a database that cannot be opened is reported at once.
        let mut conn = establish(url)?;
        w.batch_execute("PRAGMA wal_autocheckpoint = 0")?;
        let shared = Arc::new(Shared::default());
        let theirs = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("wal-checkpoint".into())
            .spawn(move || run(&mut conn, &theirs))
            .map_err(|e| StoreError::Unavailable(format!("cannot start a thread: {e}")))?;
        Ok(Some(Checkpointer {
            shared,
            thread: Some(thread),
        }))
    }

    /// After each commit of the writer: have it copied back.
    pub fn committed(&self) {
        self.shared.lock().wanted += 1;
        self.shared.changed.notify_all();
    }

    /// Before the writer's next transaction: waits only when the WAL has outgrown
    /// [`WAL_LIMIT`], for the checkpoint of the last commit. If the checkpointer has
    /// failed, the writer checkpoints on its own again, as SQLite does by default.
    pub fn before_transaction(&self, writer: &mut DbConn) -> Result<(), StoreError> {
        let mut s = self.shared.lock();
        if s.failed {
            drop(s);
            if let DbConn::Sqlite(w) = writer {
                w.batch_execute(BULK_AUTOCHECKPOINT)?;
            }
            return Ok(());
        }
        if s.wal_bytes <= WAL_LIMIT {
            return Ok(());
        }
        while s.done < s.wanted && !s.failed {
            s = self
                .shared
                .changed
                .wait(s)
                .unwrap_or_else(|e| e.into_inner());
        }
        // This transaction starts the WAL again from the top (unless a reader still
        // holds an old snapshot; the next checkpoint then says so).
        s.wal_bytes = 0;
        Ok(())
    }
}

impl Drop for Checkpointer {
    /// Copies back the last commits, then ends the thread.
    fn drop(&mut self) {
        self.shared.lock().stop = true;
        self.shared.changed.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn run(conn: &mut DbConn, shared: &Shared) {
    // A WAL frame is a page and its 24-byte header.
    let frame = match diesel::sql_query("PRAGMA page_size").get_result::<PageSize>(conn) {
        Ok(p) => p.page_size.max(0) as u64 + 24,
        Err(e) => {
            fail(shared, &e);
            return;
        }
    };
    loop {
        let target = {
            let mut s = shared.lock();
            while s.done == s.wanted && !s.stop {
                s = shared.changed.wait(s).unwrap_or_else(|e| e.into_inner());
            }
            if s.done == s.wanted {
                return;
            }
            s.wanted
        };
        // PASSIVE: copies what is committed without waiting for readers or the writer.
        match diesel::sql_query("PRAGMA wal_checkpoint(PASSIVE)").get_result::<Outcome>(conn) {
            Ok(o) => {
                let mut s = shared.lock();
                s.done = target;
                s.wal_bytes = o.log.max(0) as u64 * frame;
                drop(s);
                shared.changed.notify_all();
            }
            Err(e) => return fail(shared, &e),
        }
    }
}

/// Gives up: the writer takes checkpoints back, and nothing waits on this thread.
fn fail(shared: &Shared, e: &diesel::result::Error) {
    tracing::warn!(error = %e, "WAL checkpoint failed; the import checkpoints on its own again");
    let mut s = shared.lock();
    s.failed = true;
    s.done = s.wanted;
    drop(s);
    shared.changed.notify_all();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }

    #[test]
    fn every_commit_is_in_the_database_file_once_the_checkpointer_is_dropped() {
        let dir = tempfile::tempdir().expect("dir");
        let url = dir.path().join("c.sqlite3").to_string_lossy().into_owned();
        let mut writer = establish(&url).expect("open");
        let checkpointer = Checkpointer::start(&mut writer, &url)
            .expect("start")
            .expect("SQLite has one");
        writer
            .batch_execute("CREATE TABLE t (v TEXT)")
            .expect("table");
        checkpointer.committed();
        for i in 0..20 {
            checkpointer
                .before_transaction(&mut writer)
                .expect("before");
            writer
                .batch_execute(&format!(
                    "BEGIN; WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n \
                     WHERE x < 500) INSERT INTO t SELECT '{i}-' || x FROM n; COMMIT;"
                ))
                .expect("commit");
            checkpointer.committed();
        }
        drop(checkpointer);
        // The writer takes no checkpoint of its own, and is still open (closing would
        // checkpoint): only the thread can have put the rows into the file itself. A
        // copy of the file without its WAL shows what is there.
        let copy = dir.path().join("copy.sqlite3");
        std::fs::copy(dir.path().join("c.sqlite3"), &copy).expect("copy");
        let mut read = establish(&copy.to_string_lossy()).expect("open copy");
        let n = diesel::sql_query("SELECT count(*) AS n FROM t")
            .get_result::<Count>(&mut read)
            .expect("the table is in the file")
            .n;
        assert_eq!(n, 10_000);
        drop(writer);
    }
}
