//! The error policy.
//!
//! - Each capability returns its own `thiserror` enum: [`crate::config::ConfigError`],
//!   [`crate::wire::WireError`], [`crate::auth::AuthError`], [`crate::store::StoreError`],
//!   [`crate::import::ImportError`]. They carry the full reason, for our log and the CLI.
//! - [`PullError`] is what a Pull URI / Pull Doc handler can end in. This file is the one
//!   place that maps it to the wire: every failure answers the endpoint's own response
//!   document with `Status="0"` and the request's `ts`/`txn` where they could be read.
//!   The HTTP code tells malformed requests (400, 413) and an unavailable database (503)
//!   from ordinary failures (200: auth, validation, not found), which DigiLocker expects
//!   as a parsed Status 0.
//! - The caller never learns *why* an authenticated lookup or an authentication failed;
//!   the reason, with its cause chain, goes to the issuer's log only.
//! - The CLI reports errors with `anyhow` and their chain, and exits non-zero.

use actix_web::http::StatusCode;

use crate::auth::AuthError;
use crate::store::StoreError;
use crate::wire::WireError;

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
    #[error("UDF {name}: {reason}")]
    Udf { name: String, reason: String },
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
    #[error("format='{0}' (certificate XML, DataContent) is not served by this repository yet")]
    FormatNotServed(&'static str),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the database worker was cancelled")]
    Cancelled,
}

impl PullError {
    pub fn http_status(&self) -> StatusCode {
        match self {
            PullError::BodyTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            PullError::BodyRead(_) | PullError::Wire(_) => StatusCode::BAD_REQUEST,
            PullError::Store(StoreError::Unavailable(_)) | PullError::Cancelled => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            PullError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::OK,
        }
    }
}

/// The error and its causes on one line, for the log.
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}
