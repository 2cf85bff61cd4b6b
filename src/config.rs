//! Typed configuration: one TOML file plus environment overrides, validated at start-up.
//!
//! `RawConfig` is what serde reads; `Config` is what the rest of the program uses, built
//! only by [`Config::load`] after every field was checked. Each problem names its field
//! (`doctypes[0].udfs[1].pattern`) so that `dlrepo check-config` can list them all at once.
//!
//! Environment overrides: `DLREPO_BIND`, `DLREPO_API_KEY`, `DLREPO_DATABASE_URL`.

use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};

use regex::Regex;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::uri::{self, DocIdSpace};

/// Fields the current DigiLocker API puts inside `DocDetails` beside the UDFs; a UDF may
/// not take one of these names or the request could not be told apart.
pub const RESERVED_DETAIL_NAMES: &[&str] = &[
    "URI",
    "DocContent",
    "DataContent",
    "DocType",
    "DigiLockerId",
    "UID",
    "FullName",
    "DOB",
    "Photo",
    "IssuedTo",
];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    pub issuer: RawIssuer,
    #[serde(default)]
    pub server: RawServer,
    #[serde(default)]
    pub database: RawDatabase,
    pub digilocker: RawDigiLocker,
    #[serde(default)]
    pub doctypes: Vec<RawDocType>,
    #[serde(default)]
    pub push: Option<RawPush>,
    #[serde(default)]
    pub signing: Option<RawSigning>,
}

/// The issuer's signing key: PEM key + PEM chain (signing certificate first), or a
/// PKCS#12 file whose password is in `DLREPO_SIGNING_PASSWORD`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSigning {
    #[serde(default)]
    pub key: Option<PathBuf>,
    #[serde(default)]
    pub chain: Option<PathBuf>,
    #[serde(default)]
    pub pkcs12: Option<PathBuf>,
    /// Sign even with an expired certificate (validators will say so).
    #[serde(default)]
    pub allow_expired: bool,
}

/// Pushing URIs to the central locker (optional).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPush {
    /// The central CSV Upload API (`.../public/issuer/api/csvupload/1/xml`); the test
    /// endpoint differs. Not needed for `push --export`.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// The issuer id from registration.
    pub org_id: String,
    #[serde(default)]
    pub api_key: Option<String>,
    #[serde(default)]
    pub api_key_file: Option<PathBuf>,
    #[serde(default = "default_rows_per_file")]
    pub rows_per_file: i64,
    #[serde(default = "default_push_timeout")]
    pub timeout_secs: u64,
    #[serde(default = "default_attempts")]
    pub max_attempts: u32,
    #[serde(default = "default_backoff_base")]
    pub backoff_base_ms: u64,
    #[serde(default = "default_backoff_max")]
    pub backoff_max_ms: u64,
    /// `serve` pushes in the background every this many seconds; 0 = never.
    #[serde(default)]
    pub schedule_secs: u64,
    #[serde(default = "default_prefix")]
    pub file_prefix: String,
}

impl fmt::Debug for RawPush {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawPush")
            .field("endpoint", &self.endpoint)
            .field("org_id", &self.org_id)
            .field("api_key", &self.api_key.as_ref().map(|_| "[redacted]"))
            .finish_non_exhaustive()
    }
}

fn default_rows_per_file() -> i64 {
    10_000
}
fn default_push_timeout() -> u64 {
    30
}
fn default_attempts() -> u32 {
    5
}
fn default_backoff_base() -> u64 {
    500
}
fn default_backoff_max() -> u64 {
    60_000
}
fn default_prefix() -> String {
    "dlrepo".into()
}

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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawIssuer {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawServer {
    pub bind: String,
    pub pull_uri_path: String,
    pub pull_doc_path: String,
    pub workers: usize,
    pub max_body_bytes: usize,
}

impl Default for RawServer {
    fn default() -> Self {
        RawServer {
            bind: "127.0.0.1:8080".into(),
            pull_uri_path: "/pulluri".into(),
            pull_doc_path: "/pulldoc".into(),
            workers: 0,
            max_body_bytes: 64 * 1024,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawDatabase {
    pub url: String,
    pub pool_size: u32,
    pub connect_timeout_secs: u64,
}

impl Default for RawDatabase {
    fn default() -> Self {
        RawDatabase {
            url: "dlrepo.sqlite3".into(),
            pool_size: 8,
            connect_timeout_secs: 5,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDigiLocker {
    pub org_id: String,
    #[serde(default)]
    pub api_key: Option<String>,
    #[serde(default)]
    pub api_key_file: Option<PathBuf>,
    #[serde(default = "default_window")]
    pub ts_window_minutes: i64,
}

impl fmt::Debug for RawDigiLocker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawDigiLocker")
            .field("org_id", &self.org_id)
            .field("api_key", &self.api_key.as_ref().map(|_| "[redacted]"))
            .field("api_key_file", &self.api_key_file)
            .field("ts_window_minutes", &self.ts_window_minutes)
            .finish()
    }
}

fn default_window() -> i64 {
    30
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDocType {
    pub code: String,
    pub name: String,
    #[serde(default)]
    pub udfs: Vec<RawUdf>,
    /// How many documents of this type the department expects to issue over its life;
    /// sizes the DocId space (at least 10x this).
    #[serde(default = "default_expected")]
    pub expected_count: u64,
    /// Fixed DocId length; must still give a space of 10x `expected_count`.
    #[serde(default)]
    pub doc_id_length: Option<usize>,
    /// Serve this doc type from the department's own table instead of imported rows.
    #[serde(default)]
    pub source: Option<RawSource>,
    /// A layout in templates/ (relative to this file) for rows without a PDF.
    #[serde(default)]
    pub template: Option<PathBuf>,
}

/// A department table (or view) that holds the documents of a doc type. dlrepo only
/// ever reads it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSource {
    /// `table` or `schema.table` (PostgreSQL); a view works as well.
    pub table: String,
    /// Another database than dlrepo's own, e.g. a read-only PostgreSQL role.
    #[serde(default)]
    pub database_url: Option<String>,
    /// The column that holds each UDF: `{ RollNo = "roll_no", Year = "exam_year" }`.
    pub udf_columns: std::collections::BTreeMap<String, String>,
    /// Columns that identify a row for good (its DocId is tied to them); default: the
    /// UDF columns.
    #[serde(default)]
    pub key_columns: Vec<String>,
    #[serde(default)]
    pub holder_name: Option<String>,
    #[serde(default)]
    pub doc_name: Option<String>,
    #[serde(default)]
    pub issued_on: Option<String>,
    #[serde(default)]
    pub valid_from: Option<String>,
    #[serde(default)]
    pub valid_to: Option<String>,
    #[serde(default)]
    pub aadhaar: Option<String>,
    /// A bytea/BLOB column holding the PDF; without it the certificate is rendered.
    #[serde(default)]
    pub document_column: Option<String>,
    /// Extra columns printed on a rendered certificate, as `{ label = "column" }`
    /// pairs in order: `[ ["Total", "total_marks"], ["Result", "result"] ]`.
    #[serde(default)]
    pub fields: Vec<(String, String)>,
    #[serde(default = "default_source_pool")]
    pub pool_size: u32,
}

fn default_source_pool() -> u32 {
    4
}

/// A validated [`RawSource`]: identifiers are well-formed; whether they exist is checked
/// against the live schema by `store::department` at start-up.
#[derive(Debug, Clone)]
pub struct Source {
    pub schema: Option<String>,
    pub table: String,
    /// Resolved like `database.url`; None means dlrepo's own database.
    pub database_url: Option<String>,
    /// One column per UDF, in the doc type's UDF order.
    pub udf_columns: Vec<String>,
    pub key_columns: Vec<String>,
    pub holder_name: Option<String>,
    pub doc_name: Option<String>,
    pub issued_on: Option<String>,
    pub valid_from: Option<String>,
    pub valid_to: Option<String>,
    pub aadhaar: Option<String>,
    pub document_column: Option<String>,
    pub fields: Vec<(String, String)>,
    pub pool_size: u32,
}

fn validate_push(
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
    PushConfig {
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

/// SQL identifiers we accept: they are quoted when used, and this keeps them plain.
pub fn valid_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && s.len() <= 63
}

fn validate_source(
    raw: &RawSource,
    udfs: &[RawUdf],
    field: &dyn Fn(&str) -> String,
    base: &Path,
    problems: &mut Vec<Problem>,
) -> Option<Source> {
    let before = problems.len();
    let mut problem = |f: &str, reason: String| {
        problems.push(Problem {
            field: field(f),
            reason,
        })
    };
    let (schema, table) = match raw.table.split_once('.') {
        Some((s, t)) => (Some(s.to_string()), t.to_string()),
        None => (None, raw.table.clone()),
    };
    if !valid_identifier(&table) || !schema.as_deref().is_none_or(valid_identifier) {
        problem(
            "source.table",
            format!(
                "'{}' is not a plain table name (letters, digits, '_'; optionally schema.table)",
                raw.table
            ),
        );
    }
    let mut check_col = |f: &str, c: &str| {
        if !valid_identifier(c) {
            problem(
                f,
                format!("'{c}' is not a plain column name (letters, digits, '_')"),
            );
        }
    };
    let mut udf_columns = Vec::new();
    for u in udfs {
        match raw
            .udf_columns
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(&u.name))
        {
            Some((_, c)) => {
                check_col("source.udf_columns", c);
                udf_columns.push(c.clone());
            }
            None => check_col(
                "source.udf_columns",
                &format!("(no column given for UDF {})", u.name),
            ),
        }
    }
    for k in raw.udf_columns.keys() {
        if !udfs.iter().any(|u| u.name.eq_ignore_ascii_case(k)) {
            check_col(
                "source.udf_columns",
                &format!("({k} is not a UDF of this doc type)"),
            );
        }
    }
    let key_columns = if raw.key_columns.is_empty() {
        udf_columns.clone()
    } else {
        raw.key_columns.clone()
    };
    for c in &key_columns {
        check_col("source.key_columns", c);
    }
    for (f, c) in [
        ("source.holder_name", &raw.holder_name),
        ("source.doc_name", &raw.doc_name),
        ("source.issued_on", &raw.issued_on),
        ("source.valid_from", &raw.valid_from),
        ("source.valid_to", &raw.valid_to),
        ("source.aadhaar", &raw.aadhaar),
        ("source.document_column", &raw.document_column),
    ] {
        if let Some(c) = c {
            check_col(f, c);
        }
    }
    for (_, c) in &raw.fields {
        check_col("source.fields", c);
    }
    if raw.pool_size == 0 || raw.pool_size > 64 {
        problem("source.pool_size", "must be between 1 and 64".into());
    }
    if problems.len() > before {
        return None;
    }
    Some(Source {
        schema,
        table,
        database_url: raw.database_url.as_deref().map(|u| resolve_db_url(u, base)),
        udf_columns,
        key_columns,
        holder_name: raw.holder_name.clone(),
        doc_name: raw.doc_name.clone(),
        issued_on: raw.issued_on.clone(),
        valid_from: raw.valid_from.clone(),
        valid_to: raw.valid_to.clone(),
        aadhaar: raw.aadhaar.clone(),
        document_column: raw.document_column.clone(),
        fields: raw.fields.clone(),
        pool_size: raw.pool_size,
    })
}

fn default_expected() -> u64 {
    1_000_000
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawUdf {
    pub name: String,
    /// A regular expression the whole value must match (anchors are added).
    pub pattern: String,
    #[serde(default = "default_max_len")]
    pub max_len: usize,
}

fn default_max_len() -> usize {
    128
}

/// The validated configuration.
#[derive(Debug)]
pub struct Config {
    pub issuer_id: String,
    pub issuer_name: Option<String>,
    pub server: RawServer,
    pub database: DatabaseConfig,
    pub digilocker: DigiLockerConfig,
    pub doctypes: Vec<DocType>,
    pub push: Option<PushConfig>,
    /// Paths resolved against the config's folder; the key is loaded by
    /// [`Config::signing_key`], once.
    pub signing: Option<RawSigning>,
}

#[derive(Debug, Clone)]
pub struct DatabaseConfig {
    /// Either a SQLite file path (absolute, resolved against the config file's folder)
    /// or a `postgres://` URL.
    pub url: String,
    pub pool_size: u32,
    pub connect_timeout_secs: u64,
}

pub struct DigiLockerConfig {
    pub org_id: String,
    pub api_key: SecretString,
    pub ts_window_minutes: i64,
}

impl fmt::Debug for DigiLockerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DigiLockerConfig")
            .field("org_id", &self.org_id)
            .field("api_key", &"[redacted]")
            .field("ts_window_minutes", &self.ts_window_minutes)
            .finish()
    }
}

#[derive(Debug)]
pub struct DocType {
    pub code: String,
    pub name: String,
    pub udfs: Vec<Udf>,
    pub id_space: DocIdSpace,
    /// Set when the documents live in a department table rather than in dlrepo's store.
    pub source: Option<Source>,
    /// The layout of rendered certificates (None: the plain built-in page).
    pub template: Option<crate::docs::template::Template>,
}

#[derive(Debug)]
pub struct Udf {
    pub name: String,
    pub pattern: Regex,
    pub max_len: usize,
}

impl DocType {
    /// The set of UDF names, used to recognise a doc type from a request's fields.
    pub fn udf_names_match(&self, names: &[&str]) -> bool {
        names.len() == self.udfs.len()
            && self
                .udfs
                .iter()
                .all(|u| names.iter().any(|n| n.eq_ignore_ascii_case(&u.name)))
    }
}

/// One thing wrong with the configuration, named by its field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub field: String,
    pub reason: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.reason)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path} is not valid TOML for dlrepo: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("config file {path} has {} problem(s):\n  {}", problems.len(), problems.iter().map(|p| p.to_string()).collect::<Vec<_>>().join("\n  "))]
    Invalid {
        path: PathBuf,
        problems: Vec<Problem>,
    },
}

/// Environment overrides, read once so tests can pass their own.
#[derive(Debug, Default, Clone)]
pub struct EnvOverrides {
    pub bind: Option<String>,
    pub api_key: Option<String>,
    pub database_url: Option<String>,
    pub push_key: Option<String>,
}

impl EnvOverrides {
    pub fn from_env() -> Self {
        let get = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        EnvOverrides {
            bind: get("DLREPO_BIND"),
            api_key: get("DLREPO_API_KEY"),
            database_url: get("DLREPO_DATABASE_URL"),
            push_key: get("DLREPO_PUSH_KEY"),
        }
    }
}

impl Config {
    /// Read, override from the environment and validate.
    pub fn load(path: &Path, env: &EnvOverrides) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let raw: RawConfig = toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        Config::from_raw(raw, base, env).map_err(|problems| ConfigError::Invalid {
            path: path.to_owned(),
            problems,
        })
    }

    /// Validate a parsed config; relative paths are resolved against `base`.
    pub fn from_raw(
        mut raw: RawConfig,
        base: &Path,
        env: &EnvOverrides,
    ) -> Result<Config, Vec<Problem>> {
        let mut problems = Vec::new();
        let mut problem = |field: &str, reason: String| {
            problems.push(Problem {
                field: field.to_string(),
                reason,
            })
        };

        if let Some(bind) = &env.bind {
            raw.server.bind = bind.clone();
        }
        if let Some(url) = &env.database_url {
            raw.database.url = url.clone();
        }

        if let Err(e) = uri::validate_issuer_id(&raw.issuer.id) {
            problem("issuer.id", e.to_string());
        }

        if raw.server.bind.parse::<std::net::SocketAddr>().is_err() {
            problem(
                "server.bind",
                format!(
                    "'{}' is not an address:port such as 127.0.0.1:8080",
                    raw.server.bind
                ),
            );
        }
        for (field, p) in [
            ("server.pull_uri_path", &raw.server.pull_uri_path),
            ("server.pull_doc_path", &raw.server.pull_doc_path),
        ] {
            if !p.starts_with('/') || p.contains(char::is_whitespace) {
                problem(
                    field,
                    format!("'{p}' must be a path starting with '/' without spaces"),
                );
            }
        }
        if raw.server.pull_uri_path == raw.server.pull_doc_path {
            problem(
                "server.pull_doc_path",
                "must differ from server.pull_uri_path".into(),
            );
        }
        if !(1024..=16 * 1024 * 1024).contains(&raw.server.max_body_bytes) {
            problem(
                "server.max_body_bytes",
                "must be between 1024 and 16777216".into(),
            );
        }

        if raw.database.pool_size == 0 || raw.database.pool_size > 256 {
            problem("database.pool_size", "must be between 1 and 256".into());
        }
        let db_url = resolve_db_url(&raw.database.url, base);
        if db_url.is_empty() {
            problem("database.url", "must not be empty".into());
        }

        // The API key: environment, then the file, then the inline value.
        let api_key = if let Some(k) = &env.api_key {
            Some(k.clone())
        } else if let Some(file) = &raw.digilocker.api_key_file {
            let p = base.join(file);
            match std::fs::read_to_string(&p) {
                Ok(s) => Some(s.trim().to_string()),
                Err(e) => {
                    problem(
                        "digilocker.api_key_file",
                        format!("cannot read {}: {e}", p.display()),
                    );
                    None
                }
            }
        } else {
            raw.digilocker.api_key.clone()
        };
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
        if raw.digilocker.org_id.trim().is_empty() {
            problem("digilocker.org_id", "must not be empty".into());
        }
        if !(1..=24 * 60).contains(&raw.digilocker.ts_window_minutes) {
            problem(
                "digilocker.ts_window_minutes",
                "must be between 1 and 1440".into(),
            );
        }

        if raw.doctypes.is_empty() {
            problem(
                "doctypes",
                "at least one [[doctypes]] entry is needed".into(),
            );
        }
        let mut doctypes = Vec::new();
        let mut source_problems = Vec::new();
        let mut codes = HashSet::new();
        for (i, d) in raw.doctypes.iter().enumerate() {
            let f = |s: &str| format!("doctypes[{i}].{s}");
            if let Err(e) = uri::validate_doc_type(&d.code) {
                problem(&f("code"), e.to_string());
            }
            if !codes.insert(d.code.to_ascii_uppercase()) {
                problem(&f("code"), format!("'{}' is defined twice", d.code));
            }
            if d.name.trim().is_empty() {
                problem(&f("name"), "must not be empty".into());
            }
            if d.udfs.is_empty() {
                problem(&f("udfs"), "a doc type needs at least one UDF".into());
            }
            let mut udfs = Vec::new();
            let mut names = HashSet::new();
            for (j, u) in d.udfs.iter().enumerate() {
                let uf = |s: &str| format!("doctypes[{i}].udfs[{j}].{s}");
                if !valid_element_name(&u.name) {
                    problem(
                        &uf("name"),
                        format!("'{}' is not a usable XML element name (letters, digits, '_', starting with a letter)", u.name),
                    );
                } else if RESERVED_DETAIL_NAMES
                    .iter()
                    .any(|r| r.eq_ignore_ascii_case(&u.name))
                {
                    problem(
                        &uf("name"),
                        format!(
                            "'{}' is a DigiLocker field name and cannot be a UDF",
                            u.name
                        ),
                    );
                } else if crate::import::REQUIRED_COLUMNS
                    .iter()
                    .chain(crate::import::OPTIONAL)
                    .any(|r| r.eq_ignore_ascii_case(&u.name))
                {
                    problem(
                        &uf("name"),
                        format!("'{}' is an import column name and cannot be a UDF", u.name),
                    );
                }
                if !names.insert(u.name.to_ascii_lowercase()) {
                    problem(&uf("name"), format!("'{}' appears twice", u.name));
                }
                if u.max_len == 0 || u.max_len > 1024 {
                    problem(&uf("max_len"), "must be between 1 and 1024".into());
                }
                match Regex::new(&format!("^(?:{})$", u.pattern)) {
                    Ok(re) => udfs.push(Udf {
                        name: u.name.clone(),
                        pattern: re,
                        max_len: u.max_len,
                    }),
                    Err(e) => problem(
                        &uf("pattern"),
                        format!("not a valid regular expression: {e}"),
                    ),
                }
            }
            let source = d.source.as_ref().map(|src| {
                let before = source_problems.len();
                let s = validate_source(src, &d.udfs, &f, base, &mut source_problems);
                (s, source_problems.len() == before)
            });
            let (source, source_ok) = match source {
                Some((s, ok)) => (s, ok),
                None => (None, true),
            };
            let template = match &d.template {
                Some(t) => match crate::docs::template::Template::load(&base.join(t)) {
                    Ok(t) => Some(t),
                    Err(e) => {
                        source_problems.push(Problem {
                            field: f("template"),
                            reason: e.to_string(),
                        });
                        None
                    }
                },
                None => None,
            };
            let source_ok = source_ok && (d.template.is_none() || template.is_some());
            match DocIdSpace::for_expected(d.expected_count, d.doc_id_length) {
                Ok(space) => {
                    if udfs.len() == d.udfs.len() && source_ok {
                        doctypes.push(DocType {
                            code: d.code.to_ascii_uppercase(),
                            name: d.name.clone(),
                            udfs,
                            id_space: space,
                            source,
                            template,
                        });
                    }
                }
                Err(e) => problem(
                    &f(if d.doc_id_length.is_some() {
                        "doc_id_length"
                    } else {
                        "expected_count"
                    }),
                    e.to_string(),
                ),
            }
        }

        let push = raw
            .push
            .as_ref()
            .map(|p| validate_push(p, base, env, &mut source_problems));
        problems.extend(source_problems);
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(Config {
            issuer_id: raw.issuer.id,
            issuer_name: raw.issuer.name,
            server: raw.server,
            database: DatabaseConfig {
                url: db_url,
                pool_size: raw.database.pool_size,
                connect_timeout_secs: raw.database.connect_timeout_secs.max(1),
            },
            digilocker: DigiLockerConfig {
                org_id: raw.digilocker.org_id,
                api_key: SecretString::from(api_key.unwrap_or_default()),
                ts_window_minutes: raw.digilocker.ts_window_minutes,
            },
            doctypes,
            push,
            signing: raw.signing.map(|mut s| {
                for p in [&mut s.key, &mut s.chain, &mut s.pkcs12]
                    .into_iter()
                    .flatten()
                {
                    *p = base.join(&*p);
                }
                s
            }),
        })
    }

    /// Loads and checks the signing key (None without a `[signing]` section).
    pub fn signing_key(
        &self,
    ) -> Result<Option<crate::docs::keys::SigningKey>, crate::docs::keys::KeyError> {
        let Some(s) = &self.signing else {
            return Ok(None);
        };
        let password = std::env::var("DLREPO_SIGNING_PASSWORD").ok();
        crate::docs::keys::SigningKey::load(&crate::docs::keys::KeySource {
            key: s.key.as_deref(),
            chain: s.chain.as_deref(),
            pkcs12: s.pkcs12.as_deref(),
            pkcs12_password: password.as_deref(),
            allow_expired: s.allow_expired,
        })
        .map(Some)
    }

    pub fn doctype(&self, code: &str) -> Option<&DocType> {
        self.doctypes
            .iter()
            .find(|d| d.code.eq_ignore_ascii_case(code))
    }

    pub fn api_key(&self) -> &str {
        self.digilocker.api_key.expose_secret()
    }

    /// Doc types whose UDF names are exactly the given ones.
    pub fn doctypes_with_udfs(&self, names: &[&str]) -> Vec<&DocType> {
        self.doctypes
            .iter()
            .filter(|d| d.udf_names_match(names))
            .collect()
    }

    /// Warnings that do not stop start-up but that an operator should know.
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (i, a) in self.doctypes.iter().enumerate() {
            for b in &self.doctypes[i + 1..] {
                let names: Vec<&str> = b.udfs.iter().map(|u| u.name.as_str()).collect();
                if a.udf_names_match(&names) {
                    out.push(format!(
                        "doc types {} and {} have the same UDFs: DigiLocker must call {}/{{DOCTYPE}} or send DocType to tell them apart",
                        a.code, b.code, self.server.pull_uri_path
                    ));
                }
            }
        }
        out
    }
}

/// `sqlite://x`, `file:x` and bare paths are SQLite files, resolved against the config's
/// folder; `postgres://` URLs pass through.
fn resolve_db_url(url: &str, base: &Path) -> String {
    let url = url.trim();
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return url.to_string();
    }
    let path = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("file:"))
        .unwrap_or(url);
    if path.is_empty() || path == ":memory:" {
        return path.to_string();
    }
    let p = Path::new(path);
    if p.is_absolute() {
        path.to_string()
    } else {
        base.join(p).to_string_lossy().into_owned()
    }
}

fn valid_element_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name.len() <= 64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(text: &str) -> RawConfig {
        toml::from_str(text).expect("toml")
    }

    const GOOD: &str = r#"
[issuer]
id = "in.gov.example.board"
[digilocker]
org_id = "EXAMPLEBOARD"
api_key = "0123456789abcdef0123"
[[doctypes]]
code = "MARKS"
name = "Class X Mark Sheet"
udfs = [ { name = "RollNo", pattern = "[0-9]{6,8}" }, { name = "Year", pattern = "(19|20)[0-9]{2}" } ]
"#;

    #[test]
    fn good_config_loads() {
        let c = Config::from_raw(
            raw(GOOD),
            Path::new("/etc/dlrepo"),
            &EnvOverrides::default(),
        )
        .expect("valid");
        assert_eq!(c.database.url, "/etc/dlrepo/dlrepo.sqlite3");
        assert_eq!(c.doctypes[0].udfs.len(), 2);
        assert!(c.doctypes[0].udfs[0].pattern.is_match("123456"));
        assert!(!c.doctypes[0].udfs[0].pattern.is_match("x123456"));
    }

    #[test]
    fn env_overrides_win() {
        let env = EnvOverrides {
            bind: Some("127.0.0.1:9999".into()),
            api_key: Some("from-the-environment-1234".into()),
            database_url: Some("postgres://x@y/z".into()),
            push_key: None,
        };
        let c = Config::from_raw(raw(GOOD), Path::new("."), &env).expect("valid");
        assert_eq!(c.server.bind, "127.0.0.1:9999");
        assert_eq!(c.api_key(), "from-the-environment-1234");
        assert_eq!(c.database.url, "postgres://x@y/z");
    }

    #[test]
    fn problems_name_their_fields() {
        let bad = GOOD
            .replace("in.gov.example.board", "in-gov")
            .replace("MARKS", "MARKS1")
            .replace("[0-9]{6,8}", "[0-9");
        let problems = Config::from_raw(raw(&bad), Path::new("."), &EnvOverrides::default())
            .expect_err("invalid");
        let fields: Vec<&str> = problems.iter().map(|p| p.field.as_str()).collect();
        assert!(fields.contains(&"issuer.id"), "{problems:?}");
        assert!(fields.contains(&"doctypes[0].code"), "{problems:?}");
        assert!(
            fields.contains(&"doctypes[0].udfs[0].pattern"),
            "{problems:?}"
        );
    }

    #[test]
    fn debug_never_shows_the_key() {
        let c =
            Config::from_raw(raw(GOOD), Path::new("."), &EnvOverrides::default()).expect("valid");
        assert!(!format!("{c:?}").contains("0123456789abcdef0123"));
    }
}
