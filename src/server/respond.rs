//! The skeleton every endpoint shares: read the body, parse it, and turn the answer
//! (or the [`PullError`]) into the response document, its HTTP code and a log line.
//!
//! The error policy of `crate::error` is applied here and nowhere else: every failure
//! answers the endpoint's own response document with `Status="0"` and the request's
//! `ts`/`txn` where they could be read. The HTTP code tells malformed requests (400,
//! 413), an operator's problem (500: a document that cannot be rendered or signed) and
//! an unavailable database (503) from ordinary failures (200: auth, validation, not
//! found), which DigiLocker expects as a parsed Status 0.

use actix_web::http::header::CONTENT_LENGTH;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::StreamExt;

use super::observe::{self, Outcome};
use super::{hmac_header, AppState};
use crate::auth::{self, AuthError, HmacError};
use crate::config::caller_allowed;
use crate::doctype::UdfError;
use crate::error::{chain, loggable};
use crate::issuing::IssueError;
use crate::resident::Mismatch;
use crate::store::StoreError;
use crate::wire::{RequestHeader, WireError};

#[derive(Debug, thiserror::Error)]
pub enum PullError {
    #[error("request body larger than {0} bytes")]
    BodyTooLarge(usize),
    #[error("could not read the request body: {0}")]
    BodyRead(String),
    #[error("malformed request: {0}")]
    Wire(#[from] WireError),
    #[error("authentication failed: {0}")]
    Auth(#[from] AuthError),
    #[error("no configured doc type {0}")]
    DocType(String),
    #[error(transparent)]
    Udf(#[from] UdfError),
    #[error("no document matches the search fields")]
    NotFound,
    #[error("more than one document matches the search fields")]
    Ambiguous,
    #[error("URI {uri}: {reason}")]
    Uri { uri: String, reason: String },
    #[error("document {0} was revoked")]
    Revoked(String),
    #[error("document {0} has no content stored")]
    NoContent(String),
    /// The operator's problem: a broken template, document column or signing key.
    #[error("document {uri}: {source}")]
    Issue { uri: String, source: IssueError },
    #[error("x-digilocker-hmac: {0}")]
    Hmac(#[from] HmacError),
    #[error("resident check failed: {0}")]
    Resident(Mismatch),
    #[error("replayed request: orgId and txn were already answered within the ts window")]
    Replay,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the database worker was cancelled")]
    Cancelled,
    #[error("the request body did not arrive within {0} s")]
    BodyTimeout(u64),
    #[error("caller {0} is not in server.allow_callers")]
    Forbidden(String),
    #[error("too many lookups at once (server.max_blocking)")]
    Busy,
}

impl PullError {
    pub fn http_status(&self) -> StatusCode {
        match self {
            PullError::BodyTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            PullError::BodyRead(_) | PullError::Wire(_) => StatusCode::BAD_REQUEST,
            PullError::BodyTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            PullError::Forbidden(_) => StatusCode::FORBIDDEN,
            PullError::Store(StoreError::Unavailable(_))
            | PullError::Cancelled
            | PullError::Busy => StatusCode::SERVICE_UNAVAILABLE,
            PullError::Store(_) | PullError::Issue { .. } => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::OK,
        }
    }

    /// The failed check, for the audit trail, the report and the metrics: a fixed
    /// word, never a caller's value.
    pub fn reason(&self) -> &'static str {
        match self {
            PullError::BodyTooLarge(_) => "too_large",
            PullError::BodyRead(_) => "body_unreadable",
            PullError::Wire(_) => "malformed",
            PullError::Auth(AuthError::WrongKeyHash) => "auth_keyhash",
            PullError::Auth(AuthError::Stale(..)) => "auth_ts_stale",
            PullError::Auth(AuthError::Future(..)) => "auth_ts_future",
            PullError::Auth(AuthError::BadTimestamp(_)) => "auth_ts_unreadable",
            PullError::Auth(AuthError::OrgId(_)) => "auth_org_id",
            PullError::DocType(_) => "unknown_doctype",
            PullError::Udf(_) => "bad_search_values",
            PullError::NotFound => "not_found",
            PullError::Ambiguous => "ambiguous",
            PullError::Uri { .. } => "unknown_uri",
            PullError::Revoked(_) => "revoked",
            PullError::NoContent(_) => "no_content",
            PullError::Issue { .. } => "cannot_make_document",
            PullError::Hmac(_) => "hmac",
            PullError::Resident(_) => "resident_mismatch",
            PullError::Replay => "replay",
            PullError::Store(StoreError::Unavailable(_)) => "database_unavailable",
            PullError::Store(_) => "database_error",
            PullError::Cancelled => "cancelled",
            PullError::BodyTimeout(_) => "body_timeout",
            PullError::Forbidden(_) => "caller_not_allowed",
            PullError::Busy => "busy",
        }
    }

    /// Failures the operator must fix, logged as errors; the rest are the caller's.
    fn is_operator_error(&self) -> bool {
        matches!(
            self,
            PullError::Store(_) | PullError::Cancelled | PullError::Issue { .. }
        )
    }
}

/// A request document of one endpoint, and how that endpoint answers.
pub(super) trait Endpoint: Sized {
    /// For the log: `pulluri`, `pulldoc`.
    const NAME: &'static str;
    /// What a successful lookup hands to [`Endpoint::success`].
    type Answer;
    fn parse(body: &[u8]) -> Result<Self, WireError>;
    fn header(&self) -> &RequestHeader;
    fn success(&self, answer: &Self::Answer) -> String;
    /// The Status 0 document; `None` when the request could not be read at all.
    fn failure(request: Option<&Self>) -> String;
    /// A line for the log about what was served (never document bytes).
    fn served(&self, answer: &Self::Answer) -> String;
    /// What the audit trail keeps of this request and its answer.
    fn audit(
        &self,
        config: &crate::config::Config,
        answer: Option<&Self::Answer>,
    ) -> observe::Facts;
    /// The Status an answer carries (1, or 9 for a pending one).
    fn status(answer: &Self::Answer) -> i32;
}

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

/// The skeleton of every endpoint: read and parse the body, check the HMAC header over
/// its exact bytes, let `answer` find the document, and respond.
pub(super) async fn handle<E: Endpoint>(
    state: &web::Data<AppState>,
    req: &HttpRequest,
    payload: web::Payload,
    answer: impl AsyncFnOnce(&E) -> Result<E::Answer, PullError>,
) -> HttpResponse {
    let started = std::time::Instant::now();
    if super::health::on_health_listener(state, req) == Some(true) {
        return HttpResponse::NotFound().finish();
    }
    let limit = state.config.server.max_body_bytes;
    let timeout = state.config.server.request_timeout;
    let received = match check_caller(state, req) {
        Ok(()) => receive::<E>(req, payload, limit, timeout).await,
        Err(e) => Err(e),
    };
    let (request, body) = match received {
        Ok(r) => r,
        Err(e) => {
            log_failure(E::NAME, "", &e);
            let http = e.http_status();
            let outcome = Outcome {
                status: 0,
                reason: Some(e.reason()),
                http,
            };
            observe::answered(state, req, started, E::NAME, None, outcome);
            return xml_response(http, E::failure(None));
        }
    };
    // Every line logged while answering carries the request's txn.
    let span = tracing::info_span!("request", txn = %loggable(&request.header().txn));
    let outcome = match check_hmac(state, hmac_header(req), &body) {
        Ok(()) => {
            use tracing::Instrument;
            answer(&request).instrument(span.clone()).await
        }
        Err(e) => Err(e),
    };
    let _entered = span.enter();
    let observed = match &outcome {
        Ok(a) => Outcome {
            status: E::status(a),
            reason: None,
            http: StatusCode::OK,
        },
        Err(e) => Outcome {
            status: 0,
            reason: Some(e.reason()),
            http: e.http_status(),
        },
    };
    let facts = request.audit(&state.config, outcome.as_ref().ok());
    observe::answered(state, req, started, E::NAME, Some(facts), observed);
    respond(&request, outcome)
}

/// The HMAC header check: whenever the header is there, and always when required.
fn check_hmac(state: &AppState, header: Option<&str>, body: &[u8]) -> Result<(), PullError> {
    let dl = &state.config.digilocker;
    auth::verify_hmac(
        header,
        body,
        state.config.api_key(),
        &dl.hmac_encodings,
        dl.require_hmac,
    )?;
    Ok(())
}

/// `server.allow_callers`: the peer must be in one of the networks (when any is set).
/// Behind a reverse proxy the peer is the proxy: filter there instead.
fn check_caller(state: &AppState, req: &HttpRequest) -> Result<(), PullError> {
    let peer = req.peer_addr().map(|a| a.ip());
    if caller_allowed(&state.config.server.allow_callers, peer) {
        return Ok(());
    }
    Err(PullError::Forbidden(
        peer.map_or_else(|| "unknown".into(), |ip| ip.to_string()),
    ))
}

/// A parsed request with the exact bytes it came in, or why it was refused.
async fn receive<E: Endpoint>(
    req: &HttpRequest,
    payload: web::Payload,
    limit: usize,
    timeout: std::time::Duration,
) -> Result<(E, web::Bytes), PullError> {
    // A body that never finishes would hold its connection for ever.
    let read = actix_web::rt::time::timeout(timeout, read_body(req, payload, limit))
        .await
        .unwrap_or(Err(PullError::BodyTimeout(timeout.as_secs())));
    match read {
        Ok(body) => {
            let body = body.freeze();
            E::parse(&body).map(|r| (r, body)).map_err(PullError::from)
        }
        Err(e) => Err(e),
    }
}

/// The one place an endpoint's outcome becomes an HTTP response.
fn respond<E: Endpoint>(request: &E, outcome: Result<E::Answer, PullError>) -> HttpResponse {
    let txn = &request.header().txn;
    match outcome {
        Ok(answer) => {
            let txn = loggable(txn);
            tracing::info!(endpoint = E::NAME, %txn, served = %request.served(&answer), "answered");
            xml_response(StatusCode::OK, request.success(&answer))
        }
        Err(e) => {
            log_failure(E::NAME, txn, &e);
            xml_response(e.http_status(), E::failure(Some(request)))
        }
    }
}

fn xml_response(code: StatusCode, body: String) -> HttpResponse {
    HttpResponse::build(code)
        .content_type("application/xml; charset=utf-8")
        .body(body)
}

/// Every value a caller chose is passed through `loggable` first.
fn log_failure(endpoint: &str, txn: &str, e: &PullError) {
    let txn = loggable(txn);
    let reason = loggable(&chain(e));
    if e.is_operator_error() {
        tracing::error!(endpoint, %txn, %reason, "request failed");
    } else {
        tracing::warn!(endpoint, %txn, %reason, "request answered Status 0");
    }
}
