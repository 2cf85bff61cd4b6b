//! `POST {pull_doc_path}`: the document behind a URI the resident already holds.

use std::sync::Arc;

use actix_web::{web, HttpRequest, HttpResponse};

use super::document::{
    check_resident, format_of, is_current, once, serve_kept, RequestId, Resident, Served,
};
use super::lookups::{once_looked_up, Wanted};
use super::respond::{self, Endpoint, PullError};
use super::{authenticate, department, AppState};
use crate::doctype::DocType;
use crate::issuing::Facts;
use crate::store::documents::{status, Lookup};
use crate::uri::DocUri;
use crate::wire::{
    PullDocRequest, PullDocResponse, RequestHeader, ResponseFormat, Status, WireError,
};

fn sent_current(request: &PullDocRequest) -> bool {
    request.format_sent || !request.resident.is_empty()
}

impl Endpoint for PullDocRequest {
    const NAME: &'static str = "pulldoc";
    type Answer = Served;

    fn parse(body: &[u8]) -> Result<Self, WireError> {
        PullDocRequest::from_xml(body)
    }
    fn header(&self) -> &RequestHeader {
        &self.header
    }
    fn success(&self, served: &Served) -> String {
        PullDocResponse {
            status: Status::Success,
            ts: &self.header.ts,
            txn: &self.header.txn,
            doc_content: served.pdf.as_deref(),
            data_content: served.xml.as_deref(),
        }
        .to_xml()
    }
    fn failure(request: Option<&Self>) -> String {
        PullDocResponse {
            status: Status::Failure,
            ts: request.map_or("", |r| &r.header.ts),
            txn: request.map_or("", |r| &r.header.txn),
            doc_content: None,
            data_content: None,
        }
        .to_xml()
    }
    fn served(&self, served: &Served) -> String {
        served.describe()
    }
    fn audit(&self, _: &crate::config::Config, served: Option<&Served>) -> super::observe::Facts {
        let current = served.is_some_and(|s| s.current) || sent_current(self);
        super::observe::Facts {
            api: if current { "current" } else { "1.0" },
            ver: self.header.ver.clone(),
            doctype: crate::uri::DocUri::parse(&self.uri)
                .ok()
                .map(|u| u.doc_type),
            uri: Some(self.uri.clone()),
            search_values: Vec::new(),
        }
    }
    fn status(served: &Served) -> i32 {
        if served.pending {
            9
        } else {
            1
        }
    }
}

pub async fn pull_doc(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> HttpResponse {
    respond::handle(&state, &req, payload, async |r: &PullDocRequest| {
        answer(&state, r).await
    })
    .await
}

async fn answer(
    state: &web::Data<AppState>,
    request: &PullDocRequest,
) -> Result<Served, PullError> {
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
    let format = format_of(state, request.format_sent, request.format);
    let current = is_current(state, sent_current(request));
    let resident = Resident::from_request(&request.resident);
    let st = state.clone().into_inner();
    let sent_uri = request.uri.clone();
    let id = RequestId::of(state, &request.header);
    let mut served = if st.is_department(&code) {
        super::blocking(state, move || {
            once(&st, &id, || {
                department::pull_doc(&st, &code, &doc_id, &resident, format)
            })
        })
        .await?
    } else {
        imported(&st, id, doctype, doc_id, &sent_uri, &resident, format).await?
    };
    served.current |= current;
    Ok(served)
}

/// Pull Doc of an imported document: its lookup joins the others waiting
/// ([`super::lookups`]).
async fn imported(
    state: &Arc<AppState>,
    id: RequestId,
    doctype: &DocType,
    doc_id: String,
    sent_uri: &str,
    resident: &Resident,
    format: ResponseFormat,
) -> Result<Served, PullError> {
    let uri_err = |reason: &str| PullError::Uri {
        uri: sent_uri.to_string(),
        reason: reason.to_string(),
    };
    let code = &doctype.code;
    once_looked_up(state, id, code, Wanted::DocId(doc_id), async |lookup| {
        let mut record = match lookup {
            Lookup::Found(r) => r,
            Lookup::NotFound | Lookup::Ambiguous => return Err(uri_err("no such document")),
        };
        if record.status == status::REVOKED {
            return Err(PullError::Revoked(sent_uri.to_string()));
        }
        if record.status == status::PENDING {
            return Err(uri_err(
                "the document is recorded but not made yet (pending)",
            ));
        }
        if record.status != status::ISSUED {
            return Err(uri_err("DocId is reserved but not issued yet"));
        }
        let uri = DocUri::of(&state.config.issuer_id, code, &record.doc_id);
        let facts = Facts::from_record(doctype, &mut record);
        check_resident(doctype, resident, &facts)?;
        serve_kept(state, record, uri, facts, format).await
    })
    .await
}
