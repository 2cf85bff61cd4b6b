//! `dlrepo requester snippet|list` and `dlrepo save-to-locker snippet`.

use anyhow::{bail, Context, Result};

use crate::config::{Config, RequesterConfig};
use crate::store;
use crate::uri::DocUri;

fn requester(config: &Config) -> Result<&RequesterConfig> {
    config
        .requester
        .as_ref()
        .context("no [requester] section in the config (app_id, app key, public_upload_url)")
}

/// The widget markup for the department's page, with a fresh hash (good 30 minutes;
/// `GET /requester/snippet?button=...` gives a fresh one for each page view).
pub fn snippet(config: &Config, button: &str) -> Result<()> {
    let cfg = requester(config)?;
    if button.is_empty()
        || !button
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        bail!("--button must be letters, digits or '_' (it names the document asked for: poi, poa, ...)");
    }
    print!(
        "{}",
        crate::requester::widget_snippet(cfg, button, chrono::Utc::now().timestamp())
    );
    Ok(())
}

pub fn list(config: &Config) -> Result<()> {
    requester(config)?;
    store::open_and_migrate(&config.database)?;
    let mut conn = store::establish(&config.database.url)?;
    let rows = crate::requester::store::list(&mut conn, 1000)?;
    if rows.is_empty() {
        println!("no document received yet");
    }
    for r in rows {
        println!(
            "{} UTC  user_ref={}  doc_id={}  {} bytes  {}  from {}  sha256 {}",
            r.received_at,
            crate::error::loggable(&r.user_ref),
            crate::error::loggable(&r.doc_id),
            r.size,
            r.content_type.as_deref().unwrap_or("-"),
            r.source_host,
            &r.sha256[..16]
        );
    }
    Ok(())
}

/// The Save to Locker button for one issued document, linking to an unguessable URL
/// that serves it for `requester.link_minutes`.
pub fn save_snippet(config: &Config, uri: &str) -> Result<()> {
    let cfg = requester(config)?;
    let u = DocUri::parse(uri)?;
    if !u.issued_by(&config.issuer_id) {
        bail!("{uri} was not issued by {}", config.issuer_id);
    }
    let mut conn = store::establish(&config.database.url)?;
    let issued = store::documents::find_by_doc_id(&mut conn, &u.doc_type, &u.doc_id)?
        .is_some_and(|r| r.status == store::documents::status::ISSUED && r.content.is_some());
    if !issued {
        bail!("{uri} is not an issued document with its PDF");
    }
    let uri = DocUri::of(&config.issuer_id, &u.doc_type, &u.doc_id).to_string();
    let now = chrono::Utc::now().timestamp();
    let expiry = now + i64::from(cfg.link_minutes) * 60;
    let token = crate::requester::link_token(cfg.app_key(), &uri, expiry);
    let link = format!("{}/savelocker/{token}", cfg.public_origin);
    print!(
        "{}",
        crate::requester::save_snippet(cfg, &link, &format!("save_{}", u.doc_id), now)
    );
    Ok(())
}
