//! The `push` commands and the background pusher of `serve`.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::config::{Config, PushConfig};
use crate::push::outbox;
use crate::push::pusher::{self, PushOptions};
use crate::push::standin::{StandIn, StandInConfig};
use crate::store;

fn push_config(config: &Config) -> Result<&PushConfig> {
    config
        .push
        .as_ref()
        .context("no [push] section in the config (endpoint, org_id, api_key, rows_per_file)")
}

pub fn run(
    config: &Config,
    command: Option<super::PushCommand>,
    retry_failed: bool,
    export: Option<PathBuf>,
    mark_uploaded: Option<String>,
) -> Result<ExitCode> {
    store::open_and_migrate(&config.database)?;
    let mut conn = store::establish(&config.database.url)?;
    let now = chrono::Utc::now().naive_utc();
    if let Some(super::PushCommand::Scan { doctype }) = &command {
        return scan(config, &mut conn, doctype);
    }
    if command.is_some() {
        let c = outbox::counts(&mut conn)?;
        println!("queued (not yet in a file): {} rows", c.queued_rows);
        for (st, files, rows) in &c.files {
            println!("{st:>10}: {files} files, {rows} rows");
        }
        for (name, attempts, msg) in &c.failed {
            println!("failed {name} after {attempts} attempt(s): {msg}");
        }
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(name) = mark_uploaded {
        let name = std::path::Path::new(&name)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or(name);
        if !outbox::mark_uploaded(&mut conn, &name, now)? {
            bail!("{name} is not an exported file waiting for upload (see `dlrepo push status`)");
        }
        println!("{name}: marked as pushed");
        return Ok(ExitCode::SUCCESS);
    }
    let cfg = push_config(config)?;
    let vault = config.vault()?;
    if let Some(dir) = export {
        let files = pusher::export(&mut conn, cfg, &dir, vault.as_ref())?;
        for f in &files {
            println!("{f}");
        }
        println!(
            "exported {} file(s); upload them on the issuer portal, then `dlrepo push --mark-uploaded FILE`",
            files.len()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let report = pusher::push(
        &mut conn,
        cfg,
        &PushOptions {
            retry_failed,
            progress: std::io::stderr().is_terminal(),
            vault: vault.as_ref(),
        },
    )?;
    let secs = report.elapsed.as_secs_f64();
    println!(
        "pushed {} file(s), {} rows in {:.2} s ({:.0} rows/s); {} failed, {} left to another sender",
        report.files_pushed,
        report.rows_pushed,
        secs,
        report.rows_pushed as f64 / secs.max(1e-9),
        report.files_failed,
        report.files_skipped
    );
    Ok(if report.files_failed == 0 && report.files_skipped == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// `dlrepo central-standin`: runs until interrupted, printing each file it receives.
pub fn standin(bind: &str, org_id: &str, key: &str) -> Result<()> {
    let s = StandIn::start(
        bind,
        StandInConfig {
            org_id: org_id.to_string(),
            api_key: key.to_string(),
            keep_rows: false,
            delay: Duration::ZERO,
        },
    )?;
    println!("central CSV Upload API stand-in at {}", s.url());
    let mut seen = 0;
    loop {
        std::thread::sleep(Duration::from_millis(500));
        let r = s.received();
        for f in &r[seen..] {
            println!(
                "{} rows={} accepted={} {}",
                f.file_name, f.row_count, f.accepted, f.message
            );
        }
        seen = r.len();
    }
}

/// `dlrepo push scan --doctype D`.
fn scan(config: &Config, conn: &mut store::DbConn, code: &str) -> Result<ExitCode> {
    let doctype = config
        .doctype(code)
        .with_context(|| format!("doc type '{code}' is not in the config"))?;
    if doctype.source.is_none() {
        bail!(
            "{} is not served from a department table ([doctypes.source])",
            doctype.code
        );
    }
    // One pass over the table: no memory map, on either connection (flat memory).
    let pool = store::streaming_pool(&config.database);
    *conn = store::establish_streaming(&config.database.url)?;
    let tables =
        store::department::prepare_all(std::slice::from_ref(doctype), &config.database, &pool)
            .map_err(|p| anyhow::anyhow!("{}", p.join("\n  ")))?;
    let table = tables
        .get(&doctype.code)
        .context("the department table could not be prepared")?;
    let vault = config.vault()?;
    let bar = if std::io::stderr().is_terminal() {
        indicatif::ProgressBar::new_spinner()
    } else {
        indicatif::ProgressBar::hidden()
    };
    let started = std::time::Instant::now();
    let r = crate::issuing::department::scan(
        conn,
        &config.issuer_id,
        doctype,
        table,
        vault.as_ref(),
        |r| {
            bar.set_message(format!(
                "{} rows read, {} new, {} changed",
                r.rows, r.new, r.changed
            ))
        },
    )?;
    bar.finish_and_clear();
    println!(
        "{}: {} rows read in {:.1} s; {} new, {} changed, {} cancelled, {} gone from the table (revoked); pushes queued for those with an Aadhaar number",
        doctype.code,
        r.rows,
        started.elapsed().as_secs_f64(),
        r.new,
        r.changed,
        r.cancelled,
        r.gone
    );
    Ok(ExitCode::SUCCESS)
}
