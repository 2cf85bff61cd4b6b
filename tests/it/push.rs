//! Pushing URIs to a stand-in of the central CSV Upload API, with the real binary.

use std::collections::{HashMap, HashSet};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::*;
use dlrepo::push::standin::{Fault, StandIn};

backend_tests!(
    pushes_queued_rows_once_and_reports_status,
    transient_failures_are_retried_until_accepted,
    gives_up_then_retry_failed_resends_the_same_file,
    corrections_and_revocations_are_pushed_as_u_and_d,
    a_correction_to_another_aadhaar_deletes_the_old_link,
    export_for_manual_upload,
    kill_9_mid_push_loses_nothing_and_resends_no_acknowledged_file,
    serve_pushes_in_the_background_on_its_schedule,
    uri_mode_pushes_each_document_once_as_a_push_uri_request,
    the_outbox_depth_counts_only_what_waits,
);

const AADHAAR_BASE: u64 = 23_000_000_000;

fn aadhaar(n: u64) -> String {
    valid_aadhaar(AADHAAR_BASE + n)
}

fn dlrepo(ws: &Workspace) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_dlrepo"));
    c.arg("--config")
        .arg(&ws.config_path)
        .env("RUST_LOG", "warn");
    c
}

fn run(ws: &Workspace, args: &[&str]) -> (i32, String, String) {
    let out = dlrepo(ws).args(args).output().expect("run");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Imports `n` mark sheets with Aadhaar numbers (plus one without).
fn import_with_aadhaar(ws: &Workspace, n: u64) {
    let mut csv = String::from("RollNo,Year,aadhaar,holder_name,doc_name,issued_on,valid_to\n");
    for i in 0..n {
        csv.push_str(&format!(
            "{},2024,{},\"Rao, Asha {i}\",\"Mark Sheet, Class X\",15/05/2024,31/12/2030\n",
            4_000_000 + i,
            aadhaar(i)
        ));
    }
    csv.push_str("4999999,2024,,No Aadhaar,Mark Sheet,15/05/2024,\n");
    let file = ws.write("aadhaar.csv", &csv);
    assert_eq!(ws.import("MARKS", &file).imported, n + 1);
}

fn accepted_rows(s: &StandIn) -> Vec<String> {
    s.received()
        .into_iter()
        .filter(|r| r.accepted)
        .flat_map(|r| r.rows)
        .collect()
}

async fn pushes_queued_rows_once_and_reports_status(b: Backend) {
    let central = push_standin(0);
    let mut ws = Workspace::new(b);
    with_push(&mut ws, &central.url(), 2, 2, "");
    import_with_aadhaar(&ws, 3);

    let (code, out, err) = run(&ws, &["push"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("pushed 2 file(s), 3 rows"), "{out}");
    let got = central.received();
    assert_eq!(got.len(), 2);
    assert!(got.iter().all(|r| r.accepted), "{got:?}");
    let rows = accepted_rows(&central);
    assert_eq!(rows.len(), 3, "the row without Aadhaar is not pushed");
    assert!(rows
        .iter()
        .all(|r| r.starts_with("A,in.gov.test.board-MARKS-")));
    assert!(!err.contains(&aadhaar(0)), "no full Aadhaar in logs");

    let (code, out, _) = run(&ws, &["push"]);
    assert_eq!(code, 0);
    assert!(out.contains("pushed 0 file(s)"), "{out}");
    assert_eq!(central.received().len(), 2, "nothing is sent twice");

    let (_, status, _) = run(&ws, &["push", "status"]);
    assert!(
        status.contains("queued (not yet in a file): 0 rows"),
        "{status}"
    );
    assert!(status.contains("pushed: 2 files, 3 rows"), "{status}");
}

async fn transient_failures_are_retried_until_accepted(b: Backend) {
    let central = push_standin(0);
    central.fail_next([
        Fault::Http500,
        Fault::Status0("server busy".into()),
        Fault::DropAfterBody,
        Fault::Garbage,
        Fault::Hang(Duration::from_secs(3)),
    ]);
    let mut ws = Workspace::new(b);
    with_push(&mut ws, &central.url(), 100, 2, "");
    import_with_aadhaar(&ws, 2);
    let (code, out, err) = run(&ws, &["push"]);
    assert_eq!(code, 0, "{out}{err}");
    let got = central.received();
    assert_eq!(
        got.len(),
        6,
        "five failed attempts and the good one: {got:?}"
    );
    assert!(got[5].accepted);
    let shas: HashSet<&str> = got.iter().map(|r| r.csv_sha256.as_str()).collect();
    assert_eq!(shas.len(), 1, "every attempt sends the same file");
    let names: HashSet<&str> = got.iter().map(|r| r.file_name.as_str()).collect();
    assert_eq!(names.len(), 1);
}

async fn gives_up_then_retry_failed_resends_the_same_file(b: Backend) {
    let central = push_standin(0);
    central.fail_next((0..6).map(|_| Fault::Status0("invalid org".into())));
    let mut ws = Workspace::new(b);
    with_push(&mut ws, &central.url(), 100, 2, "");
    import_with_aadhaar(&ws, 2);
    let (code, out, _) = run(&ws, &["push"]);
    assert_eq!(code, 1, "a failed file makes the exit code non-zero: {out}");
    let (_, status, _) = run(&ws, &["push", "status"]);
    assert!(status.contains("failed: 1 files, 2 rows"), "{status}");
    assert!(
        status.contains("after 6 attempt(s): central API answered ResponseStatus 0: invalid org"),
        "{status}"
    );

    let (code, out, _) = run(&ws, &["push"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("pushed 0 file(s)"),
        "failed files wait for --retry-failed: {out}"
    );
    let (code, out, _) = run(&ws, &["push", "--retry-failed"]);
    assert_eq!(code, 0, "{out}");
    let got = central.received();
    assert_eq!(got.len(), 7);
    assert!(got[6].accepted);
    assert_eq!(
        got[0].csv_sha256, got[6].csv_sha256,
        "a resend is the same file"
    );
    assert_eq!(got[0].file_name, got[6].file_name);
}

async fn corrections_and_revocations_are_pushed_as_u_and_d(b: Backend) {
    let central = push_standin(0);
    let mut ws = Workspace::new(b);
    with_push(&mut ws, &central.url(), 100, 2, "");
    let a = aadhaar(7);
    let file = ws.write(
        "one.csv",
        &format!("RollNo,Year,aadhaar,doc_name,issued_on,doc_id\n5000001,2024,{a},Mark Sheet,15/05/2024,FIX2024\n"),
    );
    assert_eq!(ws.import("MARKS", &file).imported, 1);
    let fixed = ws.write(
        "fixed.csv",
        &format!("RollNo,Year,aadhaar,doc_name,issued_on,doc_id\n5000001,2024,{a},Mark Sheet (corrected),16/05/2024,FIX2024\n"),
    );
    let (code, _, err) = run(
        &ws,
        &[
            "import",
            "--doctype",
            "MARKS",
            fixed.to_str().expect("path"),
        ],
    );
    assert_eq!(code, 2, "without --correct the row is refused");
    assert!(err.contains("--correct"), "{err}");
    let (code, _, err) = run(
        &ws,
        &[
            "import",
            "--doctype",
            "MARKS",
            "--correct",
            fixed.to_str().expect("path"),
        ],
    );
    assert_eq!(code, 0, "{err}");
    let uri = "in.gov.test.board-MARKS-FIX2024";
    let (code, out, _) = run(&ws, &["revoke", uri]);
    assert_eq!(code, 0);
    assert!(out.contains("D row is queued"), "{out}");
    let (code, _, err) = run(&ws, &["revoke", uri]);
    assert_ne!(code, 0, "revoking twice is an error");
    assert!(err.contains("not an issued document"), "{err}");

    let (code, _, _) = run(&ws, &["push"]);
    assert_eq!(code, 0);
    assert_eq!(
        accepted_rows(&central),
        vec![format!("A,{uri}"), format!("U,{uri}"), format!("D,{uri}")]
    );
    let app = spawn_on(ws).await;
    assert_eq!(
        app.pull_doc(uri).await.status(),
        "0",
        "revoked documents are not served"
    );
}

async fn export_for_manual_upload(b: Backend) {
    let mut ws = Workspace::new(b);
    with_push(&mut ws, "http://127.0.0.1:9/unused", 2, 2, "");
    import_with_aadhaar(&ws, 3);
    let dir = ws.path("export");
    let (code, out, _) = run(&ws, &["push", "--export", dir.to_str().expect("dir")]);
    assert_eq!(code, 0, "{out}");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("dir")
        .map(|e| e.expect("entry").path())
        .collect();
    files.sort();
    assert_eq!(files.len(), 2);
    let first = std::fs::read_to_string(&files[0]).expect("csv");
    assert!(first.starts_with(
        "Aadhaar,Uri,doc_type,doc_name,doc_id,issued_on,valid_from,valid_to,time_stamp,Action\r\n"
    ));
    assert!(first.contains(",MARKS,\"Mark Sheet, Class X\","), "{first}");
    assert!(first.contains(",15/05/2024,,31/12/2030,"), "{first}");
    let (_, status, _) = run(&ws, &["push", "status"]);
    assert!(status.contains("exported: 2 files, 3 rows"), "{status}");
    assert!(status.contains("pushed: 0 files"), "{status}");
    let name = files[0].to_str().expect("name");
    let (code, _, _) = run(&ws, &["push", "--mark-uploaded", name]);
    assert_eq!(code, 0);
    let (code, _, _) = run(&ws, &["push", "--mark-uploaded", name]);
    assert_ne!(code, 0, "only once");
    let (_, status, _) = run(&ws, &["push", "status"]);
    assert!(status.contains("pushed: 1 files, 2 rows"), "{status}");
}

async fn kill_9_mid_push_loses_nothing_and_resends_no_acknowledged_file(b: Backend) {
    const ROWS: u64 = 100_000;
    let central = push_standin(40);
    let mut ws = Workspace::new(b);
    with_push(&mut ws, &central.url(), 5_000, 2, "");
    // Queue the rows directly: this test is about the push, not the import.
    queue_rows(&ws, "K", AADHAAR_BASE, ROWS);
    let mut conn = dlrepo::store::establish(&ws.config.database.url).expect("conn");

    let mut child = dlrepo(&ws).arg("push").spawn().expect("spawn");
    let started = Instant::now();
    while central.received().iter().filter(|r| r.accepted).count() < 5 {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "push made no progress"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().expect("SIGKILL");
    child.wait().expect("reaped");
    let before = central.received().len();
    let pushed_before: HashSet<String> =
        dlrepo::push::outbox::files_with_status(&mut conn, "pushed")
            .expect("files")
            .into_iter()
            .map(|f| f.file_name)
            .collect();
    assert!(!pushed_before.is_empty());
    assert!(pushed_before.len() < 20, "killed mid-push");

    let (code, out, err) = run(&ws, &["push"]);
    assert_eq!(code, 0, "{out}{err}");
    let got = central.received();
    for r in &got[before..] {
        assert!(
            !pushed_before.contains(&r.file_name),
            "{} was acknowledged and recorded, yet sent again",
            r.file_name
        );
    }
    // Every row reached the central API and was acknowledged at least once.
    let mut seen: HashMap<String, usize> = HashMap::new();
    for r in accepted_rows(&central) {
        *seen.entry(r).or_default() += 1;
    }
    assert_eq!(seen.len() as u64, ROWS);
    // At most the one file in flight at the kill was acknowledged twice.
    let twice = seen.values().filter(|&&n| n > 1).count();
    assert!(twice <= 5_000, "{twice} rows acknowledged twice");
    let (_, status, _) = run(&ws, &["push", "status"]);
    assert!(status.contains("pushed: 20 files, 100000 rows"), "{status}");
}

async fn serve_pushes_in_the_background_on_its_schedule(b: Backend) {
    let central = push_standin(0);
    let mut ws = Workspace::new(b);
    with_push(&mut ws, &central.url(), 100, 2, "schedule_secs = 1\n");
    import_with_aadhaar(&ws, 2);
    let config = std::sync::Arc::new(ws.reload());
    dlrepo::push::pusher::spawn_background(config, 1);
    let started = Instant::now();
    while accepted_rows(&central).len() < 2 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no background push"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(accepted_rows(&central).len(), 2);
}

async fn uri_mode_pushes_each_document_once_as_a_push_uri_request(b: Backend) {
    let central = push_standin(0);
    let mut ws = Workspace::new(b);
    with_push(&mut ws, &central.url(), 500, 2, "mode = \"uri\"\n");
    import_with_aadhaar(&ws, 3);
    // The first attempt of the first request fails: retried, still sent once.
    central.fail_next([Fault::Http500]);
    let (code, out, err) = run(&ws, &["push"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("pushed 3 file(s), 3 rows"), "{out}");
    let rows = accepted_rows(&central);
    assert_eq!(rows.len(), 3, "{:?}", central.received());
    let distinct: HashSet<&String> = rows.iter().collect();
    assert_eq!(distinct.len(), 3, "each URI once: {rows:?}");
    assert!(rows
        .iter()
        .all(|r| r.starts_with("A,in.gov.test.board-MARKS-")));
    let (_, out, _) = run(&ws, &["push"]);
    assert!(out.contains("pushed 0 file(s)"), "{out}");
    assert_eq!(accepted_rows(&central).len(), 3, "nothing is sent twice");
}

/// `import --correct` that changes the Aadhaar number tells DigiLocker to drop the old
/// holder's link (D) and add the new one's (A); one that removes it sends D.
async fn a_correction_to_another_aadhaar_deletes_the_old_link(b: Backend) {
    let central = push_standin(0);
    let mut ws = Workspace::new(b);
    with_push(&mut ws, &central.url(), 100, 2, "");
    let (first, second) = (aadhaar(11), aadhaar(12));
    let row = |a: &str, name: &str| {
        format!("RollNo,Year,aadhaar,doc_name,issued_on,doc_id\n5000002,2024,{a},{name},15/05/2024,MOV2024\n")
    };
    let import = |ws: &Workspace, name: &str, text: &str, correct: bool| {
        let file = ws.write(name, text);
        let mut args = vec!["import", "--doctype", "MARKS"];
        if correct {
            args.push("--correct");
        }
        let path = file.to_str().expect("path").to_string();
        args.push(&path);
        let (code, out, err) = run(ws, &args);
        assert_eq!(code, 0, "{out}{err}");
    };
    import(&ws, "a.csv", &row(&first, "Mark Sheet"), false);
    import(&ws, "b.csv", &row(&second, "Mark Sheet"), true);
    import(&ws, "c.csv", &row("", "Mark Sheet"), true);
    let (code, _, _) = run(&ws, &["push"]);
    assert_eq!(code, 0);
    let uri = "in.gov.test.board-MARKS-MOV2024";
    let got: Vec<(String, String)> = central
        .received()
        .into_iter()
        .filter(|r| r.accepted)
        .flat_map(|r| r.aadhaar.into_iter().zip(r.rows))
        .collect();
    assert_eq!(
        got,
        vec![
            (first.clone(), format!("A,{uri}")),
            (first, format!("D,{uri}")),
            (second.clone(), format!("A,{uri}")),
            (second, format!("D,{uri}")),
        ]
    );
}

/// The outbox's depth (`/metrics`, the console) counts the rows queued and those in
/// files ready, in flight or failed, never the pushed or exported ones, and dates the
/// oldest waiting row, through every state a file goes through.
async fn the_outbox_depth_counts_only_what_waits(b: Backend) {
    use dlrepo::push::outbox::{self, file_status, NewOutboxRow};
    let ws = Workspace::new(b);
    let mut conn = dlrepo::store::establish(&ws.config.database.url).expect("conn");
    let t0 = chrono::NaiveDate::from_ymd_opt(2026, 3, 1)
        .and_then(|d| d.and_hms_opt(9, 0, 0))
        .expect("t0");
    let at = |i: i64| t0 + chrono::Duration::minutes(i);
    let row = |i: i64| NewOutboxRow {
        aadhaar: aadhaar(i as u64),
        uri: format!("in.gov.test-MARKS-D{i}"),
        doc_type: "MARKS".into(),
        doc_name: "Marks".into(),
        doc_id: format!("D{i}"),
        issued_on: None,
        valid_from: None,
        valid_to: None,
        action: "A".into(),
        time_stamp: at(i),
    };
    let depth = |conn: &mut dlrepo::store::DbConn| outbox::depth(conn).expect("depth");
    assert_eq!(depth(&mut conn), (0, None));
    outbox::enqueue(&mut conn, &(0..10).map(row).collect::<Vec<_>>()).expect("enqueue");
    assert_eq!(depth(&mut conn), (10, Some(at(0))));
    // Three files of 3 rows, one row left queued.
    let files: Vec<_> = (0..3)
        .map(|_| {
            outbox::build_file(&mut conn, 3, "t", t0)
                .expect("build")
                .expect("a file")
        })
        .collect();
    assert_eq!(depth(&mut conn), (10, Some(at(0))));
    // The first pushed, the second failed, the third exported: the failed file's rows
    // and the queued one wait.
    outbox::finish(&mut conn, files[0].id, file_status::PUSHED, "ok", t0).expect("pushed");
    outbox::finish(&mut conn, files[1].id, file_status::FAILED, "gave up", t0).expect("failed");
    outbox::finish(&mut conn, files[2].id, file_status::EXPORTED, "", t0).expect("exported");
    assert_eq!(depth(&mut conn), (4, Some(at(3))));
    outbox::finish(&mut conn, files[1].id, file_status::PUSHED, "ok", t0).expect("pushed");
    assert_eq!(depth(&mut conn), (1, Some(at(9))));
    outbox::build_file(&mut conn, 3, "t", t0)
        .expect("build")
        .expect("the last row's file");
    assert_eq!(depth(&mut conn), (1, Some(at(9))));
}
