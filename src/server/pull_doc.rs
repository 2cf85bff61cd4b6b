//! `POST {pull_doc_path}`: the document behind a URI the resident already holds.

use actix_web::{web, HttpRequest, HttpResponse};

use super::respond::{receive, respond, Endpoint, PullError};
use super::{authenticate, department, AppState};
use crate::store::documents::{self, status};
use crate::store::StoreError;
use crate::uri::DocUri;
use crate::wire::{PullDocRequest, PullDocResponse, RequestHeader, Status, WireError};

impl Endpoint for PullDocRequest {
    const NAME: &'static str = "pulldoc";
    type Answer = Vec<u8>;

    fn parse(body: &[u8]) -> Result<Self, WireError> {
        PullDocRequest::from_xml(body)
    }
    fn header(&self) -> &RequestHeader {
        &self.header
    }
    fn success(&self, content: &Vec<u8>) -> String {
        PullDocResponse {
            status: Status::Success,
            ts: &self.header.ts,
            txn: &self.header.txn,
            doc_content: Some(content),
        }
        .to_xml()
    }
    fn failure(request: Option<&Self>) -> String {
        PullDocResponse {
            status: Status::Failure,
            ts: request.map_or("", |r| &r.header.ts),
            txn: request.map_or("", |r| &r.header.txn),
            doc_content: None,
        }
        .to_xml()
    }
    fn served(&self, content: &Vec<u8>) -> String {
        format!("{} ({} bytes)", self.uri, content.len())
    }
}

pub async fn pull_doc(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> HttpResponse {
    let limit = state.config.server.max_body_bytes;
    let (request, _body) = match receive::<PullDocRequest>(&req, payload, limit).await {
        Ok(r) => r,
        Err(refused) => return refused,
    };
    let outcome = answer(&state, &request).await;
    respond(&request, outcome)
}

async fn answer(
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
        return web::block(move || department::pull_doc(&st, &code, &doc_id, &uri))
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
