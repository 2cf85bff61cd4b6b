//! Shared test helpers: a fresh SQLite database per test, the real server on a free
//! loopback port, and signed requests.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use dlrepo::auth;
use dlrepo::config::{Config, EnvOverrides};
use dlrepo::import::{self, ImportOptions};
use dlrepo::store;
use dlrepo::wire::pull::build;
use dlrepo::wire::xml::{self, Element};

pub const API_KEY: &str = "test-api-key-0123456789abcdef";
pub const ORG: &str = "TESTBOARD";
pub const ISSUER: &str = "in.gov.test.board";

pub fn config_text(db_url: &str) -> String {
    format!(
        r#"
[issuer]
id = "{ISSUER}"
name = "Test Board"
[server]
bind = "127.0.0.1:0"
max_body_bytes = 65536
[database]
url = "{db_url}"
pool_size = 4
connect_timeout_secs = 2
[digilocker]
org_id = "{ORG}"
api_key = "{API_KEY}"
ts_window_minutes = 30
[vault]
key_file = "vault.key"
[[doctypes]]
code = "MARKS"
name = "Class X Mark Sheet"
udfs = [ {{ name = "RollNo", pattern = "[0-9]{{6,8}}" }}, {{ name = "Year", pattern = "(19|20)[0-9]{{2}}" }} ]
[[doctypes]]
code = "DIPLM"
name = "Diploma"
expected_count = 1000
udfs = [ {{ name = "RegistrationNo", pattern = ".{{1,40}}" }} ]
"#
    )
}

/// Which database a test runs on. Every end-to-end test runs once per backend; the
/// PostgreSQL run needs a server (`DLREPO_TEST_PG_URL`, default the local one) and is
/// skipped without one unless `DLREPO_TEST_REQUIRE_PG=1` (as in CI).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub fn pg_admin_url() -> String {
    std::env::var("DLREPO_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_string())
}

/// The same server with another database name.
pub fn pg_url(db: &str) -> String {
    let admin = pg_admin_url();
    let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
    format!("{base}/{db}")
}

impl Backend {
    pub fn postgres() -> Option<Backend> {
        static AVAILABLE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        let up = *AVAILABLE.get_or_init(|| {
            use diesel::Connection;
            diesel::PgConnection::establish(&pg_admin_url()).is_ok()
        });
        if up {
            Some(Backend::Postgres)
        } else if std::env::var("DLREPO_TEST_REQUIRE_PG").is_ok_and(|v| v == "1") {
            panic!(
                "DLREPO_TEST_REQUIRE_PG=1 but PostgreSQL at {} does not answer",
                pg_admin_url()
            );
        } else {
            eprintln!("skipped on PostgreSQL: no server at {}", pg_admin_url());
            None
        }
    }
}

/// Runs each named `async fn name(b: Backend)` as two tests, `name::sqlite` and
/// `name::postgres`.
#[macro_export]
macro_rules! backend_tests {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test]
            async fn sqlite() {
                super::$name($crate::common::Backend::Sqlite).await
            }
            #[tokio::test]
            async fn postgres() {
                if let Some(b) = $crate::common::Backend::postgres() {
                    super::$name(b).await
                }
            }
        }
    )*};
}

/// A fresh PostgreSQL database, dropped (with its connections) when the test ends.
pub struct PgDatabase {
    pub name: String,
}

impl PgDatabase {
    pub fn create() -> PgDatabase {
        PgDatabase::named(&PgDatabase::unused_name(""))
    }

    /// A database name no other test uses; `kind` says what for, in `pg_stat_activity`.
    pub fn unused_name(kind: &str) -> String {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static N: AtomicUsize = AtomicUsize::new(0);
        format!(
            "dlrepo_t_{kind}{}_{}_{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst),
            rand::random::<u32>()
        )
    }

    /// Creates the database of that name (which a server may already be waiting for).
    pub fn named(name: &str) -> PgDatabase {
        use diesel::{Connection, RunQueryDsl};
        let mut admin = diesel::PgConnection::establish(&pg_admin_url()).expect("pg admin");
        diesel::sql_query(format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .expect("create database");
        PgDatabase {
            name: name.to_string(),
        }
    }

    pub fn url(&self) -> String {
        pg_url(&self.name)
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        use diesel::{Connection, RunQueryDsl};
        if let Ok(mut admin) = diesel::PgConnection::establish(&pg_admin_url()) {
            let _ = diesel::sql_query(format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .execute(&mut admin);
        }
    }
}

/// A working folder with a config and an empty, migrated database of the backend.
pub struct Workspace {
    pub backend: Backend,
    pub config_path: PathBuf,
    pub config: Config,
    pub pg: Option<PgDatabase>,
    pub dir: tempfile::TempDir,
}

impl Workspace {
    pub fn new(backend: Backend) -> Workspace {
        let dir = tempfile::tempdir().expect("tempdir");
        let config_path = dir.path().join("dlrepo.toml");
        let pg = (backend == Backend::Postgres).then(PgDatabase::create);
        let url = pg
            .as_ref()
            .map_or("dlrepo.sqlite3".to_string(), |d| d.url());
        std::fs::write(&config_path, config_text(&url)).expect("write config");
        write_vault_key(dir.path());
        let config = Config::load(&config_path, &EnvOverrides::default()).expect("config");
        store::open_and_migrate(&config.database).expect("migrate");
        Workspace {
            backend,
            config_path,
            config,
            pg,
            dir,
        }
    }

    /// Rewrites the config file (and reloads it): for tests that add to it.
    pub fn edit_config(&mut self, f: impl FnOnce(String) -> String) {
        let text = std::fs::read_to_string(&self.config_path).expect("config");
        std::fs::write(&self.config_path, f(text)).expect("write config");
        self.config = self.reload();
    }

    /// A throwaway ECDSA signing key made in `keys/`, and a `[signing]` section using it.
    pub fn sign_with_new_key(&mut self) {
        dlrepo::docs::keygen::generate(
            &self.path("keys"),
            dlrepo::docs::keygen::Algorithm::Ec,
            30,
            None,
        )
        .expect("keys");
        self.edit_config(|c| {
            c.replacen(
                "[[doctypes]]",
                "[signing]\nkey = \"keys/signer.key\"\nchain = \"keys/signer-chain.pem\"\n\n[[doctypes]]",
                1,
            )
        });
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn write(&self, name: &str, content: &str) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, content).expect("write");
        p
    }

    pub fn import(&self, doctype: &str, csv: &Path) -> import::ImportReport {
        let key = self.config.signing_key().expect("signing key");
        let vault = self.config.vault().expect("vault");
        let mut conn = store::establish(&self.config.database.url).expect("connect");
        import::run(
            &self.config,
            &mut conn,
            &ImportOptions {
                doctype,
                csv,
                out: None,
                batch_size: 100,
                commit_after: dlrepo::import::COMMIT_AFTER,
                sqlite_cache_mb: dlrepo::import::SQLITE_CACHE_MB,
                progress: false,
                correct: false,
                signer: key.as_ref(),
                vault: vault.as_ref(),
            },
        )
        .expect("import")
    }

    pub fn reload(&self) -> Config {
        Config::load(&self.config_path, &EnvOverrides::default()).expect("config")
    }
}

pub struct TestApp {
    pub addr: String,
    pub ws: Workspace,
    pub client: reqwest::Client,
}

/// The standard data set: three mark sheet rows (two share a roll number and year: the
/// second is refused as a conflict, so there is never more than one document per
/// search) and a diploma.
pub const MARKS_CSV: &str = "RollNo,Year,holder_name,doc_name,issued_on\n\
1234567,2020,Asha Rao,Mark Sheet 2020,15/05/2020\n\
7654321,2021,Ravi Kumar,Mark Sheet 2021,16/05/2021\n\
7654321,2021,Ravi Kumar,Mark Sheet 2021 (copy),16/05/2021\n";

pub async fn spawn_app(backend: Backend) -> TestApp {
    let ws = Workspace::new(backend);
    let csv = ws.write("marks.csv", MARKS_CSV);
    let report = ws.import("MARKS", &csv);
    assert_eq!(report.imported, 2, "{:?}", report.rejected);
    assert_eq!(report.rejected.len(), 1);
    assert!(
        report.rejected[0].reason.contains("conflicts with"),
        "{:?}",
        report.rejected
    );
    let diplomas = ws.write(
        "diplomas.csv",
        "RegistrationNo,doc_name,issued_on\n\"O'Brien; DROP TABLE documents; --\",Diploma,01/07/2023\n",
    );
    assert_eq!(ws.import("DIPLM", &diplomas).imported, 1);
    spawn_on(ws).await
}

pub async fn spawn_on(ws: Workspace) -> TestApp {
    let config = Arc::new(ws.reload());
    let pool = store::pool(&config.database).expect("pool");
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = format!("http://{}", listener.local_addr().expect("addr"));
    let state = dlrepo::server::AppState::prepare(config, pool).expect("department tables");
    let server = dlrepo::server::run(state, listener).expect("server");
    tokio::spawn(server);
    TestApp {
        addr,
        ws,
        client: reqwest::Client::new(),
    }
}

pub fn signed(ts: &str) -> String {
    auth::keyhash(API_KEY, ts)
}

/// A txn not used before in this test run: the server refuses a replayed one.
pub fn fresh_txn(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    format!("{prefix}{}", N.fetch_add(1, Ordering::Relaxed))
}

pub fn pull_uri_body(udfs: &[(&str, &str)]) -> String {
    let ts = auth::now_ts();
    build::pull_uri_request(&ts, &fresh_txn("txn-1-"), ORG, &signed(&ts), udfs)
}

pub fn pull_doc_body(uri: &str) -> String {
    let ts = auth::now_ts();
    build::pull_doc_request(&ts, &fresh_txn("txn-2-"), ORG, &signed(&ts), uri)
}

pub struct Reply {
    pub http: u16,
    pub root: Element,
}

impl Reply {
    pub fn status(&self) -> &str {
        self.root
            .child("ResponseStatus")
            .and_then(|s| s.attr("Status"))
            .expect("ResponseStatus/@Status")
    }

    pub fn detail(&self, name: &str) -> Option<&str> {
        self.root
            .child("DocDetails")
            .and_then(|d| d.child(name))
            .map(|e| e.text.as_str())
    }

    pub fn doc_bytes(&self) -> Vec<u8> {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD
            .decode(self.detail("DocContent").expect("DocContent"))
            .expect("base64")
    }
}

impl TestApp {
    pub async fn post(&self, path: &str, body: impl Into<reqwest::Body>) -> Reply {
        let resp = self
            .client
            .post(format!("{}{}", self.addr, path))
            .header("Content-Type", "application/xml")
            .body(body)
            .send()
            .await
            .expect("request");
        let http = resp.status().as_u16();
        let text = resp.text().await.expect("body");
        let root = xml::parse(text.as_bytes())
            .unwrap_or_else(|e| panic!("response is not XML ({e}): {text}"));
        Reply { http, root }
    }

    pub async fn pull_uri(&self, udfs: &[(&str, &str)]) -> Reply {
        self.post("/pulluri", pull_uri_body(udfs)).await
    }

    pub async fn pull_doc(&self, uri: &str) -> Reply {
        self.post("/pulldoc", pull_doc_body(uri)).await
    }
}

/// A self-signed certificate for localhost and 127.0.0.1 and its key, as PEM; made at
/// test time, never kept.
pub fn self_signed_localhost() -> (Vec<u8>, Vec<u8>) {
    use openssl::asn1::Asn1Time;
    use openssl::bn::{BigNum, MsbOption};
    use openssl::ec::{EcGroup, EcKey};
    use openssl::hash::MessageDigest;
    use openssl::nid::Nid;
    use openssl::pkey::PKey;
    use openssl::x509::extension::SubjectAlternativeName;
    use openssl::x509::{X509NameBuilder, X509};
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).expect("group");
    let key = PKey::from_ec_key(EcKey::generate(&group).expect("key")).expect("pkey");
    let mut name = X509NameBuilder::new().expect("name");
    name.append_entry_by_text("CN", "localhost").expect("cn");
    let name = name.build();
    let mut b = X509::builder().expect("builder");
    b.set_version(2).expect("version");
    let mut serial = BigNum::new().expect("bn");
    serial.rand(64, MsbOption::MAYBE_ZERO, false).expect("rand");
    b.set_serial_number(&serial.to_asn1_integer().expect("serial"))
        .expect("serial");
    b.set_subject_name(&name).expect("subject");
    b.set_issuer_name(&name).expect("issuer");
    b.set_pubkey(&key).expect("pubkey");
    b.set_not_before(&Asn1Time::days_from_now(0).expect("t"))
        .expect("nb");
    b.set_not_after(&Asn1Time::days_from_now(2).expect("t"))
        .expect("na");
    let san = SubjectAlternativeName::new()
        .dns("localhost")
        .ip("127.0.0.1")
        .build(&b.x509v3_context(None, None))
        .expect("san");
    b.append_extension(san).expect("ext");
    b.sign(&key, MessageDigest::sha256()).expect("sign");
    (
        b.build().to_pem().expect("pem"),
        key.private_key_to_pem_pkcs8().expect("key pem"),
    )
}

/// A fresh vault key file `vault.key` in `dir` (as the test config names it).
pub fn write_vault_key(dir: &Path) {
    dlrepo::files::write_private(
        &dir.join("vault.key"),
        dlrepo::vault::Vault::new_key_file()
            .expect("keys")
            .as_bytes(),
    )
    .expect("vault keys");
}

/// The outside programs (and files, such as fonts) a test needs, or None with a note
/// where some are missing; CI sets DLREPO_TEST_REQUIRE_TOOLS=1 so that they cannot be
/// skipped there.
pub fn require_tools(programs: &[&str], files: &[&str]) -> Option<()> {
    let have = |t: &str| {
        std::process::Command::new("sh")
            .args(["-c", &format!("command -v {t}")])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    let missing: Vec<&str> = programs
        .iter()
        .copied()
        .filter(|t| !have(t))
        .chain(files.iter().copied().filter(|f| !Path::new(f).exists()))
        .collect();
    if missing.is_empty() {
        return Some(());
    }
    if std::env::var("DLREPO_TEST_REQUIRE_TOOLS").is_ok_and(|v| v == "1") {
        panic!("missing: {missing:?}");
    }
    eprintln!("skipped: missing {missing:?}");
    None
}

/// A free loopback port, for a server started as its own process.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port()
}

/// An Aadhaar-valid number: the 11 digits `base11`, then their Verhoeff check digit.
pub fn valid_aadhaar(base11: u64) -> String {
    let base = base11.to_string();
    format!("{base}{}", dlrepo::aadhaar::verhoeff_digit(&base))
}

/// The push API key the central stand-in of the push tests expects.
pub const PUSH_KEY: &str = "push-key-for-tests-0123456789";

/// A central stand-in that keeps the rows it receives, answering after `delay_ms`.
pub fn push_standin(delay_ms: u64) -> dlrepo::push::standin::StandIn {
    dlrepo::push::standin::StandIn::start(
        "127.0.0.1:0",
        dlrepo::push::standin::StandInConfig {
            org_id: "in.gov.test.board".into(),
            api_key: PUSH_KEY.into(),
            keep_rows: true,
            delay: std::time::Duration::from_millis(delay_ms),
        },
    )
    .expect("stand-in")
}

/// Adds a `[push]` section aimed at `endpoint` (fast retries), then `extra`.
pub fn with_push(
    ws: &mut Workspace,
    endpoint: &str,
    rows_per_file: u32,
    timeout_secs: u64,
    extra: &str,
) {
    let block = format!(
        "\n[push]\nendpoint = \"{endpoint}\"\norg_id = \"in.gov.test.board\"\napi_key = \"{PUSH_KEY}\"\nrows_per_file = {rows_per_file}\ntimeout_secs = {timeout_secs}\nmax_attempts = 6\nbackoff_base_ms = 10\nbackoff_max_ms = 50\n{extra}"
    );
    ws.edit_config(|c| c + &block);
}

/// Pull URI of the standard data set's roll number and year to a server at `addr`:
/// the HTTP status and the answer's ResponseStatus.
pub async fn pull_status(
    client: &reqwest::Client,
    addr: &str,
    roll: &str,
    year: &str,
) -> (u16, String) {
    post_status(
        client,
        addr,
        pull_uri_body(&[("RollNo", roll), ("Year", year)]),
    )
    .await
}

/// Posts a Pull URI request body to the server at `addr`: its HTTP code and Status.
pub async fn post_status(client: &reqwest::Client, addr: &str, body: String) -> (u16, String) {
    let r = client
        .post(format!("{addr}/pulluri"))
        .body(body)
        .timeout(std::time::Duration::from_secs(10))
        .send()
        .await
        .expect("pull");
    let code = r.status().as_u16();
    let root = xml::parse(&r.bytes().await.expect("body")).expect("XML");
    let status = root
        .child("ResponseStatus")
        .and_then(|s| s.attr("Status"))
        .unwrap_or("?")
        .to_string();
    (code, status)
}

/// Stops a served `dlrepo` as an init system does: SIGTERM, then its exit (SIGKILL
/// after 30 s). True when it exited by itself.
pub fn stop_gracefully(child: &mut std::process::Child) -> bool {
    let Ok(pid) = libc::pid_t::try_from(child.id()) else {
        let _ = child.kill();
        return false;
    };
    // SAFETY: kill(2) on our own child's pid; no memory is shared.
    unsafe { libc::kill(pid, libc::SIGTERM) };
    let started = std::time::Instant::now();
    while started.elapsed() < std::time::Duration::from_secs(30) {
        if let Ok(Some(_)) = child.try_wait() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    false
}

/// Queues `n` push rows straight into the outbox (tests about the push, not the import):
/// DocIds `{prefix}0000000`, ..., Aadhaar numbers from `aadhaar_base11` up.
pub fn queue_rows(ws: &Workspace, prefix: &str, aadhaar_base11: u64, n: u64) {
    let now = chrono::Utc::now().naive_utc();
    let rows: Vec<_> = (0..n)
        .map(|i| {
            let doc_id = format!("{prefix}{i:07}");
            dlrepo::push::outbox::NewOutboxRow {
                aadhaar: valid_aadhaar(aadhaar_base11 + i),
                uri: dlrepo::uri::DocUri::of(ISSUER, "MARKS", &doc_id).to_string(),
                doc_type: "MARKS".into(),
                doc_name: "Mark Sheet".into(),
                doc_id,
                issued_on: Some("2024-05-15".into()),
                valid_from: None,
                valid_to: None,
                action: "A".into(),
                time_stamp: now,
            }
        })
        .collect();
    let mut conn = dlrepo::store::establish(&ws.config.database.url).expect("conn");
    dlrepo::push::outbox::enqueue(&mut conn, &rows).expect("enqueue");
}
