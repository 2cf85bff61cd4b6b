//! The actix-web application: routes, shared state and start-up.

mod pull;

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::{web, App, HttpResponse, HttpServer};

use crate::config::Config;
use crate::store::{self, Pool};

pub struct AppState {
    pub config: Arc<Config>,
    pub pool: Pool,
}

/// Builds the server on an already-bound listener (tests bind port 0).
pub fn run(config: Arc<Config>, pool: Pool, listener: TcpListener) -> std::io::Result<Server> {
    let workers = config.server.workers;
    let state = web::Data::new(AppState { config, pool });
    let mut server = HttpServer::new(move || {
        let cfg = &state.config.server;
        App::new()
            .app_data(state.clone())
            .route(&cfg.pull_uri_path, web::post().to(pull::pull_uri))
            .route(
                &format!("{}/{{doctype}}", cfg.pull_uri_path.trim_end_matches('/')),
                web::post().to(pull::pull_uri_for),
            )
            .route(&cfg.pull_doc_path, web::post().to(pull::pull_doc))
            .route("/healthz", web::get().to(healthz))
    })
    .listen(listener)?;
    if workers > 0 {
        server = server.workers(workers);
    }
    Ok(server.run())
}

/// 200 when a connection answers `SELECT 1`, 503 with the reason otherwise.
async fn healthz(state: web::Data<AppState>) -> HttpResponse {
    let pool = state.pool.clone();
    let result = web::block(move || -> Result<(), store::StoreError> {
        let mut conn = pool.get()?;
        store::ping(&mut conn)
    })
    .await;
    match result {
        Ok(Ok(())) => HttpResponse::Ok()
            .content_type("text/plain")
            .body("ok: database answers\n"),
        Ok(Err(e)) => {
            tracing::warn!(error = %crate::error::chain(&e), "healthz: database check failed");
            HttpResponse::ServiceUnavailable()
                .content_type("text/plain")
                .body(format!("unavailable: {e}\n"))
        }
        Err(_) => HttpResponse::ServiceUnavailable()
            .content_type("text/plain")
            .body("unavailable: worker cancelled\n"),
    }
}
