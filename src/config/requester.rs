//! `[requester]`: the upload service for documents residents share, and Save to Locker.

use std::path::Path;

use secrecy::{ExposeSecret, SecretString};

use super::raw::RawRequester;
use super::{EnvOverrides, Problem};

/// The validated `[requester]` section.
#[derive(Clone)]
pub struct RequesterConfig {
    pub app_id: String,
    app_key: SecretString,
    pub public_upload_url: String,
    /// The path dlrepo answers the upload calls on (from `public_upload_url`).
    pub upload_path: String,
    /// Scheme and host of `public_upload_url`: where Save to Locker links point.
    pub public_origin: String,
    pub allowed_hosts: Vec<String>,
    pub max_bytes: usize,
    pub timeout_secs: u64,
    pub ca_pem: Option<Vec<u8>>,
    pub link_minutes: u32,
}

impl RequesterConfig {
    pub fn app_key(&self) -> &str {
        self.app_key.expose_secret()
    }
}

impl std::fmt::Debug for RequesterConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequesterConfig")
            .field("app_id", &self.app_id)
            .field("app_key", &"[redacted]")
            .field("public_upload_url", &self.public_upload_url)
            .field("allowed_hosts", &self.allowed_hosts)
            .finish_non_exhaustive()
    }
}

pub(super) fn validate(
    raw: &RawRequester,
    base: &Path,
    env: &EnvOverrides,
    problems: &mut Vec<Problem>,
) -> Option<RequesterConfig> {
    let before = problems.len();
    let mut problem =
        |f: &str, r: String| problems.push(Problem::new(&format!("requester.{f}"), r));
    let key = match (&env.requester_key, &raw.app_key, &raw.app_key_file) {
        (Some(k), _, _) => Some(k.clone()),
        (None, Some(k), _) => Some(k.clone()),
        (None, None, Some(p)) => match std::fs::read_to_string(base.join(p)) {
            Ok(k) => Some(k.trim().to_string()),
            Err(e) => {
                problem("app_key_file", format!("cannot read {}: {e}", p.display()));
                None
            }
        },
        (None, None, None) => {
            problem(
                "app_key",
                "give app_key_file, app_key or DLREPO_REQUESTER_KEY".into(),
            );
            None
        }
    };
    if raw.app_id.trim().is_empty() {
        problem("app_id", "must not be empty".into());
    }
    let parsed = reqwest::Url::parse(&raw.public_upload_url).ok();
    let (upload_path, public_origin) = match &parsed {
        Some(u) if u.scheme() == "https" || u.host_str() == Some("localhost") => (
            u.path().to_string(),
            format!(
                "{}://{}{}",
                u.scheme(),
                u.host_str().unwrap_or_default(),
                u.port().map_or(String::new(), |p| format!(":{p}"))
            ),
        ),
        _ => {
            problem(
                "public_upload_url",
                "must be the https URL of the upload service, e.g. https://board.example/requester/upload".into(),
            );
            (String::new(), String::new())
        }
    };
    if raw.allowed_hosts.is_empty() {
        problem(
            "allowed_hosts",
            "must name the DigiLocker hosts documents come from".into(),
        );
    }
    let ca_pem = match &raw.ca_file {
        Some(p) => match std::fs::read(base.join(p)) {
            Ok(b) => Some(b),
            Err(e) => {
                problem("ca_file", format!("cannot read {}: {e}", p.display()));
                None
            }
        },
        None => None,
    };
    if problems.len() > before {
        return None;
    }
    Some(RequesterConfig {
        app_id: raw.app_id.trim().to_string(),
        app_key: SecretString::from(key.unwrap_or_default()),
        public_upload_url: raw.public_upload_url.clone(),
        upload_path,
        public_origin,
        allowed_hosts: raw.allowed_hosts.clone(),
        max_bytes: raw.max_bytes.max(1),
        timeout_secs: raw.timeout_secs.max(1),
        ca_pem,
        link_minutes: raw.link_minutes.max(1),
    })
}
