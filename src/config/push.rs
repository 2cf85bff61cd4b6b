//! The `[push]` section.

use std::fmt;
use std::path::Path;

use secrecy::{ExposeSecret, SecretString};

use super::raw::RawPush;
use super::{EnvOverrides, Problem};

/// The validated `[push]` section.
pub struct PushConfig {
    pub endpoint: Option<String>,
    pub org_id: String,
    api_key: Option<SecretString>,
    pub rows_per_file: i64,
    pub timeout_secs: u64,
    pub max_attempts: u32,
    pub backoff_base_ms: u64,
    pub backoff_max_ms: u64,
    pub schedule_secs: u64,
    pub file_prefix: String,
    pub mode: PushMode,
}

/// How URIs reach the central locker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushMode {
    /// PushCSVRequest files of up to `rows_per_file` rows.
    Csv,
    /// One PushUriRequest per outbox row.
    Uri,
}

impl PushConfig {
    pub fn api_key(&self) -> Option<&str> {
        self.api_key.as_ref().map(|k| k.expose_secret())
    }
}

impl fmt::Debug for PushConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PushConfig")
            .field("endpoint", &self.endpoint)
            .field("org_id", &self.org_id)
            .field("api_key", &self.api_key.as_ref().map(|_| "[redacted]"))
            .field("rows_per_file", &self.rows_per_file)
            .finish_non_exhaustive()
    }
}

pub(super) fn validate(
    raw: &RawPush,
    base: &Path,
    env: &EnvOverrides,
    problems: &mut Vec<Problem>,
) -> PushConfig {
    let mut problem = |field: &str, reason: String| {
        problems.push(Problem {
            field: format!("push.{field}"),
            reason,
        })
    };
    if let Some(e) = &raw.endpoint {
        if !(e.starts_with("https://") || e.starts_with("http://")) {
            problem("endpoint", format!("'{e}' is not an http(s):// URL"));
        }
    }
    if raw.org_id.trim().is_empty() {
        problem("org_id", "must not be empty".into());
    }
    let key = if let Some(k) = &env.push_key {
        Some(k.clone())
    } else if let Some(file) = &raw.api_key_file {
        match std::fs::read_to_string(base.join(file)) {
            Ok(s) => Some(s.trim().to_string()),
            Err(e) => {
                problem(
                    "api_key_file",
                    format!("cannot read {}: {e}", base.join(file).display()),
                );
                None
            }
        }
    } else {
        raw.api_key.clone()
    };
    if raw.endpoint.is_some() && key.is_none() {
        problem(
            "api_key",
            "missing: set api_key, api_key_file or DLREPO_PUSH_KEY".into(),
        );
    }
    if !(1..=1_000_000).contains(&raw.rows_per_file) {
        problem("rows_per_file", "must be between 1 and 1000000".into());
    }
    if !(1..=100).contains(&raw.max_attempts) {
        problem("max_attempts", "must be between 1 and 100".into());
    }
    if raw.timeout_secs == 0 || raw.timeout_secs > 600 {
        problem("timeout_secs", "must be between 1 and 600".into());
    }
    if raw.backoff_max_ms < raw.backoff_base_ms {
        problem("backoff_max_ms", "must not be below backoff_base_ms".into());
    }
    if raw.file_prefix.is_empty()
        || !raw
            .file_prefix
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        problem("file_prefix", "letters, digits, '_' and '-' only".into());
    }
    let mode = match raw.mode.as_deref().map(str::trim) {
        None | Some("csv") => PushMode::Csv,
        Some("uri") => PushMode::Uri,
        Some(other) => {
            problem("mode", format!("'{other}' is not one of csv, uri"));
            PushMode::Csv
        }
    };
    PushConfig {
        mode,
        endpoint: raw.endpoint.clone(),
        org_id: raw.org_id.clone(),
        api_key: key.map(SecretString::from),
        rows_per_file: raw.rows_per_file,
        timeout_secs: raw.timeout_secs,
        max_attempts: raw.max_attempts,
        backoff_base_ms: raw.backoff_base_ms,
        backoff_max_ms: raw.backoff_max_ms,
        schedule_secs: raw.schedule_secs,
        file_prefix: raw.file_prefix.clone(),
    }
}
