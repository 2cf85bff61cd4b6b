//! Typed configuration: one TOML file plus environment overrides, validated at start-up.
//!
//! [`raw`] is what serde reads; [`Config`] is what the rest of the program uses, built
//! only by [`Config::load`] after every field was checked, one file per section. Each
//! problem names its field (`doctypes[0].udfs[1].pattern`) so that `dlrepo check-config`
//! can list them all at once.
//!
//! Environment overrides, read in one place ([`EnvOverrides`]): `DLREPO_CONFIG`, `DLREPO_BIND`,
//! `DLREPO_API_KEY`, `DLREPO_DATABASE_URL`, `DLREPO_PUSH_KEY`, `DLREPO_SIGNING_PASSWORD`, `DLREPO_VAULT_KEYS`,
//! `DLREPO_TLS_PASSWORD`, `DLREPO_CONSOLE_PASSWORD_HASH`, `DLREPO_REQUESTER_KEY`.

mod audit;
mod certificate;
mod console;
mod digilocker;
mod doctypes;
mod push;
pub mod raw;
mod requester;
mod server;
mod source;

use std::fmt;
use std::path::{Path, PathBuf};

use secrecy::{ExposeSecret, SecretString};

pub use self::audit::AuditConfig;
pub use self::console::ConsoleConfig;
pub use self::digilocker::DigiLockerConfig;
pub use self::push::{PushConfig, PushMode};
pub use self::requester::RequesterConfig;
pub use self::server::{caller_allowed, IpNet, ServerConfig, TlsConfig};
pub use self::source::valid_identifier;
use crate::doctype::DocType;
use crate::uri;
use raw::RawConfig;

/// The validated configuration.
#[derive(Debug)]
pub struct Config {
    pub issuer_id: String,
    pub issuer_name: Option<String>,
    pub server: ServerConfig,
    pub database: DatabaseConfig,
    pub digilocker: DigiLockerConfig,
    pub doctypes: Vec<DocType>,
    pub push: Option<PushConfig>,
    /// The key is loaded by [`Config::signing_key`], once.
    pub signing: Option<SigningConfig>,
    /// Where the Aadhaar vault's keys come from; loaded by [`Config::vault`].
    pub vault: Option<VaultKeys>,
    pub audit: AuditConfig,
    /// The read-only web console, when enabled.
    pub console: Option<ConsoleConfig>,
    /// The requester side (upload service, Save to Locker), when configured.
    pub requester: Option<RequesterConfig>,
}

/// The vault's keys: a file (resolved against the config's folder) or the text of
/// `DLREPO_VAULT_KEYS`.
pub enum VaultKeys {
    File(PathBuf),
    Env(SecretString),
}

impl fmt::Debug for VaultKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VaultKeys::File(p) => write!(f, "VaultKeys::File({})", p.display()),
            VaultKeys::Env(_) => write!(f, "VaultKeys::Env([redacted])"),
        }
    }
}

/// `[database]`: defined by the store, which is what uses it.
pub use crate::store::DatabaseConfig;

/// `[signing]`, paths resolved against the config's folder.
pub struct SigningConfig {
    pub key: Option<PathBuf>,
    pub chain: Option<PathBuf>,
    pub pkcs12: Option<PathBuf>,
    pkcs12_password: Option<SecretString>,
    pub allow_expired: bool,
}

impl fmt::Debug for SigningConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningConfig")
            .field("key", &self.key)
            .field("chain", &self.chain)
            .field("pkcs12", &self.pkcs12)
            .finish_non_exhaustive()
    }
}

/// One thing wrong with the configuration, named by its field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub field: String,
    pub reason: String,
}

impl Problem {
    pub fn new(field: &str, reason: String) -> Problem {
        Problem {
            field: field.to_string(),
            reason,
        }
    }
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
    /// `DLREPO_CONFIG`: the config file when `--config` is not given.
    pub config_path: Option<std::path::PathBuf>,
    pub bind: Option<String>,
    pub api_key: Option<String>,
    pub database_url: Option<String>,
    pub push_key: Option<String>,
    /// The password of `signing.pkcs12`.
    pub signing_password: Option<String>,
    /// The Aadhaar vault's key lines, `;`-separated.
    pub vault_keys: Option<String>,
    /// The password of `server.tls_pkcs12`.
    pub tls_password: Option<String>,
    /// The console's argon2 password hash.
    pub console_password_hash: Option<String>,
    /// `[requester]`'s app key.
    pub requester_key: Option<String>,
}

impl EnvOverrides {
    pub fn from_env() -> Self {
        let get = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        EnvOverrides {
            config_path: get("DLREPO_CONFIG").map(std::path::PathBuf::from),
            bind: get("DLREPO_BIND"),
            api_key: get("DLREPO_API_KEY"),
            database_url: get("DLREPO_DATABASE_URL"),
            push_key: get("DLREPO_PUSH_KEY"),
            signing_password: get("DLREPO_SIGNING_PASSWORD"),
            vault_keys: get("DLREPO_VAULT_KEYS"),
            tls_password: get("DLREPO_TLS_PASSWORD"),
            console_password_hash: get("DLREPO_CONSOLE_PASSWORD_HASH"),
            requester_key: get("DLREPO_REQUESTER_KEY"),
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
        if let Some(bind) = &env.bind {
            raw.server.bind = bind.clone();
        }
        if let Some(url) = &env.database_url {
            raw.database.url = url.clone();
        }
        if let Err(e) = uri::validate_issuer_id(&raw.issuer.id) {
            problems.push(Problem::new("issuer.id", e.to_string()));
        }
        let server = server::validate(raw.server, base, env, &mut problems);
        let audit = audit::validate(&raw.audit, &mut problems);
        let console = console::validate(&raw.console, env, &mut problems);
        let requester = raw
            .requester
            .as_ref()
            .and_then(|r| requester::validate(r, base, env, &mut problems));
        if raw.database.pool_size == 0 || raw.database.pool_size > 256 {
            problems.push(Problem::new(
                "database.pool_size",
                "must be between 1 and 256".into(),
            ));
        }
        let db_url = resolve_db_url(&raw.database.url, base);
        let replica_url = raw.database.replica_url.clone();
        if let Some(r) = &replica_url {
            if crate::store::backend_of(r) != crate::store::Backend::Postgres
                || crate::store::backend_of(&db_url) != crate::store::Backend::Postgres
            {
                problems.push(Problem::new(
                    "database.replica_url",
                    "a read replica is a postgres:// URL, beside a PostgreSQL database.url".into(),
                ));
            }
        }
        if db_url.is_empty() {
            problems.push(Problem::new("database.url", "must not be empty".into()));
        }
        let digilocker = digilocker::validate(raw.digilocker, base, env, &mut problems);
        let issuer = certificate::Issuer {
            id: &raw.issuer.id,
            name: raw.issuer.name.as_deref(),
        };
        let doctypes = doctypes::validate(&raw.doctypes, base, &issuer, &mut problems);
        let has_vault = raw.vault.is_some() || env.vault_keys.is_some();
        for (i, d) in doctypes.iter().enumerate() {
            if d.source.as_ref().is_some_and(|s| s.aadhaar.is_some()) && !has_vault {
                problems.push(Problem::new(
                    &format!("doctypes[{i}].source.aadhaar"),
                    "needs a [vault]: a department row's Aadhaar number is sealed there before its push is queued".into(),
                ));
            }
        }
        let push = raw
            .push
            .as_ref()
            .map(|p| push::validate(p, base, env, &mut problems));
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(Config {
            issuer_id: raw.issuer.id,
            issuer_name: raw.issuer.name,
            server,
            database: DatabaseConfig {
                url: db_url,
                pool_size: raw.database.pool_size,
                connect_timeout_secs: raw.database.connect_timeout_secs.max(1),
                replica_url,
                sqlite_mmap_mb: raw.database.sqlite_mmap_mb,
            },
            digilocker,
            doctypes,
            push,
            signing: raw.signing.map(|s| SigningConfig {
                key: s.key.map(|p| base.join(p)),
                chain: s.chain.map(|p| base.join(p)),
                pkcs12: s.pkcs12.map(|p| base.join(p)),
                pkcs12_password: env.signing_password.clone().map(SecretString::from),
                allow_expired: s.allow_expired,
            }),
            vault: match (&env.vault_keys, raw.vault) {
                (Some(k), _) => Some(VaultKeys::Env(SecretString::from(k.clone()))),
                (None, Some(v)) => Some(VaultKeys::File(base.join(v.key_file))),
                (None, None) => None,
            },
            audit,
            console,
            requester,
        })
    }

    /// Loads and checks the signing key (None without a `[signing]` section).
    pub fn signing_key(
        &self,
    ) -> Result<Option<crate::docs::keys::SigningKey>, crate::docs::keys::KeyError> {
        let Some(s) = &self.signing else {
            return Ok(None);
        };
        crate::docs::keys::SigningKey::load(&crate::docs::keys::KeySource {
            key: s.key.as_deref(),
            chain: s.chain.as_deref(),
            pkcs12: s.pkcs12.as_deref(),
            pkcs12_password: s.pkcs12_password.as_ref().map(|p| p.expose_secret()),
            allow_expired: s.allow_expired,
        })
        .map(Some)
    }

    /// Loads the Aadhaar vault's keys (None without `[vault]` or DLREPO_VAULT_KEYS).
    pub fn vault(&self) -> Result<Option<crate::vault::Vault>, crate::vault::VaultError> {
        match &self.vault {
            None => Ok(None),
            Some(VaultKeys::File(p)) => crate::vault::Vault::load(p).map(Some),
            Some(VaultKeys::Env(k)) => {
                crate::vault::Vault::parse(k.expose_secret(), "DLREPO_VAULT_KEYS").map(Some)
            }
        }
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

/// Files that hold secrets or citizens' data and that others than their owner can read:
/// the config (the API key), the API key file, the SQLite database. Warnings, for
/// `serve` and `check-config`; a readable private key is refused when it is loaded.
pub fn exposed_files(config_path: &Path, config: &Config) -> Vec<String> {
    let mut files = vec![("config", config_path.to_path_buf())];
    if crate::store::backend_of(&config.database.url) == crate::store::Backend::Sqlite {
        files.push(("database", PathBuf::from(&config.database.url)));
    }
    if let Some(f) = &config.digilocker.api_key_file {
        files.push(("digilocker.api_key_file", f.clone()));
    }
    files
        .into_iter()
        .filter_map(|(what, path)| {
            crate::files::open_to_others(&path).map(|mode| {
                format!(
                    "{what} {} can be read by group or others (mode {mode:o}): chmod 600 it",
                    path.display()
                )
            })
        })
        .collect()
}

/// `sqlite://x`, `file:x` and bare paths are SQLite files, resolved against the config's
/// folder; `postgres://` URLs pass through.
pub(crate) fn resolve_db_url(url: &str, base: &Path) -> String {
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
            ..EnvOverrides::default()
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
