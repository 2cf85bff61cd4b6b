//! The error policy.
//!
//! - Each capability returns its own `thiserror` enum: [`crate::config::ConfigError`],
//!   [`crate::wire::WireError`], [`crate::auth::AuthError`], [`crate::store::StoreError`],
//!   [`crate::import::ImportError`]. They carry the full reason, for our log and the CLI.
//! - [`crate::server::PullError`] is what a Pull URI / Pull Doc handler can end in;
//!   `server/respond.rs` is the one place that maps it to the wire: every failure answers
//!   the endpoint's own response document with `Status="0"` and the request's
//!   `ts`/`txn` where they could be read. The HTTP code tells malformed requests (400,
//!   413), an operator's problem (500: a document that cannot be rendered or signed) and
//!   an unavailable database (503) from ordinary failures (200: auth, validation, not
//!   found), which DigiLocker expects as a parsed Status 0.
//! - The caller never learns *why* an authenticated lookup or an authentication failed;
//!   the reason, with its cause chain, goes to the issuer's log only.
//! - The CLI reports errors with `anyhow` and their chain, and exits non-zero.

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
