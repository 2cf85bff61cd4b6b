//! `dlrepo serve`: migrate, check department tables, serve until interrupted.

use std::net::TcpListener;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};

use crate::config::Config;
use crate::store;

/// Migrates, then serves until interrupted.
pub fn serve(config: Config, config_path: &Path) -> Result<()> {
    for w in crate::config::exposed_files(config_path, &config) {
        tracing::warn!("{w}");
    }
    let applied = store::open_and_migrate(&config.database).with_context(|| {
        format!(
            "cannot prepare the database at {}",
            redact_url(&config.database.url)
        )
    })?;
    for m in applied {
        tracing::info!("applied migration {m}");
    }
    let pool = store::pool(&config.database)?;
    let config = Arc::new(config);
    let state = crate::server::AppState::prepare(config.clone(), pool).map_err(|problems| {
        anyhow::anyhow!(
            "department tables do not match the config:\n  {}",
            problems.join("\n  ")
        )
    })?;
    if config.signing.is_none() {
        tracing::warn!("no [signing] section: documents are served unsigned");
    }
    let listener = TcpListener::bind(&config.server.bind)
        .with_context(|| format!("cannot listen on {}", config.server.bind))?;
    tracing::info!(
        bind = %config.server.bind,
        pull_uri = %config.server.pull_uri_path,
        pull_doc = %config.server.pull_doc_path,
        database = %redact_url(&config.database.url),
        "dlrepo serving"
    );
    if let Some(p) = config.push.as_ref().filter(|p| p.schedule_secs > 0) {
        crate::push::pusher::spawn_background(config.clone(), p.schedule_secs);
    }
    actix_web::rt::System::new()
        .block_on(async move { crate::server::run(state, listener)?.await })?;
    Ok(())
}

/// A database URL without its password, for logs.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            let user = creds.split(':').next().unwrap_or("");
            format!("{}{user}:***{}", &url[..s + 3], &url[at..])
        }
        _ => url.to_string(),
    }
}

/// `dlrepo migrate`: apply pending migrations and say which.
pub fn migrate(config: &Config) -> Result<()> {
    let applied = store::open_and_migrate(&config.database)?;
    if applied.is_empty() {
        println!("database is up to date");
    }
    for m in applied {
        println!("applied {m}");
    }
    Ok(())
}
