//! Transactions that write, and how a process's writers of one SQLite file take turns.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use diesel::connection::{AnsiTransactionManager, TransactionManager};
use diesel::result::DatabaseErrorKind;
use diesel::Connection;

use super::DbConn;

/// A transaction that writes. On SQLite it takes the write lock when it begins (`BEGIN
/// IMMEDIATE`). A plain (deferred) transaction that reads first holds a snapshot; once
/// another connection has written, its first write cannot take the lock and fails at
/// once with "database is locked", without waiting: 70% of first pulls of department
/// rows failed so under load. Inside an open transaction this is a savepoint, like
/// `transaction`; on PostgreSQL, a plain transaction.
///
/// The writers of this process also queue here first ([`TURN`]), so that each wakes
/// as the one before commits rather than polling SQLite's lock in sleeps of 1 to 100 ms;
/// one that waits past the busy timeout fails as SQLite's "database is locked" would.
pub fn write_transaction<T, E, F>(conn: &mut DbConn, f: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConn) -> Result<T, E>,
    E: From<diesel::result::Error>,
{
    let DbConn::Sqlite(c) = conn else {
        return conn.transaction(f);
    };
    let open = AnsiTransactionManager::transaction_manager_status_mut(c)
        .transaction_depth()?
        .is_some();
    if open {
        return conn.transaction(f);
    }
    let _turn = Turn::take()?;
    AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE")?;
    let result = f(conn);
    let DbConn::Sqlite(c) = conn else {
        unreachable!("the connection was SQLite's a moment ago");
    };
    match result {
        Ok(value) => {
            AnsiTransactionManager::commit_transaction(c)?;
            Ok(value)
        }
        Err(e) => {
            // The caller's error is the one to report; SQLite may have rolled back
            // already (a full disk), and then the ROLLBACK itself fails.
            if let Err(rollback) = AnsiTransactionManager::rollback_transaction(c) {
                tracing::warn!(error = %rollback, "rollback after a failed write transaction");
            }
            Err(e)
        }
    }
}

/// How long a writer waits for its turn: SQLite's busy timeout, which a writer would
/// otherwise have waited on the lock itself. Past it the write fails as SQLite's would.
const TURN_WAIT: Duration = Duration::from_secs(10);

/// One turn for all of the process's SQLite write transactions, handed on in order of
/// arrival (a writer that just came never overtakes one that waits). A server has one
/// SQLite database; a process with several (the tests) only queues a little more.
static TURN: Mutex<TurnState> = Mutex::new(TurnState {
    taken: false,
    queue: VecDeque::new(),
});

struct TurnState {
    taken: bool,
    /// The writers waiting, first come first.
    queue: VecDeque<Arc<Waiter>>,
}

/// One waiting writer: woken alone when the turn is handed to it.
struct Waiter {
    /// Set, under [`TURN`]'s lock, when the turn is this writer's.
    granted: AtomicBool,
    wake: Condvar,
}

/// Held while a write transaction runs; hands the turn to the next writer when dropped.
struct Turn;

fn turn_state() -> MutexGuard<'static, TurnState> {
    TURN.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Turn {
    fn take() -> Result<Turn, diesel::result::Error> {
        let mut state = turn_state();
        if !state.taken {
            state.taken = true;
            return Ok(Turn);
        }
        let me = Arc::new(Waiter {
            granted: AtomicBool::new(false),
            wake: Condvar::new(),
        });
        state.queue.push_back(Arc::clone(&me));
        let deadline = Instant::now() + TURN_WAIT;
        loop {
            if me.granted.load(Ordering::Relaxed) {
                return Ok(Turn);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                state.queue.retain(|w| !Arc::ptr_eq(w, &me));
                return Err(diesel::result::Error::DatabaseError(
                    DatabaseErrorKind::Unknown,
                    Box::new(format!(
                        "database is locked: this process's other writers held it for {} s",
                        TURN_WAIT.as_secs()
                    )),
                ));
            }
            state = me
                .wake
                .wait_timeout(state, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        let mut state = turn_state();
        match state.queue.pop_front() {
            Some(next) => {
                next.granted.store(true, Ordering::Relaxed);
                next.wake.notify_one();
            }
            None => state.taken = false,
        }
    }
}
