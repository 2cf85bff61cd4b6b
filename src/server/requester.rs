//! The requester routes (with `[requester]`): the upload service DigiLocker's widget
//! calls, fresh widget snippets for the department's page, and Save to Locker links.
//! The upload service answers `SUCCESS` or `FAILURE` as plain text (seed 002); why it
//! failed goes to the log only.

use std::collections::HashMap;

use actix_web::{web, HttpRequest, HttpResponse};

use super::AppState;
use crate::requester::{self, fetch, store};
use crate::uri::DocUri;

pub(super) fn routes(cfg: &mut web::ServiceConfig, upload_path: Option<&str>) {
    let Some(path) = upload_path.filter(|p| !p.is_empty()) else {
        return;
    };
    cfg.route(path, web::post().to(upload))
        .route("/requester/snippet", web::get().to(snippet))
        .route("/savelocker/{token}", web::get().to(save_to_locker));
}

fn text(s: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .body(s)
}

fn failure(why: &str) -> HttpResponse {
    tracing::warn!(reason = %crate::error::loggable(why), "requester upload refused");
    text("FAILURE")
}

/// The three fields of an upload call, form-encoded (what jQuery sends) or JSON.
fn fields(req: &HttpRequest, body: &[u8]) -> Option<HashMap<String, String>> {
    let json = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.contains("json"));
    if json {
        let v: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(body).ok()?;
        Some(
            v.into_iter()
                .filter_map(|(k, v)| v.as_str().map(|s| (k, s.to_string())))
                .collect(),
        )
    } else {
        web::Query::<HashMap<String, String>>::from_query(std::str::from_utf8(body).ok()?)
            .ok()
            .map(|q| q.into_inner())
    }
}

async fn upload(
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<HashMap<String, String>>,
    body: web::Bytes,
) -> HttpResponse {
    let Some(cfg) = state.config.requester.clone() else {
        return HttpResponse::NotFound().finish();
    };
    let q = |k: &str| query.get(k).map(String::as_str).unwrap_or("");
    let now = chrono::Utc::now().timestamp();
    if let Err(e) = requester::check_call(&cfg, q("app_id"), q("ts"), q("hash"), now) {
        return failure(&e.to_string());
    }
    if body.len() > 16 * 1024 {
        return failure("call body too large");
    }
    let Some(f) = fields(&req, &body) else {
        return failure("the call's fields cannot be read");
    };
    let get = |k: &str| {
        f.get(k)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    let (Some(user_ref), Some(doc_id), Some(doc_url)) =
        (get("user_ref"), get("doc_id"), get("doc_url"))
    else {
        return failure("user_ref, doc_id and doc_url are required");
    };
    if user_ref.len() > 200 || doc_id.len() > 64 || doc_url.len() > 2048 {
        return failure("a field is too long");
    }
    let (bytes, content_type) = match fetch::fetch(&cfg, &doc_url).await {
        Ok(got) => got,
        Err(e) => return failure(&e.to_string()),
    };
    let host = reqwest::Url::parse(&doc_url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .unwrap_or_default();
    let received = store::Received {
        user_ref,
        doc_id,
        source_host: host,
        content_type,
        sha256: crate::store::documents::blob_id(&bytes),
        size: bytes.len() as i64,
        content: bytes,
        received_at: chrono::Utc::now().naive_utc(),
    };
    let st = state.clone().into_inner();
    let kept = web::block(move || -> Result<bool, crate::store::StoreError> {
        let mut conn = st.conn()?;
        if store::keep(&mut conn, &received)? {
            return Ok(true);
        }
        // A repeated call is fine; another document under the same reference is not
        // taken silently (the first one stays).
        let held = store::held(&mut conn, &received.user_ref, &received.doc_id)?;
        Ok(held.as_deref() == Some(received.sha256.as_str()))
    })
    .await;
    match kept {
        Ok(Ok(true)) => {
            tracing::info!("requester document received");
            text("SUCCESS")
        }
        Ok(Ok(false)) => failure("this user_ref and doc_id already hold another document"),
        Ok(Err(e)) => failure(&crate::error::chain(&e)),
        Err(_) => failure("cancelled"),
    }
}

/// A fresh widget snippet (its timestamp is good for 30 minutes) for one button.
async fn snippet(
    state: web::Data<AppState>,
    q: web::Query<HashMap<String, String>>,
) -> HttpResponse {
    let Some(cfg) = &state.config.requester else {
        return HttpResponse::NotFound().finish();
    };
    let button = q
        .get("button")
        .filter(|b| {
            !b.is_empty()
                && b.len() <= 32
                && b.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        })
        .map(String::as_str)
        .unwrap_or("attachment");
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header(("Cache-Control", "no-store"))
        .body(requester::widget_snippet(
            cfg,
            button,
            chrono::Utc::now().timestamp(),
        ))
}

/// The document behind a Save to Locker link, while the link is good.
async fn save_to_locker(state: web::Data<AppState>, token: web::Path<String>) -> HttpResponse {
    let Some(cfg) = state.config.requester.clone() else {
        return HttpResponse::NotFound().finish();
    };
    let now = chrono::Utc::now().timestamp();
    let Some(uri) = requester::open_link(cfg.app_key(), &token, now) else {
        return HttpResponse::NotFound()
            .content_type("text/plain")
            .body("FAILURE");
    };
    let st = state.clone().into_inner();
    let found = web::block(
        move || -> Result<Option<Vec<u8>>, crate::store::StoreError> {
            let u =
                DocUri::parse(&uri).map_err(|e| crate::store::StoreError::Setup(e.to_string()))?;
            let r =
                crate::store::documents::find_by_doc_id(&mut *st.conn()?, &u.doc_type, &u.doc_id)?;
            Ok(
                r.filter(|r| r.status == crate::store::documents::status::ISSUED)
                    .and_then(|r| r.content),
            )
        },
    )
    .await;
    match found {
        Ok(Ok(Some(pdf))) => HttpResponse::Ok()
            .content_type("application/pdf")
            .insert_header(("Cache-Control", "no-store"))
            .body(pdf),
        _ => HttpResponse::NotFound()
            .content_type("text/plain")
            .body("FAILURE"),
    }
}
