//! `POST {pull_uri_path}` and `POST {pull_uri_path}/{DOCTYPE}`: which document matches
//! these search fields?

use actix_web::{web, HttpRequest, HttpResponse};

use std::sync::Arc;

use super::document::{
    check_resident, forget, format_of, is_current, must_forget, once, serve, RequestId, Resident,
    Served,
};
use super::lookups::Lookups;
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
    let mut served = if st.departments().contains_key(&code) {
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

/// Pull URI of an imported document. The lookup joins the others waiting
/// ([`super::lookups`]), which also records the request when replays are refused; a PDF
/// answer needs nothing more of the database, so it is made here, without a hand-off
/// to a blocking thread. As in [`once`], a request that fails on our side after it was
/// recorded is forgotten again, so that DigiLocker's retry gets through.
async fn imported(
    state: &Arc<AppState>,
    id: RequestId,
    doctype: &DocType,
    key: String,
    resident: &Resident,
    format: ResponseFormat,
) -> Result<Served, PullError> {
    let remember = state.config.digilocker.refuse_replays.then(|| id.clone());
    let found = Lookups::find(state, &doctype.code, key, remember).await;
    let result = match found.lookup {
        Ok(lookup) => serve_found(state, lookup, doctype, resident, format).await,
        Err(e) => Err(e),
    };
    if let Err(e) = &result {
        if found.recorded && must_forget(state, e) {
            let st = state.clone();
            // Best effort, as in `once`: if this fails too, the retry is refused.
            let _ = super::blocking(state, move || {
                forget(&st, &id);
                Ok(())
            })
            .await;
        }
    }
    result
}

async fn serve_found(
    state: &Arc<AppState>,
    lookup: Lookup,
    doctype: &DocType,
    resident: &Resident,
    format: ResponseFormat,
) -> Result<Served, PullError> {
    let code = &doctype.code;
    let mut record = match lookup {
        Lookup::NotFound => return Err(PullError::NotFound),
        Lookup::Ambiguous => return Err(PullError::Ambiguous),
        Lookup::Found(r) => r,
    };
    let uri = DocUri::of(&state.config.issuer_id, code, &record.doc_id);
    let facts = Facts::from_record(doctype, &record);
    check_resident(doctype, resident, &facts)?;
    if record.status == status::PENDING {
        return Ok(Served::pending(uri, &facts));
    }
    // Moved out, not copied: the PDF is the bulk of the record.
    let content = record.content.take();
    let missing = uri.to_string();
    let pdf = move || content.ok_or(PullError::NoContent(missing));
    if !format.wants_xml() {
        let pdf = format.wants_pdf().then(pdf).transpose()?;
        return Ok(Served::document(uri, &facts, pdf, None));
    }
    // The certificate XML is read, or made and kept, in the database.
    let (st, code) = (state.clone(), code.clone());
    let kept_xml = record.xml_sha256.take();
    super::blocking(state, move || {
        let doctype = st
            .config
            .doctype(&code)
            .ok_or_else(|| PullError::DocType(format!("'{code}'")))?;
        let mut conn = st.conn()?;
        serve(
            &st,
            &mut conn,
            doctype,
            uri,
            &facts,
            format,
            kept_xml.as_deref(),
            move |_| pdf(),
        )
    })
    .await
}
