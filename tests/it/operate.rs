//! Operating dlrepo: the audit trail of every answer and push, the usage report built
//! from it, finding one search's pulls, and no secret in any log line or audit row.
//! Both backends, real HTTP, the real binary.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;
use diesel::prelude::*;
use dlrepo::store::schema::{audit_pulls, audit_pushes};

backend_tests!(
    every_answer_is_audited_and_the_report_counts_them,
    no_secret_in_any_log_line_or_audit_row,
);

pub(crate) fn audited(ws: &Workspace) -> i64 {
    let mut conn = dlrepo::store::establish(&ws.config.database.url).expect("conn");
    audit_pulls::table
        .count()
        .get_result(&mut conn)
        .expect("count")
}

pub(crate) async fn wait_audited(ws: &Workspace, n: i64) {
    let started = Instant::now();
    while audited(ws) < n {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "only {} of {n} answers audited",
            audited(ws)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(audited(ws), n, "one row per answer");
}

pub(crate) fn dlrepo(ws: &Workspace, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_dlrepo"))
        .arg("--config")
        .arg(&ws.config_path)
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{args:?}: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

/// `dlrepo audit find` of one MARKS search: its output, a line per pull.
pub(crate) fn audit_find_marks(ws: &Workspace, roll_no: &str, year: &str) -> String {
    let roll_no = format!("RollNo={roll_no}");
    let year = format!("Year={year}");
    dlrepo(
        ws,
        &["audit", "find", "--doctype", "MARKS", &roll_no, &year],
    )
}

async fn every_answer_is_audited_and_the_report_counts_them(b: Backend) {
    const BURST: usize = 2_000;
    let app = spawn_app(b).await;
    // A known mix: found, not found, a wrong keyhash, malformed, Pull Doc.
    let found = app
        .pull_uri(&[("RollNo", "1234567"), ("Year", "2020")])
        .await;
    assert_eq!(found.status(), "1");
    let uri = found.detail("URI").expect("uri").to_string();
    assert_eq!(
        app.pull_uri(&[("RollNo", "9999999"), ("Year", "2020")])
            .await
            .status(),
        "0"
    );
    let wrong = pull_uri_body(&[("RollNo", "1234567"), ("Year", "2020")]).replacen(
        "keyhash=\"",
        "keyhash=\"00",
        1,
    );
    assert_eq!(app.post("/pulluri", wrong).await.status(), "0");
    assert_eq!(app.post("/pulluri", "<not xml").await.http, 400);
    assert_eq!(app.pull_doc(&uri).await.status(), "1");

    // A burst of concurrent pulls: every one gets its row.
    let client = reqwest::Client::new();
    let bursts: Vec<_> = (0..BURST)
        .map(|_| {
            let client = client.clone();
            let url = format!("{}/pulluri", app.addr);
            let body = pull_uri_body(&[("RollNo", "7654321"), ("Year", "2021")]);
            tokio::spawn(async move {
                let r = client.post(url).body(body).send().await.expect("send");
                r.text().await.expect("body").contains("Status=\"1\"")
            })
        })
        .collect();
    let mut served = 0;
    for b in bursts {
        served += usize::from(b.await.expect("join"));
    }
    let total = 5 + BURST as i64;
    wait_audited(&app.ws, total).await;

    let today = chrono::Utc::now().date_naive().to_string();
    let csv = dlrepo(
        &app.ws,
        &[
            "report", "--from", &today, "--to", &today, "--format", "csv",
        ],
    );
    let mut rd = csv::Reader::from_reader(csv.as_bytes());
    let marks = rd
        .records()
        .map(|r| r.expect("csv"))
        .find(|r| &r[1] == "MARKS")
        .expect("a MARKS line");
    let n = |i: usize| marks[i].parse::<u64>().expect("number");
    assert_eq!(n(2), 3 + BURST as u64, "Pull URI answers: {marks:?}");
    assert_eq!(n(3), 1 + served as u64, "found");
    assert_eq!(n(5), 1, "not found");
    assert_eq!(n(7), 1, "Pull Doc");
    assert_eq!(n(8), 1, "Pull Doc served");
    assert_eq!(n(9), 2, "distinct URIs served");
    let refused = &marks[6];
    assert!(refused.contains("auth_keyhash=1"), "{refused}");
    // The malformed one has no doc type: its own line.
    assert!(
        csv.lines()
            .any(|l| l.contains(",-,") && l.contains("malformed=1")),
        "{csv}"
    );
    let text = dlrepo(&app.ws, &["report", "--from", &today, "--to", &today]);
    assert!(
        text.contains("Usage report") && text.contains("MARKS"),
        "{text}"
    );
    let html = dlrepo(
        &app.ws,
        &[
            "report", "--from", &today, "--to", &today, "--format", "html",
        ],
    );
    assert!(html.contains("<table>") && html.contains("MARKS"));

    // "Did roll number 1234567 pull its mark sheet?"
    let found = audit_find_marks(&app.ws, "1234567", "2020");
    assert_eq!(found.lines().count(), 2, "{found}");
    assert!(
        found.contains(&uri) && found.contains("auth_keyhash"),
        "{found}"
    );
}

fn aadhaar(n: u64) -> String {
    valid_aadhaar(27_000_000_000 + n)
}

/// A full cycle — import, pulls, a push, a report — with every log line and audit row
/// searched for the API key, the keyhashes sent, the Aadhaar numbers and document bytes.
async fn no_secret_in_any_log_line_or_audit_row(b: Backend) {
    use dlrepo::push::standin::{StandIn, StandInConfig};
    const PUSH_KEY: &str = "push-key-never-logged-0123456";
    let central = StandIn::start(
        "127.0.0.1:0",
        StandInConfig {
            org_id: "in.gov.test.board".into(),
            api_key: PUSH_KEY.into(),
            keep_rows: false,
            delay: Duration::ZERO,
        },
    )
    .expect("stand-in");
    let mut ws = Workspace::new(b);
    let port = free_port();
    let url = central.url();
    ws.edit_config(|c| {
        c + &format!(
            "\n[push]\nendpoint = \"{url}\"\norg_id = \"in.gov.test.board\"\napi_key = \"{PUSH_KEY}\"\n"
        )
    });
    let numbers: Vec<String> = (0..5).map(aadhaar).collect();
    let mut csv = String::from("RollNo,Year,aadhaar,holder_name,doc_name,issued_on\n");
    for (i, a) in numbers.iter().enumerate() {
        csv.push_str(&format!(
            "{},2024,{a},Holder {i},Mark Sheet,15/05/2024\n",
            6_000_000 + i
        ));
    }
    let file = ws.write("people.csv", &csv);
    let mut logs = String::new();
    let run = |args: &[&str], logs: &mut String| {
        let out = Command::new(env!("CARGO_BIN_EXE_dlrepo"))
            .arg("--config")
            .arg(&ws.config_path)
            .args(args)
            .env("RUST_LOG", "debug")
            .output()
            .expect("run");
        logs.push_str(&String::from_utf8_lossy(&out.stdout));
        logs.push_str(&String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "{args:?}: {logs}");
    };
    run(
        &["import", "--doctype", "MARKS", file.to_str().expect("path")],
        &mut logs,
    );
    let log_file = ws.path("serve.log");
    let mut serve = Command::new(env!("CARGO_BIN_EXE_dlrepo"))
        .arg("--config")
        .arg(&ws.config_path)
        .arg("serve")
        .env("DLREPO_BIND", format!("127.0.0.1:{port}"))
        .env("RUST_LOG", "debug")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log_file).expect("log"))
        .spawn()
        .expect("serve");
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let started = Instant::now();
    while client.get(format!("{base}/healthz")).send().await.is_err() {
        assert!(started.elapsed() < Duration::from_secs(30));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut keyhashes = Vec::new();
    let mut doc_snippets = Vec::new();
    for i in 0..5 {
        let ts = dlrepo::auth::now_ts();
        let keyhash = signed(&ts);
        let roll = format!("{}", 6_000_000 + i);
        let body = dlrepo::wire::build::pull_uri_request(
            &ts,
            &fresh_txn("sec-"),
            ORG,
            &keyhash,
            &[("RollNo", &roll), ("Year", "2024")],
        );
        keyhashes.push(keyhash);
        let text = client
            .post(format!("{base}/pulluri"))
            .body(body)
            .send()
            .await
            .expect("pull")
            .text()
            .await
            .expect("body");
        let root = dlrepo::wire::xml::parse(text.as_bytes()).expect("xml");
        let doc = root
            .child("DocDetails")
            .and_then(|d| d.child("DocContent"))
            .expect("DocContent");
        doc_snippets.push(doc.text[100..160].to_string());
    }
    // Stopped straight after its last answer: the audit rows still waiting in the
    // writer's queue go in before it exits.
    let stopped = stop_gracefully(&mut serve);
    logs.push_str(&std::fs::read_to_string(&log_file).expect("log"));
    assert!(stopped, "SIGTERM stops the server");
    assert!(logs.contains("dlrepo stopped"), "{logs}");
    run(&["push"], &mut logs);
    let today = chrono::Utc::now().date_naive().to_string();
    run(&["report", "--from", &today, "--to", &today], &mut logs);
    assert!(logs.contains("answered"), "the server logged its answers");

    let mut conn = dlrepo::store::establish(&ws.config.database.url).expect("conn");
    // Every text column of the audit trail, as text.
    #[allow(clippy::type_complexity)]
    let rows: Vec<(
        Option<String>,
        String,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
    )> = audit_pulls::table
        .select((
            audit_pulls::caller,
            audit_pulls::endpoint,
            audit_pulls::ver,
            audit_pulls::uri,
            audit_pulls::search,
            audit_pulls::reason,
        ))
        .load(&mut conn)
        .expect("audit");
    let audit_lines: Vec<&str> = logs.lines().filter(|l| l.contains("audit")).collect();
    assert_eq!(rows.len(), 5, "one audit row per pull: {audit_lines:#?}");
    let pushes: Vec<(String, String)> = audit_pushes::table
        .select((audit_pushes::file_name, audit_pushes::message))
        .load(&mut conn)
        .expect("pushes");
    assert_eq!(pushes.len(), 1, "one push attempt");
    let audit = format!("{rows:?}{pushes:?}");
    for (what, secret) in [("the API key", API_KEY), ("the push key", PUSH_KEY)] {
        assert!(!logs.contains(secret), "{what} in the logs");
        assert!(!audit.contains(secret), "{what} in the audit trail");
    }
    for k in &keyhashes {
        assert!(!logs.contains(k.as_str()), "a keyhash in the logs");
        assert!(!audit.contains(k.as_str()), "a keyhash in the audit trail");
    }
    for a in &numbers {
        assert!(!logs.contains(a.as_str()), "an Aadhaar number in the logs");
        assert!(
            !audit.contains(a.as_str()),
            "an Aadhaar number in the audit trail"
        );
    }
    for d in &doc_snippets {
        assert!(!logs.contains(d.as_str()), "document bytes in the logs");
        assert!(
            !audit.contains(d.as_str()),
            "document bytes in the audit trail"
        );
    }
}
