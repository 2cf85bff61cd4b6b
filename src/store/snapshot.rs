//! Reads that must see one state of the database: several queries whose parts another
//! writer moves between them (the audit's counted rows and the rows after them, the
//! outbox's queued rows and the files built from them).

use diesel::connection::{AnsiTransactionManager, TransactionManager};
use diesel::{Connection, RunQueryDsl};

use super::{DbConn, StoreError};

/// Runs `f` in one read transaction: on PostgreSQL `REPEATABLE READ, READ ONLY` (its
/// default gives each statement a snapshot of its own); on SQLite a deferred
/// transaction, whose first read fixes the snapshot. Inside an open transaction, `f`
/// runs in it as it is.
pub fn read_snapshot<T, F>(conn: &mut DbConn, f: F) -> Result<T, StoreError>
where
    F: FnOnce(&mut DbConn) -> Result<T, StoreError>,
{
    let open = match conn {
        DbConn::Postgres(c) => AnsiTransactionManager::transaction_manager_status_mut(c)
            .transaction_depth()?
            .is_some(),
        DbConn::Sqlite(c) => AnsiTransactionManager::transaction_manager_status_mut(c)
            .transaction_depth()?
            .is_some(),
    };
    if open {
        return f(conn);
    }
    conn.transaction(|conn| {
        if let DbConn::Postgres(c) = conn {
            diesel::sql_query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                .execute(c)?;
        }
        f(conn)
    })
}
