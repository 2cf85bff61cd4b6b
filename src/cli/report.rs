//! `dlrepo report` (the SOP's usage report) and `dlrepo audit find` (one search's pulls).

use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use chrono::NaiveDate;

use crate::audit::{self, report, SearchValues};
use crate::config::Config;
use crate::store;

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ReportFormat {
    Text,
    Csv,
    Html,
}

pub fn report(
    config: &Config,
    from: NaiveDate,
    to: NaiveDate,
    format: ReportFormat,
    out: Option<&std::path::Path>,
) -> Result<ExitCode> {
    if to < from {
        bail!("--to {to} is before --from {from}");
    }
    store::open_and_migrate(&config.database)?;
    // Reads a range of the audit trail once: unmapped, so that its pages do not stay
    // in the process's memory (4.6M rows: 492 MiB mapped).
    let mut conn = store::establish_streaming(&config.database.url)?;
    let r = report::build(&mut conn, from, to)?;
    let text = match format {
        ReportFormat::Text => r.to_text(),
        ReportFormat::Csv => r.to_csv(),
        ReportFormat::Html => r.to_html(),
    };
    match out {
        Some(path) => crate::files::write_private(path, text.as_bytes())
            .with_context(|| format!("cannot write {}", path.display()))?,
        None => print!("{text}"),
    }
    Ok(ExitCode::SUCCESS)
}

/// The pulls of one search, found by its audit digest.
pub fn find(config: &Config, code: &str, pairs: &[String]) -> Result<ExitCode> {
    let doctype = config
        .doctype(code)
        .with_context(|| format!("doc type '{code}' is not in the config"))?;
    if config.audit.search_values != SearchValues::Hash {
        bail!("audit.search_values is not \"hash\": searches cannot be found again");
    }
    let mut values = Vec::new();
    for u in &doctype.udfs {
        let given = pairs
            .iter()
            .filter_map(|p| p.split_once('='))
            .find(|(k, _)| k.eq_ignore_ascii_case(&u.name))
            .map(|(_, v)| v.trim().to_string())
            .with_context(|| format!("give {}=VALUE", u.name))?;
        values.push(given);
    }
    let digest =
        audit::search_digest(SearchValues::Hash, config.api_key(), &values).context("no digest")?;
    let mut conn = store::establish(&config.database.url)?;
    let rows = report::find(&mut conn, &doctype.code, &digest, 100)?;
    if rows.is_empty() {
        println!(
            "no pull of {} with those search values in the audit trail",
            doctype.code
        );
    }
    for r in rows {
        println!(
            "{} UTC  {}  Status {}  {}  {}",
            r.at,
            r.endpoint,
            r.status,
            r.uri.as_deref().unwrap_or("-"),
            r.reason.as_deref().unwrap_or("")
        );
    }
    Ok(ExitCode::SUCCESS)
}
