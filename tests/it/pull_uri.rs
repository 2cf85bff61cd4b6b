//! Pull URI over real HTTP against a real SQLite file.

use crate::common::*;

backend_tests!(
    finds_the_document_and_echoes_the_request,
    doc_type_from_path_or_doc_type_element_and_any_namespace,
    unknown_and_ambiguous_answer_status_0,
    authentication_failures_answer_status_0,
    bad_udfs_are_refused_before_any_query,
    a_value_with_quotes_and_sql_is_just_a_value,
    malformed_requests_get_status_0_and_a_4xx,
    healthz_reports_the_database,
    udf_values_are_trimmed_and_empty_ones_refused_as_on_import,
    a_replayed_request_is_refused,
    remembering_a_request_leaves_the_connection_committing_durably,
    a_replay_sent_as_its_window_ends_is_still_refused,
);
use dlrepo::auth;
use dlrepo::wire::pull::build;

async fn finds_the_document_and_echoes_the_request(b: Backend) {
    let app = spawn_app(b).await;
    let ts = auth::now_ts();
    let body = build::pull_uri_request(
        &ts,
        "1452503688",
        ORG,
        &signed(&ts),
        &[("RollNo", "1234567"), ("Year", "2020")],
    );
    let r = app.post("/pulluri", body).await;
    assert_eq!(r.http, 200);
    assert_eq!(r.root.name, "PullURIResponse");
    assert_eq!(r.status(), "1");
    let st = r.root.child("ResponseStatus").expect("status");
    assert_eq!(st.attr("ts"), Some(ts.as_str()));
    assert_eq!(st.attr("txn"), Some("1452503688"));
    assert_eq!(st.text, "1");
    assert_eq!(r.detail("RollNo"), Some("1234567"));
    assert_eq!(r.detail("Year"), Some("2020"));
    let uri = r.detail("URI").expect("URI");
    let parsed = dlrepo::uri::DocUri::parse(uri).expect("uri");
    assert_eq!(parsed.issuer_id, ISSUER);
    assert_eq!(parsed.doc_type, "MARKS");
    assert!(parsed.strict_violations().is_empty(), "{uri}");
    let pdf = r.doc_bytes();
    assert!(pdf.starts_with(b"%PDF-"));

    // Sign once, serve the same bytes every time.
    let again = app
        .pull_uri(&[("Year", "2020"), ("RollNo", "1234567")])
        .await;
    assert_eq!(again.detail("URI"), Some(uri));
    assert_eq!(again.doc_bytes(), pdf);
}

async fn doc_type_from_path_or_doc_type_element_and_any_namespace(b: Backend) {
    let app = spawn_app(b).await;
    let r = app
        .post(
            "/pulluri/MARKS",
            pull_uri_body(&[("RollNo", "1234567"), ("Year", "2020")]),
        )
        .await;
    assert_eq!(r.status(), "1");
    let r = app
        .post(
            "/pulluri/DIPLM",
            pull_uri_body(&[("RollNo", "1234567"), ("Year", "2020")]),
        )
        .await;
    assert_eq!(r.status(), "0", "path names another doc type");

    let ts = auth::now_ts();
    let body = format!(
        r#"<PullURIRequest xmlns="https://www.digitallocker.gov.in/schema/issuer/v1/pullurirequest" ver="3.0" ts="{ts}" txn="9" orgId="{ORG}" keyhash="{}" format="pdf"><DocDetails><DocType>MARKS</DocType><DigiLockerId>123e4567-e89b-12d3-a456-426614174000</DigiLockerId><FullName>Asha Rao</FullName><RollNo>1234567</RollNo><Year>2020</Year></DocDetails></PullURIRequest>"#,
        signed(&ts)
    );
    let r = app.post("/pulluri", body).await;
    assert_eq!(r.status(), "1");
    assert!(r.doc_bytes().starts_with(b"%PDF-"));
}

async fn unknown_and_ambiguous_answer_status_0(b: Backend) {
    let app = spawn_app(b).await;
    let r = app
        .pull_uri(&[("RollNo", "1111111"), ("Year", "2020")])
        .await;
    assert_eq!((r.http, r.status()), (200, "0"));
    assert_eq!(r.detail("URI"), None);
    assert_eq!(r.detail("DocContent"), None);

    // The data set's second row for these search fields was refused at import, so
    // one document answers; "more than one" can only come from a department table
    // (tests/department.rs).
    let r = app
        .pull_uri(&[("RollNo", "7654321"), ("Year", "2021")])
        .await;
    assert_eq!((r.http, r.status()), (200, "1"), "one document, never two");
}

async fn authentication_failures_answer_status_0(b: Backend) {
    let app = spawn_app(b).await;
    let udfs = [("RollNo", "1234567"), ("Year", "2020")];
    let now = chrono::Utc::now();
    let ist = chrono::FixedOffset::east_opt(19800).expect("offset");
    let ts_at = |mins: i64| {
        (now + chrono::Duration::minutes(mins))
            .with_timezone(&ist)
            .format("%Y-%m-%dT%H:%M:%S%:z")
            .to_string()
    };
    let cases = [
        ("wrong hash", {
            let ts = auth::now_ts();
            build::pull_uri_request(
                &ts,
                "1",
                ORG,
                &auth::keyhash("not-the-key-000000", &ts),
                &udfs,
            )
        }),
        ("hash of another ts", {
            let ts = auth::now_ts();
            build::pull_uri_request(&ts, "1", ORG, &signed(&ts_at(-1)), &udfs)
        }),
        ("stale ts", {
            let ts = ts_at(-31);
            build::pull_uri_request(&ts, "1", ORG, &signed(&ts), &udfs)
        }),
        ("future ts", {
            let ts = ts_at(31);
            build::pull_uri_request(&ts, "1", ORG, &signed(&ts), &udfs)
        }),
        ("ts without offset", {
            let ts = "2026-01-01T10:00:00".to_string();
            build::pull_uri_request(&ts, "1", ORG, &signed(&ts), &udfs)
        }),
        ("other orgId", {
            let ts = auth::now_ts();
            build::pull_uri_request(&ts, "1", "OTHERORG", &signed(&ts), &udfs)
        }),
    ];
    for (what, body) in cases {
        let r = app.post("/pulluri", body).await;
        assert_eq!((r.http, r.status()), (200, "0"), "{what}");
        assert_eq!(r.detail("DocContent"), None, "{what}");
    }
    // A fresh ts a few minutes old is inside the window.
    let ts = ts_at(-5);
    let r = app
        .post(
            "/pulluri",
            build::pull_uri_request(&ts, "1", ORG, &signed(&ts), &udfs),
        )
        .await;
    assert_eq!(r.status(), "1");
}

async fn bad_udfs_are_refused_before_any_query(b: Backend) {
    let app = spawn_app(b).await;
    for (udfs, what) in [
        (vec![("RollNo", "12ab567"), ("Year", "2020")], "pattern"),
        (vec![("RollNo", "1234567")], "missing UDF"),
        (
            vec![("RollNo", "1234567"), ("Year", "2020"), ("Extra", "1")],
            "unknown UDF",
        ),
        (
            vec![("RollNo", "1234567 OR 1=1"), ("Year", "2020")],
            "injection-looking",
        ),
    ] {
        let r = app.pull_uri(&udfs).await;
        assert_eq!((r.http, r.status()), (200, "0"), "{what}");
    }
    // A control character, as a character reference.
    let ts = auth::now_ts();
    let body = build::pull_uri_request(
        &ts,
        "1",
        ORG,
        &signed(&ts),
        &[("RollNo", "1234567"), ("Year", "2020")],
    )
    .replace("<RollNo>1234567", "<RollNo>1234567&#1;");
    let r = app.post("/pulluri", body).await;
    assert_eq!(r.status(), "0");
    assert_ne!(r.http, 500);
}

async fn a_value_with_quotes_and_sql_is_just_a_value(b: Backend) {
    let app = spawn_app(b).await;
    let r = app
        .pull_uri(&[("RegistrationNo", "O'Brien; DROP TABLE documents; --")])
        .await;
    assert_eq!(r.status(), "1");
    assert!(r.detail("URI").expect("uri").contains("-DIPLM-"));
    // The table is still there.
    assert_eq!(
        app.pull_uri(&[("RollNo", "1234567"), ("Year", "2020")])
            .await
            .status(),
        "1"
    );
}

async fn malformed_requests_get_status_0_and_a_4xx(b: Backend) {
    let app = spawn_app(b).await;
    let good = pull_uri_body(&[("RollNo", "1234567"), ("Year", "2020")]);
    let cases: Vec<(&str, String, u16)> = vec![
        ("not xml", "this is not xml".into(), 400),
        ("truncated", good[..good.len() - 20].to_string(), 400),
        (
            "entity declaration",
            r#"<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><PullURIRequest ts="t" txn="" orgId="" keyhash="k"><DocDetails><RollNo>&x;</RollNo></DocDetails></PullURIRequest>"#.into(),
            400,
        ),
        (
            "billion laughs",
            r#"<!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]><PullURIRequest ts="t" txn="" orgId="" keyhash="k"><DocDetails><RollNo>&b;</RollNo></DocDetails></PullURIRequest>"#.into(),
            400,
        ),
        ("wrong root", pull_doc_body("in.gov.test.board-MARKS-ABCDE"), 400),
        ("missing keyhash", good.replace(" keyhash=", " other="), 400),
        ("missing DocDetails", good.replace("DocDetails", "Details"), 400),
        ("oversized", format!("{}{}", good, " ".repeat(70 * 1024)), 413),
        ("empty", String::new(), 400),
    ];
    for (what, body, code) in cases {
        let r = app.post("/pulluri", body).await;
        assert_eq!(r.http, code, "{what}");
        assert_eq!(r.root.name, "PullURIResponse", "{what}");
        assert_eq!(r.status(), "0", "{what}");
    }
    // The server is still fine afterwards.
    assert_eq!(
        app.pull_uri(&[("RollNo", "1234567"), ("Year", "2020")])
            .await
            .status(),
        "1"
    );
}

async fn healthz_reports_the_database(b: Backend) {
    let app = spawn_app(b).await;
    let resp = reqwest::get(format!("{}/healthz", app.addr))
        .await
        .expect("get");
    assert_eq!(resp.status().as_u16(), 200);
}

/// Import trims values and refuses empty ones; Pull URI follows the same rule.
async fn udf_values_are_trimmed_and_empty_ones_refused_as_on_import(b: Backend) {
    let app = spawn_app(b).await;
    let plain = app
        .pull_uri(&[("RollNo", "1234567"), ("Year", "2020")])
        .await;
    assert_eq!(plain.status(), "1");
    let padded = app
        .pull_uri(&[("RollNo", "  1234567 "), ("Year", "2020 ")])
        .await;
    assert_eq!(padded.status(), "1");
    assert_eq!(padded.detail("URI"), plain.detail("URI"));
    let empty = app.pull_uri(&[("RollNo", "   "), ("Year", "2020")]).await;
    assert_eq!((empty.http, empty.status()), (200, "0"));

    // And on import: a padded value is stored trimmed, an empty one is refused.
    let csv = app.ws.write(
        "padded.csv",
        "RollNo,Year,doc_name,issued_on\n\" 2222222 \",2022,M,01/01/2022\n\"  \",2022,M,01/01/2022\n",
    );
    let report = app.ws.import("MARKS", &csv);
    assert_eq!(report.imported, 1);
    assert_eq!(report.rejected.len(), 1);
    assert!(
        report.rejected[0].reason.contains("empty"),
        "{:?}",
        report.rejected
    );
    let found = app
        .pull_uri(&[("RollNo", "2222222"), ("Year", "2022")])
        .await;
    assert_eq!(found.status(), "1");
}

/// A captured request sent again within its ts window gets Status 0; the memory is in
/// the database, so it holds across restarts and for every server on it.
async fn a_replayed_request_is_refused(b: Backend) {
    let app = spawn_app(b).await;
    let body = pull_uri_body(&[("RollNo", "1234567"), ("Year", "2020")]);
    assert_eq!(app.post("/pulluri", body.clone()).await.status(), "1");
    let again = app.post("/pulluri", body.clone()).await;
    assert_eq!((again.http, again.status()), (200, "0"), "replayed");
    assert_eq!(again.detail("URI"), None);
    // orgId is matched whatever its case: so is the replay.
    let other_case = body.replace(
        &format!("orgId=\"{ORG}\""),
        &format!("orgId=\"{}\"", ORG.to_lowercase()),
    );
    assert_ne!(other_case, body);
    let again = app.post("/pulluri", other_case).await;
    assert_eq!(
        (again.http, again.status()),
        (200, "0"),
        "replayed, orgId lower case"
    );
    let uri = app
        .pull_uri(&[("RollNo", "1234567"), ("Year", "2020")])
        .await
        .detail("URI")
        .expect("a fresh txn is answered")
        .to_string();
    // Pull Doc without a txn (the seed's samples leave it empty): the keyhash, unique
    // per ts, stands for the request.
    let ts = auth::now_ts();
    let no_txn = build::pull_doc_request(&ts, "", ORG, &signed(&ts), &uri);
    assert_eq!(app.post("/pulldoc", no_txn.clone()).await.status(), "1");
    assert_eq!(app.post("/pulldoc", no_txn).await.status(), "0");

    // A department that turns the check off (e.g. a test harness replaying requests).
    let mut ws = app.ws;
    ws.edit_config(|c| {
        c.replace(
            "ts_window_minutes = 30\n",
            "ts_window_minutes = 30\nrefuse_replays = false\n",
        )
    });
    let open = spawn_on(ws).await;
    let body = pull_uri_body(&[("RollNo", "1234567"), ("Year", "2020")]);
    assert_eq!(open.post("/pulluri", body.clone()).await.status(), "1");
    assert_eq!(open.post("/pulluri", body).await.status(), "1");
}

/// The replay memory is written without waiting for the disk (one row per pull), but
/// only that write: on PostgreSQL the same pooled connection then issues documents and
/// outbox rows, which must still commit durably. On SQLite the memory has a file of its
/// own, and the database's connections are left as they were.
async fn remembering_a_request_leaves_the_connection_committing_durably(b: Backend) {
    use diesel::prelude::*;
    use diesel::sql_types::Text;
    use dlrepo::store::{replay, DbConn};
    #[derive(QueryableByName)]
    struct Setting {
        #[diesel(sql_type = Text)]
        value: String,
    }
    let ws = Workspace::new(b);
    let url = &ws.config.database.url;
    let mut conn = dlrepo::store::establish(url).expect("conn");
    let memory = replay::Memory::of(url);
    assert_eq!(memory.side_file().is_some(), b == Backend::Sqlite);
    let expires = chrono::Utc::now().naive_utc() + chrono::Duration::minutes(30);
    let mut first_time = || memory.first_time(|| Ok(&mut conn), ORG, "txn-1", expires);
    assert!(first_time().expect("record"));
    assert!(
        !first_time().expect("record"),
        "the same txn again is a replay"
    );
    let setting = match &mut conn {
        DbConn::Sqlite(c) => {
            diesel::sql_query("SELECT CAST(synchronous AS TEXT) AS value FROM pragma_synchronous")
                .get_result::<Setting>(c)
        }
        DbConn::Postgres(c) => {
            diesel::sql_query("SELECT current_setting('synchronous_commit') AS value")
                .get_result::<Setting>(c)
        }
    }
    .expect("setting")
    .value;
    // SQLite: 2 is FULL. PostgreSQL: on.
    assert!(["2", "on"].contains(&setting.as_str()), "{setting}");
}

/// A request is kept until its window ends, and a row whose window has ended but that is
/// not pruned yet does not count: that is for a later request reusing the txn. The
/// same request again (same ts, so the same end) must still be a replay, alone or in a
/// batch: auth lets it in up to a second after its window, and it may then wait.
async fn a_replay_sent_as_its_window_ends_is_still_refused(b: Backend) {
    use dlrepo::store::replay::{Memory, Seen};
    let ws = Workspace::new(b);
    let url = ws.config.database.url.clone();
    let memory = Memory::of(&url);
    memory.open().expect("open the replay memory");
    let db = || dlrepo::store::establish(&url).map(Box::new);
    let ended = chrono::Utc::now().naive_utc() - chrono::Duration::seconds(1);
    assert!(memory.first_time(db, ORG, "t1", ended).expect("first"));
    assert!(
        !memory.first_time(db, ORG, "t1", ended).expect("again"),
        "replayed"
    );
    let twice = [Seen {
        org_id: ORG,
        txn: "t1",
        expires_at: ended,
    }; 2];
    let batch: Vec<bool> = memory
        .first_times(db, &twice)
        .expect("batch")
        .into_iter()
        .map(|r| r.expect("each"))
        .collect();
    assert_eq!(batch, [false, false], "replayed, in a batch");
    let later = ended + chrono::Duration::minutes(10);
    assert!(
        memory.first_time(db, ORG, "t1", later).expect("later"),
        "a later request with the same txn is new"
    );
}
