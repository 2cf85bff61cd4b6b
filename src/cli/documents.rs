//! `dlrepo mint`, `dlrepo revoke` and `dlrepo uri parse`: the life of a DocId.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};

use crate::config::Config;
use crate::issuing;
use crate::store::{self, documents};
use crate::uri::DocUri;

/// `dlrepo mint`: reserve `count` fresh DocIds and print their URIs.
pub fn mint(config: &Config, doctype: &str, count: usize) -> Result<()> {
    let dt = config
        .doctype(doctype)
        .with_context(|| format!("doc type '{doctype}' is not in the config"))?;
    store::open_and_migrate(&config.database)?;
    let mut conn = store::establish(&config.database.url)?;
    let ids = documents::reserve(
        &mut conn,
        &dt.code,
        &dt.id_space,
        count,
        chrono::Utc::now().naive_utc(),
    )?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for id in ids {
        writeln!(out, "{}", DocUri::of(&config.issuer_id, &dt.code, &id))?;
    }
    Ok(())
}

/// `dlrepo revoke URI`: in one transaction, the document is revoked and, when it was
/// pushed under an Aadhaar number, a D row is queued.
pub fn revoke(config: &Config, uri: &str) -> Result<()> {
    let u = DocUri::parse(uri)?;
    if !u.issued_by(&config.issuer_id) {
        bail!("{uri} was not issued by {}", config.issuer_id);
    }
    let dt = config
        .doctype(&u.doc_type)
        .with_context(|| format!("doc type '{}' is not in the config", u.doc_type))?;
    match store::open_and_migrate(&config.database) {
        Ok(_) => {}
        // Revoking the extra documents is how such a database is mended.
        Err(store::StoreError::Duplicates(_)) => {}
        Err(e) => return Err(e.into()),
    }
    let mut conn = store::establish(&config.database.url)?;
    let uri = DocUri::of(&config.issuer_id, &dt.code, &u.doc_id);
    match issuing::revoke(&mut conn, dt, &uri, chrono::Utc::now().naive_utc())? {
        None => bail!("{uri} is not an issued document (never issued, or already revoked)"),
        Some(true) => println!("revoked {uri}; a D row is queued for push"),
        Some(false) => println!("revoked {uri} (no Aadhaar: nothing to push)"),
    }
    Ok(())
}

pub fn explain_uri(s: &str) -> ExitCode {
    match DocUri::parse(s) {
        Err(e) => {
            println!("malformed: {e}");
            ExitCode::FAILURE
        }
        Ok(u) => {
            println!("IssuerId: {}", u.issuer_id);
            println!("DocType:  {}", u.doc_type);
            println!("DocId:    {}", u.doc_id);
            let v = u.strict_violations();
            if v.is_empty() {
                println!("well-formed: follows every rule of the spec");
            } else {
                println!(
                    "readable, but breaks the spec's rules (accepted from partners, never minted):"
                );
                for e in v {
                    println!("  - {e}");
                }
            }
            ExitCode::SUCCESS
        }
    }
}
