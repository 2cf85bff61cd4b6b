//! `dlrepo import`: a CSV file into the store, with a report by line.

use std::io::IsTerminal;
use std::path::Path;

use anyhow::Result;

use crate::config::Config;
use crate::import::{self, ImportOptions};
use crate::store;

/// The import's flags beyond the doc type and the file.
pub struct ImportFlags<'a> {
    pub out: Option<&'a Path>,
    /// None: the backend's default ([`import::default_batch`]).
    pub batch: Option<usize>,
    pub commit_after: std::time::Duration,
    pub sqlite_cache_mb: u64,
    pub correct: bool,
}

impl Default for ImportFlags<'_> {
    fn default() -> Self {
        Self {
            out: None,
            batch: None,
            commit_after: import::COMMIT_AFTER,
            sqlite_cache_mb: import::SQLITE_CACHE_MB,
            correct: false,
        }
    }
}

pub fn import_file(
    config: &Config,
    doctype: &str,
    file: &Path,
    flags: &ImportFlags<'_>,
) -> Result<import::ImportReport> {
    store::open_and_migrate(&config.database)?;
    let signer = config.signing_key()?;
    let vault = config.vault()?;
    let mut conn = store::establish(&config.database.url)?;
    let batch_size = flags.batch.unwrap_or_else(|| import::default_batch(&conn));
    let report = import::run(
        config,
        &mut conn,
        &ImportOptions {
            doctype,
            csv: file,
            out: flags.out,
            batch_size,
            commit_after: flags.commit_after,
            sqlite_cache_mb: flags.sqlite_cache_mb,
            progress: std::io::stderr().is_terminal(),
            correct: flags.correct,
            signer: signer.as_ref(),
            vault: vault.as_ref(),
        },
    )?;
    for r in &report.rejected {
        eprintln!("{}: line {}: {}", file.display(), r.line, r.reason);
    }
    let secs = report.elapsed.as_secs_f64().max(1e-9);
    // Rows read, not only imported: a re-run imports none and is not stuck.
    let read = report.imported + report.unchanged + report.rejected.len() as u64;
    println!(
        "imported {} row(s), rejected {}, {} already issued, unchanged, in {:.2} s ({:.0} rows/s)",
        report.imported,
        report.rejected.len(),
        report.unchanged,
        secs,
        read as f64 / secs
    );
    Ok(report)
}
