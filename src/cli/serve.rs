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
    let pool = store::pool(&config.database)?;
    let config = Arc::new(config);
    let state = Arc::new(
        crate::server::AppState::new(config.clone(), pool)
            .map_err(|problems| anyhow::anyhow!("{}", problems.join("\n  ")))?,
    );
    match get_ready(&state, true) {
        Ok(waiting) if waiting.is_empty() => {}
        // A department's database down at start-up: its doc type's pulls are 503s
        // until it answers; every other doc type is served.
        Ok(waiting) => {
            for why in &waiting {
                tracing::error!(reason = %why, "a department database does not answer: its doc type's pulls answer 503 until it does");
            }
            let state = state.clone();
            std::thread::spawn(move || wait_until_ready(&state, waiting.join("\n")));
        }
        // Down at start-up: serve 503s and get ready as soon as it answers.
        Err(Unready::Unavailable(why)) => {
            tracing::error!(
                database = %redact_url(&config.database.url),
                reason = %why,
                "the database does not answer: pulls and /healthz answer 503 until it does"
            );
            let state = state.clone();
            std::thread::spawn(move || wait_until_ready(&state, why));
        }
        Err(Unready::Broken(e)) => return Err(e),
    }
    if config.signing.is_none() {
        tracing::warn!("no [signing] section: documents are served unsigned");
    }
    let listener = TcpListener::bind(&config.server.bind)
        .with_context(|| format!("cannot listen on {}", config.server.bind))?;
    let health = match &config.server.health_bind {
        Some(addr) => {
            Some(TcpListener::bind(addr).with_context(|| format!("cannot listen on {addr}"))?)
        }
        None => None,
    };
    tracing::info!(
        bind = %config.server.bind,
        pull_uri = %config.server.pull_uri_path,
        pull_doc = %config.server.pull_doc_path,
        https = config.server.tls.is_some(),
        healthz = %config.server.health_bind.as_deref().unwrap_or(&config.server.bind),
        database = %redact_url(&config.database.url),
        "dlrepo serving"
    );
    if let Some(p) = config.push.as_ref().filter(|p| p.schedule_secs > 0) {
        crate::push::pusher::spawn_background(config.clone(), p.schedule_secs);
    }
    let serving = state.clone();
    actix_web::rt::System::new()
        .block_on(async move { crate::server::run_with(serving, listener, health)?.await })?;
    // Stopped (SIGTERM, Ctrl-C): the last answers' audit rows still go in.
    if let Some(audit) = &state.audit {
        let waiting = audit.drain(std::time::Duration::from_secs(10));
        if waiting > 0 {
            tracing::warn!(records = waiting, "audit: stopped before writing these");
        }
    }
    tracing::info!("dlrepo stopped");
    Ok(())
}

enum Unready {
    /// Worth waiting for: the database (or a department's) does not answer.
    Unavailable(String),
    /// A refused migration or a config that does not match the tables: an operator's fix.
    Broken(anyhow::Error),
}

/// Migrates and checks the department tables; the server then serves pulls. Ok: the
/// department tables not open yet, each with why. `fussy`: see `become_ready`.
fn get_ready(state: &crate::server::AppState, fussy: bool) -> Result<Vec<String>, Unready> {
    let config = &state.config;
    match store::open_and_migrate(&config.database) {
        Ok(applied) => {
            for m in applied {
                tracing::info!("applied migration {m}");
            }
        }
        Err(store::StoreError::Unavailable(why)) => return Err(Unready::Unavailable(why)),
        Err(e) => {
            return Err(Unready::Broken(anyhow::Error::from(e).context(format!(
                "cannot prepare the database at {}",
                redact_url(&config.database.url)
            ))))
        }
    }
    if let Some(key) = &state.signer {
        // A key change is an operator's job to finish: say what is left to re-sign.
        if let Ok(mut conn) = store::establish(&config.database.url) {
            match crate::issuing::resign::signed_with_another(&mut conn, key) {
                Ok(0) | Err(_) => {}
                Ok(n) => tracing::warn!(
                    documents = n,
                    "documents were signed with another certificate than the configured one: `dlrepo resign --doctype CODE` signs them again"
                ),
            }
        }
    }
    state.become_ready(fussy).map_err(|problems| {
        Unready::Broken(anyhow::anyhow!(
            "not ready to serve:\n  {}",
            problems.join("\n  ")
        ))
    })
}

/// Retries until dlrepo's database and every department's answer, logging each new
/// reason once. `last`: the reason already logged.
fn wait_until_ready(state: &crate::server::AppState, mut last: String) {
    let every =
        std::time::Duration::from_secs(state.config.database.connect_timeout_secs.clamp(1, 5));
    loop {
        std::thread::sleep(every);
        let waiting = match state.is_ready() {
            // Only department tables are left: dlrepo's database is not migrated again.
            true => Ok(state.open_departments()),
            // Not fussy: nobody is there to see serve stop for a table to fix.
            false => get_ready(state, false),
        };
        let why = match waiting {
            Ok(waiting) if waiting.is_empty() => {
                tracing::info!("every database answers: serving every doc type");
                return;
            }
            Ok(waiting) => waiting.join("\n"),
            Err(Unready::Unavailable(why)) => why,
            Err(Unready::Broken(e)) => format!("{e:#}"),
        };
        if why != last {
            tracing::warn!(reason = %why, "still waiting for a database");
            last = why;
        }
    }
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
