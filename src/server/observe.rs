//! What every answer leaves behind: its audit row (handed to the audit writer, never
//! waited for) and its metrics.

use std::time::Instant;

use actix_web::http::StatusCode;
use actix_web::HttpRequest;

use super::AppState;
use crate::audit::{search_digest, PullRecord};

/// What the audit trail keeps of one request: no value the caller could use to read a
/// citizen's data back (search values only as configured), no key, no keyhash.
#[derive(Debug, Default)]
pub struct Facts {
    /// `1.0` or `current`.
    pub api: &'static str,
    pub ver: Option<String>,
    pub doctype: Option<String>,
    pub uri: Option<String>,
    pub search_values: Vec<String>,
}

/// How one answer came out: its Status (1, 9 or 0), the failed check, the HTTP code.
pub(super) struct Outcome {
    pub status: i32,
    pub reason: Option<&'static str>,
    pub http: StatusCode,
}

pub(super) fn answered(
    state: &AppState,
    req: &HttpRequest,
    started: Instant,
    endpoint: &'static str,
    facts: Option<Facts>,
    outcome: Outcome,
) {
    let elapsed = started.elapsed();
    let Outcome {
        status,
        reason,
        http,
    } = outcome;
    let facts = facts.unwrap_or(Facts {
        api: "unknown",
        ..Facts::default()
    });
    if let Some(m) = crate::metrics::get() {
        m.requests
            .with_label_values(&[
                endpoint,
                facts.api,
                &status.to_string(),
                reason.unwrap_or(""),
            ])
            .inc();
        m.latency
            .with_label_values(&[endpoint])
            .observe(elapsed.as_secs_f64());
    }
    let Some(sink) = &state.audit else { return };
    let search = if facts.search_values.is_empty() {
        None
    } else {
        search_digest(
            state.config.audit.search_values,
            state.config.api_key(),
            &facts.search_values,
        )
    };
    sink.record(PullRecord {
        at: chrono::Utc::now().naive_utc(),
        caller: req.peer_addr().map(|a| a.ip().to_string()),
        endpoint,
        api: facts.api,
        ver: facts.ver.map(|v| cut(v, 16)),
        doctype: facts.doctype.map(|d| cut(d, 16)),
        uri: facts.uri.map(|u| cut(u, 200)),
        search,
        status,
        http: i32::from(http.as_u16()),
        reason,
        latency_us: elapsed.as_micros().min(i64::MAX as u128) as i64,
    });
}

/// A caller's value, cut short so the audit table cannot be flooded through it: at most
/// `max` characters, in its own buffer (a copy each was a cold allocation a pull).
fn cut(mut s: String, max: usize) -> String {
    if let Some((end, _)) = s.char_indices().nth(max) {
        s.truncate(end);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::cut;

    #[test]
    fn cut_keeps_at_most_max_characters_whole() {
        assert_eq!(cut("MARKS".into(), 16), "MARKS");
        assert_eq!(cut("abcdef".into(), 3), "abc");
        // Characters, not bytes: a multi-byte one is never split.
        assert_eq!(cut("अआइईउ".into(), 2), "अआ");
        assert_eq!(cut("अआ".into(), 2), "अआ");
        assert_eq!(cut(String::new(), 0), "");
    }
}
