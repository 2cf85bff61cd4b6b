//! Transactions that write, and how a process's writers of one SQLite file take turns.

use std::sync::{Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use diesel::connection::{AnsiTransactionManager, TransactionManager};
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
/// as the one before commits rather than polling SQLite's lock in sleeps of 1 to 100 ms.
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
    let _turn = TURN.take();
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
            AnsiTransactionManager::rollback_transaction(c)?;
            Err(e)
        }
    }
}

/// How long a writer waits for its turn before it goes to SQLite's lock anyway (whose
/// busy timeout then applies): the busy timeout's 10 s.
const TURN_WAIT: Duration = Duration::from_secs(10);

/// One turn for all of the process's SQLite write transactions. A server has one
/// SQLite database; a process with several (the tests) only queues a little more.
static TURN: WriterTurn = WriterTurn {
    taken: Mutex::new(false),
    freed: Condvar::new(),
};

struct WriterTurn {
    taken: Mutex<bool>,
    freed: Condvar,
}

/// Held while a write transaction runs; gives the turn to the next writer when dropped.
struct Turn {
    held: bool,
}

impl WriterTurn {
    fn take(&'static self) -> Turn {
        let deadline = Instant::now() + TURN_WAIT;
        let mut taken = self.taken.lock().unwrap_or_else(PoisonError::into_inner);
        while *taken {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Turn { held: false };
            }
            taken = self
                .freed
                .wait_timeout(taken, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        *taken = true;
        Turn { held: true }
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        if self.held {
            *TURN.taken.lock().unwrap_or_else(PoisonError::into_inner) = false;
            TURN.freed.notify_one();
        }
    }
}
