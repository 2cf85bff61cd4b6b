//! The database: one connection type over SQLite (embedded default) and PostgreSQL,
//! a pool, embedded migrations per backend, and the queries ([`documents`]).
//!
//! The backend is picked from the URL scheme (`postgres://` or a file path), never by
//! trying one and falling back. The store knows nothing of XML or HTTP.

pub mod department;
pub mod documents;
pub mod linked;
pub mod replay;
pub mod schema;

use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use diesel::r2d2::{self, ManageConnection};
use diesel::sqlite::SqliteConnection;
use diesel::{Connection, RunQueryDsl};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use crate::config::DatabaseConfig;

pub const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
pub const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

#[derive(diesel::MultiConnection)]
pub enum DbConn {
    Sqlite(SqliteConnection),
    Postgres(PgConnection),
}

pub type Pool = r2d2::Pool<Manager>;
pub type PooledConn = r2d2::PooledConnection<Manager>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("database error: {0}")]
    Query(diesel::result::Error),
    #[error("migration failed: {0}")]
    Migration(String),
    #[error("Aadhaar vault: {0}")]
    Vault(String),
}

impl From<diesel::result::Error> for StoreError {
    /// A lost connection is "unavailable" (503, retried), not a query error.
    fn from(e: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind, Error};
        match e {
            Error::DatabaseError(
                DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
                info,
            ) => StoreError::Unavailable(info.message().to_string()),
            other => StoreError::Query(other),
        }
    }
}

impl From<r2d2::PoolError> for StoreError {
    fn from(e: r2d2::PoolError) -> Self {
        StoreError::Unavailable(e.to_string())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub fn backend_of(url: &str) -> Backend {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Backend::Postgres
    } else {
        Backend::Sqlite
    }
}

/// Opens connections of the backend the URL names, with SQLite's per-connection pragmas.
#[derive(Debug, Clone)]
pub struct Manager {
    url: String,
    backend: Backend,
}

impl Manager {
    pub fn new(url: &str) -> Self {
        Manager {
            url: url.to_string(),
            backend: backend_of(url),
        }
    }
}

/// WAL lets pulls read while an import writes; FULL keeps a committed import on disk
/// across a power cut; busy_timeout makes concurrent writers wait instead of failing;
/// mmap serves document pages without a read syscall and copy each (+10% pulls/s).
const SQLITE_PRAGMAS: &str = "PRAGMA busy_timeout = 10000; PRAGMA journal_mode = WAL; \
     PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA mmap_size = 1073741824;";

pub fn establish(url: &str) -> Result<DbConn, StoreError> {
    let unavailable = |e: diesel::ConnectionError| StoreError::Unavailable(e.to_string());
    match backend_of(url) {
        Backend::Sqlite => {
            let mut c = SqliteConnection::establish(url).map_err(unavailable)?;
            c.batch_execute(SQLITE_PRAGMAS)?;
            Ok(DbConn::Sqlite(c))
        }
        Backend::Postgres => Ok(DbConn::Postgres(
            PgConnection::establish(url).map_err(unavailable)?,
        )),
    }
}

impl ManageConnection for Manager {
    type Connection = DbConn;
    type Error = r2d2::Error;

    fn connect(&self) -> Result<DbConn, r2d2::Error> {
        establish(&self.url).map_err(|e| match e {
            StoreError::Query(q) => r2d2::Error::QueryError(q),
            other => r2d2::Error::ConnectionError(diesel::ConnectionError::BadConnection(
                other.to_string(),
            )),
        })
    }

    fn is_valid(&self, conn: &mut DbConn) -> Result<(), r2d2::Error> {
        diesel::sql_query("SELECT 1")
            .execute(conn)
            .map(|_| ())
            .map_err(r2d2::Error::QueryError)
    }

    /// A connection whose server went away is dropped, so the pool heals by itself
    /// when the database returns.
    fn has_broken(&self, conn: &mut DbConn) -> bool {
        diesel::r2d2::R2D2Connection::is_broken(conn)
    }
}

impl Manager {
    pub fn backend(&self) -> Backend {
        self.backend
    }
}

pub fn backend_of_conn(conn: &DbConn) -> Backend {
    match conn {
        DbConn::Sqlite(_) => Backend::Sqlite,
        DbConn::Postgres(_) => Backend::Postgres,
    }
}

/// A pool that does not block start-up when the database is down: connections are made
/// on demand and a checkout waits at most `connect_timeout_secs`.
pub fn pool(cfg: &DatabaseConfig) -> Result<Pool, StoreError> {
    Ok(r2d2::Pool::builder()
        .max_size(cfg.pool_size)
        .min_idle(Some(0))
        .connection_timeout(Duration::from_secs(cfg.connect_timeout_secs))
        .test_on_check_out(false)
        .build_unchecked(Manager::new(&cfg.url)))
}

/// Applies the pending migrations of the connection's backend; returns their names.
pub fn migrate(conn: &mut DbConn) -> Result<Vec<String>, StoreError> {
    let applied = match conn {
        DbConn::Sqlite(c) => c.run_pending_migrations(SQLITE_MIGRATIONS),
        DbConn::Postgres(c) => c.run_pending_migrations(POSTGRES_MIGRATIONS),
    }
    .map_err(|e| {
        let e = e.to_string();
        // The one-document-per-search rule cannot be applied over existing duplicates.
        if e.contains("documents_live_key") || e.to_ascii_lowercase().contains("unique") {
            StoreError::Migration(format!(
                "{e}\n  the database holds more than one live document for the same search fields; `dlrepo check-data` lists them, `dlrepo revoke URI` retires the extra ones, then run again"
            ))
        } else {
            StoreError::Migration(e)
        }
    })?;
    Ok(applied.iter().map(|v| v.to_string()).collect())
}

/// Opens one connection and migrates: what `serve`, `import` and `mint` do first.
pub fn open_and_migrate(cfg: &DatabaseConfig) -> Result<Vec<String>, StoreError> {
    if backend_of(&cfg.url) == Backend::Sqlite {
        if let Some(dir) = std::path::Path::new(&cfg.url).parent() {
            if !dir.as_os_str().is_empty() && !dir.exists() {
                return Err(StoreError::Unavailable(format!(
                    "folder {} of the SQLite database does not exist",
                    dir.display()
                )));
            }
        }
    }
    if backend_of(&cfg.url) == Backend::Sqlite && !cfg.url.is_empty() && cfg.url != ":memory:" {
        // SQLite would create the file readable by all; it holds Aadhaar numbers.
        crate::files::ensure_private(std::path::Path::new(&cfg.url))
            .map_err(|e| StoreError::Unavailable(format!("cannot create {}: {e}", cfg.url)))?;
    }
    let mut conn = establish(&cfg.url)?;
    migrate(&mut conn)
}

pub fn ping(conn: &mut DbConn) -> Result<(), StoreError> {
    diesel::sql_query("SELECT 1").execute(conn)?;
    Ok(())
}

/// Settings for a long bulk write on this connection: on SQLite the index pages of a
/// million-row table must stay in memory for inserts in random key order.
pub fn tune_for_bulk_writes(conn: &mut DbConn) -> Result<(), StoreError> {
    if let DbConn::Sqlite(c) = conn {
        use diesel::connection::SimpleConnection;
        c.batch_execute("PRAGMA cache_size = -262144; PRAGMA temp_store = MEMORY;")?;
    }
    Ok(())
}

/// A transaction the database aborted to resolve a conflict with another one
/// (PostgreSQL's deadlock or serialization failure, SQLite's busy): worth running again.
pub fn is_retryable(e: &StoreError) -> bool {
    use diesel::result::{DatabaseErrorKind, Error};
    match e {
        StoreError::Query(Error::DatabaseError(DatabaseErrorKind::SerializationFailure, _)) => true,
        StoreError::Query(q) => {
            let m = q.to_string();
            m.contains("deadlock detected") || is_busy(e)
        }
        _ => false,
    }
}

/// SQLite's "another connection is writing": worth trying the transaction again.
pub fn is_busy(e: &StoreError) -> bool {
    match e {
        StoreError::Query(q) => {
            let m = q.to_string();
            m.contains("database is locked") || m.contains("database is busy")
        }
        _ => false,
    }
}
