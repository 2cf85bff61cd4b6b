//! The read-only console (`/console`, `[console] enabled`): a dashboard, document search,
//! the pull log and the push queue, server-rendered from `templates/console/page.html`.
//!
//! Its own credentials: one user, an argon2 password hash from the config or the
//! environment. A session is a cookie signed with a key made at start-up (so sessions
//! end with the process and do not cross servers): `HttpOnly`, `SameSite=Strict`,
//! `Secure`, path `/console`. Every page only reads; the one form that posts is the
//! login, and a strict same-site cookie is never sent by another site's form.

use std::collections::HashMap;

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use argon2::{Argon2, PasswordHash, PasswordVerifier};
use secrecy::ExposeSecret;

use super::AppState;
use crate::audit::report;
use crate::store::documents::{self, Lookup};
use crate::uri::DocUri;
use crate::wire::xml::escape;

const PAGE: &str = include_str!("../../templates/console/page.html");
const COOKIE: &str = "dlrepo_console";

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/console", web::get().to(dashboard))
        .route("/console/login", web::get().to(login_form))
        .route("/console/login", web::post().to(login))
        .route("/console/logout", web::post().to(logout))
        .route("/console/search", web::get().to(search))
        .route("/console/log", web::get().to(pull_log))
        .route("/console/push", web::get().to(push_queue));
}

fn page(state: &AppState, title: &str, body: &str, signed_in: bool) -> HttpResponse {
    let nav = if signed_in {
        r#"<a href="/console">Dashboard</a><a href="/console/search">Search</a><a href="/console/log">Pull log</a><a href="/console/push">Push queue</a><form method="post" action="/console/logout" style="display:inline"><button>Sign out</button></form>"#
    } else {
        ""
    };
    let issuer = state
        .config
        .issuer_name
        .as_deref()
        .unwrap_or(&state.config.issuer_id);
    let html = PAGE
        .replace("{{title}}", &escape(title))
        .replace("{{issuer}}", &escape(issuer))
        .replace("{{nav}}", nav)
        .replace("{{body}}", body);
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header(("X-Frame-Options", "DENY"))
        .body(html)
}

/// The caller may see the console at all: it is on, and the caller is allowed.
fn reachable(state: &AppState, req: &HttpRequest) -> Option<HttpResponse> {
    let Some(c) = &state.config.console else {
        return Some(HttpResponse::NotFound().finish());
    };
    if !crate::config::caller_allowed(&c.allow_callers, req.peer_addr().map(|a| a.ip())) {
        return Some(HttpResponse::Forbidden().body("not from this address\n"));
    }
    None
}

fn sign(state: &AppState, expiry: i64) -> String {
    let mac = crate::auth::hmac_sha256(&state.console_key, expiry.to_string().as_bytes());
    format!("{expiry}.{}", crate::auth::to_hex(&mac))
}

/// Signed in: a cookie this process signed, not yet expired.
fn signed_in(state: &AppState, req: &HttpRequest) -> bool {
    let Some(c) = req.cookie(COOKIE) else {
        return false;
    };
    let value = c.value().to_string();
    let Some((expiry, _)) = value.split_once('.') else {
        return false;
    };
    let Ok(expiry) = expiry.parse::<i64>() else {
        return false;
    };
    use subtle::ConstantTimeEq;
    let good: bool = sign(state, expiry)
        .as_bytes()
        .ct_eq(value.as_bytes())
        .into();
    good && expiry > chrono::Utc::now().timestamp()
}

/// The gate of every page but the login: the page, or where to go instead.
fn gate(state: &AppState, req: &HttpRequest) -> Option<HttpResponse> {
    if let Some(r) = reachable(state, req) {
        return Some(r);
    }
    if !signed_in(state, req) {
        return Some(
            HttpResponse::SeeOther()
                .insert_header((header::LOCATION, "/console/login"))
                .finish(),
        );
    }
    None
}

async fn login_form(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    if let Some(r) = reachable(&state, &req) {
        return r;
    }
    page(&state, "Sign in", LOGIN_FORM, false)
}

const LOGIN_FORM: &str = r#"<form method="post" action="/console/login">
<p><label>User <input name="user" autocomplete="username" required></label></p>
<p><label>Password <input name="password" type="password" autocomplete="current-password" required></label></p>
<p><button type="submit">Sign in</button></p>
</form>"#;

async fn login(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<HashMap<String, String>>,
) -> HttpResponse {
    if let Some(r) = reachable(&state, &req) {
        return r;
    }
    let Some(console) = state.config.console.clone() else {
        return HttpResponse::NotFound().finish();
    };
    let user = form.get("user").cloned().unwrap_or_default();
    let password = form.get("password").cloned().unwrap_or_default();
    // argon2 is slow and large on purpose: off the worker thread, a few at a time.
    let Some(slot) = state.console_logins.take() else {
        return HttpResponse::TooManyRequests()
            .content_type("text/plain")
            .body("too many sign-ins at once; try again\n");
    };
    // On a thread of its own: the blocking threads are as many as the database's
    // connections (`run_with`), and a sign-in must not hold one of the pulls' for the
    // length of a hash.
    let (done, ok) = tokio::sync::oneshot::channel();
    let verify = move || {
        let _slot = slot;
        let hash = console.password_hash.expose_secret().to_string();
        let user_ok = user == console.user;
        let password_ok = PasswordHash::new(&hash)
            .map(|h| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &h)
                    .is_ok()
            })
            .unwrap_or(false);
        let _ = done.send(user_ok && password_ok);
    };
    let started = std::thread::Builder::new()
        .name("console-sign-in".into())
        .spawn(verify)
        .is_ok();
    let ok = started && ok.await.unwrap_or(false);
    if !ok {
        tracing::warn!(caller = ?req.peer_addr().map(|a| a.ip()), "console: sign-in refused");
        let mut r = page(
            &state,
            "Sign in",
            &format!("<p class=\"bad\">Wrong user or password.</p>{LOGIN_FORM}"),
            false,
        );
        *r.status_mut() = actix_web::http::StatusCode::UNAUTHORIZED;
        return r;
    }
    let minutes = state
        .config
        .console
        .as_ref()
        .map_or(30, |c| c.session_minutes);
    let expiry = chrono::Utc::now().timestamp() + i64::from(minutes) * 60;
    // Secure wherever a browser keeps it: over HTTPS (ours or a proxy's) and on loopback.
    let info = req.connection_info();
    let host = info.host().rsplit_once(':').map_or(info.host(), |(h, _)| h);
    let secure = state.config.server.tls.is_some()
        || info.scheme() == "https"
        || matches!(host, "localhost" | "127.0.0.1" | "[::1]");
    if !secure {
        tracing::warn!(
            "console: signed in over plain HTTP; put it behind HTTPS (server.tls_* or a proxy)"
        );
    }
    let cookie = actix_web::cookie::Cookie::build(COOKIE, sign(&state, expiry))
        .path("/console")
        .http_only(true)
        .secure(secure)
        .same_site(actix_web::cookie::SameSite::Strict)
        .max_age(actix_web::cookie::time::Duration::minutes(i64::from(
            minutes,
        )))
        .finish();
    HttpResponse::SeeOther()
        .cookie(cookie)
        .insert_header((header::LOCATION, "/console"))
        .finish()
}

async fn logout(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    if let Some(r) = reachable(&state, &req) {
        return r;
    }
    let mut gone = actix_web::cookie::Cookie::build(COOKIE, "")
        .path("/console")
        .finish();
    gone.make_removal();
    HttpResponse::SeeOther()
        .cookie(gone)
        .insert_header((header::LOCATION, "/console/login"))
        .finish()
}

fn table(header: &[&str], rows: Vec<Vec<String>>) -> String {
    let mut t = String::from("<table><tr>");
    for h in header {
        t.push_str(&format!("<th>{}</th>", escape(h)));
    }
    t.push_str("</tr>");
    for r in rows {
        t.push_str("<tr>");
        for c in r {
            t.push_str(&format!("<td>{}</td>", escape(&c)));
        }
        t.push_str("</tr>");
    }
    t.push_str("</table>");
    t
}

/// Runs a read on a blocking thread; a database problem becomes the page's text.
async fn read<T: Send + 'static>(
    state: &web::Data<AppState>,
    f: impl FnOnce(&mut crate::store::DbConn) -> Result<T, crate::store::StoreError> + Send + 'static,
) -> Result<T, String> {
    let st = state.clone().into_inner();
    web::block(move || -> Result<T, crate::store::StoreError> { f(&mut *st.conn()?) })
        .await
        .map_err(|_| "cancelled".to_string())?
        .map_err(|e| {
            tracing::warn!(error = %crate::error::chain(&e), "console: database read failed");
            "the database does not answer".to_string()
        })
}

async fn dashboard(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    if let Some(r) = gate(&state, &req) {
        return r;
    }
    let today = chrono::Utc::now().date_naive();
    let data = read(&state, move |c| {
        let r = report::counts(c, today, today)?;
        let depth = crate::push::outbox::depth(c)?;
        let last = report::last_push(c)?;
        Ok((r, depth, last))
    })
    .await;
    let body = match data {
        Err(e) => format!("<p class=\"bad\">{}</p>", escape(&e)),
        Ok((r, (queued, oldest), last)) => {
            let rows = r
                .pulls
                .iter()
                .map(|l| {
                    vec![
                        l.doctype.clone(),
                        l.pulls.to_string(),
                        l.found.to_string(),
                        l.not_found.to_string(),
                        l.refused
                            .iter()
                            .map(|(k, v)| format!("{k}: {v}"))
                            .collect::<Vec<_>>()
                            .join(", "),
                        l.pull_doc.to_string(),
                    ]
                })
                .collect();
            format!(
                "<h2>Today ({today}, UTC)</h2>{}<h2>Push</h2><p>Outbox: {queued} row(s) waiting{}.</p><p>Last push: {}</p>",
                table(
                    &["doc type", "Pull URI", "found", "not found", "refused, by reason", "Pull Doc"],
                    rows
                ),
                oldest.map_or(String::new(), |t| format!(", the oldest since {t} UTC")),
                escape(&last.map_or("none yet".to_string(), |(at, file, outcome)| format!(
                    "{file} at {at} UTC: {outcome}"
                )))
            )
        }
    };
    page(&state, "Dashboard", &body, true)
}

async fn search(
    state: web::Data<AppState>,
    req: HttpRequest,
    q: web::Query<HashMap<String, String>>,
) -> HttpResponse {
    if let Some(r) = gate(&state, &req) {
        return r;
    }
    let mut options = String::new();
    for d in &state.config.doctypes {
        options.push_str(&format!(
            "<option value=\"{0}\">{0}: {1}</option>",
            escape(&d.code),
            escape(&d.name)
        ));
    }
    let mut body = format!(
        r#"<form class="inline" method="get" action="/console/search"><label>URI <input name="uri" size="40"></label><button>Find</button></form>
<form class="inline" method="get" action="/console/search"><label>Doc type <select name="doctype">{options}</select></label><label>Search values <input name="values" placeholder="RollNo=2024100 Year=2024" size="30"></label><button>Find</button></form>"#
    );
    let uri = q
        .get("uri")
        .map(|u| u.trim().to_string())
        .filter(|u| !u.is_empty());
    let by_values = q.get("doctype").zip(q.get("values")).and_then(|(d, v)| {
        let doctype = state.config.doctype(d)?;
        let pairs: HashMap<String, String> = v
            .split_whitespace()
            .filter_map(|p| p.split_once('='))
            .map(|(k, v)| (k.to_ascii_lowercase(), v.to_string()))
            .collect();
        let values: Option<Vec<String>> = doctype
            .udfs
            .iter()
            .map(|u| pairs.get(&u.name.to_ascii_lowercase()).cloned())
            .collect();
        Some((doctype.code.clone(), values?))
    });
    if uri.is_none() && by_values.is_none() {
        return page(&state, "Search", &body, true);
    }
    let issuer = state.config.issuer_id.clone();
    let found = read(&state, move |c| {
        let record = match (&uri, &by_values) {
            (Some(u), _) => match DocUri::parse(u) {
                Ok(p) => documents::find_by_doc_id(c, &p.doc_type, &p.doc_id)?
                    .map(|r| (p.doc_type.clone(), r)),
                Err(_) => None,
            },
            (None, Some((code, values))) => {
                match documents::find_by_udfs(c, code, &documents::udf_key(values))? {
                    Lookup::Found(r) => Some((code.clone(), *r)),
                    _ => None,
                }
            }
            _ => None,
        };
        let Some((code, r)) = record else {
            return Ok(None);
        };
        let uri = DocUri::of(&issuer, &code, &r.doc_id).to_string();
        let pulls = report::pulls_of(c, &uri, 20)?;
        Ok(Some((uri, r, pulls)))
    })
    .await;
    body.push_str(&match found {
        Err(e) => format!("<p class=\"bad\">{}</p>", escape(&e)),
        Ok(None) => "<p>No such document.</p>".into(),
        Ok(Some((uri, r, pulls))) => {
            let aadhaar = r
                .aadhaar
                .as_deref()
                .map(|a| format!("********{}", crate::vault::last4(a)))
                .unwrap_or_else(|| "-".into());
            let facts = table(
                &[
                    "URI",
                    "status",
                    "document",
                    "holder",
                    "issued on",
                    "Aadhaar",
                ],
                vec![vec![
                    uri,
                    r.status.clone(),
                    r.doc_name.clone().unwrap_or_default(),
                    r.holder_name.clone().unwrap_or_default(),
                    r.issued_on.clone().unwrap_or_default(),
                    aadhaar,
                ]],
            );
            let log = table(
                &["time (UTC)", "endpoint", "Status", "reason"],
                pulls
                    .into_iter()
                    .map(|p| {
                        vec![
                            p.at.format("%Y-%m-%d %H:%M:%S").to_string(),
                            p.endpoint,
                            p.status.to_string(),
                            p.reason.unwrap_or_default(),
                        ]
                    })
                    .collect(),
            );
            format!("<h2>Document</h2>{facts}<h2>Its pulls</h2>{log}")
        }
    });
    page(&state, "Search", &body, true)
}

async fn pull_log(
    state: web::Data<AppState>,
    req: HttpRequest,
    q: web::Query<HashMap<String, String>>,
) -> HttpResponse {
    if let Some(r) = gate(&state, &req) {
        return r;
    }
    let filter = report::LogFilter {
        status: q.get("status").and_then(|s| s.parse().ok()),
        endpoint: q.get("endpoint").filter(|s| !s.is_empty()).cloned(),
        doctype: q.get("doctype").filter(|s| !s.is_empty()).cloned(),
    };
    let rows = read(&state, move |c| report::log(c, &filter, 100)).await;
    let form = r#"<form class="inline" method="get" action="/console/log"><label>Status <select name="status"><option value="">any</option><option>1</option><option>0</option><option>9</option></select></label><label>Endpoint <select name="endpoint"><option value="">any</option><option>pulluri</option><option>pulldoc</option></select></label><label>Doc type <input name="doctype" size="6"></label><button>Show</button></form>"#;
    let body = match rows {
        Err(e) => format!("{form}<p class=\"bad\">{}</p>", escape(&e)),
        Ok(rows) => format!(
            "{form}{}",
            table(
                &[
                    "time (UTC)",
                    "caller",
                    "endpoint",
                    "API",
                    "doc type",
                    "URI",
                    "Status",
                    "reason",
                    "ms"
                ],
                rows.into_iter()
                    .map(|r| {
                        vec![
                            r.at.format("%Y-%m-%d %H:%M:%S").to_string(),
                            r.caller.unwrap_or_default(),
                            r.endpoint,
                            r.api,
                            r.doctype.unwrap_or_default(),
                            r.uri.unwrap_or_default(),
                            r.status.to_string(),
                            r.reason.unwrap_or_default(),
                            format!("{:.1}", r.latency_us as f64 / 1000.0),
                        ]
                    })
                    .collect()
            )
        ),
    };
    page(&state, "Pull log", &body, true)
}

async fn push_queue(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    if let Some(r) = gate(&state, &req) {
        return r;
    }
    let counts = read(&state, crate::push::outbox::counts).await;
    let body = match counts {
        Err(e) => format!("<p class=\"bad\">{}</p>", escape(&e)),
        Ok(c) => format!(
            "<p>Queued, not yet in a file: {} row(s).</p>{}{}",
            c.queued_rows,
            table(
                &["files", "count", "rows"],
                c.files
                    .iter()
                    .map(|(s, n, r)| vec![s.clone(), n.to_string(), r.to_string()])
                    .collect()
            ),
            if c.failed.is_empty() {
                String::new()
            } else {
                format!(
                    "<h2>Failed files</h2>{}",
                    table(
                        &["file", "attempts", "last answer"],
                        c.failed
                            .iter()
                            .map(|(f, a, m)| vec![f.clone(), a.to_string(), m.clone()])
                            .collect()
                    )
                )
            }
        ),
    };
    page(&state, "Push queue", &body, true)
}
