//! `dlrepo check-data`: what in the database breaks a rule the schema now enforces.
//! Runs without migrating, so it works on the database a migration refused.

use std::process::ExitCode;

use anyhow::Result;

use crate::config::Config;
use crate::store::{self, documents};
use crate::uri::DocUri;

pub fn run(config: &Config) -> Result<ExitCode> {
    let mut conn = store::establish(&config.database.url)?;
    let dups = documents::duplicates(&mut conn)?;
    if dups.is_empty() {
        println!("no duplicates: one live document per doc type and search fields");
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{} search(es) with more than one live document (Pull URI answers them with Status 0):",
        dups.len()
    );
    for (doctype, ids) in &dups {
        let uris: Vec<String> = ids
            .iter()
            .map(|id| DocUri::of(&config.issuer_id, doctype, id).to_string())
            .collect();
        println!(
            "  {}  (kept: the first; revoke the others)",
            uris.join("  ")
        );
    }
    Ok(ExitCode::FAILURE)
}
