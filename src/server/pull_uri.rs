//! `POST {pull_uri_path}` and `POST {pull_uri_path}/{DOCTYPE}`: which document matches
//! these search fields?

use actix_web::{web, HttpRequest, HttpResponse};

use super::respond::{receive, respond, Endpoint, PullError};
use super::{authenticate, department, AppState};
use crate::config::Config;
use crate::doctype::DocType;
use crate::store::documents::{self, Lookup};
use crate::store::StoreError;
use crate::uri::DocUri;
use crate::wire::{
    PullUriRequest, PullUriResponse, RequestHeader, ResponseFormat, Status, WireError,
};

/// A document found: its URI and bytes.
pub(super) struct Found {
    pub uri: DocUri,
    pub content: Vec<u8>,
}

impl Endpoint for PullUriRequest {
    const NAME: &'static str = "pulluri";
    type Answer = Found;

    fn parse(body: &[u8]) -> Result<Self, WireError> {
        PullUriRequest::from_xml(body)
    }
    fn header(&self) -> &RequestHeader {
        &self.header
    }
    fn success(&self, found: &Found) -> String {
        let uri = found.uri.to_string();
        PullUriResponse {
            status: Status::Success,
            ts: &self.header.ts,
            txn: &self.header.txn,
            udfs: &self.udfs,
            uri: Some(&uri),
            doc_content: Some(&found.content),
        }
        .to_xml()
    }
    fn failure(request: Option<&Self>) -> String {
        PullUriResponse {
            status: Status::Failure,
            ts: request.map_or("", |r| &r.header.ts),
            txn: request.map_or("", |r| &r.header.txn),
            udfs: request.map_or(&[], |r| &r.udfs),
            uri: None,
            doc_content: None,
        }
        .to_xml()
    }
    fn served(&self, found: &Found) -> String {
        format!("{} ({} bytes)", found.uri, found.content.len())
    }
}

pub async fn pull_uri(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> HttpResponse {
    handle(state, req, payload, None).await
}

/// `POST {pull_uri_path}/{DOCTYPE}`: one endpoint per doc type, for doc types whose UDF
/// names alone do not tell them apart.
pub async fn pull_uri_for(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
    path: web::Path<String>,
) -> HttpResponse {
    handle(state, req, payload, Some(path.into_inner())).await
}

async fn handle(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
    path_doctype: Option<String>,
) -> HttpResponse {
    let limit = state.config.server.max_body_bytes;
    let (request, _body) = match receive::<PullUriRequest>(&req, payload, limit).await {
        Ok(r) => r,
        Err(refused) => return refused,
    };
    let outcome = answer(&state, &request, path_doctype).await;
    respond(&request, outcome)
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

async fn answer(
    state: &web::Data<AppState>,
    request: &PullUriRequest,
    path_doctype: Option<String>,
) -> Result<Found, PullError> {
    let config = &state.config;
    authenticate(config, &request.header)?;
    if request.format == ResponseFormat::Xml {
        return Err(PullError::FormatNotServed("xml"));
    }
    let doctype = resolve_doctype(config, request, path_doctype.as_deref())?;
    let values = doctype.udf_values(&request.udfs)?;
    if state.departments.contains_key(&doctype.code) {
        let code = doctype.code.clone();
        let st = state.clone().into_inner();
        return web::block(move || department::pull_uri(&st, &code, &values))
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
            let uri = DocUri::of(&config.issuer_id, &doctype.code, &doc_id);
            let content = content.ok_or_else(|| PullError::NoContent(uri.to_string()))?;
            Ok(Found { uri, content })
        }
    }
}
