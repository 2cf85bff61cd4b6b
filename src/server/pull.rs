//! The Pull URI and Pull Doc handlers.

use actix_web::http::header::CONTENT_LENGTH;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::Utc;
use futures_util::StreamExt;

use super::AppState;
use crate::aadhaar::mask;
use crate::auth::Verifier;
use crate::config::{Config, DocType};
use crate::error::{chain, PullError};
use crate::store::documents::{self, status, Lookup};
use crate::store::StoreError;
use crate::uri::DocUri;
use crate::wire::{
    PullDocRequest, PullDocResponse, PullUriRequest, PullUriResponse, RequestHeader,
    ResponseFormat, Status,
};

/// Reads at most `limit` bytes; refuses early when Content-Length already says more.
async fn read_body(
    req: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
) -> Result<web::BytesMut, PullError> {
    if let Some(len) = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
    {
        if len > limit {
            return Err(PullError::BodyTooLarge(limit));
        }
    }
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| PullError::BodyRead(e.to_string()))?;
        if body.len() + chunk.len() > limit {
            return Err(PullError::BodyTooLarge(limit));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn authenticate(config: &Config, h: &RequestHeader) -> Result<(), PullError> {
    Verifier {
        api_key: config.api_key(),
        org_id: &config.digilocker.org_id,
        window_minutes: config.digilocker.ts_window_minutes,
    }
    .verify(&h.ts, &h.keyhash, &h.org_id, Utc::now())?;
    Ok(())
}

fn xml_response(code: actix_web::http::StatusCode, body: String) -> HttpResponse {
    HttpResponse::build(code)
        .content_type("application/xml; charset=utf-8")
        .body(body)
}

fn log_failure(endpoint: &str, txn: &str, e: &PullError) {
    match e {
        PullError::Store(_) | PullError::Cancelled => {
            tracing::error!(endpoint, txn, reason = %chain(e), "request failed")
        }
        _ => tracing::warn!(endpoint, txn, reason = %chain(e), "request answered Status 0"),
    }
}

pub async fn pull_uri(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> HttpResponse {
    handle_pull_uri(state, req, payload, None).await
}

/// `POST {pull_uri_path}/{DOCTYPE}`: one endpoint per doc type, for doc types whose UDF
/// names alone do not tell them apart.
pub async fn pull_uri_for(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
    path: web::Path<String>,
) -> HttpResponse {
    handle_pull_uri(state, req, payload, Some(path.into_inner())).await
}

async fn handle_pull_uri(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
    path_doctype: Option<String>,
) -> HttpResponse {
    let limit = state.config.server.max_body_bytes;
    let parsed = match read_body(&req, payload, limit).await {
        Ok(body) => PullUriRequest::from_xml(&body).map_err(PullError::from),
        Err(e) => Err(e),
    };
    let request = match parsed {
        Ok(r) => r,
        Err(e) => {
            log_failure("pulluri", "", &e);
            let body = PullUriResponse {
                status: Status::Failure,
                ts: "",
                txn: "",
                udfs: &[],
                uri: None,
                doc_content: None,
            }
            .to_xml();
            return xml_response(e.http_status(), body);
        }
    };
    let h = &request.header;
    match answer_pull_uri(&state, &request, path_doctype).await {
        Ok((uri, content)) => {
            tracing::info!(endpoint = "pulluri", txn = %h.txn, %uri, bytes = content.len(), "document served");
            let body = PullUriResponse {
                status: Status::Success,
                ts: &h.ts,
                txn: &h.txn,
                udfs: &request.udfs,
                uri: Some(&uri),
                doc_content: Some(&content),
            }
            .to_xml();
            xml_response(actix_web::http::StatusCode::OK, body)
        }
        Err(e) => {
            log_failure("pulluri", &h.txn, &e);
            let body = PullUriResponse {
                status: Status::Failure,
                ts: &h.ts,
                txn: &h.txn,
                udfs: &request.udfs,
                uri: None,
                doc_content: None,
            }
            .to_xml();
            xml_response(e.http_status(), body)
        }
    }
}

/// Which configured doc type a Pull URI request is for: the path, then `DocType`, then
/// the one doc type whose UDF names are exactly the request's.
fn resolve_doctype<'c>(
    config: &'c Config,
    request: &PullUriRequest,
    path_doctype: Option<&str>,
) -> Result<&'c DocType, PullError> {
    let named = match (path_doctype, request.doc_type.as_deref()) {
        (Some(p), Some(d)) if !p.eq_ignore_ascii_case(d.trim()) => {
            return Err(PullError::DocType(format!(
                "'{d}' (the request's DocType disagrees with the path's '{p}')"
            )))
        }
        (Some(p), _) => Some(p),
        (None, Some(d)) => Some(d.trim()),
        (None, None) => None,
    };
    if let Some(code) = named {
        return config
            .doctype(code)
            .ok_or_else(|| PullError::DocType(format!("'{code}'")));
    }
    let names: Vec<&str> = request.udfs.iter().map(|(n, _)| n.as_str()).collect();
    match config.doctypes_with_udfs(&names)[..] {
        [one] => Ok(one),
        [] => Err(PullError::DocType(format!(
            "has exactly the UDFs [{}]",
            names.join(", ")
        ))),
        ref many => Err(PullError::DocType(format!(
            "is unambiguous for UDFs [{}]: {} match; call {}/{{DOCTYPE}} or send DocType",
            names.join(", "),
            many.iter()
                .map(|d| d.code.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            config.server.pull_uri_path
        ))),
    }
}

/// Checks each configured UDF's value and returns them in configured order.
fn udf_values(doctype: &DocType, request: &PullUriRequest) -> Result<Vec<String>, PullError> {
    for (name, _) in &request.udfs {
        if !doctype
            .udfs
            .iter()
            .any(|u| u.name.eq_ignore_ascii_case(name))
        {
            return Err(PullError::Udf {
                name: name.clone(),
                reason: format!("is not a search field of {}", doctype.code),
            });
        }
    }
    doctype
        .udfs
        .iter()
        .map(|u| {
            let bad = |reason: String| PullError::Udf {
                name: u.name.clone(),
                reason,
            };
            let value = request
                .udfs
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(&u.name))
                .map(|(_, v)| v.as_str())
                .ok_or_else(|| bad("missing".into()))?;
            if value.chars().any(char::is_control) {
                return Err(bad("contains control characters".into()));
            }
            if value.chars().count() > u.max_len {
                return Err(bad(format!("longer than {} characters", u.max_len)));
            }
            if !u.pattern.is_match(value) {
                return Err(bad(format!(
                    "value {} does not match the configured pattern",
                    mask(value)
                )));
            }
            Ok(value.to_string())
        })
        .collect()
}

async fn answer_pull_uri(
    state: &web::Data<AppState>,
    request: &PullUriRequest,
    path_doctype: Option<String>,
) -> Result<(String, Vec<u8>), PullError> {
    let config = &state.config;
    authenticate(config, &request.header)?;
    if request.format == ResponseFormat::Xml {
        return Err(PullError::FormatNotServed("xml"));
    }
    let doctype = resolve_doctype(config, request, path_doctype.as_deref())?;
    let values = udf_values(doctype, request)?;
    if state.departments.contains_key(&doctype.code) {
        let code = doctype.code.clone();
        let st = state.clone().into_inner();
        return web::block(move || department_pull_uri(&st, &code, &values))
            .await
            .map_err(|_| PullError::Cancelled)?;
    }
    let key = documents::udf_key(&values);
    let code = doctype.code.clone();
    let pool = state.pool.clone();
    let lookup = web::block(move || -> Result<Lookup, PullError> {
        let mut conn = pool.get().map_err(StoreError::from)?;
        Ok(documents::find_by_udfs(&mut conn, &code, &key)?)
    })
    .await
    .map_err(|_| PullError::Cancelled)??;
    match lookup {
        Lookup::NotFound => Err(PullError::NotFound),
        Lookup::Ambiguous => Err(PullError::Ambiguous),
        Lookup::Found { doc_id, content } => {
            let uri = format!("{}-{}-{}", config.issuer_id, doctype.code, doc_id);
            let content = content.ok_or_else(|| PullError::NoContent(uri.clone()))?;
            Ok((uri, content))
        }
    }
}

pub async fn pull_doc(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> HttpResponse {
    let limit = state.config.server.max_body_bytes;
    let parsed = match read_body(&req, payload, limit).await {
        Ok(body) => PullDocRequest::from_xml(&body).map_err(PullError::from),
        Err(e) => Err(e),
    };
    let request = match parsed {
        Ok(r) => r,
        Err(e) => {
            log_failure("pulldoc", "", &e);
            let body = PullDocResponse {
                status: Status::Failure,
                ts: "",
                txn: "",
                doc_content: None,
            }
            .to_xml();
            return xml_response(e.http_status(), body);
        }
    };
    let h = &request.header;
    match answer_pull_doc(&state, &request).await {
        Ok(content) => {
            tracing::info!(endpoint = "pulldoc", txn = %h.txn, uri = %request.uri, bytes = content.len(), "document served");
            let body = PullDocResponse {
                status: Status::Success,
                ts: &h.ts,
                txn: &h.txn,
                doc_content: Some(&content),
            }
            .to_xml();
            xml_response(actix_web::http::StatusCode::OK, body)
        }
        Err(e) => {
            log_failure("pulldoc", &h.txn, &e);
            let body = PullDocResponse {
                status: Status::Failure,
                ts: &h.ts,
                txn: &h.txn,
                doc_content: None,
            }
            .to_xml();
            xml_response(e.http_status(), body)
        }
    }
}

async fn answer_pull_doc(
    state: &web::Data<AppState>,
    request: &PullDocRequest,
) -> Result<Vec<u8>, PullError> {
    let config = &state.config;
    authenticate(config, &request.header)?;
    let uri_err = |reason: String| PullError::Uri {
        uri: request.uri.clone(),
        reason,
    };
    let uri = DocUri::parse(&request.uri).map_err(|e| uri_err(e.to_string()))?;
    if !uri.issued_by(&config.issuer_id) {
        return Err(uri_err(format!(
            "issuer '{}' is not this repository's ({})",
            uri.issuer_id, config.issuer_id
        )));
    }
    let doctype = config
        .doctype(&uri.doc_type)
        .ok_or_else(|| uri_err(format!("doc type '{}' is not configured", uri.doc_type)))?;
    let code = doctype.code.clone();
    let doc_id = uri.doc_id.clone();
    if state.departments.contains_key(&code) {
        let st = state.clone().into_inner();
        let uri = request.uri.clone();
        return web::block(move || department_pull_doc(&st, &code, &doc_id, &uri))
            .await
            .map_err(|_| PullError::Cancelled)?;
    }
    let pool = state.pool.clone();
    let record = web::block(move || -> Result<_, PullError> {
        let mut conn = pool.get().map_err(StoreError::from)?;
        Ok(documents::find_by_doc_id(&mut conn, &code, &doc_id)?)
    })
    .await
    .map_err(|_| PullError::Cancelled)??;
    match record {
        None => Err(uri_err("no such document".into())),
        Some(r) if r.status == status::REVOKED => Err(PullError::Revoked(request.uri.clone())),
        Some(r) if r.status != status::ISSUED => {
            Err(uri_err("DocId is reserved but not issued yet".into()))
        }
        Some(r) => r
            .content
            .ok_or_else(|| PullError::NoContent(request.uri.clone())),
    }
}

/// Pull URI for a doc type kept in a department table: find the one row, tie it to a
/// stable DocId (minted on its first pull), and serve its document. Runs on a blocking
/// thread.
fn department_pull_uri(
    state: &AppState,
    code: &str,
    values: &[String],
) -> Result<(String, Vec<u8>), PullError> {
    let (doctype, dept) = department_of(state, code)?;
    let mut rows = dept.find_by_udfs(values)?;
    let row = match rows.len() {
        0 => return Err(PullError::NotFound),
        1 => rows.remove(0),
        _ => return Err(PullError::Ambiguous),
    };
    let mut conn = state.pool.get().map_err(StoreError::from)?;
    let doc_id = documents::link(
        &mut conn,
        code,
        &row.row_key,
        &doctype.id_space,
        Utc::now().naive_utc(),
    )?;
    let uri = format!("{}-{}-{}", state.config.issuer_id, code, doc_id);
    let content = department_document(state, &mut conn, doctype, &row, &doc_id, &uri)?;
    Ok((uri, content))
}

fn department_pull_doc(
    state: &AppState,
    code: &str,
    doc_id: &str,
    uri: &str,
) -> Result<Vec<u8>, PullError> {
    let (doctype, dept) = department_of(state, code)?;
    let uri_err = |reason: &str| PullError::Uri {
        uri: uri.to_string(),
        reason: reason.to_string(),
    };
    let mut conn = state.pool.get().map_err(StoreError::from)?;
    let key = documents::linked_row_key(&mut conn, code, doc_id)?
        .ok_or_else(|| uri_err("no such document"))?;
    let row = dept
        .find_by_key(&key)?
        .ok_or_else(|| uri_err("the department row behind this URI is gone"))?;
    department_document(state, &mut conn, doctype, &row, doc_id, uri)
}

fn department_of<'s>(
    state: &'s AppState,
    code: &str,
) -> Result<(&'s DocType, &'s crate::store::department::DeptTable), PullError> {
    match (state.config.doctype(code), state.departments.get(code)) {
        (Some(d), Some(t)) => Ok((d, t)),
        _ => Err(PullError::DocType(format!("'{code}'"))),
    }
}

/// With a signing key: the bytes signed on the first pull, kept, so every pull serves
/// the same signed file. Without: the row's document as it is now.
fn department_document(
    state: &AppState,
    conn: &mut crate::store::DbConn,
    doctype: &DocType,
    row: &crate::store::department::DeptRow,
    doc_id: &str,
    uri: &str,
) -> Result<Vec<u8>, PullError> {
    let Some(key) = &state.signer else {
        return unsigned_department_document(&state.config, doctype, row, uri);
    };
    if let Some(kept) = documents::linked_blob(conn, &doctype.code, doc_id)? {
        return Ok(kept);
    }
    let bytes = unsigned_department_document(&state.config, doctype, row, uri)?;
    let signed = crate::docs::pdf_sign::sign(&bytes, key, Utc::now())
        .map_err(|e| PullError::NoContent(format!("{uri} (cannot sign: {e})")))?;
    Ok(documents::keep_linked_blob(
        conn,
        &doctype.code,
        doc_id,
        &signed,
        Utc::now().naive_utc(),
    )?)
}

/// The row's own PDF column, or a certificate rendered from its fields (deterministic,
/// so repeated pulls give the same bytes).
fn unsigned_department_document(
    config: &Config,
    doctype: &DocType,
    row: &crate::store::department::DeptRow,
    uri: &str,
) -> Result<Vec<u8>, PullError> {
    if let Some(bytes) = &row.content {
        if !bytes.starts_with(b"%PDF-") {
            return Err(PullError::NoContent(format!(
                "{uri} (the document column does not hold a PDF)"
            )));
        }
        return Ok(bytes.clone());
    }
    if let Some(t) = &doctype.template {
        let mut values: std::collections::HashMap<String, String> = row
            .fields
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for (k, v) in [
            ("holder_name", &row.holder_name),
            ("doc_name", &row.doc_name),
            ("issued_on", &row.issued_on),
            ("valid_from", &row.valid_from),
            ("valid_to", &row.valid_to),
        ] {
            if let Some(v) = v {
                values.insert(k.into(), v.clone());
            }
        }
        return t
            .render(&values, uri)
            .map_err(|e| PullError::NoContent(format!("{uri} ({e})")));
    }
    let mut fields: Vec<(&str, &str)> = Vec::new();
    if let Some(h) = &row.holder_name {
        fields.push(("Name", h));
    }
    for (label, value) in &row.fields {
        fields.push((label, value));
    }
    if let Some(d) = &row.issued_on {
        fields.push(("Issued on", d));
    }
    let title = row.doc_name.as_deref().unwrap_or(&doctype.name);
    let issuer = config.issuer_name.as_deref().unwrap_or(&config.issuer_id);
    crate::docs::render::plain_certificate(issuer, title, &fields, uri)
        .map_err(|e| PullError::NoContent(format!("{uri} ({e})")))
}
