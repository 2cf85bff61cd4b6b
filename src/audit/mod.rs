//! The audit trail: one row per Pull URI / Pull Doc answer and per push attempt, in
//! dlrepo's own database, so an IT team can answer "did roll number X pull its mark
//! sheet?" or "why Status 0 at 10:02?" without a SQL shell ([`report`], `dlrepo report`).
//!
//! Pull rows are written off the request path: the server hands each record to a
//! bounded queue and a writer thread inserts them in batches. A full queue (a burst the
//! database cannot keep up with) drops the record and counts it (`dropped`, also on
//! `/metrics`): a pull never waits for its audit row.
//!
//! Never stored: an Aadhaar number, a key, a keyhash or document bytes. Search values
//! are stored as configured: a keyed hash (the default: `dlrepo report --search` can
//! find them again), masked, or not at all.

pub mod counts;
mod insert;
mod latency;
pub mod report;
pub mod segments;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::store::schema::{audit_pulls, audit_pushes};
use crate::store::{DbConn, StoreError};

/// How search values go into the audit trail (`audit.search_values`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchValues {
    /// HMAC-SHA256 under the API key: findable again, not readable.
    Hash,
    /// The first and last character of each value.
    Masked,
    Omit,
}

/// One Pull URI / Pull Doc answer.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = audit_pulls)]
pub struct PullRecord {
    pub at: NaiveDateTime,
    /// The caller's address (the proxy's, behind one).
    pub caller: Option<String>,
    pub endpoint: &'static str,
    /// `1.0` or `current`.
    pub api: &'static str,
    pub ver: Option<String>,
    pub doctype: Option<String>,
    pub uri: Option<String>,
    pub search: Option<String>,
    pub status: i32,
    pub http: i32,
    /// The failed check (`not_found`, `auth_keyhash`, `replay`, ...); None when served.
    pub reason: Option<&'static str>,
    pub latency_us: i64,
}

/// One push attempt of one file (or one PushUriRequest).
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = audit_pushes)]
pub struct PushRecord {
    pub at: NaiveDateTime,
    pub file_name: String,
    pub rows: i64,
    pub attempt: i32,
    /// `pushed`, `retry` or `failed`.
    pub outcome: String,
    /// The central API's answer or the transport error (never a row's content).
    pub message: String,
}

/// The search values as the audit trail keeps them.
pub fn search_digest(mode: SearchValues, api_key: &str, values: &[String]) -> Option<String> {
    match mode {
        SearchValues::Omit => None,
        SearchValues::Hash => {
            let joined = values.join("\u{1f}");
            let mac = crate::auth::hmac_sha256(api_key.as_bytes(), joined.as_bytes());
            Some(crate::auth::to_hex(&mac[..16]))
        }
        SearchValues::Masked => Some(
            values
                .iter()
                .map(|v| {
                    let chars: Vec<char> = v.chars().collect();
                    match chars.len() {
                        0 => String::new(),
                        1 | 2 => "*".repeat(chars.len()),
                        n => format!("{}{}{}", chars[0], "*".repeat(n - 2), chars[n - 1]),
                    }
                })
                .collect::<Vec<_>>()
                .join(" "),
        ),
    }
}

/// The server's side of the queue to the audit writer.
#[derive(Debug, Clone)]
pub struct Sink {
    tx: SyncSender<PullRecord>,
    /// Records handed to the sink: each ends up written or dropped.
    queued: Arc<AtomicU64>,
    dropped: Arc<AtomicU64>,
    written: Arc<AtomicU64>,
}

impl Sink {
    /// Starts the writer thread on its own connection to `db_url`.
    /// `segment_rows`: see [`segments`].
    pub fn start(db_url: &str, queue: usize, retention_days: u32, segment_rows: u32) -> Sink {
        let (tx, rx) = mpsc::sync_channel(queue.max(1));
        let dropped = Arc::new(AtomicU64::new(0));
        let written = Arc::new(AtomicU64::new(0));
        let writer = Writer {
            url: db_url.to_string(),
            rx,
            dropped: dropped.clone(),
            written: written.clone(),
            retention: chrono::Duration::days(i64::from(retention_days.max(1))),
            segment_rows: i64::from(segment_rows.max(1)),
        };
        std::thread::Builder::new()
            .name("audit-writer".into())
            .spawn(move || writer.run())
            .map_err(|e| tracing::error!(error = %e, "cannot start the audit writer"))
            .ok();
        Sink {
            tx,
            queued: Arc::new(AtomicU64::new(0)),
            dropped,
            written,
        }
    }

    /// Never blocks: a full queue drops the record and counts it.
    pub fn record(&self, r: PullRecord) {
        self.queued.fetch_add(1, Ordering::Relaxed);
        match self.tx.try_send(r) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Records lost to a full queue or a database that refused them.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    pub fn written(&self) -> u64 {
        self.written.load(Ordering::Relaxed)
    }

    /// Waits until every queued record is written (or dropped), at most `timeout`:
    /// a server stopping (SIGTERM, Ctrl-C) keeps the audit rows of its last answers.
    /// Returns how many were still waiting when it gave up.
    pub fn drain(&self, timeout: Duration) -> u64 {
        let until = Instant::now() + timeout;
        loop {
            let done = self.written() + self.dropped.load(Ordering::Relaxed);
            let waiting = self.queued.load(Ordering::Relaxed).saturating_sub(done);
            if waiting == 0 || Instant::now() >= until {
                return waiting;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

struct Writer {
    url: String,
    rx: Receiver<PullRecord>,
    dropped: Arc<AtomicU64>,
    written: Arc<AtomicU64>,
    retention: chrono::Duration,
    segment_rows: i64,
}

const BATCH: usize = 2_000;
const GATHER: Duration = Duration::from_millis(100);

/// The writer's connection. On SQLite its commits are not fsynced (`synchronous =
/// NORMAL`: a power cut may lose the last moment of the audit trail, never a document),
/// and it does not memory-map the file.
fn open(url: &str) -> Option<DbConn> {
    let mut conn = crate::store::establish_streaming(url).ok()?;
    if let DbConn::Sqlite(c) = &mut conn {
        use diesel::connection::SimpleConnection;
        c.batch_execute("PRAGMA synchronous = NORMAL").ok()?;
    }
    Some(conn)
}

impl Writer {
    fn run(self) {
        let mut conn: Option<DbConn> = None;
        let mut last_prune: Option<Instant> = None;
        let mut seal_again: Option<Instant> = None;
        // How long to wait for the first record of a batch: not at all while rows are
        // left to count (after an upgrade, a chunk after another at full speed), set
        // for one pass only: every other way round the loop waits the full second.
        let mut wait = Duration::from_secs(1);
        loop {
            let first = match self
                .rx
                .recv_timeout(std::mem::replace(&mut wait, Duration::from_secs(1)))
            {
                Ok(r) => Some(r),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => return,
            };
            let mut batch: Vec<PullRecord> = first.into_iter().collect();
            // Gather for a moment: one commit per tenth of a second under load, not
            // one per request (each commit is a write the pulls' database must make).
            // Sleep, then take what came: waiting on the queue instead woke this
            // thread for every answer, a context switch per pull (BENCHMARKS.md).
            if !batch.is_empty() {
                std::thread::sleep(GATHER);
            }
            while !batch.is_empty() && batch.len() < BATCH {
                match self.rx.try_recv() {
                    Ok(r) => batch.push(r),
                    Err(_) => break,
                }
            }
            if conn.is_none() {
                conn = open(&self.url);
            }
            let Some(c) = conn.as_mut() else {
                self.lost(batch.len(), "the database does not answer");
                continue;
            };
            if !batch.is_empty() {
                match insert::pulls(c, &batch) {
                    Ok(()) => {
                        self.written
                            .fetch_add(batch.len() as u64, Ordering::Relaxed);
                    }
                    Err(e) => {
                        self.lost(batch.len(), &e.to_string());
                        conn = None;
                        continue;
                    }
                }
            }
            // Asked of the database after every batch (two index probes): other
            // servers' rows count too, and those of a run before this one. After a
            // failure, not again for a minute: lookups still find the rows meanwhile,
            // only by reading more of them.
            if seal_again.is_none_or(|t| Instant::now() >= t) {
                match segments::seal(c, self.segment_rows) {
                    Ok(0) => {}
                    Ok(n) => tracing::debug!(rows = n, "audit: lookup keys indexed"),
                    Err(e) => {
                        tracing::warn!(error = %e, "audit: indexing lookup keys failed");
                        seal_again = Some(Instant::now() + Duration::from_secs(60));
                    }
                }
            }
            // The sealed rows counted, a segment's worth at a time (after an upgrade,
            // the rows audited before it, one step a batch).
            if seal_again.is_none_or(|t| Instant::now() >= t) {
                match counts::count_sealed(c, counts::CHUNK_ROWS) {
                    Ok(n) if n >= counts::CHUNK_ROWS => wait = Duration::ZERO,
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, "audit: counting rows failed");
                        seal_again = Some(Instant::now() + Duration::from_secs(60));
                    }
                }
            }
            if last_prune.is_none_or(|t| t.elapsed() > Duration::from_secs(3600)) {
                last_prune = Some(Instant::now());
                let before = chrono::Utc::now().naive_utc() - self.retention;
                if let Err(e) = prune(c, before) {
                    tracing::warn!(error = %e, "audit: pruning old rows failed");
                }
            }
        }
    }

    fn lost(&self, n: usize, why: &str) {
        if n > 0 {
            self.dropped.fetch_add(n as u64, Ordering::Relaxed);
            tracing::warn!(records = n, reason = %why, "audit: records dropped");
        }
    }
}

/// Deletes the audit rows of the days before `before`'s day (`audit.retention_days`,
/// kept in whole days so that a day's running counts go with all of its rows, never
/// part of them), and those days' counts.
pub fn prune(conn: &mut DbConn, before: NaiveDateTime) -> Result<usize, StoreError> {
    let before = before.date().and_time(chrono::NaiveTime::MIN);
    crate::store::write_transaction(conn, |conn| -> Result<usize, StoreError> {
        // After any counting in progress, so that it cannot count a deleted day again.
        counts::lock(conn)?;
        let a =
            diesel::delete(audit_pulls::table.filter(audit_pulls::at.lt(before))).execute(conn)?;
        let b = diesel::delete(audit_pushes::table.filter(audit_pushes::at.lt(before)))
            .execute(conn)?;
        let rows_left = segments::prune(conn)?;
        counts::prune(conn, before.date(), !rows_left)?;
        Ok(a + b)
    })
}

/// Records one push attempt (the pusher runs on its own thread: written directly).
pub fn record_push(conn: &mut DbConn, r: &PushRecord) {
    let done = match conn {
        DbConn::Sqlite(c) => diesel::insert_into(audit_pushes::table)
            .values(r)
            .execute(c),
        DbConn::Postgres(c) => diesel::insert_into(audit_pushes::table)
            .values(r)
            .execute(c),
    };
    if let Err(e) = done {
        tracing::warn!(error = %e, "audit: push attempt not recorded");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_values_are_never_stored_in_clear() {
        let v = vec!["1234567".to_string(), "2020".to_string()];
        let h = search_digest(SearchValues::Hash, "key", &v).expect("hash");
        assert_eq!(h.len(), 32);
        assert!(!h.contains("1234567"));
        assert_eq!(
            h,
            search_digest(SearchValues::Hash, "key", &v).expect("again")
        );
        assert_ne!(
            h,
            search_digest(SearchValues::Hash, "other", &v).expect("key")
        );
        assert_eq!(
            search_digest(SearchValues::Masked, "key", &v).as_deref(),
            Some("1*****7 2**0")
        );
        assert_eq!(search_digest(SearchValues::Omit, "key", &v), None);
    }
}
