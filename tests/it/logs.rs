//! The server's log cannot be forged or flooded by a caller: untrusted values are
//! escaped and cut short, reasons are written once, and no colour codes go to a file.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::common::*;

#[tokio::test]
async fn a_caller_cannot_forge_or_flood_log_lines() {
    let mut ws = Workspace::new(Backend::Sqlite);
    let port = free_port();
    ws.edit_config(|c| {
        c.replace(
            "bind = \"127.0.0.1:0\"",
            &format!("bind = \"127.0.0.1:{port}\""),
        )
    });
    let mut server = Command::new(env!("CARGO_BIN_EXE_dlrepo"))
        .arg("--config")
        .arg(&ws.config_path)
        .arg("serve")
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("serve");
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    for _ in 0..100 {
        if client.get(format!("{base}/healthz")).send().await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let forged =
        "2024-01-01T00:00:00+05:30&#10;2099-01-01T00:00:00Z  INFO dlrepo: document served&#27;[31m";
    let huge = "9".repeat(60_000);
    // The first forged ts holds an escaped control character (ESC): not XML 1.0, so
    // 400; the second only a newline, and the huge one is refused by the ts check (200,
    // Status 0). None reaches a log as it was sent.
    let forged_line =
        "2024-01-01T00:00:00+05:30&#10;2099-01-01T00:00:00Z  INFO dlrepo: document served";
    for (ts, http) in [(forged, 400), (forged_line, 200), (huge.as_str(), 200)] {
        let body = format!(
            r#"<PullURIRequest ver="1.0" ts="{ts}" txn="t&#10;x" orgId="{ORG}" keyhash="00"><DocDetails><RollNo>1234567</RollNo><Year>2020</Year></DocDetails></PullURIRequest>"#
        );
        let r = client
            .post(format!("{base}/pulluri"))
            .body(body)
            .send()
            .await
            .expect("request");
        assert_eq!(r.status().as_u16(), http);
        assert!(r.text().await.expect("body").contains(r#"Status="0""#));
    }
    // The next good request is answered as ever (no document imported: Status 0, 200).
    let r = client
        .post(format!("{base}/pulluri"))
        .body(pull_uri_body(&[("RollNo", "1234567"), ("Year", "2020")]))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status().as_u16(), 200);
    let _ = server.kill();
    let mut log = String::new();
    server
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut log)
        .expect("log");
    let _ = server.wait();
    assert!(
        !log.contains('\u{1b}'),
        "no ESC byte, no colour codes in a file: {log}"
    );
    assert!(
        !log.lines().any(|l| l.starts_with("2099-01-01")),
        "no forged line: {log}"
    );
    assert!(
        log.len() < 8_000,
        "a 60 KB ts does not flood the log: {} bytes",
        log.len()
    );
    assert!(
        !log.contains("malformed request: ") || !log.contains(": : "),
        "each reason once"
    );
}

/// `--log-format json`: one JSON object a line, for log shippers; the lines written
/// while answering a request carry its txn.
#[tokio::test]
async fn json_logs_are_one_object_a_line_and_carry_the_txn() {
    let mut ws = Workspace::new(Backend::Sqlite);
    let csv = ws.write("marks.csv", MARKS_CSV);
    ws.import("MARKS", &csv);
    let port = free_port();
    ws.edit_config(|c| {
        c.replace(
            "bind = \"127.0.0.1:0\"",
            &format!("bind = \"127.0.0.1:{port}\""),
        )
    });
    let mut server = Command::new(env!("CARGO_BIN_EXE_dlrepo"))
        .arg("--config")
        .arg(&ws.config_path)
        .args(["--log-format", "json", "serve"])
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("serve");
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    for _ in 0..100 {
        if client.get(format!("{base}/healthz")).send().await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let ts = dlrepo::auth::now_ts();
    for (txn, roll) in [
        ("json-txn-found", "1234567"),
        ("json-txn-missing", "1111111"),
    ] {
        let body = dlrepo::wire::build::pull_uri_request(
            &ts,
            txn,
            ORG,
            &signed(&ts),
            &[("RollNo", roll), ("Year", "2020")],
        );
        client
            .post(format!("{base}/pulluri"))
            .body(body)
            .send()
            .await
            .expect("request");
    }
    let _ = server.kill();
    let mut log = String::new();
    server
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut log)
        .expect("log");
    let _ = server.wait();
    let lines: Vec<serde_json::Value> = log
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    for txn in ["json-txn-found", "json-txn-missing"] {
        let mine: Vec<&serde_json::Value> = lines
            .iter()
            .filter(|v| v.to_string().contains(txn))
            .collect();
        assert!(!mine.is_empty(), "no line for {txn}: {log}");
        assert!(
            mine.iter()
                .any(|v| v["fields"]["txn"] == *txn || v["span"]["txn"] == *txn),
            "{txn} is not a field of its lines: {log}"
        );
    }
}
