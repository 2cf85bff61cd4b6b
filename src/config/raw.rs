//! What serde reads from the TOML file, before any check. Only `config` sees these;
//! the rest of the program uses the validated types of [`super`].

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use serde::Deserialize;

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
    #[serde(default)]
    pub vault: Option<RawVault>,
    #[serde(default)]
    pub audit: RawAudit,
    #[serde(default)]
    pub console: RawConsole,
    #[serde(default)]
    pub requester: Option<RawRequester>,
}

/// `[requester]`: receiving documents residents share, and Save to Locker links.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRequester {
    pub app_id: String,
    /// Prefer app_key_file or DLREPO_REQUESTER_KEY.
    #[serde(default)]
    pub app_key: Option<String>,
    #[serde(default)]
    pub app_key_file: Option<PathBuf>,
    /// The upload service as the department's page reaches it, e.g.
    /// https://board.example/requester/upload (dlrepo answers on its path).
    pub public_upload_url: String,
    #[serde(default = "default_allowed_hosts")]
    pub allowed_hosts: Vec<String>,
    #[serde(default = "default_max_bytes")]
    pub max_bytes: usize,
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
    /// Another CA to trust for the document hosts (e.g. a TLS-inspecting proxy).
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// How long a Save to Locker link works.
    #[serde(default = "default_link_minutes")]
    pub link_minutes: u32,
}

fn default_allowed_hosts() -> Vec<String> {
    vec!["digilocker.gov.in".into(), "*.digilocker.gov.in".into()]
}
fn default_max_bytes() -> usize {
    10 * 1024 * 1024
}
fn default_timeout() -> u64 {
    10
}
fn default_link_minutes() -> u32 {
    60
}

/// `[console]`: the read-only web console (off by default).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawConsole {
    pub enabled: bool,
    pub user: String,
    /// An argon2 PHC string (`dlrepo console hash-password`); or DLREPO_CONSOLE_PASSWORD_HASH.
    pub password_hash: Option<String>,
    pub session_minutes: u32,
    /// Addresses or CIDR networks the console answers; empty: anyone.
    pub allow_callers: Vec<String>,
}

impl Default for RawConsole {
    fn default() -> Self {
        RawConsole {
            enabled: false,
            user: "admin".into(),
            password_hash: None,
            session_minutes: 30,
            allow_callers: Vec::new(),
        }
    }
}

/// `[audit]`: the trail of pulls and pushes (see `crate::audit`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawAudit {
    pub enabled: bool,
    pub retention_days: u32,
    /// `hash`, `masked` or `omit`.
    pub search_values: String,
    pub queue: usize,
    /// New rows whose lookup keys are indexed together (see `crate::audit::segments`).
    pub segment_rows: u32,
}

impl Default for RawAudit {
    fn default() -> Self {
        RawAudit {
            enabled: true,
            retention_days: 400,
            search_values: "hash".into(),
            queue: 10_000,
            segment_rows: crate::audit::segments::SEGMENT_ROWS,
        }
    }
}

/// `[vault]`: where the keys of the Aadhaar vault are (DLREPO_VAULT_KEYS overrides).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawVault {
    pub key_file: PathBuf,
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
    /// `csv`: PushCSVRequest files to the CSV Upload API (default); `uri`: one
    /// PushUriRequest per document to the `issuedoc` API (`endpoint` is then that one).
    #[serde(default)]
    pub mode: Option<String>,
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
    pub request_timeout_secs: u64,
    pub keep_alive_secs: u64,
    pub max_connections: usize,
    pub max_blocking: usize,
    pub tls_cert: Option<String>,
    pub tls_key: Option<String>,
    pub tls_pkcs12: Option<String>,
    pub allow_callers: Vec<String>,
    pub health_bind: Option<String>,
}

impl Default for RawServer {
    fn default() -> Self {
        RawServer {
            bind: "127.0.0.1:8080".into(),
            pull_uri_path: "/pulluri".into(),
            pull_doc_path: "/pulldoc".into(),
            workers: 0,
            max_body_bytes: 64 * 1024,
            request_timeout_secs: 10,
            keep_alive_secs: 5,
            max_connections: 0,
            max_blocking: 256,
            tls_cert: None,
            tls_key: None,
            tls_pkcs12: None,
            allow_callers: Vec::new(),
            health_bind: None,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawDatabase {
    pub url: String,
    pub pool_size: u32,
    pub connect_timeout_secs: u64,
    pub replica_url: Option<String>,
    pub sqlite_mmap_mb: u64,
}

/// Twice this machine's cores, 4 to 32: connections beyond what the cores can run only
/// queue inside the database. On 2 cores, 8 connections gave PostgreSQL pulls a p99 of
/// 105-195 ms and 4 gave 21-25 ms, at a higher rate, and SQLite pulls too were faster
/// (BENCHMARKS.md, 2026-12-04).
pub fn default_pool_size() -> u32 {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    u32::try_from(cores.saturating_mul(2))
        .unwrap_or(u32::MAX)
        .clamp(4, 32)
}

impl Default for RawDatabase {
    fn default() -> Self {
        RawDatabase {
            url: "dlrepo.sqlite3".into(),
            pool_size: default_pool_size(),
            connect_timeout_secs: 5,
            replica_url: None,
            sqlite_mmap_mb: 0,
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
    /// What a request without `format` gets: `pdf` (the 1.0 and 3.0 contracts), or
    /// `xml` / `both` where the partner-portal registration says so.
    #[serde(default)]
    pub default_format: Option<String>,
    /// Refuse requests without `x-digilocker-hmac` (checked whenever present).
    #[serde(default)]
    pub require_hmac: bool,
    /// Accepted encodings of the HMAC header: `raw` (base64 of the MAC, the spec's
    /// words) and `hex` (base64 of its lowercase hex, what working issuers check).
    #[serde(default = "default_hmac_encodings")]
    pub hmac_encodings: Vec<String>,
    /// Refuse a request whose (orgId, txn) was already answered within the ts window.
    #[serde(default = "default_true")]
    pub refuse_replays: bool,
}

fn default_true() -> bool {
    true
}

fn default_hmac_encodings() -> Vec<String> {
    vec!["raw".into(), "hex".into()]
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
    /// Check the resident's FullName/DOB against the holder's: `off`, `lenient`
    /// (default), `strict`.
    #[serde(default)]
    pub resident_match: Option<String>,
    /// What goes into the certificate XML (DataContent).
    #[serde(default)]
    pub certificate: Option<RawCertificate>,
    /// Rows without a document yet (no `pdf` on import, an empty document column in a
    /// department table) are recorded and answered Status 9 (pending) instead of being
    /// rendered; the URI is pushed once the document is there.
    #[serde(default)]
    pub await_documents: bool,
}

/// `[doctypes.certificate]`: the doc type's certificate XML, without code.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCertificate {
    /// `Certificate/@type`; default: the doc type code.
    #[serde(default, rename = "type")]
    pub cert_type: Option<String>,
    #[serde(default)]
    pub language: Option<String>,
    /// The place of issue.
    #[serde(default)]
    pub issued_at: Option<String>,
    /// `IssuedBy/Organization`; default: the issuer's name and id, type SG.
    #[serde(default)]
    pub organization: Option<RawOrganization>,
    /// The element inside `CertificateData`; default `Data`.
    #[serde(default)]
    pub data_element: Option<String>,
    /// `[attribute, field]` pairs: `[ ["total", "TotalMarks"], ["result", "Result"] ]`.
    /// Fields are UDFs, `doc_name`, `holder_name`, `issued_on`, ..., template fields or
    /// source field labels; for imported doc types any other name is a CSV column.
    #[serde(default)]
    pub data: Vec<(String, String)>,
    /// `[attribute, field]` pairs set on `Certificate` itself per document (added, or
    /// replacing a default such as `issuedAt`).
    #[serde(default)]
    pub attributes: Vec<(String, String)>,
    /// `[attribute, field]` pairs added to `IssuedTo/Person` (e.g. `["swd", "FatherName"]`).
    #[serde(default)]
    pub person: Vec<(String, String)>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawOrganization {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub code: Option<String>,
    /// CG, SG or NG.
    #[serde(default, rename = "type")]
    pub org_type: Option<String>,
    #[serde(default)]
    pub tin: Option<String>,
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
    pub udf_columns: BTreeMap<String, String>,
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
    /// The holder's date of birth, gender and phone (IssuedTo, resident matching).
    #[serde(default)]
    pub dob: Option<String>,
    #[serde(default)]
    pub gender: Option<String>,
    #[serde(default)]
    pub phone: Option<String>,
    /// A bytea/BLOB column holding the PDF; without it the certificate is rendered.
    #[serde(default)]
    pub document_column: Option<String>,
    /// A column that says the document is cancelled (true, 1, yes, y, t).
    #[serde(default)]
    pub revoked_column: Option<String>,
    /// An `updated_at` or version column: when set, a row counts as changed when it
    /// changes (else when any mapped column does).
    #[serde(default)]
    pub version_column: Option<String>,
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
