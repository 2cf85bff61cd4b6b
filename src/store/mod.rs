//! The database: one connection type over SQLite (embedded default) and PostgreSQL,
//! a pool, embedded migrations per backend, and the queries ([`documents`]).
//!
//! The backend is picked from the URL scheme (`postgres://` or a file path), never by
//! trying one and falling back. The store knows nothing of XML or HTTP.

/// Runs the same diesel code on the concrete connection of either backend, for the few
/// statements `MultiConnection` cannot express (upserts).
macro_rules! on_backend {
    ($conn:expr, $c:ident => $body:expr) => {
        match $conn {
            $crate::store::DbConn::Sqlite($c) => $body,
            $crate::store::DbConn::Postgres($c) => $body,
        }
    };
}
pub(crate) use on_backend;

pub mod bulk;
pub mod checkpoint;
pub mod department;
pub mod documents;
pub mod linked;
mod pg_bulk;
mod record_query;
pub mod replay;
mod row_digest;
pub mod schema;
mod snapshot;
mod sqlite_bulk;
pub mod versions;
mod writes;

pub use snapshot::read_snapshot;
pub use writes::write_transaction;

use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use diesel::r2d2::{self, ManageConnection};
use diesel::sqlite::SqliteConnection;
use diesel::{Connection, RunQueryDsl};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

pub const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
pub const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

#[derive(diesel::MultiConnection)]
pub enum DbConn {
    Sqlite(SqliteConnection),
    Postgres(PgConnection),
}

/// Where the database is and how many connections to keep: the validated
/// `[database]` section of the config.
#[derive(Debug, Clone)]
pub struct DatabaseConfig {
    /// Either a SQLite file path (absolute, resolved against the config file's folder)
    /// or a `postgres://` URL.
    pub url: String,
    pub pool_size: u32,
    pub connect_timeout_secs: u64,
    /// A PostgreSQL streaming replica that pulls read from (falling back to `url`).
    pub replica_url: Option<String>,
    /// How much of a SQLite file each pooled connection memory-maps, in MiB.
    pub sqlite_mmap_mb: u64,
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
    /// The one-document-per-search index cannot be built over existing duplicates.
    #[error("migration refused: {0}")]
    Duplicates(String),
    #[error("Aadhaar vault: {0}")]
    Vault(String),
    /// The configured place cannot hold a database: an operator's fix, not an outage.
    #[error("cannot open the database: {0}")]
    Setup(String),
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

/// A pool's PostgreSQL URL with the network limits libpq otherwise leaves to the
/// kernel, each unless the URL sets it: a database that accepts the connection and then
/// never answers (a firewall that drops packets, a host gone) is given up on after
/// `connect_timeout_secs` instead of holding one of the pool's connecting threads for
/// hours, so that the pool connects again once it is back; a query whose packets go
/// unacknowledged fails after 30 s instead of ~15 minutes of retransmissions, and an
/// idle connection to a host gone is found out within about a minute.
pub fn with_network_limits(url: &str, connect_timeout_secs: u64) -> String {
    if backend_of(url) != Backend::Postgres {
        return url.to_string();
    }
    let limits = [
        ("connect_timeout", connect_timeout_secs.max(2).to_string()),
        ("tcp_user_timeout", "30000".to_string()),
        ("keepalives_idle", "30".to_string()),
        ("keepalives_interval", "10".to_string()),
        ("keepalives_count", "3".to_string()),
    ];
    let query = url.split_once('?').map_or("", |(_, q)| q);
    let set: Vec<&str> = query
        .split('&')
        .filter_map(|kv| kv.split('=').next())
        .collect();
    let mut out = url.to_string();
    for (name, value) in limits {
        if !set.contains(&name) {
            out.push(if out.contains('?') { '&' } else { '?' });
            out.push_str(&format!("{name}={value}"));
        }
    }
    out
}

/// Opens connections of the backend the URL names, with SQLite's per-connection pragmas.
#[derive(Debug, Clone)]
pub struct Manager {
    url: String,
    backend: Backend,
    /// MiB of a SQLite file to memory-map (pulls: +10%); 0 for one-pass scans, whose
    /// resident memory would otherwise grow with every page of the file they read.
    mmap_mb: u64,
}

impl Manager {
    pub fn new(url: &str) -> Self {
        Manager {
            url: url.to_string(),
            backend: backend_of(url),
            mmap_mb: SQLITE_MMAP_MB,
        }
    }
}

/// What one-off connections (import, the CLI) memory-map of a SQLite file, in MiB. The
/// server's pool maps `database.sqlite_mmap_mb` (default 0): measured on 1M documents,
/// mapping 1 GiB gave no more pulls/s (5,428 against 5,606) and four times the resident
/// memory (242 MiB against 62 MiB), the mapped pages counting in it.
pub const SQLITE_MMAP_MB: u64 = 1024;

/// 16 KiB pages, set before a new file's first write (an existing file keeps its own):
/// an import enters two indexes in random order, and with SQLite's default 4 KiB pages
/// their B-trees were a level deeper and four times the pages to find and copy. 10M
/// bench rows imported at 113,265 rows/s against 88,557, 1M at 143,181 / 154,257
/// against 140,120 / 132,962 (BENCHMARKS.md). WAL lets pulls read while an import
/// writes; FULL keeps a committed import on disk across a power cut; busy_timeout makes
/// concurrent writers wait instead of failing; mmap reads pages without a read syscall
/// and copy each (see SQLITE_MMAP_MB).
const SQLITE_PRAGMAS: &str = "PRAGMA page_size = 16384; PRAGMA busy_timeout = 10000; \
     PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; \
     PRAGMA mmap_size = 1073741824;";

pub fn establish(url: &str) -> Result<DbConn, StoreError> {
    let unavailable = |e: diesel::ConnectionError| StoreError::Unavailable(e.to_string());
    match backend_of(url) {
        Backend::Sqlite => {
            sqlite_bulk::register_on_every_connection();
            let mut c = SqliteConnection::establish(url).map_err(unavailable)?;
            set_up_sqlite(&mut c, SQLITE_PRAGMAS)?;
            Ok(DbConn::Sqlite(c))
        }
        Backend::Postgres => Ok(DbConn::Postgres(
            PgConnection::establish(url).map_err(unavailable)?,
        )),
    }
}

/// Runs a new SQLite connection's pragmas. Turning a new file to WAL takes an exclusive
/// lock, and two processes opening it at once can each hold the shared lock the other
/// waits on: SQLite then answers "database is locked" at once, without the busy
/// timeout, to one of them (seen with servers and `migrate` started together). That
/// one waits a moment and tries again, for as long as the busy timeout would have.
pub(crate) fn set_up_sqlite(c: &mut SqliteConnection, pragmas: &str) -> Result<(), StoreError> {
    let until = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        match c.batch_execute(pragmas).map_err(StoreError::from) {
            Err(e) if is_busy(&e) && std::time::Instant::now() < until => {
                std::thread::sleep(Duration::from_millis(
                    5 + u64::from(rand::random::<u8>() % 20),
                ));
            }
            other => return other,
        }
    }
}

/// A connection for reading or writing a whole table once (push, push scan): no
/// memory map, so resident memory stays flat however large the file.
pub fn establish_streaming(url: &str) -> Result<DbConn, StoreError> {
    let mut conn = establish(url)?;
    if let DbConn::Sqlite(c) = &mut conn {
        c.batch_execute("PRAGMA mmap_size = 0")?;
    }
    Ok(conn)
}

/// [`pool`] of [`establish_streaming`] connections.
pub fn streaming_pool(cfg: &DatabaseConfig) -> Pool {
    let mut manager = Manager::new(&with_network_limits(&cfg.url, cfg.connect_timeout_secs));
    manager.mmap_mb = 0;
    r2d2::Pool::builder()
        .max_size(cfg.pool_size.min(2))
        .min_idle(Some(0))
        .connection_timeout(Duration::from_secs(cfg.connect_timeout_secs))
        .test_on_check_out(false)
        .build_unchecked(manager)
}

impl ManageConnection for Manager {
    type Connection = DbConn;
    type Error = r2d2::Error;

    fn connect(&self) -> Result<DbConn, r2d2::Error> {
        let conn = match self.mmap_mb {
            0 => establish_streaming(&self.url),
            SQLITE_MMAP_MB => establish(&self.url),
            mb => establish(&self.url).and_then(|mut c| {
                if let DbConn::Sqlite(s) = &mut c {
                    s.batch_execute(&format!("PRAGMA mmap_size = {}", mb << 20))?;
                }
                Ok(c)
            }),
        };
        conn.map_err(|e| match e {
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
/// The replica's pool: a short wait for a connection, since a pull that cannot have
/// one goes to the primary instead.
pub fn replica_pool(cfg: &DatabaseConfig) -> Option<Pool> {
    let url = cfg.replica_url.as_ref()?;
    Some(
        r2d2::Pool::builder()
            .max_size(cfg.pool_size)
            .min_idle(Some(0))
            .connection_timeout(Duration::from_millis(500))
            .test_on_check_out(false)
            .build_unchecked(Manager::new(&with_network_limits(
                url,
                cfg.connect_timeout_secs,
            ))),
    )
}

pub fn pool(cfg: &DatabaseConfig) -> Result<Pool, StoreError> {
    Ok(r2d2::Pool::builder()
        .max_size(cfg.pool_size)
        .min_idle(Some(0))
        .connection_timeout(Duration::from_secs(cfg.connect_timeout_secs))
        .test_on_check_out(false)
        .build_unchecked(Manager {
            mmap_mb: cfg.sqlite_mmap_mb,
            ..Manager::new(&with_network_limits(&cfg.url, cfg.connect_timeout_secs))
        }))
}

/// The advisory lock id that serialises migrations ("dlrepomi" as bytes).
const MIGRATION_LOCK_ID: i64 = 0x646c_7265_706f_6d69;

/// Applies the pending migrations of the connection's backend; returns their names.
/// One migrator at a time: servers started together on a fresh database would
/// otherwise race to create the same tables (on PostgreSQL one died on a duplicate
/// type name). PostgreSQL: an advisory lock; SQLite: one immediate transaction.
pub fn migrate(conn: &mut DbConn) -> Result<Vec<String>, StoreError> {
    let applied = match conn {
        // One writer from the first read of the applied versions to the last
        // migration, so two processes cannot both apply the same one.
        DbConn::Sqlite(c) => c.immediate_transaction(|c| {
            c.run_pending_migrations(SQLITE_MIGRATIONS)
                .map(|v| v.iter().map(|m| m.to_string()).collect::<Vec<_>>())
        }),
        DbConn::Postgres(c) => {
            diesel::sql_query("SELECT pg_advisory_lock($1)")
                .bind::<diesel::sql_types::BigInt, _>(MIGRATION_LOCK_ID)
                .execute(c)?;
            let applied = c
                .run_pending_migrations(POSTGRES_MIGRATIONS)
                .map(|v| v.iter().map(|m| m.to_string()).collect::<Vec<_>>());
            let unlocked = diesel::sql_query("SELECT pg_advisory_unlock($1)")
                .bind::<diesel::sql_types::BigInt, _>(MIGRATION_LOCK_ID)
                .execute(c);
            if let Err(e) = unlocked {
                tracing::warn!(error = %e, "could not release the migration lock; it goes with the connection");
            }
            applied
        }
    }
    .map_err(|e| {
        let e = e.to_string();
        // The one-document-per-search rule cannot be applied over existing duplicates.
        if e.contains("documents_live_key") || e.to_ascii_lowercase().contains("unique") {
            StoreError::Duplicates(format!(
                "{e}\n  the database holds more than one live document for the same search fields; `dlrepo check-data` lists them, `dlrepo revoke URI` retires the extra ones, then run again"
            ))
        } else {
            StoreError::Migration(e)
        }
    })?;
    Ok(applied)
}

/// The file a database URL names: SQLite's, unless in memory; none for PostgreSQL.
pub(crate) fn sqlite_file(url: &str) -> Option<&std::path::Path> {
    (backend_of(url) == Backend::Sqlite && !url.is_empty() && url != ":memory:")
        .then(|| std::path::Path::new(url))
}

/// Opens one connection and migrates: what `serve`, `import` and `mint` do first.
pub fn open_and_migrate(cfg: &DatabaseConfig) -> Result<Vec<String>, StoreError> {
    if backend_of(&cfg.url) == Backend::Sqlite {
        if let Some(dir) = std::path::Path::new(&cfg.url).parent() {
            if !dir.as_os_str().is_empty() && !dir.exists() {
                return Err(StoreError::Setup(format!(
                    "folder {} of the SQLite database does not exist",
                    dir.display()
                )));
            }
        }
    }
    if let Some(file) = sqlite_file(&cfg.url) {
        // SQLite would create the file readable by all; it holds Aadhaar numbers.
        crate::files::ensure_private(file)
            .map_err(|e| StoreError::Setup(format!("cannot create {}: {e}", cfg.url)))?;
    }
    let mut conn = establish(&cfg.url)?;
    migrate(&mut conn)
}

/// Which file a SQLite database was when the server opened it (device and inode). A
/// file deleted or replaced under a running server still answers on the connections
/// already open, from the old inode: those answers would be about a database nobody
/// can see any more.
#[derive(Debug, Clone)]
pub struct FileIdentity {
    path: std::path::PathBuf,
    id: (u64, u64),
}

impl FileIdentity {
    /// `None` for PostgreSQL, an in-memory database or a system without inodes.
    pub fn of_database(url: &str) -> Option<FileIdentity> {
        let path = sqlite_file(url)?.to_path_buf();
        let id = Self::of(&path).ok()?;
        Some(FileIdentity { path, id })
    }

    #[cfg(unix)]
    fn of(path: &std::path::Path) -> std::io::Result<(u64, u64)> {
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::metadata(path)?;
        Ok((m.dev(), m.ino()))
    }

    #[cfg(not(unix))]
    fn of(_: &std::path::Path) -> std::io::Result<(u64, u64)> {
        Err(std::io::ErrorKind::Unsupported.into())
    }
}

impl FileIdentity {
    /// "Unavailable" once the path no longer names the file that was opened.
    pub fn still_there(&self) -> Result<(), StoreError> {
        let path = &self.path;
        match Self::of(path) {
            Ok(now) if now == self.id => Ok(()),
            Ok(_) => Err(StoreError::Unavailable(format!(
                "the SQLite file {} was replaced while the server ran; restart it",
                path.display()
            ))),
            Err(e) => Err(StoreError::Unavailable(format!(
                "the SQLite file {} is gone: {e}",
                path.display()
            ))),
        }
    }
}

pub fn ping(conn: &mut DbConn) -> Result<(), StoreError> {
    diesel::sql_query("SELECT 1").execute(conn)?;
    Ok(())
}

/// A bulk writer's WAL copied back every 16384 pages (64 MiB).
const BULK_AUTOCHECKPOINT: &str = "PRAGMA wal_autocheckpoint = 16384";
const BULK_PRAGMAS: &str = "PRAGMA temp_store = MEMORY; PRAGMA mmap_size = 0;";

/// Settings for a long bulk write on this connection: on SQLite the index pages of the
/// table must stay in memory for inserts in random key order, in a cache of a fixed
/// size, `cache_mb` MiB (the import's `--sqlite-cache-mb`). No memory map: at 10M rows
/// the mapped index pages had grown the import's resident memory to 1.5 GiB (529 MiB
/// at 1M rows). An import copies its WAL back on a thread of its own ([`checkpoint`]);
/// should that thread fail, the writer does it every 64 MiB instead of SQLite's 4 MiB:
/// an index page changed by several batches is then copied once (+6% on a million-row
/// import).
pub fn tune_for_bulk_writes(conn: &mut DbConn, cache_mb: u64) -> Result<(), StoreError> {
    if let DbConn::Sqlite(c) = conn {
        use diesel::connection::SimpleConnection;
        // Negative: KiB rather than pages.
        let kib = cache_mb.clamp(1, 1 << 20) << 10;
        c.batch_execute(&format!("PRAGMA cache_size = -{kib}"))?;
        c.batch_execute(BULK_PRAGMAS)?;
        c.batch_execute(BULK_AUTOCHECKPOINT)?;
    }
    Ok(())
}

/// Refreshes PostgreSQL's statistics of `documents` once a bulk writer's first rows are
/// committed. Until autovacuum gets to it (a minute or more), the planner does not know
/// that the table holds the doc type at all: it then looked the batch's DocIds up
/// (`doc_id = ANY(...)`) by doc type alone, reading every row of it (90 ms for 850
/// DocIds among 500,000 rows, against 2.5 ms once analysed); pulls served meanwhile
/// are planned on the same guess. ANALYZE reads a sample of 30,000 rows whatever the
/// table's size. Nothing to do on SQLite, whose planner has no such statistics by default.
pub fn refresh_statistics(conn: &mut DbConn) -> Result<(), StoreError> {
    if let DbConn::Postgres(c) = conn {
        diesel::sql_query("ANALYZE documents").execute(c)?;
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

#[cfg(test)]
mod tests {
    use super::with_network_limits;

    #[test]
    fn network_limits_are_added_where_the_url_leaves_them_out() {
        assert_eq!(
            with_network_limits("postgres://u@h/db", 5),
            "postgres://u@h/db?connect_timeout=5&tcp_user_timeout=30000&keepalives_idle=30\
             &keepalives_interval=10&keepalives_count=3"
        );
        // The operator's own settings stand; the rest are added after them.
        let url = with_network_limits("postgresql://u@h/db?sslmode=disable&connect_timeout=9", 1);
        assert!(url.starts_with("postgresql://u@h/db?sslmode=disable&connect_timeout=9&"));
        assert_eq!(url.matches("connect_timeout=").count(), 1);
        assert!(url.ends_with("&keepalives_count=3"));
        assert_eq!(
            with_network_limits("/var/lib/dlrepo/db.sqlite3", 5),
            "/var/lib/dlrepo/db.sqlite3"
        );
    }
}
