//! `[digilocker]`: who calls us and with which key.

use std::fmt;
use std::path::Path;

use secrecy::SecretString;

use super::raw::RawDigiLocker;
use super::{EnvOverrides, Problem};
use crate::auth::HmacEncoding;
use crate::wire::ResponseFormat;

pub struct DigiLockerConfig {
    pub org_id: String,
    pub api_key: SecretString,
    pub ts_window_minutes: i64,
    /// What a request without `format` gets.
    pub default_format: ResponseFormat,
    pub require_hmac: bool,
    pub hmac_encodings: Vec<HmacEncoding>,
    /// Remember answered (orgId, txn) in the database and refuse them again.
    pub refuse_replays: bool,
    /// Where the API key was read from, if a file (its mode is checked).
    pub api_key_file: Option<std::path::PathBuf>,
}

impl fmt::Debug for DigiLockerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DigiLockerConfig")
            .field("org_id", &self.org_id)
            .field("api_key", &"[redacted]")
            .field("ts_window_minutes", &self.ts_window_minutes)
            .field("default_format", &self.default_format)
            .field("require_hmac", &self.require_hmac)
            .field("hmac_encodings", &self.hmac_encodings)
            .finish()
    }
}

/// Reads a secret from the environment, then the file, then the inline value.
pub(super) fn secret(
    from_env: Option<&String>,
    file: Option<&Path>,
    inline: Option<&String>,
    base: &Path,
    field: &str,
    problems: &mut Vec<Problem>,
) -> Option<String> {
    if let Some(k) = from_env {
        return Some(k.clone());
    }
    if let Some(file) = file {
        let p = base.join(file);
        return match std::fs::read_to_string(&p) {
            Ok(s) => Some(s.trim().to_string()),
            Err(e) => {
                problems.push(Problem::new(
                    field,
                    format!("cannot read {}: {e}", p.display()),
                ));
                None
            }
        };
    }
    inline.cloned()
}

pub(super) fn validate(
    raw: RawDigiLocker,
    base: &Path,
    env: &EnvOverrides,
    problems: &mut Vec<Problem>,
) -> DigiLockerConfig {
    let api_key = secret(
        env.api_key.as_ref(),
        raw.api_key_file.as_deref(),
        raw.api_key.as_ref(),
        base,
        "digilocker.api_key_file",
        problems,
    );
    let mut problem = |field: &str, reason: String| problems.push(Problem::new(field, reason));
    match &api_key {
        None => problem(
            "digilocker.api_key",
            "missing: set api_key, api_key_file or DLREPO_API_KEY".into(),
        ),
        Some(k) if k.len() < 16 => problem(
            "digilocker.api_key",
            "too short: use at least 16 characters".into(),
        ),
        Some(k) if k.chars().any(|c| c.is_control() || c.is_whitespace()) => problem(
            "digilocker.api_key",
            "must not contain spaces or control characters".into(),
        ),
        _ => {}
    }
    if raw.org_id.trim().is_empty() {
        problem("digilocker.org_id", "must not be empty".into());
    }
    if !(1..=24 * 60).contains(&raw.ts_window_minutes) {
        problem(
            "digilocker.ts_window_minutes",
            "must be between 1 and 1440".into(),
        );
    }
    let default_format = match raw.default_format.as_deref().map(str::parse) {
        None => ResponseFormat::Pdf,
        Some(Ok(f)) => f,
        Some(Err(_)) => {
            problem(
                "digilocker.default_format",
                "must be one of pdf, xml, both".into(),
            );
            ResponseFormat::Pdf
        }
    };
    let mut hmac_encodings = Vec::new();
    for e in &raw.hmac_encodings {
        match e.trim().to_ascii_lowercase().as_str() {
            "raw" => hmac_encodings.push(HmacEncoding::Raw),
            "hex" => hmac_encodings.push(HmacEncoding::Hex),
            other => problem(
                "digilocker.hmac_encodings",
                format!("'{other}' is not one of raw, hex"),
            ),
        }
    }
    if hmac_encodings.is_empty() {
        problem(
            "digilocker.hmac_encodings",
            "at least one of raw, hex is needed".into(),
        );
    }
    DigiLockerConfig {
        org_id: raw.org_id,
        api_key: SecretString::from(api_key.unwrap_or_default()),
        ts_window_minutes: raw.ts_window_minutes,
        default_format,
        require_hmac: raw.require_hmac,
        hmac_encodings,
        refuse_replays: raw.refuse_replays,
        api_key_file: raw.api_key_file.as_ref().map(|f| base.join(f)),
    }
}
