//! The actix-web application: routes, shared state and start-up.

mod department;
mod document;
mod pull_doc;
mod pull_uri;
mod respond;

pub use respond::PullError;

use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::{web, App, HttpResponse, HttpServer};

use crate::auth::Verifier;
use crate::config::Config;
use crate::store::department::{prepare_all, DeptTable};
use crate::store::{self, Pool};
use crate::wire::RequestHeader;

pub struct AppState {
    pub config: Arc<Config>,
    pub pool: Pool,
    /// Doc types served from a department's own table, by code.
    pub departments: HashMap<String, DeptTable>,
    /// Signs department-table documents on their first pull (imported ones are signed
    /// at import). Loaded once.
    pub signer: Option<crate::docs::keys::SigningKey>,
    /// Requests answered, to prune the replay memory now and then.
    pub requests: std::sync::atomic::AtomicU64,
}

impl AppState {
    /// Checks every department table against its live schema; each problem names its
    /// doc type.
    pub fn prepare(config: Arc<Config>, pool: Pool) -> Result<AppState, Vec<String>> {
        let signer = config
            .signing_key()
            .map_err(|e| vec![format!("signing: {e}")])?;
        let departments = prepare_all(&config.doctypes, &config.database, &pool)?;
        Ok(AppState {
            config,
            pool,
            departments,
            signer,
            requests: std::sync::atomic::AtomicU64::new(0),
        })
    }
}

/// Builds the server on an already-bound listener (tests bind port 0).
pub fn run(state: AppState, listener: TcpListener) -> std::io::Result<Server> {
    let workers = state.config.server.workers;
    let state = web::Data::new(state);
    let mut server = HttpServer::new(move || {
        let cfg = &state.config.server;
        App::new()
            .app_data(state.clone())
            .route(&cfg.pull_uri_path, web::post().to(pull_uri::pull_uri))
            .route(
                &format!("{}/{{doctype}}", cfg.pull_uri_path.trim_end_matches('/')),
                web::post().to(pull_uri::pull_uri_for),
            )
            .route(&cfg.pull_doc_path, web::post().to(pull_doc::pull_doc))
            .route("/healthz", web::get().to(healthz))
    })
    .listen(listener)?;
    if workers > 0 {
        server = server.workers(workers);
    }
    Ok(server.run())
}

/// 200 when dlrepo's database and every department database answer `SELECT 1`, 503
/// with the reason otherwise.
async fn healthz(state: web::Data<AppState>) -> HttpResponse {
    let state = state.into_inner();
    let result = web::block(move || -> Result<(), store::StoreError> {
        store::ping(&mut *state.pool.get()?)?;
        for (code, d) in &state.departments {
            let mut conn = d.pool.get().map_err(|e| {
                store::StoreError::Unavailable(format!("department table of {code}: {e}"))
            })?;
            store::ping(&mut conn)?;
        }
        Ok(())
    })
    .await;
    match result {
        Ok(Ok(())) => HttpResponse::Ok()
            .content_type("text/plain")
            .body("ok: database answers\n"),
        Ok(Err(e)) => {
            // The host, port and error text are for the log, not an anonymous caller.
            tracing::warn!(error = %crate::error::chain(&e), "healthz: database check failed");
            HttpResponse::ServiceUnavailable()
                .content_type("text/plain")
                .body("unavailable: the database does not answer\n")
        }
        Err(_) => HttpResponse::ServiceUnavailable()
            .content_type("text/plain")
            .body("unavailable: worker cancelled\n"),
    }
}

/// keyhash, ts window and orgId: every request from DigiLocker passes these first.
fn authenticate(config: &Config, h: &RequestHeader) -> Result<(), PullError> {
    Verifier {
        api_key: config.api_key(),
        org_id: &config.digilocker.org_id,
        window_minutes: config.digilocker.ts_window_minutes,
    }
    .verify(&h.ts, &h.keyhash, &h.org_id, chrono::Utc::now())?;
    Ok(())
}

/// The `x-digilocker-hmac` header, if sent (and readable as text).
fn hmac_header(req: &actix_web::HttpRequest) -> Option<&str> {
    req.headers()
        .get("x-digilocker-hmac")
        .map(|v| v.to_str().unwrap_or("\u{fffd}"))
}
