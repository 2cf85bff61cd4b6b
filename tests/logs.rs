//! The server's log cannot be forged or flooded by a caller: untrusted values are
//! escaped and cut short, reasons are written once, and no colour codes go to a file.

mod common;

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;

#[tokio::test]
async fn a_caller_cannot_forge_or_flood_log_lines() {
    let mut ws = Workspace::new(Backend::Sqlite);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("port")
        .local_addr()
        .expect("addr")
        .port();
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
    for ts in [forged, huge.as_str()] {
        let body = format!(
            r#"<PullURIRequest ver="1.0" ts="{ts}" txn="t&#10;x" orgId="{ORG}" keyhash="00"><DocDetails><RollNo>1234567</RollNo><Year>2020</Year></DocDetails></PullURIRequest>"#
        );
        let r = client
            .post(format!("{base}/pulluri"))
            .body(body)
            .send()
            .await
            .expect("request");
        assert_eq!(r.status().as_u16(), 200);
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
