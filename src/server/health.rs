//! What an operator's probes read: `/healthz` (can this server serve pulls?) and
//! `/metrics` (Prometheus text).

use actix_web::{web, HttpResponse};

use super::AppState;
use crate::store;

/// Whether the request came in on the health listener (`server.health_bind`): that
/// one answers `/healthz` only, and the public one never does.
pub(super) fn on_health_listener(state: &AppState, req: &actix_web::HttpRequest) -> Option<bool> {
    let health = state.health_addr.get()?;
    Some(req.app_config().local_addr() == *health)
}

/// A probe's place on a blocking thread, where probes are answered: 404 on the public
/// listener when `server.health_bind` is set, 503 when every place is taken.
fn probe_place(
    state: &AppState,
    req: &actix_web::HttpRequest,
) -> Result<super::limits::Slot, Box<HttpResponse>> {
    if on_health_listener(state, req) == Some(false) {
        return Err(Box::new(HttpResponse::NotFound().finish()));
    }
    state.slots.take().ok_or_else(|| {
        Box::new(
            HttpResponse::ServiceUnavailable()
                .content_type("text/plain")
                .body("unavailable: too many requests at once\n"),
        )
    })
}

/// 200 when this server can serve pulls: dlrepo's database answers `SELECT 1`, and so
/// does at least one doc type's (a doc type served from a department's own table is
/// only as up as that database). A department database that does not answer is named
/// by its doc type in the 200's body and the log: its pulls alone are 503s, and a load
/// balancer must not take every server out for it. 503 with the reason otherwise.
pub(super) async fn healthz(
    state: web::Data<AppState>,
    req: actix_web::HttpRequest,
) -> HttpResponse {
    let slot = match probe_place(&state, &req) {
        Ok(slot) => slot,
        Err(refused) => return *refused,
    };
    let state = state.into_inner();
    let result = web::block(move || -> Result<(Vec<String>, bool), store::StoreError> {
        let _slot = slot;
        store::ping(&mut *state.conn()?)?;
        let down: Vec<String> = departments_answering(&state)
            .into_iter()
            .filter(|(_, up)| !up)
            .map(|(code, _)| code)
            .collect();
        let none_up = !down.is_empty() && down.len() == state.config.doctypes.len();
        Ok((down, none_up))
    })
    .await;
    match result {
        Ok(Ok((down, false))) if down.is_empty() => HttpResponse::Ok()
            .content_type("text/plain")
            .body("ok: database answers\n"),
        Ok(Ok((down, false))) => HttpResponse::Ok().content_type("text/plain").body(format!(
            "ok: database answers; the department database of doc type {} does not answer\n",
            down.join(", ")
        )),
        Ok(Ok((_, true))) => HttpResponse::ServiceUnavailable()
            .content_type("text/plain")
            .body("unavailable: no department database answers\n"),
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

/// Each doc type served from a department's own table, and whether its database
/// answers `SELECT 1` now (a table not open yet does not). Blocking: each may wait
/// `connect_timeout_secs`, once per outage (the table's breaker).
fn departments_answering(state: &AppState) -> Vec<(String, bool)> {
    state
        .config
        .doctypes
        .iter()
        .filter_map(|d| Some((d, state.departments.get(&d.code)?)))
        .map(|(d, dept)| {
            let answers = match dept.table.get() {
                None => Err("its table is not open yet".to_string()),
                Some(t) => t
                    .conn()
                    .map_err(|e| e.to_string())
                    .and_then(|mut c| store::ping(&mut c).map_err(|e| e.to_string())),
            };
            if let Err(why) = &answers {
                // Debug: a load balancer asks every few seconds, and `serve` and the
                // pulls log the outage already.
                tracing::debug!(doctype = %d.code, reason = %why, "a department database does not answer");
            }
            (d.code.clone(), answers.is_ok())
        })
        .collect()
}

/// Prometheus text: what the process counted, plus the pool and the outbox as they are
/// now. With `server.health_bind`, only there.
pub(super) async fn metrics(
    state: web::Data<AppState>,
    req: actix_web::HttpRequest,
) -> HttpResponse {
    // The outbox query runs on a blocking thread: it takes a place like a pull does.
    let slot = match probe_place(&state, &req) {
        Ok(slot) => slot,
        Err(refused) => return *refused,
    };
    if let Some(m) = crate::metrics::get() {
        let pool = state.pool.state();
        m.pool
            .with_label_values(&["open"])
            .set(i64::from(pool.connections));
        m.pool
            .with_label_values(&["idle"])
            .set(i64::from(pool.idle_connections));
        m.pool
            .with_label_values(&["in_use"])
            .set(i64::from(pool.connections - pool.idle_connections));
        m.pool
            .with_label_values(&["max"])
            .set(i64::from(state.pool.max_size()));
        if let Some(a) = &state.audit {
            m.audit_dropped.set(a.dropped() as i64);
        }
        let st = state.clone().into_inner();
        let (depth, departments) = web::block(move || {
            let _slot = slot;
            let depth = st
                .conn()
                .and_then(|mut c| crate::push::outbox::depth(&mut c));
            (depth, departments_answering(&st))
        })
        .await
        .unwrap_or_else(|_| {
            (
                Err(store::StoreError::Unavailable("cancelled".into())),
                Vec::new(),
            )
        });
        for (code, up) in departments {
            m.department_up
                .with_label_values(&[&code])
                .set(i64::from(up));
        }
        if let Ok((n, oldest)) = depth {
            m.outbox_queued.set(n);
            let age = oldest.map_or(0, |t| (chrono::Utc::now().naive_utc() - t).num_seconds());
            m.outbox_oldest_seconds.set(age.max(0));
        }
    }
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(crate::metrics::render())
}
