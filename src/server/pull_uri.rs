//! `POST {pull_uri_path}` and `POST {pull_uri_path}/{DOCTYPE}`: which document matches
//! these search fields?

use std::sync::Arc;

use actix_web::{web, HttpRequest, HttpResponse};

use super::document::{
    check_resident, format_of, is_current, once, serve_kept, RequestId, Resident, Served,
};
use super::lookups::{once_looked_up, Wanted};
use super::respond::{self, Endpoint, PullError};
use super::{authenticate, department, AppState};
use crate::config::Config;
use crate::doctype::DocType;
use crate::issuing::Facts;
use crate::store::documents::{self, status, Lookup};
use crate::uri::DocUri;
use crate::wire::{
    PullUriRequest, PullUriResponse, RequestHeader, ResponseFormat, Status, WireError,
    RESIDENT_FIELDS,
};

/// The current API's fields of a request, in the order a response echoes them.
fn echo(request: &PullUriRequest) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if let Some(d) = &request.doc_type {
        out.push(("DocType".to_string(), d.clone()));
    }
    for name in RESIDENT_FIELDS {
        if let Some((n, v)) = request.resident.iter().find(|(n, _)| n == name) {
            out.push((n.clone(), v.clone()));
        }
    }
    out
}

/// Whether the request itself uses the current API's form.
fn sent_current(request: &PullUriRequest) -> bool {
    request.format_sent || request.doc_type.is_some() || !request.resident.is_empty()
}

impl Endpoint for PullUriRequest {
    const NAME: &'static str = "pulluri";
    type Answer = Served;

    fn parse(body: &[u8]) -> Result<Self, WireError> {
        PullUriRequest::from_xml(body)
    }
    fn header(&self) -> &RequestHeader {
        &self.header
    }
    fn success(&self, served: &Served) -> String {
        let uri = served.uri.to_string();
        let echo = if served.current {
            echo(self)
        } else {
            Vec::new()
        };
        PullUriResponse {
            status: if served.pending {
                Status::Pending
            } else {
                Status::Success
            },
            ts: &self.header.ts,
            txn: &self.header.txn,
            echo: &echo,
            udfs: &self.udfs,
            issued_to: served.holder.as_ref().filter(|_| served.current),
            uri: (!served.pending).then_some(uri.as_str()),
            doc_content: served.pdf.as_deref(),
            data_content: served.xml.as_deref(),
        }
        .to_xml()
    }
    fn failure(request: Option<&Self>) -> String {
        let echo = request
            .filter(|r| sent_current(r))
            .map(echo)
            .unwrap_or_default();
        PullUriResponse {
            status: Status::Failure,
            ts: request.map_or("", |r| &r.header.ts),
            txn: request.map_or("", |r| &r.header.txn),
            echo: &echo,
            udfs: request.map_or(&[], |r| &r.udfs),
            issued_to: None,
            uri: None,
            doc_content: None,
            data_content: None,
        }
        .to_xml()
    }
    fn served(&self, served: &Served) -> String {
        served.describe()
    }
    fn audit(
        &self,
        config: &crate::config::Config,
        served: Option<&Served>,
    ) -> super::observe::Facts {
        let current = served.is_some_and(|s| s.current) || sent_current(self);
        super::observe::Facts {
            api: if current { "current" } else { "1.0" },
            ver: self.header.ver.clone(),
            // Refused requests too: the doc type the request was for, when it says.
            doctype: served.map(|s| s.uri.doc_type.clone()).or_else(|| {
                resolve_doctype(config, self, None)
                    .ok()
                    .map(|d| d.code.clone())
                    .or_else(|| self.doc_type.clone())
            }),
            uri: served.filter(|s| !s.pending).map(|s| s.uri.to_string()),
            search_values: self
                .udfs
                .iter()
                .map(|(_, v)| v.trim().to_string())
                .collect(),
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
    respond::handle(&state, &req, payload, async |r: &PullUriRequest| {
        answer(&state, r, path_doctype).await
    })
    .await
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
) -> Result<Served, PullError> {
    let config = &state.config;
    authenticate(config, &request.header)?;
    let doctype = resolve_doctype(config, request, path_doctype.as_deref())?;
    let values = doctype.udf_values(&request.udfs)?;
    let format = format_of(state, request.format_sent, request.format);
    let current = is_current(state, sent_current(request));
    let resident = Resident::from_request(&request.resident);
    let code = doctype.code.clone();
    let st = state.clone().into_inner();
    let id = RequestId::of(state, &request.header);
    let mut served = if st.is_department(&code) {
        super::blocking(state, move || {
            once(&st, &id, || {
                department::pull_uri(&st, &code, &values, &resident, format)
            })
        })
        .await?
    } else {
        let key = documents::udf_key(&values);
        imported(&st, id, doctype, key, &resident, format).await?
    };
    served.current |= current;
    Ok(served)
}

/// Pull URI of an imported document: its lookup joins the others waiting
/// ([`super::lookups`]).
async fn imported(
    state: &Arc<AppState>,
    id: RequestId,
    doctype: &DocType,
    key: String,
    resident: &Resident,
    format: ResponseFormat,
) -> Result<Served, PullError> {
    once_looked_up(state, id, &doctype.code, Wanted::Key(key), async |lookup| {
        let mut record = match lookup {
            Lookup::NotFound => return Err(PullError::NotFound),
            Lookup::Ambiguous => return Err(PullError::Ambiguous),
            Lookup::Found(r) => r,
        };
        let uri = DocUri::of(&state.config.issuer_id, &doctype.code, &record.doc_id);
        let facts = Facts::from_record(doctype, &mut record);
        check_resident(doctype, resident, &facts)?;
        if record.status == status::PENDING {
            return Ok(Served::pending(uri, &facts));
        }
        serve_kept(state, record, uri, facts, format).await
    })
    .await
}
