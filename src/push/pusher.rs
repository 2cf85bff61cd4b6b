//! `dlrepo push`: build files from the outbox, send them, retry, mark.

use std::path::Path;
use std::time::{Duration, Instant};

use chrono::Utc;
use indicatif::{ProgressBar, ProgressStyle};
use rand::Rng;

use super::client::CentralClient;
use super::csv_file;
use super::lock::PushLock;
use super::outbox::{self, file_status, OutboxRow, PushFile};
use crate::config::{PushConfig, PushMode};
use crate::store::{DbConn, StoreError};
use crate::vault::Vault;

#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("push is not configured: add a [push] section with {0}")]
    NotConfigured(&'static str),
    #[error("{0}")]
    Client(String),
    #[error("another dlrepo is pushing from this database (the background push of a `serve`, or a `dlrepo push`); it sends the queued rows")]
    Busy,
    #[error("cannot write {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
}

#[derive(Debug, Default)]
pub struct PushReport {
    pub files_built: usize,
    pub files_pushed: usize,
    pub rows_pushed: i64,
    pub files_failed: usize,
    /// In flight with another live sender: left alone.
    pub files_skipped: usize,
    pub elapsed: Duration,
}

/// Who is sending: `host:pid`, so a later run can tell a dead sender's file.
pub fn me() -> String {
    format!("{}:{}", hostname(), std::process::id())
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".into())
}

/// Runs `work` as the one pusher of the database, or answers [`PushError::Busy`].
fn as_the_pusher<T>(
    conn: &mut DbConn,
    work: impl FnOnce(&mut DbConn) -> Result<T, PushError>,
) -> Result<T, PushError> {
    let lock = PushLock::try_acquire(conn)?.ok_or(PushError::Busy)?;
    let result = work(conn);
    lock.release(conn);
    result
}

/// Builds files from every queued row.
pub fn build_all(conn: &mut DbConn, cfg: &PushConfig) -> Result<Vec<PushFile>, PushError> {
    let mut built = Vec::new();
    // A single PushUriRequest carries one row: a file of one row is its unit of
    // once-only delivery.
    let rows_per_file = match cfg.mode {
        PushMode::Csv => cfg.rows_per_file,
        PushMode::Uri => 1,
    };
    while let Some(f) = outbox::build_file(
        conn,
        rows_per_file,
        &cfg.file_prefix,
        Utc::now().naive_utc(),
    )? {
        built.push(f);
    }
    Ok(built)
}

fn backoff(cfg: &PushConfig, attempt: u32) -> Duration {
    let base = cfg.backoff_base_ms.saturating_mul(1 << attempt.min(10));
    let capped = base.min(cfg.backoff_max_ms);
    // Full jitter: spreads retries of many issuers after a central outage.
    Duration::from_millis(rand::thread_rng().gen_range(capped / 2..=capped.max(1)))
}

pub struct PushOptions<'a> {
    pub retry_failed: bool,
    pub progress: bool,
    /// Opens the Aadhaar numbers of the rows, only while a file is built.
    pub vault: Option<&'a Vault>,
}

/// The rows of a file with their Aadhaar numbers opened from the vault: what goes
/// into the push file, and nowhere else.
fn opened(
    conn: &mut DbConn,
    vault: Option<&Vault>,
    mut rows: Vec<OutboxRow>,
) -> Result<Vec<OutboxRow>, PushError> {
    for r in &mut rows {
        if r.aadhaar.starts_with("vault:") {
            let v = vault.ok_or(PushError::NotConfigured(
                "[vault] (the outbox holds sealed Aadhaar numbers)",
            ))?;
            r.aadhaar = v
                .reveal(conn, &r.aadhaar)
                .map_err(|e| PushError::Store(e.into()))?;
        }
    }
    Ok(rows)
}

/// Sends every sendable file, as the one pusher of the database (else
/// [`PushError::Busy`]). A file is marked pushed only after ResponseStatus 1.
pub fn push(
    conn: &mut DbConn,
    cfg: &PushConfig,
    opts: &PushOptions<'_>,
) -> Result<PushReport, PushError> {
    as_the_pusher(conn, |conn| push_locked(conn, cfg, opts))
}

fn push_locked(
    conn: &mut DbConn,
    cfg: &PushConfig,
    opts: &PushOptions<'_>,
) -> Result<PushReport, PushError> {
    let started = Instant::now();
    let endpoint = cfg
        .endpoint
        .as_deref()
        .ok_or(PushError::NotConfigured("endpoint"))?;
    let key = cfg
        .api_key()
        .ok_or(PushError::NotConfigured("api_key (or DLREPO_PUSH_KEY)"))?;
    let client = CentralClient::new(
        endpoint,
        &cfg.org_id,
        key,
        Duration::from_secs(cfg.timeout_secs),
    )
    .map_err(PushError::Client)?;
    if let DbConn::Sqlite(c) = conn {
        // A push reads the outbox once, front to back: memory-mapping it would only make
        // the process's resident memory grow with the queue (measured: 1 GiB at 10M rows).
        use diesel::connection::SimpleConnection;
        c.batch_execute("PRAGMA mmap_size = 0")
            .map_err(|e| PushError::Store(e.into()))?;
    }
    let mut report = PushReport::default();
    if opts.retry_failed {
        let n = outbox::reset_failed(conn, Utc::now().naive_utc())?;
        tracing::info!(files = n, "failed files queued again");
    }
    report.files_built = build_all(conn, cfg)?.len();
    let files = outbox::sendable(conn)?;
    let total_rows: i64 = files.iter().map(|f| f.row_count).sum();
    let bar = if opts.progress {
        let b = ProgressBar::new(total_rows.max(0) as u64);
        b.set_style(
            ProgressStyle::with_template("{bar:30} {pos}/{len} rows {msg} [{elapsed_precise}]")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        b
    } else {
        ProgressBar::hidden()
    };
    let me = me();
    for file in files {
        // A file still in flight was left by a sender that is gone: we hold the lock.
        if file.status == file_status::IN_FLIGHT {
            tracing::warn!(file = %file.file_name, sender = %loggable_sender(&file.claimed_by), "taking over a file its sender left in flight");
        }
        if !outbox::claim(conn, &file, &me, Utc::now().naive_utc())? {
            report.files_skipped += 1;
            continue;
        }
        let rows = outbox::rows_of(conn, file.id)?;
        let rows = opened(conn, opts.vault, rows)?;
        // Files built before a switch to `uri` mode may hold many rows: sent as CSV.
        let single = match (cfg.mode, &rows[..]) {
            (PushMode::Uri, [one]) => Some(csv_file::columns(one)),
            _ => None,
        };
        let csv = if single.is_none() {
            csv_file::write(&rows)
        } else {
            Vec::new()
        };
        drop(rows);
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let sent = match &single {
                Some(values) => client.send_uri(values),
                None => client.send(&file.file_name, &csv),
            };
            match sent {
                Ok(message) => {
                    outbox::finish(
                        conn,
                        file.id,
                        file_status::PUSHED,
                        &message,
                        Utc::now().naive_utc(),
                    )?;
                    attempted(conn, &file, attempt, "pushed", &message);
                    report.files_pushed += 1;
                    report.rows_pushed += file.row_count;
                    tracing::info!(file = %file.file_name, rows = file.row_count, "pushed");
                    break;
                }
                Err(reason) => {
                    outbox::record_attempt(conn, file.id, &reason, Utc::now().naive_utc())?;
                    let outcome = if attempt >= cfg.max_attempts {
                        "failed"
                    } else {
                        "retry"
                    };
                    attempted(conn, &file, attempt, outcome, &reason);
                    tracing::warn!(file = %file.file_name, attempt, %reason, "push attempt failed");
                    if attempt >= cfg.max_attempts {
                        outbox::finish(
                            conn,
                            file.id,
                            file_status::FAILED,
                            &reason,
                            Utc::now().naive_utc(),
                        )?;
                        report.files_failed += 1;
                        break;
                    }
                    std::thread::sleep(backoff(cfg, attempt));
                }
            }
        }
        bar.inc(file.row_count.max(0) as u64);
        let secs = started.elapsed().as_secs_f64().max(1e-9);
        bar.set_message(format!(
            "{} files pushed, {} failed, {:.0} rows/s",
            report.files_pushed,
            report.files_failed,
            report.rows_pushed as f64 / secs
        ));
    }
    bar.finish_and_clear();
    report.elapsed = started.elapsed();
    Ok(report)
}

/// One push attempt into the audit trail and the metrics.
fn attempted(conn: &mut DbConn, file: &PushFile, attempt: u32, outcome: &str, message: &str) {
    if let Some(m) = crate::metrics::get() {
        m.push_attempts.with_label_values(&[outcome]).inc();
    }
    crate::audit::record_push(
        conn,
        &crate::audit::PushRecord {
            at: Utc::now().naive_utc(),
            file_name: file.file_name.clone(),
            rows: file.row_count,
            attempt: attempt as i32,
            outcome: outcome.to_string(),
            message: crate::error::loggable(message),
        },
    );
}

fn loggable_sender(claimed_by: &Option<String>) -> String {
    claimed_by.as_deref().unwrap_or("unknown").to_string()
}

/// `--export DIR`: the same files, written for manual upload; nothing counts as pushed
/// until `--mark-uploaded`.
pub fn export(
    conn: &mut DbConn,
    cfg: &PushConfig,
    dir: &Path,
    vault: Option<&Vault>,
) -> Result<Vec<String>, PushError> {
    as_the_pusher(conn, |conn| export_locked(conn, cfg, dir, vault))
}

fn export_locked(
    conn: &mut DbConn,
    cfg: &PushConfig,
    dir: &Path,
    vault: Option<&Vault>,
) -> Result<Vec<String>, PushError> {
    crate::files::create_private_dir(dir).map_err(|source| PushError::Write {
        path: dir.display().to_string(),
        source,
    })?;
    build_all(conn, cfg)?;
    let mut written = Vec::new();
    for file in outbox::files_with_status(conn, file_status::READY)? {
        let path = dir.join(&file.file_name);
        let rows = outbox::rows_of(conn, file.id)?;
        let csv = csv_file::write(&opened(conn, vault, rows)?);
        // Write then rename, so a half-written file never sits under the real name.
        let tmp = dir.join(format!(".{}.tmp", file.file_name));
        crate::files::write_private(&tmp, &csv)
            .and_then(|_| std::fs::rename(&tmp, &path))
            .map_err(|source| PushError::Write {
                path: path.display().to_string(),
                source,
            })?;
        outbox::finish(
            conn,
            file.id,
            file_status::EXPORTED,
            &format!("exported to {}", path.display()),
            Utc::now().naive_utc(),
        )?;
        written.push(path.display().to_string());
    }
    Ok(written)
}

/// `serve` with `push.schedule_secs`: pushes on its own thread, never on a web worker.
pub fn spawn_background(config: std::sync::Arc<crate::config::Config>, every: u64) {
    std::thread::spawn(move || loop {
        std::thread::sleep(std::time::Duration::from_secs(every));
        let Some(cfg) = config.push.as_ref() else {
            return;
        };
        let result = crate::store::establish(&config.database.url)
            .map_err(anyhow::Error::from)
            .and_then(|mut conn| {
                let vault = config.vault()?;
                push(
                    &mut conn,
                    cfg,
                    &PushOptions {
                        retry_failed: false,
                        progress: false,
                        vault: vault.as_ref(),
                    },
                )
                .map_err(anyhow::Error::from)
            });
        match result {
            Err(e) if matches!(e.downcast_ref(), Some(PushError::Busy)) => {
                tracing::debug!("background push: another server is pushing");
            }
            Ok(r) if r.files_pushed + r.files_failed > 0 => tracing::info!(
                pushed = r.files_pushed,
                rows = r.rows_pushed,
                failed = r.files_failed,
                "background push"
            ),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %format!("{e:#}"), "background push failed"),
        }
    });
}
