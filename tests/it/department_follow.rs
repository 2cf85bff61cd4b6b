//! A department-table document follows its row: a changed row is served anew (signed,
//! same URI, the old copy kept), a cancelled or vanished one is revoked, and each
//! change is queued for push; `dlrepo push scan` reads a whole table. Both backends.

use crate::operate::dlrepo;

use crate::common::*;
use diesel::RunQueryDsl;
use dlrepo::store::DbConn;

backend_tests!(
    a_changed_row_is_served_anew_under_the_same_uri,
    cancelled_and_revoked_rows_are_refused_and_pushed_as_d,
    a_row_revoked_while_another_server_links_it_keeps_its_one_doc_id,
    push_scan_reads_the_whole_table_and_resumes,
    rows_read_before_the_digest_changed_are_not_made_again,
);

fn exec(conn: &mut DbConn, sql: &str) {
    diesel::sql_query(sql).execute(conn).expect(sql);
}

fn aadhaar(n: u64) -> String {
    valid_aadhaar(25_000_000_000 + n)
}

/// The board's `marks` table with `n` rows (roll numbers 1000 + i), signing keys, and
/// the doc type that maps it.
fn board(b: Backend, n: u64) -> Workspace {
    let mut ws = Workspace::new(b);
    let mut conn = dlrepo::store::establish(&ws.config.database.url).expect("conn");
    let cancelled = match b {
        Backend::Sqlite => "INTEGER NOT NULL DEFAULT 0",
        Backend::Postgres => "BOOLEAN NOT NULL DEFAULT false",
    };
    exec(
        &mut conn,
        &format!("CREATE TABLE marks (roll_no INTEGER PRIMARY KEY, student_name TEXT NOT NULL, total_marks INTEGER NOT NULL, aadhaar TEXT, cancelled {cancelled})"),
    );
    for chunk in (0..n).collect::<Vec<_>>().chunks(500) {
        let values: Vec<String> = chunk
            .iter()
            .map(|i| {
                format!(
                    "({}, 'Student {i}', {}, '{}')",
                    1000 + i,
                    300 + i % 200,
                    aadhaar(*i)
                )
            })
            .collect();
        exec(
            &mut conn,
            &format!(
                "INSERT INTO marks (roll_no, student_name, total_marks, aadhaar) VALUES {}",
                values.join(", ")
            ),
        );
    }
    ws.sign_with_new_key();
    ws.edit_config(|c| {
        c + r#"
[push]
org_id = "in.gov.test.board"
[[doctypes]]
code = "BOARD"
name = "Board Mark Sheet"
udfs = [ { name = "Roll", pattern = "[0-9]{4,6}" } ]
[doctypes.source]
table = "marks"
udf_columns = { Roll = "roll_no" }
holder_name = "student_name"
aadhaar = "aadhaar"
revoked_column = "cancelled"
fields = [ ["Total marks", "total_marks"] ]
"#
    });
    ws
}

fn outbox(ws: &Workspace) -> Vec<(String, String, String)> {
    use diesel::prelude::*;
    use dlrepo::store::schema::push_outbox;
    let mut conn = dlrepo::store::establish(&ws.config.database.url).expect("conn");
    push_outbox::table
        .order(push_outbox::id)
        .select((push_outbox::action, push_outbox::uri, push_outbox::aadhaar))
        .load(&mut conn)
        .expect("outbox")
}

fn versions(ws: &Workspace, doc_id: &str) -> i64 {
    use diesel::prelude::*;
    use dlrepo::store::schema::document_versions;
    let mut conn = dlrepo::store::establish(&ws.config.database.url).expect("conn");
    document_versions::table
        .filter(document_versions::doc_id.eq(doc_id))
        .count()
        .get_result(&mut conn)
        .expect("count")
}

fn text_of(pdf: &[u8]) -> String {
    lopdf::Document::load_mem(pdf)
        .expect("a PDF")
        .extract_text(&[1])
        .expect("text")
}

fn signature_is_good(pdf: &[u8], ws: &Workspace) {
    let ca = openssl::x509::X509::from_pem(&std::fs::read(ws.path("keys/ca.crt")).expect("ca"))
        .expect("pem");
    let reports = dlrepo::docs::verify::verify(pdf, &[ca]);
    assert_eq!(reports.len(), 1, "{reports:?}");
    let r = &reports[0];
    assert!(
        r.intact && r.covers_whole_file && r.trusted == Some(true),
        "{r:?}"
    );
}

/// Roll number `roll` pulled (Status 1): its URI, DocId and document.
async fn pulled(app: &TestApp, roll: &str) -> (String, String, Vec<u8>) {
    let r = app.pull_uri(&[("Roll", roll)]).await;
    assert_eq!(r.status(), "1");
    let uri = r.detail("URI").expect("uri").to_string();
    let doc_id = uri.rsplit('-').next().expect("id").to_string();
    (uri, doc_id, r.doc_bytes())
}

async fn a_changed_row_is_served_anew_under_the_same_uri(b: Backend) {
    let ws = board(b, 3);
    let url = ws.config.database.url.clone();
    let app = spawn_on(ws).await;
    let (uri, doc_id, first) = pulled(&app, "1001").await;
    assert!(text_of(&first).contains("301"), "{}", text_of(&first));
    signature_is_good(&first, &app.ws);
    // Unchanged: the very same signed bytes, and one A for the holder.
    assert_eq!(app.pull_uri(&[("Roll", "1001")]).await.doc_bytes(), first);
    let queued = outbox(&app.ws);
    assert_eq!(queued.len(), 1);
    assert_eq!(
        (queued[0].0.as_str(), queued[0].1.as_str()),
        ("A", uri.as_str())
    );

    // The board corrects the marks in its own table.
    let mut conn = dlrepo::store::establish(&url).expect("conn");
    exec(
        &mut conn,
        "UPDATE marks SET total_marks = 477 WHERE roll_no = 1001",
    );
    let r = app.pull_uri(&[("Roll", "1001")]).await;
    assert_eq!(r.status(), "1");
    assert_eq!(r.detail("URI"), Some(uri.as_str()), "the same URI");
    let second = r.doc_bytes();
    assert_ne!(second, first);
    assert!(text_of(&second).contains("477"), "{}", text_of(&second));
    signature_is_good(&second, &app.ws);
    assert_eq!(
        app.pull_doc(&uri).await.doc_bytes(),
        second,
        "Pull Doc alike"
    );
    assert_eq!(versions(&app.ws, &doc_id), 1, "the earlier copy is kept");
    let queued = outbox(&app.ws);
    assert_eq!(queued.len(), 2);
    assert_eq!(queued[1].0, "U");

    // Another holder's Aadhaar number: D for the old link, A for the new one.
    exec(
        &mut conn,
        &format!(
            "UPDATE marks SET aadhaar = '{}' WHERE roll_no = 1001",
            aadhaar(99)
        ),
    );
    assert_eq!(app.pull_doc(&uri).await.status(), "1");
    let queued = outbox(&app.ws);
    let actions: Vec<&str> = queued.iter().map(|q| q.0.as_str()).collect();
    assert_eq!(actions, ["A", "U", "D", "A"]);
    assert_eq!(queued[2].2, queued[0].2, "D under the old number");
    assert_ne!(queued[3].2, queued[0].2);
    assert!(
        queued.iter().all(|q| q.2.starts_with("vault:")),
        "only references"
    );
}

fn fingerprint(ws: &Workspace, doc_id: &str) -> String {
    use diesel::prelude::*;
    use dlrepo::store::schema::documents;
    let mut conn = dlrepo::store::establish(&ws.config.database.url).expect("conn");
    documents::table
        .filter(documents::doc_id.eq(doc_id))
        .select(documents::fingerprint)
        .first::<Option<String>>(&mut conn)
        .expect("fingerprint")
        .expect("recorded")
}

/// A server upgraded from a release that digested rows with SHA-256 finds every row it
/// had read recorded under that digest: unchanged rows must stay unchanged (the same
/// signed bytes, no U pushed to every holder), and a real change must still show.
async fn rows_read_before_the_digest_changed_are_not_made_again(b: Backend) {
    let ws = board(b, 2);
    let url = ws.config.database.url.clone();
    let app = spawn_on(ws).await;
    let (uri, doc_id, first) = pulled(&app, "1001").await;
    assert!(fingerprint(&app.ws, &doc_id).starts_with("b3:"));

    // As the earlier release recorded it.
    let config = &app.ws.config;
    let pool = dlrepo::store::pool(&config.database).expect("pool");
    let tables = dlrepo::store::department::prepare_all(&config.doctypes, &config.database, &pool)
        .expect("tables");
    let row = tables["BOARD"]
        .find_by_udfs(&["1001".to_string()])
        .expect("row")
        .remove(0);
    let legacy = row.legacy_digest();
    assert_eq!(legacy.len(), 64, "hex SHA-256");
    let mut conn = dlrepo::store::establish(&url).expect("conn");
    exec(
        &mut conn,
        &format!("UPDATE documents SET fingerprint = '{legacy}' WHERE doc_id = '{doc_id}'"),
    );

    let r = app.pull_uri(&[("Roll", "1001")]).await;
    assert_eq!(r.status(), "1");
    assert_eq!(r.detail("URI"), Some(uri.as_str()));
    assert_eq!(
        r.doc_bytes(),
        first,
        "the same signed bytes, not made again"
    );
    assert_eq!(outbox(&app.ws).len(), 1, "no U pushed");
    assert_eq!(versions(&app.ws, &doc_id), 0);
    assert_eq!(fingerprint(&app.ws, &doc_id), row.digest(), "recorded anew");

    // `dlrepo push scan` alike: that row no change, the one never read before new.
    exec(
        &mut conn,
        &format!("UPDATE documents SET fingerprint = '{legacy}' WHERE doc_id = '{doc_id}'"),
    );
    let text = scan(&app.ws);
    assert!(text.contains("1 new, 0 changed"), "{text}");
    assert_eq!(fingerprint(&app.ws, &doc_id), row.digest());
    assert_eq!(outbox(&app.ws).len(), 2, "an A for the new row only");

    // A change after the upgrade is one.
    exec(
        &mut conn,
        "UPDATE marks SET total_marks = 488 WHERE roll_no = 1001",
    );
    let r = app.pull_doc(&uri).await;
    assert_eq!(r.status(), "1");
    assert!(text_of(&r.doc_bytes()).contains("488"));
    let actions: Vec<String> = outbox(&app.ws).into_iter().map(|q| q.0).collect();
    assert_eq!(actions, ["A", "A", "U"]);
    assert_eq!(versions(&app.ws, &doc_id), 1);
}

async fn cancelled_and_revoked_rows_are_refused_and_pushed_as_d(b: Backend) {
    let ws = board(b, 3);
    let url = ws.config.database.url.clone();
    let app = spawn_on(ws).await;
    let uri_of = |r: &Reply| r.detail("URI").expect("uri").to_string();
    let one = uri_of(&app.pull_uri(&[("Roll", "1000")]).await);
    let two = uri_of(&app.pull_uri(&[("Roll", "1002")]).await);

    // The board cancels a row: Status 0 on both endpoints, D queued, and it stays so.
    let mut conn = dlrepo::store::establish(&url).expect("conn");
    let yes = if b == Backend::Sqlite { "1" } else { "true" };
    exec(
        &mut conn,
        &format!("UPDATE marks SET cancelled = {yes} WHERE roll_no = 1000"),
    );
    let r = app.pull_uri(&[("Roll", "1000")]).await;
    assert_eq!((r.http, r.status()), (200, "0"));
    assert_eq!(app.pull_doc(&one).await.status(), "0");
    // `dlrepo revoke` works on a department document too.
    let out = dlrepo(&app.ws, &["revoke", &two]);
    assert!(out.contains("D row is queued"));
    assert_eq!(app.pull_uri(&[("Roll", "1002")]).await.status(), "0");
    assert_eq!(app.pull_doc(&two).await.status(), "0");
    let queued = outbox(&app.ws);
    let rows: Vec<(&str, &str)> = queued
        .iter()
        .map(|q| (q.0.as_str(), q.1.as_str()))
        .collect();
    assert_eq!(
        rows,
        [
            ("A", one.as_str()),
            ("A", two.as_str()),
            ("D", one.as_str()),
            ("D", two.as_str())
        ]
    );
    // Pulling again queues nothing more.
    app.pull_uri(&[("Roll", "1000")]).await;
    assert_eq!(outbox(&app.ws).len(), 4);
    // Other rows are unaffected.
    assert_eq!(app.pull_uri(&[("Roll", "1001")]).await.status(), "1");
}

/// Two servers read a row at once and both find it unlinked; one links it and the
/// row is revoked (cancelled by the board, or `dlrepo revoke`) before the other's
/// INSERT arrives. That INSERT is not refused by the linked rows' unique index, yet
/// the row must keep its one DocId, and stay revoked.
async fn a_row_revoked_while_another_server_links_it_keeps_its_one_doc_id(b: Backend) {
    use diesel::prelude::*;
    use dlrepo::store::schema::documents;
    let ws = board(b, 2);
    let url = ws.config.database.url.clone();
    let app = spawn_on(ws).await;
    let (uri, doc_id, _) = pulled(&app, "1000").await;
    dlrepo(&app.ws, &["revoke", &uri]);

    // The slower server's INSERT, for the row as it read it (live, never linked).
    let mut conn = dlrepo::store::establish(&url).expect("conn");
    let key: String = documents::table
        .filter(documents::doc_id.eq(&doc_id))
        .select(documents::udf_key.assume_not_null())
        .first(&mut conn)
        .expect("key");
    let known = |conn: &mut DbConn| -> Vec<(String, String)> {
        documents::table
            .filter(documents::doctype.eq("BOARD"))
            .filter(documents::udf_key.eq(&key))
            .select((documents::doc_id, documents::status))
            .load(conn)
            .expect("links")
    };
    let state = dlrepo::store::linked::RowState {
        fingerprint: "read-before-the-revocation",
        aadhaar: None,
        doc_name: None,
        holder_name: Some("Student 0"),
        issued_on: None,
        valid_from: None,
        valid_to: None,
    };
    let space = dlrepo::uri::DocIdSpace { length: 10 };
    let now = chrono::Utc::now().naive_utc();
    let (link, made) =
        dlrepo::store::linked::link_new(&mut conn, "BOARD", &key, &space, Some(&state), now)
            .expect("link");
    assert!(!made, "a second DocId was minted for a revoked row");
    assert_eq!(
        (link.doc_id.as_str(), link.status.as_str()),
        (doc_id.as_str(), "revoked")
    );
    assert_eq!(known(&mut conn), [(doc_id.clone(), "revoked".to_string())]);
    // And over HTTP: the row is refused, under no other URI.
    assert_eq!(app.pull_uri(&[("Roll", "1000")]).await.status(), "0");
    assert_eq!(known(&mut conn).len(), 1);
}

fn scan(ws: &Workspace) -> String {
    dlrepo(ws, &["push", "scan", "--doctype", "BOARD"])
}

async fn push_scan_reads_the_whole_table_and_resumes(b: Backend) {
    const ROWS: u64 = 3_000;
    let ws = board(b, ROWS);
    let text = scan(&ws);
    assert!(text.contains(&format!("{ROWS} rows read")), "{text}");
    assert!(text.contains(&format!("{ROWS} new, 0 changed")), "{text}");
    let queued = outbox(&ws);
    assert_eq!(
        queued.len() as u64,
        ROWS,
        "one A per row with an Aadhaar number"
    );
    let uris: std::collections::HashSet<&str> = queued.iter().map(|q| q.1.as_str()).collect();
    assert_eq!(uris.len() as u64, ROWS, "one DocId per row");

    // Run again (as after a crash): nothing new.
    let text = scan(&ws);
    assert!(
        text.contains("0 new, 0 changed, 0 cancelled, 0 gone"),
        "{text}"
    );
    assert_eq!(outbox(&ws).len() as u64, ROWS);

    // A changed row, a cancelled one and a deleted one.
    let mut conn = dlrepo::store::establish(&ws.config.database.url).expect("conn");
    let yes = if b == Backend::Sqlite { "1" } else { "true" };
    exec(
        &mut conn,
        "UPDATE marks SET total_marks = 499 WHERE roll_no = 1005",
    );
    exec(
        &mut conn,
        &format!("UPDATE marks SET cancelled = {yes} WHERE roll_no = 1006"),
    );
    exec(&mut conn, "DELETE FROM marks WHERE roll_no = 1007");
    let text = scan(&ws);
    assert!(
        text.contains("0 new, 1 changed, 1 cancelled, 1 gone"),
        "{text}"
    );
    let queued = outbox(&ws);
    let tail: Vec<&str> = queued[ROWS as usize..]
        .iter()
        .map(|q| q.0.as_str())
        .collect();
    assert_eq!(tail, ["U", "D", "D"]);
    // The scanned rows answer Pull URI under the DocIds the scan gave them.
    let app = spawn_on(ws).await;
    let r = app.pull_uri(&[("Roll", "1010")]).await;
    assert_eq!(r.status(), "1");
    assert!(uris.contains(r.detail("URI").expect("uri")));
    assert_eq!(app.pull_uri(&[("Roll", "1007")]).await.status(), "0");
}
