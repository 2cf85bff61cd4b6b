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

/// The error and its causes on one line, for the log. A cause whose text the message
/// already ends with (`"malformed request: {0}"` over its own source) is written once.
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let text = c.to_string();
        if !s.ends_with(&text) {
            s.push_str(": ");
            s.push_str(&text);
        }
        cur = c.source();
    }
    s
}

/// Most characters of one untrusted value a log line carries.
const LOGGED_MAX: usize = 300;

/// An untrusted value (a caller's txn, ts, element names, a reason quoting them) made
/// safe for one log line: control characters escaped, so that a newline cannot forge a
/// line and ESC cannot reach a terminal, and long values cut short.
pub fn loggable(s: &str) -> String {
    let mut out = String::with_capacity(s.len().min(LOGGED_MAX) + 8);
    for (n, c) in s.chars().enumerate() {
        if n == LOGGED_MAX {
            out.push_str(&format!("... ({} characters)", s.chars().count()));
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_log_line_cannot_be_forged_or_flooded() {
        let forged = "2024-01-01T00:00:00+05:30\nINFO document served\u{1b}[31m";
        let safe = loggable(forged);
        assert!(!safe.contains('\n') && !safe.contains('\u{1b}'), "{safe}");
        assert!(safe.contains("\\n"), "{safe}");
        assert!(loggable(&"x".repeat(70_000)).len() < 400);
    }
}
