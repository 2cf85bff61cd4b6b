//! Aadhaar numbers at rest: nowhere in the database in clear (the SQLite file's bytes, a
//! PostgreSQL dump), still pushed right, and a key rotation killed midway resumes and
//! loses nothing.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::*;

backend_tests!(
    no_aadhaar_number_in_clear_and_the_push_file_still_has_them,
    key_rotation_killed_midway_resumes_and_loses_nothing,
);

fn dlrepo(ws: &Workspace) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_dlrepo"));
    c.arg("--config")
        .arg(&ws.config_path)
        .env("RUST_LOG", "warn");
    c
}

fn run(ws: &Workspace, args: &[&str]) -> String {
    let out = dlrepo(ws).args(args).output().expect("run");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{args:?}: {text}");
    text
}

fn aadhaar_of(i: u64) -> String {
    let base = format!("{}", 52_000_000_000u64 + i * 7919);
    format!("{base}{}", dlrepo::aadhaar::verhoeff_digit(&base))
}

/// Imports `n` rows with Aadhaar numbers (through the binary, as an operator would).
fn import(ws: &Workspace, n: u64) -> Vec<String> {
    std::fs::write(ws.path("sheet.pdf"), b"%PDF-1.4\n% sheet\n%%EOF\n").expect("pdf");
    let mut csv = String::from("RollNo,Year,holder_name,aadhaar,doc_name,issued_on,pdf\n");
    let numbers: Vec<String> = (0..n).map(aadhaar_of).collect();
    for (i, a) in numbers.iter().enumerate() {
        csv.push_str(&format!(
            "{},2024,Student {i},{a},Mark Sheet,15/05/2024,sheet.pdf\n",
            3_000_000 + i
        ));
    }
    let file = ws.write("a.csv", &csv);
    let text = run(
        ws,
        &["import", "--doctype", "MARKS", file.to_str().expect("path")],
    );
    assert!(text.contains(&format!("imported {n} row(s)")), "{text}");
    numbers
}

/// Every byte the database keeps: the SQLite file and its WAL, or a pg_dump.
fn database_bytes(ws: &Workspace) -> Vec<u8> {
    match ws.backend {
        Backend::Sqlite => {
            let db = &ws.config.database.url;
            let mut bytes = std::fs::read(db).expect("db");
            if let Ok(wal) = std::fs::read(format!("{db}-wal")) {
                bytes.extend(wal);
            }
            bytes
        }
        Backend::Postgres => {
            let out = Command::new("pg_dump")
                .arg(ws.pg.as_ref().expect("pg").url())
                .output()
                .expect("pg_dump");
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            out.stdout
        }
    }
}

fn in_clear(bytes: &[u8], numbers: &[String]) -> Vec<String> {
    numbers
        .iter()
        .filter(|n| bytes.windows(12).any(|w| w == n.as_bytes()))
        .cloned()
        .collect()
}

/// `push --export`: the CSV files, the one place the numbers appear.
/// Pushes the queue to a stand-in of the central API; the Aadhaar numbers it received.
fn pushed_numbers(ws: &Workspace) -> Vec<String> {
    use dlrepo::push::standin::{StandIn, StandInConfig};
    let central = StandIn::start(
        "127.0.0.1:0",
        StandInConfig {
            org_id: "in.gov.test.board".into(),
            api_key: "push-key-for-vault-tests-0123".into(),
            keep_rows: true,
            delay: Duration::ZERO,
        },
    )
    .expect("stand-in");
    let text = std::fs::read_to_string(&ws.config_path).expect("config");
    std::fs::write(
        &ws.config_path,
        text + &format!(
            "\n[push]\nendpoint = \"{}\"\norg_id = \"in.gov.test.board\"\napi_key = \"push-key-for-vault-tests-0123\"\n",
            central.url()
        ),
    )
    .expect("config");
    run(ws, &["push"]);
    let mut numbers: Vec<String> = central
        .received()
        .into_iter()
        .filter(|r| r.accepted)
        .flat_map(|r| r.aadhaar)
        .collect();
    numbers.sort();
    numbers
}

fn exported_numbers(ws: &Workspace, dir: &str) -> Vec<String> {
    let text = std::fs::read_to_string(&ws.config_path).expect("config");
    if !text.contains("[push]") {
        std::fs::write(
            &ws.config_path,
            text + "\n[push]\norg_id = \"in.gov.test.board\"\n",
        )
        .expect("config");
    }
    let out = ws.path(dir);
    run(ws, &["push", "--export", out.to_str().expect("path")]);
    let mut numbers = Vec::new();
    for f in std::fs::read_dir(&out).expect("dir") {
        let text = std::fs::read_to_string(f.expect("entry").path()).expect("csv");
        numbers.extend(
            text.lines()
                .skip(1)
                .map(|l| l.split(',').next().unwrap_or("").to_string()),
        );
    }
    numbers.sort();
    numbers
}

async fn no_aadhaar_number_in_clear_and_the_push_file_still_has_them(b: Backend) {
    let ws = Workspace::new(b);
    let numbers = import(&ws, 300);
    let found = in_clear(&database_bytes(&ws), &numbers);
    assert!(
        found.is_empty(),
        "{} numbers in clear, e.g. {:?}",
        found.len(),
        &found[..1]
    );
    let mut expected = numbers.clone();
    expected.sort();
    assert_eq!(
        pushed_numbers(&ws),
        expected,
        "the central stand-in receives the right numbers"
    );
    // The documents still show the last four digits (templates, certificate XML).
    let mut conn = dlrepo::store::establish(&ws.config.database.url).expect("conn");
    use diesel::RunQueryDsl;
    #[derive(diesel::QueryableByName)]
    struct A {
        #[diesel(sql_type = diesel::sql_types::Text)]
        aadhaar: String,
    }
    let one: A = diesel::sql_query(
        "SELECT aadhaar FROM documents WHERE aadhaar IS NOT NULL ORDER BY id LIMIT 1",
    )
    .get_result(&mut conn)
    .expect("row");
    assert!(one.aadhaar.starts_with("vault:"), "{}", one.aadhaar);
    assert!(numbers.iter().any(|n| one.aadhaar.ends_with(&n[8..])));
}

async fn key_rotation_killed_midway_resumes_and_loses_nothing(b: Backend) {
    const ROWS: u64 = 20_000;
    let ws = Workspace::new(b);
    let numbers = import(&ws, ROWS);
    let text = run(&ws, &["vault", "add-key"]);
    assert!(text.contains("added key k2"), "{text}");
    let mut child = dlrepo(&ws)
        .args(["vault", "rotate-key", "--batch", "200"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    // Killed once some numbers are under the new key and before all are.
    let started = Instant::now();
    while under_key(&ws, "k2") == 0 {
        assert!(
            child.try_wait().expect("wait").is_none(),
            "finished before the kill"
        );
        assert!(started.elapsed() < Duration::from_secs(60), "no progress");
        std::thread::sleep(Duration::from_millis(2));
    }
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    let left = under_key(&ws, "k1");
    assert!(left > 0, "the kill came after the last batch");
    assert_eq!(
        left + under_key(&ws, "k2"),
        ROWS as i64,
        "no number lost at the kill"
    );
    let status = run(&ws, &["vault", "status"]);
    assert!(status.contains("current key k2"), "{status}");
    let text = run(&ws, &["vault", "rotate-key", "--batch", "500"]);
    assert!(text.contains("under key k2"), "{text}");
    let status = run(&ws, &["vault", "status"]);
    assert!(
        status.contains(&format!(
            "current key k2: {ROWS} number(s); under older keys: 0"
        )),
        "{status}"
    );
    let mut expected = numbers;
    expected.sort();
    assert_eq!(exported_numbers(&ws, "export"), expected, "nothing lost");
    // The old key can go now: everything opens with k2 alone.
    let keys = std::fs::read_to_string(ws.path("vault.key")).expect("keys");
    let without_k1: String = keys
        .lines()
        .filter(|l| !l.starts_with("key k1 "))
        .map(|l| format!("{l}\n"))
        .collect();
    dlrepo::files::write_private(&ws.path("vault.key"), without_k1.as_bytes()).expect("write");
    let status = run(&ws, &["vault", "status"]);
    assert!(status.contains("under older keys: 0"), "{status}");
}

/// How many vault rows are sealed under `key`.
fn under_key(ws: &Workspace, key: &str) -> i64 {
    use diesel::prelude::*;
    use dlrepo::store::schema::aadhaar_vault;
    let mut conn = dlrepo::store::establish(&ws.config.database.url).expect("conn");
    aadhaar_vault::table
        .filter(aadhaar_vault::key_id.eq(key))
        .count()
        .get_result(&mut conn)
        .expect("count")
}
