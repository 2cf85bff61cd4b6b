//! `[server]`: where and how the HTTP endpoints listen.

use super::raw::RawServer;
use super::Problem;

/// The validated `[server]` section.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub bind: String,
    pub pull_uri_path: String,
    pub pull_doc_path: String,
    /// 0: one worker per core.
    pub workers: usize,
    pub max_body_bytes: usize,
}

pub(super) fn validate(raw: RawServer, problems: &mut Vec<Problem>) -> ServerConfig {
    let mut problem = |field: &str, reason: String| problems.push(Problem::new(field, reason));
    if raw.bind.parse::<std::net::SocketAddr>().is_err() {
        problem(
            "server.bind",
            format!(
                "'{}' is not an address:port such as 127.0.0.1:8080",
                raw.bind
            ),
        );
    }
    for (field, p) in [
        ("server.pull_uri_path", &raw.pull_uri_path),
        ("server.pull_doc_path", &raw.pull_doc_path),
    ] {
        if !p.starts_with('/') || p.contains(char::is_whitespace) {
            problem(
                field,
                format!("'{p}' must be a path starting with '/' without spaces"),
            );
        }
    }
    if raw.pull_uri_path == raw.pull_doc_path {
        problem(
            "server.pull_doc_path",
            "must differ from server.pull_uri_path".into(),
        );
    }
    if !(1024..=16 * 1024 * 1024).contains(&raw.max_body_bytes) {
        problem(
            "server.max_body_bytes",
            "must be between 1024 and 16777216".into(),
        );
    }
    ServerConfig {
        bind: raw.bind,
        pull_uri_path: raw.pull_uri_path,
        pull_doc_path: raw.pull_doc_path,
        workers: raw.workers,
        max_body_bytes: raw.max_body_bytes,
    }
}
