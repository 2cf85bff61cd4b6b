//! `dlrepo import`: documents from a CSV file into the store.
//!
//! Columns: one per UDF of the doc type (named as the UDF), `doc_name`, `issued_on`
//! (DD/MM/YYYY), and optionally `valid_from`, `valid_to`, `aadhaar`, `holder_name`,
//! `doc_id`, `pdf` (a path relative to the CSV). Every row is checked completely before
//! any write; valid rows are written in batches, several to a transaction (see
//! [`COMMIT_AFTER`]). A rejected row is reported with its line number and never written
//! in part.

mod ahead;
mod columns;
mod given;
mod known;
mod row;
mod source;
mod writer;

use std::collections::HashSet;
use std::io::{Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use chrono::Utc;
use indicatif::{ProgressBar, ProgressStyle};

use crate::config::Config;
use crate::docs::keys::SigningKey;
use crate::store::checkpoint::Checkpointer;
use crate::store::{self, documents, DbConn, StoreError};
use crate::vault::Vault;
use ahead::{Ahead, BytesAhead, Recent};
use columns::Columns;
use given::GivenIds;
use row::{validate_row, Content, Inputs, ValidRow};
use writer::Writer;

/// Rows read and written at a time on SQLite (`--batch`). Since a transaction takes
/// several batches ([`COMMIT_AFTER`]), a batch's size no longer sets how often an
/// import commits, only what it holds in memory: up to five batches are in flight
/// (read, queued, written, freed). Against 50,000: the same rate at 1M and 10M rows,
/// the peak 85 to 115 MiB lower, which leaves room for [`SQLITE_CACHE_MB`].
pub const DEFAULT_BATCH: usize = 25_000;

/// The same on PostgreSQL, where each batch costs a round trip to check its DocIds, a
/// savepoint and a `COPY`: 25,000 rows imported 4 to 5% slower than 50,000 (1M and 10M
/// rows), though at a peak 125 to 150 MiB lower.
pub const DEFAULT_BATCH_POSTGRES: usize = 50_000;

/// The default batch for this connection's backend.
pub fn default_batch(conn: &DbConn) -> usize {
    match conn {
        DbConn::Postgres(_) => DEFAULT_BATCH_POSTGRES,
        DbConn::Sqlite(_) => DEFAULT_BATCH,
    }
}

/// A batch is also cut once its rows have read this many bytes of files: rows that each
/// name a PDF of their own hold its bytes until written, and 25,000 rows of 100 KiB
/// PDFs, five batches in flight, would be 12 GiB. Batches of rows sharing a few files,
/// or rendering theirs, are cut by [`DEFAULT_BATCH`] as before.
pub const BATCH_FILE_BYTES: usize = 32 << 20;

/// SQLite's page cache for an import, in MiB (`--sqlite-cache-mb`). It must hold the
/// two random-key indexes, or every row reads a page back and writes another out: at
/// 10M documents they are 521 MiB, and 512 MiB imported 92,372 rows/s against 71,645
/// with 256 MiB (1,024 MiB: 90,472), peaking at 893 MiB of memory against 607; at 1M
/// rows the rate is the same and the peak grows by ~50 MiB (BENCHMARKS.md, import).
pub const SQLITE_CACHE_MB: u64 = 512;

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("doc type '{0}' is not in the config")]
    UnknownDocType(String),
    #[error("documents of {0} are read from the department table '{1}', not imported")]
    FromDepartment(String, String),
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("header of {path}: {reason}")]
    Header { path: PathBuf, reason: String },
    #[error("database error in the transaction of lines {first}..={last}; it was rolled back, the lines before it are kept: {source}")]
    Store {
        first: u64,
        last: u64,
        source: StoreError,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// Line of the CSV file (the header is line 1).
    pub line: u64,
    pub reason: String,
}

#[derive(Debug, Default)]
pub struct ImportReport {
    pub imported: u64,
    /// Rows whose document was already issued exactly so: a re-run is the resume.
    pub unchanged: u64,
    pub rejected: Vec<Rejection>,
    pub elapsed: Duration,
}

pub struct ImportOptions<'a> {
    pub doctype: &'a str,
    pub csv: &'a Path,
    pub out: Option<&'a Path>,
    pub batch_size: usize,
    /// How long a transaction goes on taking batches ([`COMMIT_AFTER`] by default).
    pub commit_after: Duration,
    /// SQLite's page cache while importing ([`SQLITE_CACHE_MB`] by default).
    pub sqlite_cache_mb: u64,
    pub progress: bool,
    /// Replace already-issued documents named by `doc_id` (corrections, pushed as U).
    pub correct: bool,
    /// Sign every document before it is stored (sign once, serve the same bytes).
    pub signer: Option<&'a SigningKey>,
    /// Seals Aadhaar numbers; a file with an `aadhaar` column needs it.
    pub vault: Option<&'a Vault>,
}

/// What the reading thread hands the writing one.
struct Chunk {
    rows: Vec<ValidRow>,
    rejected: Vec<Rejection>,
    /// How far into the file the reader is, for the progress bar.
    byte_pos: u64,
    /// The rows' minted DocIds were free when this many batches were committed.
    checked: Option<u64>,
}

impl Chunk {
    fn new(batch_size: usize) -> Self {
        Self {
            rows: Vec::with_capacity(batch_size),
            rejected: Vec::new(),
            byte_pos: 0,
            checked: None,
        }
    }
}

/// Reads and checks rows on its own thread, so parsing and the database overlap. Rows
/// the writer is done with come back on `written` to be freed here: a dozen strings a
/// row, freed by the thread that made them, instead of on the writer, which is the
/// import's bottleneck (mimalloc frees another thread's memory on a slower path; 5% of
/// a SQLite import's samples were those frees).
#[allow(clippy::too_many_arguments)]
fn read_rows<R: std::io::Read>(
    csv_path: &Path,
    mut reader: csv::Reader<R>,
    cols: &Columns,
    mut ahead: Ahead<'_>,
    mut pdfs: Inputs<'_>,
    batch_size: usize,
    tx: mpsc::SyncSender<Chunk>,
    written: mpsc::Receiver<Vec<ValidRow>>,
) -> Result<(), ImportError> {
    let now = Utc::now().naive_utc();
    let doctype = ahead.doctype;
    let mut record = csv::StringRecord::new();
    let mut chunk = Chunk::new(batch_size);
    // Bytes of the files this chunk's rows read.
    let mut file_bytes = 0;
    loop {
        let line = reader.position().line() + 1;
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {
                let line = record.position().map_or(line, |p| p.line());
                match validate_row(&record, cols, doctype, &mut pdfs, now) {
                    Ok(row) => {
                        if matches!(row.content, Content::Render(_)) {
                            file_bytes += ahead.render_estimate();
                        }
                        chunk.rows.push(ValidRow { line, ..row })
                    }
                    Err(reason) => chunk.rejected.push(Rejection { line, reason }),
                }
            }
            Err(e) => {
                let line = e.position().map_or(line, |p| p.line());
                let reason = match e.kind() {
                    csv::ErrorKind::UnequalLengths {
                        expected_len, len, ..
                    } => format!("has {len} fields, the header has {expected_len}"),
                    csv::ErrorKind::Utf8 { .. } => "is not valid UTF-8".to_string(),
                    csv::ErrorKind::Io(err) => {
                        return Err(ImportError::Read {
                            path: csv_path.to_owned(),
                            source: std::io::Error::new(err.kind(), err.to_string()),
                        })
                    }
                    _ => e.to_string(),
                };
                chunk.rejected.push(Rejection { line, reason });
            }
        }
        file_bytes += pdfs.take_read_bytes();
        if chunk.rows.len() >= batch_size || file_bytes >= BATCH_FILE_BYTES {
            file_bytes = 0;
            chunk.byte_pos = reader.position().byte();
            chunk.checked = ahead.ready(&mut chunk.rows);
            if tx
                .send(std::mem::replace(&mut chunk, Chunk::new(batch_size)))
                .is_err()
            {
                // The writer stopped on an error; it reports that.
                return Ok(());
            }
            written.try_iter().for_each(drop);
        }
    }
    chunk.byte_pos = reader.position().byte();
    chunk.checked = ahead.ready(&mut chunk.rows);
    let _ = tx.send(chunk);
    Ok(())
}

/// How long one transaction goes on taking batches before it commits. Every commit
/// writes back each index page its rows touched, and in a table of millions of
/// documents random DocIds touch a page per row: at 10M rows a transaction of one
/// 50,000-row batch wrote most of both indexes (BENCHMARKS.md, import). Several batches
/// per commit spread that over more rows while each batch's rows are freed once
/// written, so memory stays that of a batch. Bounded in time, not rows, because other
/// writers (a server's audit rows, a second importer) wait for the commit, within
/// their 10 s busy_timeout.
pub const COMMIT_AFTER: Duration = Duration::from_secs(5);

/// The next chunk with rows, its reader's rejections taken on the way.
fn next_rows(
    chunks: &mut impl Iterator<Item = Chunk>,
    rejected: &mut Vec<Rejection>,
) -> Option<Chunk> {
    for mut chunk in chunks.by_ref() {
        rejected.append(&mut chunk.rejected);
        if !chunk.rows.is_empty() {
            return Some(chunk);
        }
    }
    None
}

/// What one transaction wrote, told once it is committed.
#[derive(Default)]
struct Committed {
    /// Rows written.
    imported: u64,
    /// (line, URI) of each, and of each row found already issued, kept only for
    /// `--out`: a transaction may hold a million.
    done: Option<Vec<(u64, String)>>,
    rejected: Vec<Rejection>,
    unchanged: u64,
    byte_pos: u64,
}

impl Committed {
    fn add(&mut self, outcome: writer::BatchOutcome, byte_pos: u64) {
        self.imported += outcome.done.len() as u64;
        if let Some(done) = &mut self.done {
            done.extend(outcome.done);
            done.extend(outcome.already);
        }
        self.rejected.extend(outcome.rejected);
        self.unchanged += outcome.unchanged;
        self.byte_pos = byte_pos;
    }
}

/// How long a transaction takes batches, and whether it keeps their URIs (`--out`).
#[derive(Clone, Copy)]
struct TransactionRule {
    commit_after: Duration,
    keep_uris: bool,
}

/// The first and last line of a batch, for a failed transaction's error. A batch is
/// sorted by search fields, so not its first and last rows: an error had named the
/// first batch's smallest key as where the rolled-back lines began.
fn lines(rows: &[ValidRow]) -> (u64, u64) {
    let first = rows.iter().map(|r| r.line).min().unwrap_or(0);
    (first, rows.iter().map(|r| r.line).max().unwrap_or(0))
}

/// Writes `first` and the batches that follow within `commit_after` in one
/// transaction. When SQLite says another writer holds the database before anything is
/// written, the transaction is tried again (a deferred transaction that must upgrade to
/// a write is refused at once rather than waiting out busy_timeout, so two importers at
/// once would otherwise fail); `first` is kept for that. Later batches are freed once
/// written: an error after them fails the import, whose re-run resumes it.
fn write_transaction(
    writer: &mut Writer<'_>,
    conn: &mut DbConn,
    first: &mut Chunk,
    chunks: &mut impl Iterator<Item = Chunk>,
    rejected: &mut Vec<Rejection>,
    written: &mpsc::Sender<Vec<ValidRow>>,
    how: TransactionRule,
) -> Result<(Committed, bool), ImportError> {
    let mut attempt = 0u64;
    loop {
        let (first_line, mut last_line) = lines(&first.rows);
        let mut took_more = false;
        let mut ended = false;
        let result = store::write_transaction(conn, |conn| {
            documents::lock_doctype(conn, &writer.doctype.code)?;
            let started = Instant::now();
            let mut out = Committed {
                done: how.keep_uris.then(Vec::new),
                ..Committed::default()
            };
            out.add(
                writer.write_batch(conn, &mut first.rows, first.checked)?,
                first.byte_pos,
            );
            // Another batch only if it should end within COMMIT_AFTER, judged by the
            // last one (each takes longer as the table grows).
            let mut last = started.elapsed();
            while started.elapsed() + last < how.commit_after {
                let begun = Instant::now();
                let Some(mut chunk) = next_rows(chunks, rejected) else {
                    ended = true;
                    break;
                };
                took_more = true;
                last_line = lines(&chunk.rows).1;
                out.add(
                    writer.write_batch(conn, &mut chunk.rows, chunk.checked)?,
                    chunk.byte_pos,
                );
                let _ = written.send(chunk.rows);
                last = begun.elapsed();
            }
            Ok::<_, StoreError>(out)
        });
        match result {
            Ok(out) => {
                writer.committed();
                return Ok((out, ended));
            }
            Err(e) if !took_more && attempt < 50 && store::is_busy(&e) => {
                writer.rolled_back();
                attempt += 1;
                std::thread::sleep(Duration::from_millis(20 * attempt.min(10)));
            }
            Err(source) => {
                writer.rolled_back();
                return Err(ImportError::Store {
                    first: first_line,
                    last: last_line,
                    source,
                });
            }
        }
    }
}

pub fn run(
    config: &Config,
    conn: &mut DbConn,
    opts: &ImportOptions<'_>,
) -> Result<ImportReport, ImportError> {
    let started = Instant::now();
    let doctype = config
        .doctype(opts.doctype)
        .ok_or_else(|| ImportError::UnknownDocType(opts.doctype.to_string()))?;
    if let Some(src) = &doctype.source {
        return Err(ImportError::FromDepartment(
            doctype.code.clone(),
            src.table.clone(),
        ));
    }
    let read_err = |source| ImportError::Read {
        path: opts.csv.to_owned(),
        source,
    };
    let file = std::fs::File::open(opts.csv).map_err(read_err)?;
    let store_err = |source| ImportError::Store {
        first: 0,
        last: 0,
        source,
    };
    store::tune_for_bulk_writes(conn, opts.sqlite_cache_mb).map_err(store_err)?;
    let checkpointer = Checkpointer::start(conn, &config.database.url).map_err(store_err)?;
    let rereadable = source::rereadable(&file);
    let mut reader = source::reader(file, rereadable);
    let header_err = |e: csv::Error| ImportError::Header {
        path: opts.csv.to_owned(),
        reason: e.to_string(),
    };
    let header = reader.headers().map_err(header_err)?.clone();
    let cols = Columns::from_header(&header, doctype).map_err(|reason| ImportError::Header {
        path: opts.csv.to_owned(),
        reason,
    })?;
    if cols.optional.contains_key("aadhaar") && opts.vault.is_none() {
        return Err(ImportError::Header {
            path: opts.csv.to_owned(),
            reason: "it has an aadhaar column, and Aadhaar numbers are stored only encrypted: add [vault] key_file to the config (`dlrepo vault keygen` makes one)".into(),
        });
    }
    // Read once ahead, only when the file gives DocIds (a pass over it: ~0.5 s a
    // million rows); a pipe, which can be read only once, from a copy (`source.rs`).
    let given = match cols.optional.get("doc_id") {
        Some(&column) if rereadable => {
            let again = std::fs::File::open(opts.csv).map_err(read_err)?;
            GivenIds::read(again, column, &doctype.id_space).map_err(read_err)?
        }
        Some(&column) => {
            let mut spool = source::spool(reader).map_err(read_err)?;
            let given = GivenIds::read(&spool, column, &doctype.id_space).map_err(read_err)?;
            spool.rewind().map_err(read_err)?;
            reader = source::reader(spool, true);
            reader.headers().map_err(header_err)?;
            given
        }
        None => {
            source::keep_nothing(&mut reader);
            GivenIds::default()
        }
    };
    let total_bytes = reader.get_ref().get_ref().size();

    let mut out = match opts.out {
        Some(p) => {
            let write_err = |source| ImportError::Write {
                path: p.to_owned(),
                source,
            };
            let mut w =
                std::io::BufWriter::new(crate::files::create_private(p).map_err(write_err)?);
            writeln!(w, "line,uri").map_err(write_err)?;
            Some((p, w))
        }
        None => None,
    };

    let bar = if opts.progress {
        let b = ProgressBar::new(total_bytes);
        // A pipe has no size to measure against: the counts and the time only.
        let template = if total_bytes == 0 {
            "{spinner} {msg} [{elapsed_precise}]"
        } else {
            "{bar:30} {percent:>3}% {msg} [{elapsed_precise}, eta {eta}]"
        };
        b.set_style(
            ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        b
    } else {
        ProgressBar::hidden()
    };

    let base = source::pdf_folder(opts.csv, rereadable);
    let pdfs = Inputs::new(base, opts.vault);
    let batches_committed = AtomicU64::new(0);
    // On PostgreSQL the reader checks each batch's DocIds on a connection of its own,
    // while the writer's copies the batch before (`ahead.rs`).
    let check = match conn {
        DbConn::Postgres(_) => match store::establish(&config.database.url) {
            Ok(c) => Some((c, &batches_committed)),
            // The import still works, the writer checking each batch itself: slower.
            Err(e) => {
                tracing::warn!(error = %crate::error::chain(&e), "import: no second connection to check DocIds ahead; the writer checks them, more slowly");
                None
            }
        },
        DbConn::Sqlite(_) => None,
    };
    let recent = check.is_some().then(Recent::default);
    let rerun_likely = AtomicBool::new(false);
    let bytes_ahead = BytesAhead {
        config,
        signer: opts.signer,
        threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        rerun_likely: &rerun_likely,
        // Until a batch says: a first batch of bilingual certificates stays ~32 MiB.
        bytes_per_row: 64 << 10,
    };
    let ahead = Ahead::new(doctype, &given, check, bytes_ahead);
    let mut writer = Writer {
        signer: opts.signer,
        config,
        doctype,
        given: &given,
        stored_blobs: HashSet::new(),
        new_blobs: HashSet::new(),
        rerun_likely: &rerun_likely,
        all_new_last: true,
        batches_written: 0,
        batches_committed: &batches_committed,
        recent,
        correct: opts.correct,
        list_unchanged: out.is_some(),
        vault: opts.vault,
    };
    let mut report = ImportReport::default();
    let batch_size = opts.batch_size.max(1);
    let (tx, rx) = mpsc::sync_channel::<Chunk>(2);
    let (done_tx, done_rx) = mpsc::channel::<Vec<ValidRow>>();

    std::thread::scope(|scope| {
        let cols = &cols;
        let reading = scope
            .spawn(move || read_rows(opts.csv, reader, cols, ahead, pdfs, batch_size, tx, done_rx));
        let written = (|| {
            let mut chunks = rx.into_iter();
            let mut analysed = false;
            while let Some(mut first) = next_rows(&mut chunks, &mut report.rejected) {
                let store_err = |source| {
                    let (first, last) = lines(&first.rows);
                    ImportError::Store {
                        first,
                        last,
                        source,
                    }
                };
                if let Some(c) = &checkpointer {
                    c.before_transaction(conn).map_err(store_err)?;
                }
                let (outcome, ended) = write_transaction(
                    &mut writer,
                    conn,
                    &mut first,
                    &mut chunks,
                    &mut report.rejected,
                    &done_tx,
                    TransactionRule {
                        commit_after: opts.commit_after,
                        keep_uris: out.is_some(),
                    },
                )?;
                if let Some(c) = &checkpointer {
                    c.committed();
                }
                if !analysed && outcome.imported > 0 {
                    analysed = true;
                    if let Err(e) = store::refresh_statistics(conn) {
                        tracing::warn!(error = %crate::error::chain(&e), "import: could not refresh the planner's statistics");
                    }
                }
                report.imported += outcome.imported;
                report.unchanged += outcome.unchanged;
                report.rejected.extend(outcome.rejected);
                if let (Some((p, w)), Some(mut done)) = (out.as_mut(), outcome.done) {
                    done.sort_unstable_by_key(|(line, _)| *line);
                    let write_err = |source| ImportError::Write {
                        path: p.to_path_buf(),
                        source,
                    };
                    for (line, uri) in &done {
                        writeln!(w, "{line},{uri}").map_err(write_err)?;
                    }
                    w.flush().map_err(write_err)?;
                }
                bar.set_position(outcome.byte_pos);
                let rate = report.imported as f64 / started.elapsed().as_secs_f64().max(1e-9);
                bar.set_message(format!(
                    "{} rows imported, {} unchanged, {} rejected, {:.0} rows/s",
                    report.imported,
                    report.unchanged,
                    report.rejected.len(),
                    rate
                ));
                // Freed by the reader while it is still reading (see read_rows).
                let _ = done_tx.send(std::mem::take(&mut first.rows));
                if ended {
                    break;
                }
            }
            Ok(())
        })();
        // On a write error `rx` is gone, so the reader stops at its next send.
        let read = reading.join().unwrap_or_else(|_| {
            Err(ImportError::Read {
                path: opts.csv.to_owned(),
                source: std::io::Error::other("the reading thread panicked"),
            })
        });
        written.and(read)
    })?;
    // The last commits copied back before the import counts as done.
    drop(checkpointer);
    bar.finish_and_clear();
    report.rejected.sort_by_key(|r| r.line);
    report.elapsed = started.elapsed();
    Ok(report)
}
