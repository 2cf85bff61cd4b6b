//! `[server]`: where and how the HTTP endpoints listen.

use std::path::{Path, PathBuf};
use std::time::Duration;

pub use ipnet::IpNet;
use secrecy::{ExposeSecret, SecretString};

use super::raw::RawServer;
use super::{EnvOverrides, Problem};

/// The validated `[server]` section.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub bind: String,
    pub pull_uri_path: String,
    pub pull_doc_path: String,
    /// 0: one worker per core.
    pub workers: usize,
    pub max_body_bytes: usize,
    /// The whole request (head and body) must arrive within this.
    pub request_timeout: Duration,
    pub keep_alive: Duration,
    /// Open connections at most, for the whole server; 0: from the open-file limit.
    pub max_connections: usize,
    /// Lookups waiting for or holding a database thread; past it a pull is a 503.
    pub max_blocking: usize,
    pub tls: Option<TlsConfig>,
    /// Who may call the DigiLocker endpoints; empty: anyone.
    pub allow_callers: Vec<IpNet>,
    /// Where `/healthz` listens instead of `bind` (e.g. an internal address).
    pub health_bind: Option<String>,
}

/// HTTPS in `serve` itself: a PEM certificate chain and key, or a PKCS#12 file
/// (password in `DLREPO_TLS_PASSWORD`). Paths resolved against the config's folder.
#[derive(Clone)]
pub enum TlsConfig {
    Pem {
        cert: PathBuf,
        key: PathBuf,
    },
    Pkcs12 {
        file: PathBuf,
        password: SecretString,
    },
}

impl std::fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TlsConfig::Pem { cert, key } => f
                .debug_struct("Pem")
                .field("cert", cert)
                .field("key", key)
                .finish(),
            TlsConfig::Pkcs12 { file, .. } => f
                .debug_struct("Pkcs12")
                .field("file", file)
                .field("password", &"[redacted]")
                .finish(),
        }
    }
}

impl TlsConfig {
    pub fn pkcs12_password(&self) -> Option<&str> {
        match self {
            TlsConfig::Pkcs12 { password, .. } => Some(password.expose_secret()),
            TlsConfig::Pem { .. } => None,
        }
    }
}

/// Addresses or CIDR networks (a bare address is a network of one); each one that is
/// neither is a problem of `field`.
pub(super) fn parse_callers(
    field: &str,
    list: &[String],
    problems: &mut Vec<Problem>,
) -> Vec<IpNet> {
    let mut nets = Vec::new();
    for c in list {
        match c
            .parse::<IpNet>()
            .or_else(|_| c.parse::<std::net::IpAddr>().map(IpNet::from))
        {
            Ok(n) => nets.push(n),
            Err(_) => problems.push(Problem::new(
                field,
                format!("'{c}' is not an address or CIDR network such as 10.0.0.0/8"),
            )),
        }
    }
    nets
}

/// Whether `peer` may call, under an allow-list (empty: anyone).
pub fn caller_allowed(nets: &[IpNet], peer: Option<std::net::IpAddr>) -> bool {
    nets.is_empty() || peer.is_some_and(|ip| nets.iter().any(|n| n.contains(&ip)))
}

pub(super) fn validate(
    raw: RawServer,
    base: &Path,
    env: &EnvOverrides,
    problems: &mut Vec<Problem>,
) -> ServerConfig {
    let allow_callers = parse_callers("server.allow_callers", &raw.allow_callers, problems);
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
    if !(1..=3600).contains(&raw.request_timeout_secs) {
        problem(
            "server.request_timeout_secs",
            "must be between 1 and 3600".into(),
        );
    }
    if raw.max_blocking == 0 {
        problem("server.max_blocking", "must be at least 1".into());
    }
    if let Some(h) = &raw.health_bind {
        if h.parse::<std::net::SocketAddr>().is_err() {
            problem(
                "server.health_bind",
                format!("'{h}' is not an address:port such as 127.0.0.1:9100"),
            );
        } else if *h == raw.bind {
            problem("server.health_bind", "must differ from server.bind".into());
        }
    }
    let tls = match (&raw.tls_cert, &raw.tls_key, &raw.tls_pkcs12) {
        (None, None, None) => None,
        (Some(cert), Some(key), None) => Some(TlsConfig::Pem {
            cert: base.join(cert),
            key: base.join(key),
        }),
        (None, None, Some(file)) => match &env.tls_password {
            Some(p) => Some(TlsConfig::Pkcs12 {
                file: base.join(file),
                password: SecretString::from(p.clone()),
            }),
            None => {
                problem(
                    "server.tls_pkcs12",
                    "needs its password in DLREPO_TLS_PASSWORD".into(),
                );
                None
            }
        },
        _ => {
            problem(
                "server.tls_cert",
                "give tls_cert and tls_key together, or tls_pkcs12 alone".into(),
            );
            None
        }
    };
    ServerConfig {
        bind: raw.bind,
        pull_uri_path: raw.pull_uri_path,
        pull_doc_path: raw.pull_doc_path,
        workers: raw.workers,
        max_body_bytes: raw.max_body_bytes,
        request_timeout: Duration::from_secs(raw.request_timeout_secs),
        keep_alive: Duration::from_secs(raw.keep_alive_secs),
        max_connections: raw.max_connections,
        max_blocking: raw.max_blocking,
        tls,
        allow_callers,
        health_bind: raw.health_bind,
    }
}
