//! Doc types served from the department's own table, and a database that goes away.

use std::time::{Duration, Instant};

use crate::common::*;
use diesel::{Connection, RunQueryDsl};

backend_tests!(
    pulls_from_a_department_table_with_stable_doc_ids,
    start_up_names_a_missing_column,
    a_template_on_a_department_row_prints_its_doc_id_and_aadhaar_tail,
    a_document_that_cannot_be_made_is_an_operator_error,
    the_current_api_on_department_rows,
);

const PDF: &[u8] = b"%PDF-1.4\n% the board's own signed file\n%%EOF\n";

/// Creates the department's `results` table in the workspace's database and returns
/// the URL dlrepo should read it with (on PostgreSQL: a read-only role).
pub(crate) fn department_table(ws: &Workspace) -> Option<String> {
    let url = ws.config.database.url.clone();
    let stmts: Vec<String> = match ws.backend {
        Backend::Sqlite => vec![
            "CREATE TABLE results (id INTEGER PRIMARY KEY, roll_no INTEGER NOT NULL, exam_year INTEGER NOT NULL, student_name TEXT, result_date TEXT, total_marks INTEGER, certificate BLOB)".into(),
        ],
        Backend::Postgres => vec![
            "CREATE TABLE results (id SERIAL PRIMARY KEY, roll_no INTEGER NOT NULL, exam_year INTEGER NOT NULL, student_name TEXT, result_date DATE, total_marks NUMERIC(5,1), certificate BYTEA)".into(),
        ],
    };
    let mut conn = dlrepo::store::establish(&url).expect("connect");
    for s in stmts {
        diesel::sql_query(s).execute(&mut conn).expect("create");
    }
    let insert = |conn: &mut dlrepo::store::DbConn, roll: i64, name: &str, pdf: Option<&[u8]>| {
        use diesel::sql_types::{BigInt, Binary, Nullable, Text};
        let sql = match ws.backend {
            Backend::Sqlite => "INSERT INTO results (roll_no, exam_year, student_name, result_date, total_marks, certificate) VALUES (?, 2024, ?, '2024-05-15', 412, ?)",
            Backend::Postgres => "INSERT INTO results (roll_no, exam_year, student_name, result_date, total_marks, certificate) VALUES ($1, 2024, $2, DATE '2024-05-15', 412.5, $3)",
        };
        match conn {
            dlrepo::store::DbConn::Sqlite(c) => diesel::sql_query(sql)
                .bind::<BigInt, _>(roll)
                .bind::<Text, _>(name)
                .bind::<Nullable<Binary>, _>(pdf)
                .execute(c),
            dlrepo::store::DbConn::Postgres(c) => diesel::sql_query(sql)
                .bind::<BigInt, _>(roll)
                .bind::<Text, _>(name)
                .bind::<Nullable<Binary>, _>(pdf)
                .execute(c),
        }
        .expect("insert");
    };
    insert(&mut conn, 3001, "Asha Rao", Some(PDF));
    insert(&mut conn, 3002, "Ravi Kumar", None);
    insert(&mut conn, 3003, "Twin One", None);
    insert(&mut conn, 3003, "Twin Two", None);
    if ws.backend == Backend::Postgres {
        let db = ws.pg.as_ref().expect("pg").name.clone();
        let role = format!("{db}_ro");
        for s in [
            format!("CREATE ROLE {role} LOGIN"),
            format!("GRANT CONNECT ON DATABASE {db} TO {role}"),
            format!("GRANT SELECT ON results TO {role}"),
        ] {
            diesel::sql_query(s).execute(&mut conn).expect("role");
        }
        let admin = pg_url(&db);
        return Some(admin.replacen("postgres@", &format!("{role}@"), 1));
    }
    None
}

pub(crate) fn drop_role(ws: &Workspace) {
    if let Some(db) = &ws.pg {
        let role = format!("{}_ro", db.name);
        if let Ok(mut c) = diesel::PgConnection::establish(&db.url()) {
            let _ = diesel::sql_query(format!("DROP OWNED BY {role}")).execute(&mut c);
        }
        if let Ok(mut c) = diesel::PgConnection::establish(&pg_admin_url()) {
            let _ = diesel::sql_query(format!(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{role}'"
            ))
            .execute(&mut c);
            let _ = diesel::sql_query(format!("DROP ROLE IF EXISTS {role}")).execute(&mut c);
        }
    }
}

pub(crate) fn source_block(url: Option<&str>, roll_column: &str) -> String {
    let url_line = url.map_or(String::new(), |u| format!("database_url = \"{u}\"\n"));
    format!(
        r#"
[[doctypes]]
code = "RSLT"
name = "Secondary School Result"
udfs = [ {{ name = "ExamRoll", pattern = "[0-9]{{4}}" }}, {{ name = "ExamYear", pattern = "[0-9]{{4}}" }} ]
[doctypes.source]
table = "results"
{url_line}udf_columns = {{ ExamRoll = "{roll_column}", ExamYear = "exam_year" }}
key_columns = ["id"]
holder_name = "student_name"
issued_on = "result_date"
document_column = "certificate"
fields = [ ["Total marks", "total_marks"] ]
"#
    )
}

async fn pulls_from_a_department_table_with_stable_doc_ids(b: Backend) {
    let mut ws = Workspace::new(b);
    let url = department_table(&ws);
    ws.edit_config(|c| c + &source_block(url.as_deref(), "roll_no"));
    let app = spawn_on(ws).await;

    let r = app
        .pull_uri(&[("ExamRoll", "3001"), ("ExamYear", "2024")])
        .await;
    assert_eq!(r.status(), "1");
    let uri = r.detail("URI").expect("uri").to_string();
    assert!(uri.starts_with("in.gov.test.board-RSLT-"), "{uri}");
    assert_eq!(r.doc_bytes(), PDF, "the board's own PDF, byte for byte");
    // The same row always answers with the same URI, and Pull Doc finds it again.
    let again = app
        .pull_uri(&[("ExamRoll", "3001"), ("ExamYear", "2024")])
        .await;
    assert_eq!(again.detail("URI"), Some(uri.as_str()));
    let doc = app.pull_doc(&uri).await;
    assert_eq!(doc.status(), "1");
    assert_eq!(doc.doc_bytes(), PDF);

    // Without a PDF column value the certificate is rendered, identically each time.
    let r = app
        .pull_uri(&[("ExamRoll", "3002"), ("ExamYear", "2024")])
        .await;
    assert_eq!(r.status(), "1");
    let rendered = r.doc_bytes();
    let pdf = lopdf::Document::load_mem(&rendered).expect("a PDF");
    let text = pdf.extract_text(&[1]).expect("text");
    assert!(text.contains("Ravi Kumar"), "{text}");
    assert!(text.contains("412"), "{text}");
    let uri2 = r.detail("URI").expect("uri").to_string();
    assert_ne!(uri2, uri);
    assert_eq!(app.pull_doc(&uri2).await.doc_bytes(), rendered);

    // Two rows match: ambiguous. No row, or a value that is not a number: not found.
    let r = app
        .pull_uri(&[("ExamRoll", "3003"), ("ExamYear", "2024")])
        .await;
    assert_eq!((r.http, r.status()), (200, "0"));
    let r = app
        .pull_uri(&[("ExamRoll", "3009"), ("ExamYear", "2024")])
        .await;
    assert_eq!((r.http, r.status()), (200, "0"));
    // Pull Doc of a DocId that was never handed out.
    assert_eq!(
        app.pull_doc("in.gov.test.board-RSLT-ZZZZZ").await.status(),
        "0"
    );
    let resp = reqwest::get(format!("{}/healthz", app.addr))
        .await
        .expect("get");
    assert_eq!(resp.status().as_u16(), 200);
    drop_role(&app.ws);
}

/// A department database that gives no connection is waited for once, not by every
/// read: the next reads answer "unavailable" at once until one finds it back.
#[test]
fn a_department_database_that_gave_no_connection_answers_at_once_until_it_is_back() {
    use dlrepo::store::StoreError;
    let Some(b) = Backend::postgres() else { return };
    let mut ws = Workspace::new(b);
    let url = department_table(&ws);
    ws.edit_config(|c| c + &source_block(url.as_deref(), "roll_no"));
    let config = ws.reload();
    let pool = dlrepo::store::pool(&config.database).expect("pool");
    let doctype = config.doctype("RSLT").expect("RSLT");
    let table = {
        use dlrepo::store::department::{pool_of, DeptTable};
        DeptTable::open(
            doctype,
            pool_of(doctype, &config.database, &pool).expect("pool"),
        )
        .expect("open")
    };
    let ask = ["3001".to_string(), "2024".to_string()];
    assert_eq!(table.find_by_udfs(&ask).expect("read").len(), 1);

    // The department locks dlrepo's role out, and its sessions end.
    let role = format!("{}_ro", ws.pg.as_ref().expect("pg").name);
    let mut admin = diesel::PgConnection::establish(&pg_admin_url()).expect("admin");
    let lock_out = |admin: &mut diesel::PgConnection, login: &str| {
        for sql in [
            format!("ALTER ROLE {role} {login}"),
            format!(
                "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity WHERE usename = '{role}'"
            ),
        ] {
            diesel::sql_query(&sql).execute(admin).expect("admin");
        }
    };
    lock_out(&mut admin, "NOLOGIN");
    let why = |r: Result<Vec<_>, StoreError>| match r {
        Err(StoreError::Unavailable(why)) => why,
        other => panic!("not unavailable: {other:?}"),
    };
    // The connection it held is gone: that read fails, and the pool finds none anew.
    let mut first = why(table.find_by_udfs(&ask));
    if !first.contains("timed out") {
        first = why(table.find_by_udfs(&ask));
    }
    assert!(first.contains("timed out"), "{first}");
    let next = why(table.find_by_udfs(&ask));
    assert!(next.contains("did not answer a moment ago"), "{next}");

    lock_out(&mut admin, "LOGIN");
    let started = std::time::Instant::now();
    while table.find_by_udfs(&ask).is_err() {
        assert!(started.elapsed() < Duration::from_secs(20), "never back");
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(table);
    drop(pool);
    drop_role(&ws);
}

async fn start_up_names_a_missing_column(b: Backend) {
    let mut ws = Workspace::new(b);
    let url = department_table(&ws);
    ws.edit_config(|c| c + &source_block(url.as_deref(), "rol_no"));
    let config = std::sync::Arc::new(ws.reload());
    let pool = dlrepo::store::pool(&config.database).expect("pool");
    let problems = match dlrepo::server::AppState::prepare(config, pool) {
        Ok(_) => panic!("a missing column must stop start-up"),
        Err(p) => p.join("\n"),
    };
    assert!(problems.contains("RSLT"), "{problems}");
    assert!(problems.contains("rol_no"), "{problems}");
    assert!(
        problems.contains("roll_no"),
        "lists the real columns: {problems}"
    );

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_dlrepo"))
        .arg("--config")
        .arg(&ws.config_path)
        .arg("check-config")
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("rol_no"));

    // And the table is refused as an import target.
    let csv = ws.write(
        "r.csv",
        "ExamRoll,ExamYear,doc_name,issued_on\n1234,2024,x,01/01/2024\n",
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_dlrepo"))
        .arg("--config")
        .arg(&ws.config_path)
        .args(["import", "--doctype", "RSLT"])
        .arg(&csv)
        .output()
        .expect("run");
    assert!(String::from_utf8_lossy(&out.stderr).contains("read from the department table"));
    drop_role(&ws);
}

/// PostgreSQL goes away under a running server: answers are quick Status 0 / 503,
/// /healthz says so, and the server heals by itself.
#[tokio::test]
async fn survives_postgres_connections_being_killed() {
    let Some(b) = Backend::postgres() else { return };
    let app = spawn_app(b).await;
    let udfs = [("RollNo", "1234567"), ("Year", "2020")];
    assert_eq!(app.pull_uri(&udfs).await.status(), "1");
    let db = app.ws.pg.as_ref().expect("pg").name.clone();
    let mut admin = diesel::PgConnection::establish(&pg_admin_url()).expect("admin");
    diesel::sql_query(format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{db}' AND pid <> pg_backend_pid()"
    ))
    .execute(&mut admin)
    .expect("terminate");
    let mut healed = false;
    for _ in 0..10 {
        let r = app.pull_uri(&udfs).await;
        assert!(
            (r.http, r.status()) == (200, "1") || (r.http, r.status()) == (503, "0"),
            "got {} Status {}",
            r.http,
            r.status()
        );
        if r.status() == "1" {
            healed = true;
            break;
        }
    }
    assert!(healed, "the pool replaces dead connections");
}

#[tokio::test]
async fn an_unreachable_database_answers_quickly_and_healthz_says_so() {
    let Some(b) = Backend::postgres() else { return };
    let mut ws = Workspace::new(b);
    // Point the running server at a port where nothing listens.
    ws.edit_config(|c| {
        let url = ws_url(&c);
        c.replace(&url, "postgres://postgres@127.0.0.1:1/nothing")
    });
    let app = spawn_on(ws).await;
    let started = Instant::now();
    let r = app
        .pull_uri(&[("RollNo", "1234567"), ("Year", "2020")])
        .await;
    assert_eq!((r.http, r.status()), (503, "0"));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    let resp = reqwest::get(format!("{}/healthz", app.addr))
        .await
        .expect("get");
    assert_eq!(resp.status().as_u16(), 503);
    assert!(resp.text().await.expect("body").contains("unavailable"));
}

fn ws_url(config: &str) -> String {
    config
        .lines()
        .find_map(|l| l.strip_prefix("url = \""))
        .and_then(|l| l.strip_suffix('"'))
        .expect("url line")
        .to_string()
}

/// The same facts reach a template whichever way a row came in: `doc_id` and
/// `aadhaar_last4` were blank for department rows before there was one issuing path.
async fn a_template_on_a_department_row_prints_its_doc_id_and_aadhaar_tail(b: Backend) {
    let mut ws = Workspace::new(b);
    let url = department_table(&ws);
    if let Some(db) = ws.pg.as_ref() {
        // The read-only role may read the new column too.
        let mut conn = diesel::PgConnection::establish(&db.url()).expect("connect");
        diesel::sql_query("ALTER TABLE results ADD COLUMN aadhaar TEXT")
            .execute(&mut conn)
            .expect("alter");
        diesel::sql_query("UPDATE results SET aadhaar = '234123412346'")
            .execute(&mut conn)
            .expect("update");
    } else {
        let mut conn = dlrepo::store::establish(&ws.config.database.url).expect("connect");
        for s in [
            "ALTER TABLE results ADD COLUMN aadhaar TEXT",
            "UPDATE results SET aadhaar = '234123412346'",
        ] {
            diesel::sql_query(s).execute(&mut conn).expect("alter");
        }
    }
    ws.write(
        "cert.toml",
        "page = { width = 595, height = 842 }\n\
         [[text]]\nfield = \"doc_id\"\nlabel = \"Certificate no. \"\nx = 72\ny = 700\n\
         [[text]]\nfield = \"aadhaar_last4\"\nlabel = \"Aadhaar \"\nx = 72\ny = 680\n\
         [[text]]\nfield = \"Total marks\"\nlabel = \"Total \"\nx = 72\ny = 660\n",
    );
    ws.edit_config(|c| {
        c + &source_block(url.as_deref(), "roll_no")
            .replace(
                "name = \"Secondary School Result\"",
                "name = \"Secondary School Result\"\ntemplate = \"cert.toml\"",
            )
            .replace(
                "holder_name = \"student_name\"",
                "holder_name = \"student_name\"\naadhaar = \"aadhaar\"",
            )
    });
    let app = spawn_on(ws).await;
    let r = app
        .pull_uri(&[("ExamRoll", "3002"), ("ExamYear", "2024")])
        .await;
    assert_eq!(r.status(), "1");
    let uri = r.detail("URI").expect("uri").to_string();
    let doc_id = uri.rsplit('-').next().expect("doc id");
    let pdf = lopdf::Document::load_mem(&r.doc_bytes()).expect("a PDF");
    let text = pdf.extract_text(&[1]).expect("text");
    assert!(
        text.contains(&format!("Certificate no. {doc_id}")),
        "{text}"
    );
    assert!(text.contains("2346"), "{text}");
    assert!(
        !text.contains("234123412346"),
        "never the whole number: {text}"
    );
    assert!(text.contains("412"), "{text}");
    drop_role(&app.ws);
}

/// A row whose document column holds something that is not a PDF is the operator's
/// problem: Status 0 with HTTP 500, not an ordinary "no document".
async fn a_document_that_cannot_be_made_is_an_operator_error(b: Backend) {
    let mut ws = Workspace::new(b);
    let url = department_table(&ws);
    let mut conn = dlrepo::store::establish(&ws.config.database.url).expect("connect");
    diesel::sql_query("UPDATE results SET certificate = NULL WHERE roll_no = 3001")
        .execute(&mut conn)
        .expect("update");
    let set = match b {
        Backend::Sqlite => {
            "UPDATE results SET certificate = X'6e6f742061207064' WHERE roll_no = 3001"
        }
        Backend::Postgres => {
            "UPDATE results SET certificate = '\\x6e6f742061207064'::bytea WHERE roll_no = 3001"
        }
    };
    diesel::sql_query(set).execute(&mut conn).expect("update");
    ws.edit_config(|c| c + &source_block(url.as_deref(), "roll_no"));
    let app = spawn_on(ws).await;
    let r = app
        .pull_uri(&[("ExamRoll", "3001"), ("ExamYear", "2024")])
        .await;
    assert_eq!((r.http, r.status()), (500, "0"));
    assert_eq!(r.detail("URI"), None);
    drop_role(&app.ws);
}

/// The current API on a department table: the resident fields echoed (UID too; Photo
/// read and dropped), DataContent from the row, resident matching, and Status 9 for a
/// row whose document column is still empty when the doc type awaits documents.
async fn the_current_api_on_department_rows(b: Backend) {
    use base64::Engine;
    let mut ws = Workspace::new(b);
    let url = department_table(&ws);
    let block = source_block(url.as_deref(), "roll_no").replace(
        "name = \"Secondary School Result\"\n",
        "name = \"Secondary School Result\"\nawait_documents = true\n",
    );
    let mapping = "[doctypes.certificate]\ndata_element = \"Performance\"\ndata = [ [\"total\", \"Total marks\"] ]\n";
    ws.edit_config(|c| c + &block + mapping);
    let app = spawn_on(ws).await;
    let ask = |roll: &str, name: &str| {
        let ts = dlrepo::auth::now_ts();
        format!(
            r#"<PullURIRequest xmlns="http://tempuri.org/" ver="3.0" ts="{ts}" txn="{}" orgId="{ORG}" keyhash="{}" format="both"><DocDetails><DocType>RSLT</DocType><DigiLockerId>dl-42</DigiLockerId><UID>xxxxxxxx1234</UID><FullName>{name}</FullName><Photo>iVBORw0KGgo=</Photo><ExamRoll>{roll}</ExamRoll><ExamYear>2024</ExamYear></DocDetails></PullURIRequest>"#,
            fresh_txn("dept-"),
            signed(&ts)
        )
    };
    let r = app.post("/pulluri", ask("3001", "Rao Asha")).await;
    assert_eq!(r.status(), "1");
    assert_eq!(r.detail("UID"), Some("xxxxxxxx1234"));
    assert_eq!(r.detail("DigiLockerId"), Some("dl-42"));
    assert_eq!(r.detail("FullName"), Some("Rao Asha"));
    assert!(r.detail("Photo").is_none(), "the photo is not echoed");
    assert_eq!(r.doc_bytes(), PDF);
    let xml = base64::engine::general_purpose::STANDARD
        .decode(r.detail("DataContent").expect("DataContent"))
        .expect("base64");
    let cert = dlrepo::wire::xml::parse(&xml).expect("certificate XML");
    assert_eq!(cert.name, "Certificate");
    let text = String::from_utf8_lossy(&xml);
    assert!(text.contains("<Person name=\"Asha Rao\""), "{text}");
    assert!(text.contains("<Performance total=\"412"), "{text}");
    let person = r
        .root
        .child("DocDetails")
        .and_then(|d| d.child("IssuedTo"))
        .and_then(|i| i.child("Persons"))
        .and_then(|p| p.child("Person"))
        .expect("IssuedTo/Persons/Person");
    assert!(format!("{person:?}").contains("Asha Rao"));

    // Somebody else's name: Status 0, nothing served.
    let r = app.post("/pulluri", ask("3001", "Ravi Kumar")).await;
    assert_eq!((r.http, r.status()), (200, "0"));
    assert!(r.detail("DocContent").is_none());

    // A row without its document yet: recorded, to follow (Status 9); the URI comes
    // with the push once the document is there.
    let r = app.post("/pulluri", ask("3002", "Ravi Kumar")).await;
    assert_eq!(r.status(), "9");
    assert_eq!(r.detail("URI"), None);
    assert!(r.detail("DocContent").is_none());
    drop_role(&app.ws);
}
