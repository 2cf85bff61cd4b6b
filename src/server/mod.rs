//! The actix-web application: routes, shared state and start-up.

mod console;
mod department;
mod document;
mod gather;
mod health;
pub mod limits;
mod lookups;
mod observe;
mod pull_doc;
mod pull_uri;
mod requester;
mod respond;
mod tls;

pub use respond::PullError;

use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::{Arc, OnceLock};

use actix_web::dev::Server;
use actix_web::{web, App, HttpServer};

use crate::auth::Verifier;
use crate::config::Config;
use crate::store::department::{pool_of, DeptTable, Unprepared};
use crate::store::{self, Pool};
use crate::wire::RequestHeader;

pub struct AppState {
    pub config: Arc<Config>,
    pub pool: Pool,
    /// Set once dlrepo's database has answered and migrated (until then every pull is a
    /// 503).
    ready: OnceLock<()>,
    /// Doc types served from a department's own table, by code: every doc type with a
    /// `source`, each ready on its own.
    departments: HashMap<String, Department>,
    /// Signs department-table documents on their first pull (imported ones are signed
    /// at import). Loaded once.
    pub signer: Option<crate::docs::keys::SigningKey>,
    /// Seals the Aadhaar numbers of department rows before their pushes are queued.
    pub vault: Option<crate::vault::Vault>,
    /// The audit writer's queue (`[audit] enabled`).
    pub audit: Option<crate::audit::Sink>,
    /// Signs console session cookies; made at start-up, so sessions end with the process.
    console_key: [u8; 32],
    /// Console sign-ins checked at once: argon2 is slow and large on purpose.
    console_logins: limits::BlockingSlots,
    /// Requests answered, to prune the replay memory now and then.
    pub requests: std::sync::atomic::AtomicU64,
    /// Where answered requests are remembered (`digilocker.refuse_replays`).
    pub replay: store::replay::Memory,
    /// The SQLite file the server opened: one deleted or replaced under it is an
    /// outage, not an empty database.
    sqlite_file: OnceLock<Option<store::FileIdentity>>,
    /// Places for lookups on blocking threads (`server.max_blocking`).
    slots: limits::BlockingSlots,
    /// Pull URI lookups of imported documents, answered together under load.
    lookups: lookups::Lookups,
    /// Where `/healthz` listens when apart from the DigiLocker endpoints.
    health_addr: OnceLock<std::net::SocketAddr>,
    /// `database.replica_url`: where pulls read documents, when it answers.
    replica: Option<Pool>,
    /// After a replica failure, pulls go to the primary until then.
    replica_down_until: std::sync::Mutex<Option<std::time::Instant>>,
}

/// A doc type served from a department's own table. One department's slow, failing or
/// absent database holds up only its own pulls.
struct Department {
    /// Where its table is read: made once, connecting only when used.
    pool: Pool,
    /// Set once its database has answered and its table matched the config (until
    /// then its pulls are 503s).
    table: OnceLock<DeptTable>,
    /// Its pulls' reads, together under load.
    reads: department::Gathers,
}

impl AppState {
    /// What needs no database: the config and the signing key.
    pub fn new(config: Arc<Config>, pool: Pool) -> Result<AppState, Vec<String>> {
        let signer = config
            .signing_key()
            .map_err(|e| vec![format!("signing: {e}")])?;
        let vault = config.vault().map_err(|e| vec![format!("vault: {e}")])?;
        let slots = limits::BlockingSlots::new(config.server.max_blocking);
        let audit = config.audit.enabled.then(|| {
            crate::audit::Sink::start(
                &config.database.url,
                config.audit.queue,
                config.audit.retention_days,
                config.audit.segment_rows,
            )
        });
        let replica = store::replica_pool(&config.database);
        let replay = store::replay::Memory::of(&config.database.url);
        // A batch of lookups per core at once: more would only split the queue into
        // smaller batches that wait on each other for the cores.
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let readers = cores.min(config.database.pool_size as usize);
        let lookups = lookups::Lookups::new(readers);
        let departments = config
            .doctypes
            .iter()
            .filter(|d| d.source.is_some())
            .map(|d| {
                let dept = Department {
                    pool: pool_of(d, &config.database, &pool).map_err(|e| vec![e])?,
                    table: OnceLock::new(),
                    reads: department::Gathers::new(readers),
                };
                Ok((d.code.clone(), dept))
            })
            .collect::<Result<_, Vec<String>>>()?;
        Ok(AppState {
            config,
            pool,
            ready: OnceLock::new(),
            departments,
            signer,
            vault,
            audit,
            console_key: rand::random(),
            console_logins: limits::BlockingSlots::new(4),
            requests: std::sync::atomic::AtomicU64::new(0),
            replay,
            sqlite_file: OnceLock::new(),
            slots,
            lookups,
            health_addr: OnceLock::new(),
            replica,
            replica_down_until: std::sync::Mutex::new(None),
        })
    }

    /// A state ready to serve: the database (already migrated) answers and every
    /// department table matches its live schema; each problem names its doc type.
    pub fn prepare(config: Arc<Config>, pool: Pool) -> Result<AppState, Vec<String>> {
        let state = AppState::new(config, pool)?;
        let waiting = state.become_ready(true)?;
        if !waiting.is_empty() {
            return Err(waiting);
        }
        Ok(state)
    }

    /// Starts serving pulls, once dlrepo's database has answered and migrated, and
    /// opens the department tables. Ok: the doc types whose department table is not
    /// open yet, each with why ([`AppState::open_departments`] retries them); their
    /// pulls alone answer 503 meanwhile. Err, when `fussy` (a server starting with
    /// its database there): a department table that does not match its source, for
    /// the operator to fix before anything is served. Not fussy (the database came
    /// later, the operator gone), such a table waits with the others.
    pub fn become_ready(&self, fussy: bool) -> Result<Vec<String>, Vec<String>> {
        if self.config.digilocker.refuse_replays {
            self.replay
                .open()
                .map_err(|e| vec![format!("replay memory: {}", crate::error::chain(&e))])?;
        }
        let _ = self
            .sqlite_file
            .set(store::FileIdentity::of_database(&self.config.database.url));
        let waiting = self.open_tables();
        let broken = waiting
            .iter()
            .filter(|e| matches!(e, Unprepared::Broken(_)));
        if fussy && broken.clone().next().is_some() {
            return Err(broken.map(Unprepared::to_string).collect());
        }
        let _ = self.ready.set(());
        Ok(waiting.iter().map(Unprepared::to_string).collect())
    }

    /// Tries again the department tables not open yet: what is still waiting, each
    /// naming its doc type and why (a table that does not match its source included:
    /// fixed in the department's database, it opens without a restart).
    pub fn open_departments(&self) -> Vec<String> {
        self.open_tables()
            .iter()
            .map(Unprepared::to_string)
            .collect()
    }

    /// Opens the department tables not open yet, all at once: each may wait
    /// `connect_timeout_secs` for a database that is not there.
    fn open_tables(&self) -> Vec<Unprepared> {
        let closed: Vec<(&crate::doctype::DocType, &Department)> = self
            .config
            .doctypes
            .iter()
            .filter_map(|d| Some((d, self.departments.get(&d.code)?)))
            .filter(|(_, dept)| dept.table.get().is_none())
            .collect();
        std::thread::scope(|scope| {
            let opening: Vec<_> = closed
                .iter()
                .map(|(d, dept)| scope.spawn(move || DeptTable::open(d, dept.pool.clone())))
                .collect();
            closed
                .iter()
                .zip(opening)
                .filter_map(|((d, dept), opened)| {
                    let opened = opened.join().unwrap_or_else(|_| {
                        let why = format!("doc type {}: checking its table panicked", d.code);
                        Err(Unprepared::Broken(why))
                    });
                    match opened {
                        Ok(t) => {
                            let _ = dept.table.set(t);
                            None
                        }
                        Err(e) => Some(e),
                    }
                })
                .collect()
        })
    }

    pub fn is_ready(&self) -> bool {
        self.ready.get().is_some()
    }

    /// Whether the doc type is served from a department's own table (ready or not).
    pub fn is_department(&self, code: &str) -> bool {
        self.departments.contains_key(code)
    }

    /// The doc type's department table, once its database has answered; until then
    /// "unavailable" (503) for its pulls alone.
    fn department_table(
        &self,
        code: &str,
    ) -> Result<(&DeptTable, &department::Gathers), store::StoreError> {
        let dept = self.departments.get(code).ok_or_else(|| {
            store::StoreError::Unavailable(format!("doc type {code} has no department table"))
        })?;
        match dept.table.get() {
            Some(t) => Ok((t, &dept.reads)),
            None => Err(store::StoreError::Unavailable(format!(
                "the department table of doc type {code} is not open yet (its database has \
                 not answered, or the table does not match its source)"
            ))),
        }
    }

    /// A connection to dlrepo's database, once it is ready and still the file it
    /// opened; otherwise "unavailable" (503).
    pub fn conn(&self) -> Result<store::PooledConn, store::StoreError> {
        if !self.is_ready() {
            return Err(store::StoreError::Unavailable(
                "the database has not answered since start-up".into(),
            ));
        }
        if let Some(Some(file)) = self.sqlite_file.get() {
            file.still_there()?;
        }
        Ok(self.pool.get()?)
    }

    fn replica_if_up(&self) -> Option<&Pool> {
        let replica = self.replica.as_ref()?;
        let down = self
            .replica_down_until
            .lock()
            .map(|until| until.is_some_and(|t| std::time::Instant::now() < t))
            .unwrap_or(false);
        (!down).then_some(replica)
    }

    /// Sends pulls to the primary for a while; said once per outage.
    fn replica_failed(&self, e: &store::StoreError) {
        if let Ok(mut until) = self.replica_down_until.lock() {
            let was_up = until.is_none_or(|t| std::time::Instant::now() >= t);
            *until = Some(std::time::Instant::now() + std::time::Duration::from_secs(5));
            if was_up {
                tracing::warn!(error = %crate::error::chain(e), "read replica failed: reading from the primary for 5 s");
            }
        }
    }
}

/// Builds the server on an already-bound listener (tests bind port 0); with
/// `server.health_bind`, `/healthz` answers only on `health` and the DigiLocker
/// endpoints only on `listener`.
pub fn run(state: impl Into<Arc<AppState>>, listener: TcpListener) -> std::io::Result<Server> {
    run_with(state, listener, None)
}

pub fn run_with(
    state: impl Into<Arc<AppState>>,
    listener: TcpListener,
    health: Option<TcpListener>,
) -> std::io::Result<Server> {
    let state: Arc<AppState> = state.into();
    let cfg = &state.config.server;
    let workers = match cfg.workers {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    let (soft, hard) = limits::raise_open_files()?;
    let pools = u64::from(state.config.database.pool_size)
        + state
            .config
            .doctypes
            .iter()
            .filter_map(|d| d.source.as_ref().map(|s| u64::from(s.pool_size)))
            .sum::<u64>();
    let cap = limits::connection_cap(cfg.max_connections, soft, pools);
    tracing::info!(
        open_files_soft = soft,
        open_files_hard = hard,
        max_connections = cap,
        "connection limits"
    );
    let per_worker = cap.div_ceil(workers).max(1);
    if let Some(h) = &health {
        let _ = state.health_addr.set(h.local_addr()?);
    }
    let tls = cfg.tls.as_ref().map(tls::acceptor).transpose()?;
    let request_timeout = cfg.request_timeout;
    let keep_alive = cfg.keep_alive;
    let state = web::Data::from(state);
    let mut server = HttpServer::new(move || {
        let cfg = &state.config.server;
        App::new()
            .app_data(state.clone())
            .route(&cfg.pull_uri_path, web::post().to(pull_uri::pull_uri))
            .route(
                &format!("{}/{{doctype}}", cfg.pull_uri_path.trim_end_matches('/')),
                web::post().to(pull_uri::pull_uri_for),
            )
            .route(&cfg.pull_doc_path, web::post().to(pull_doc::pull_doc))
            .route("/healthz", web::get().to(health::healthz))
            .route("/metrics", web::get().to(health::metrics))
            .configure(console::routes)
            .configure(|c| {
                requester::routes(
                    c,
                    state
                        .config
                        .requester
                        .as_ref()
                        .map(|r| r.upload_path.as_str()),
                )
            })
    })
    .client_request_timeout(request_timeout)
    .client_disconnect_timeout(std::time::Duration::from_secs(1))
    .keep_alive(keep_alive)
    .max_connections(per_worker)
    // Blocking work is database work, which never has more than `pools` connections to
    // run on, shared by the workers: each worker gets its share of threads. A thread
    // more than there are connections only waits for one (a sleep and a wake-up per
    // pull), where a queued call is taken by the next thread to finish without either.
    // 8 per worker, as before, gave 12,393 to 14,049 SQLite pulls/s against 15,482 to
    // 15,860 with 2 (BENCHMARKS.md, 2026-12-07, second session); the default (512 /
    // cores) had grown 80 threads and 90 MiB resident. Calls past `server.max_blocking`
    // are refused with a 503 rather than queued, also while a database is down.
    .worker_max_blocking_threads(
        usize::try_from(pools.div_ceil(workers as u64))
            .unwrap_or(usize::MAX)
            .max(1),
    )
    .workers(workers);
    server = match tls {
        Some(acceptor) => server.listen_openssl(listener, acceptor)?,
        None => server.listen(listener)?,
    };
    if let Some(h) = health {
        server = server.listen(h)?;
    }
    Ok(server.run())
}

/// Runs a lookup on a blocking thread, if one of `server.max_blocking` places is
/// free; a saturated server answers 503 at once instead of queueing without end.
async fn blocking<T: Send + 'static>(
    state: &AppState,
    f: impl FnOnce() -> Result<T, PullError> + Send + 'static,
) -> Result<T, PullError> {
    let slot = state.slots.take().ok_or(PullError::Busy)?;
    let span = tracing::Span::current();
    web::block(move || {
        let _slot = slot;
        let _in_request = span.enter();
        f()
    })
    .await
    .map_err(|_| PullError::Cancelled)?
}

/// keyhash, ts window and orgId: every request from DigiLocker passes these first.
fn authenticate(config: &Config, h: &RequestHeader) -> Result<(), PullError> {
    Verifier {
        api_key: config.api_key(),
        org_id: &config.digilocker.org_id,
        window_minutes: config.digilocker.ts_window_minutes,
    }
    .verify(&h.ts, &h.keyhash, &h.org_id, chrono::Utc::now())?;
    Ok(())
}

/// The `x-digilocker-hmac` header, if sent (and readable as text).
fn hmac_header(req: &actix_web::HttpRequest) -> Option<&str> {
    req.headers()
        .get("x-digilocker-hmac")
        .map(|v| v.to_str().unwrap_or("\u{fffd}"))
}
