//! The CLI as a user meets it.

use std::process::Command;

use crate::common::*;
use clap::CommandFactory;

backend_tests!(
    check_config_names_each_problem_field,
    mint_prints_fresh_well_formed_uris,
    env_overrides_the_api_key_and_database,
    four_mints_at_once_all_succeed_with_distinct_ids,
);

fn dlrepo() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_dlrepo"));
    c.env("RUST_LOG", "warn");
    c
}

#[test]
fn clap_definition_is_consistent() {
    dlrepo::cli::Cli::command().debug_assert();
}

#[test]
fn uri_parse_explains() {
    let out = dlrepo()
        .args(["uri", "parse", "in.gov.dept.state-INCER-1234567"])
        .output()
        .expect("run");
    assert!(out.status.success());
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(s.contains("IssuerId: in.gov.dept.state"), "{s}");
    assert!(s.contains("DocType:  INCER"), "{s}");
    assert!(s.contains("well-formed"), "{s}");

    let out = dlrepo()
        .args([
            "uri",
            "parse",
            "testt.in.gov.kerala.edistrict-A001116301471-420",
        ])
        .output()
        .expect("run");
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout)
        .contains("DocType 'A001116301471' must be 1 to 5 letters"));

    let out = dlrepo()
        .args(["uri", "parse", "no-dashes"])
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("malformed"));
}

async fn check_config_names_each_problem_field(b: Backend) {
    let ws = Workspace::new(b);
    let ok = dlrepo()
        .arg("--config")
        .arg(&ws.config_path)
        .arg("check-config")
        .output()
        .expect("run");
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(String::from_utf8_lossy(&ok.stdout).contains("OK"));

    let bad = config_text("db.sqlite3")
        .replace(ISSUER, "in-gov-test")
        .replace(
            "api_key = \"test-api-key-0123456789abcdef\"",
            "api_key = \"short\"",
        )
        .replace("[0-9]{6,8}", "[0-9")
        .replace("code = \"DIPLM\"", "code = \"MARKS\"")
        .replace("127.0.0.1:0", "nowhere");
    let path = ws.write("bad.toml", &bad);
    let out = dlrepo()
        .arg("--config")
        .arg(&path)
        .arg("check-config")
        .output()
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    for field in [
        "issuer.id:",
        "server.bind:",
        "digilocker.api_key:",
        "doctypes[0].udfs[0].pattern:",
        "doctypes[1].code:",
    ] {
        assert!(err.contains(field), "{field} missing in:\n{err}");
    }
    assert!(!err.contains("short\""), "no key echoed");

    let out = dlrepo()
        .arg("--config")
        .arg(ws.path("absent.toml"))
        .arg("serve")
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read config file"));
}

async fn mint_prints_fresh_well_formed_uris(b: Backend) {
    let ws = Workspace::new(b);
    let mint = |n: &str| {
        let out = dlrepo()
            .arg("--config")
            .arg(&ws.config_path)
            .args(["mint", "--doctype", "marks", "--count", n])
            .output()
            .expect("run");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    let mut all = std::collections::HashSet::new();
    for uri in mint("50").into_iter().chain(mint("50")) {
        let u = dlrepo::uri::DocUri::parse(&uri).expect("parse");
        assert!(u.strict_violations().is_empty(), "{uri}");
        assert_eq!(u.doc_type, "MARKS");
        assert!(!u.doc_id.contains(['0', '1', 'O', 'I', 'L']), "{uri}");
        assert!(all.insert(uri), "reserved ids are never minted again");
    }
    assert_eq!(all.len(), 100);
}

async fn env_overrides_the_api_key_and_database(b: Backend) {
    let ws = Workspace::new(b);
    let out = dlrepo()
        .arg("--config")
        .arg(&ws.config_path)
        .arg("check-config")
        .env("DLREPO_API_KEY", "x")
        .output()
        .expect("run");
    assert!(
        !out.status.success(),
        "a too-short key from the environment is refused"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("digilocker.api_key"));
}

#[test]
fn migration_folders_match_between_backends() {
    let names = |dir: &str| {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .expect("dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    assert_eq!(names("migrations/sqlite"), names("migrations/postgres"));
}

#[test]
fn demo_sets_up_a_working_folder_and_prints_a_signed_request() {
    let dir = tempfile::tempdir().expect("tmp");
    let work = dir.path().join("demo");
    let run = || {
        dlrepo()
            .args(["demo", "--no-serve", "--dir"])
            .arg(&work)
            .output()
            .expect("demo")
    };
    let out = run();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("imported 10 row(s), rejected 0"), "{text}");
    assert!(
        text.contains("curl -sS -X POST 'http://127.0.0.1:8080/pulluri'"),
        "{text}"
    );
    assert!(text.contains("keyhash="), "{text}");
    for f in [
        "dlrepo.toml",
        "dlrepo.sqlite3",
        "certs/signer.key",
        "templates/marksheet.toml",
    ] {
        assert!(work.join(f).exists(), "{f}");
    }
    // A second run reuses the folder and imports nothing twice.
    let again = run();
    assert!(again.status.success());
    assert!(!String::from_utf8_lossy(&again.stdout).contains("imported"));
}

/// `--help` never shows a secret taken from the environment.
#[test]
fn help_never_prints_a_secret() {
    for args in [
        vec!["central-standin", "--help"],
        vec!["keygen", "--help"],
        vec!["--help"],
    ] {
        let out = dlrepo()
            .args(&args)
            .env("DLREPO_PUSH_KEY", "secret-push-key-value")
            .env("DLREPO_SIGNING_PASSWORD", "secret-p12-password")
            .env("DLREPO_API_KEY", "secret-api-key-value")
            .output()
            .expect("run");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(!text.contains("secret-"), "{args:?}: {text}");
    }
}

/// Four `mint` processes at once draw from one small DocId space (DIPLM: 31^3): clashes
/// and, on PostgreSQL, deadlocks between them are retried; every id is distinct.
async fn four_mints_at_once_all_succeed_with_distinct_ids(b: Backend) {
    let ws = Workspace::new(b);
    let outs: Vec<std::process::Output> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|_| {
                s.spawn(|| {
                    dlrepo()
                        .arg("--config")
                        .arg(&ws.config_path)
                        .args(["mint", "--doctype", "DIPLM", "--count", "1500"])
                        .output()
                        .expect("run")
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("thread"))
            .collect()
    });
    let mut all = std::collections::HashSet::new();
    for out in &outs {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        for uri in String::from_utf8_lossy(&out.stdout).lines() {
            assert!(all.insert(uri.to_string()), "{uri} minted twice");
        }
    }
    assert_eq!(all.len(), 6000);
}
