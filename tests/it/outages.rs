//! A server whose database is not there: at start-up, or gone from under it.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn get_healthz(client: &reqwest::Client, addr: &str) -> Option<(u16, String)> {
    let r = client
        .get(format!("{addr}/healthz"))
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .ok()?;
    let code = r.status().as_u16();
    Some((code, r.text().await.unwrap_or_default()))
}

/// `dlrepo serve` with this config, on a port of its own, once /healthz answers.
async fn serve(config: &std::path::Path) -> (Server, String) {
    let port = free_port();
    let addr = format!("http://127.0.0.1:{port}");
    let server = Server(
        Command::new(env!("CARGO_BIN_EXE_dlrepo"))
            .arg("--config")
            .arg(config)
            .arg("serve")
            .env("DLREPO_BIND", format!("127.0.0.1:{port}"))
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("serve"),
    );
    let client = reqwest::Client::new();
    let started = Instant::now();
    while get_healthz(&client, &addr).await.is_none() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "serve did not start"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    (server, addr)
}

/// PostgreSQL: the database does not exist yet when `serve` starts (as when the
/// database server is still coming up): 503s, then it serves without a restart.
#[tokio::test]
async fn serve_starts_while_the_database_is_down_and_serves_once_it_answers() {
    let Some(_) = Backend::postgres() else { return };
    let name = PgDatabase::unused_name("late_");
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("dlrepo.toml");
    // With a department doc type whose table is not there: found out only once the
    // database comes, with nobody watching serve start, so it waits alone (503s)
    // rather than keeping every doc type from being served.
    let text = config_text(&pg_url(&name))
        + &crate::department::source_block(None, "roll_no")
            .replace("\"results\"", "\"no_results\"");
    std::fs::write(&config, text).expect("config");
    write_vault_key(dir.path());
    let (_server, addr) = serve(&config).await;
    let client = reqwest::Client::new();
    let (code, text) = get_healthz(&client, &addr).await.expect("healthz");
    assert_eq!(code, 503, "{text}");
    assert!(!text.contains(&name), "healthz names no database: {text}");
    assert_eq!(
        pull_status(&client, &addr, "1234567", "2020").await,
        (503, "0".to_string())
    );

    // The database appears; the server migrates and serves by itself.
    let db = PgDatabase::named(&name);
    let started = Instant::now();
    while get_healthz(&client, &addr).await.map(|h| h.0) != Some(200) {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "never served after the database came"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        pull_status(&client, &addr, "1234567", "2020").await,
        (200, "0".to_string()),
        "not found yet"
    );
    let conf = dlrepo::config::Config::load(&config, &Default::default()).expect("config");
    let csv = dir.path().join("marks.csv");
    std::fs::write(&csv, MARKS_CSV).expect("csv");
    let vault = conf.vault().expect("vault");
    let mut conn = dlrepo::store::establish(&db.url()).expect("conn");
    dlrepo::import::run(
        &conf,
        &mut conn,
        &dlrepo::import::ImportOptions {
            doctype: "MARKS",
            csv: &csv,
            out: None,
            batch_size: 100,
            commit_after: dlrepo::import::COMMIT_AFTER,
            sqlite_cache_mb: dlrepo::import::SQLITE_CACHE_MB,
            progress: false,
            correct: false,
            signer: None,
            vault: vault.as_ref(),
        },
    )
    .expect("import");
    assert_eq!(
        pull_status(&client, &addr, "1234567", "2020").await,
        (200, "1".to_string())
    );
    let department = pull_uri_body(&[("ExamRoll", "3001"), ("ExamYear", "2024")]);
    assert_eq!(
        post_status(&client, &addr, department).await,
        (503, "0".to_string())
    );
}

/// SQLite: the database file deleted, or replaced by another, under a running server is
/// an outage (503), not an empty database or a 500.
#[tokio::test]
async fn a_sqlite_file_deleted_or_replaced_under_the_server_is_a_503() {
    let app = spawn_app(Backend::Sqlite).await;
    let db = std::path::PathBuf::from(&app.ws.config.database.url);
    assert_eq!(
        app.pull_uri(&[("RollNo", "1234567"), ("Year", "2020")])
            .await
            .status(),
        "1"
    );
    let moved = db.with_extension("moved");
    std::fs::rename(&db, &moved).expect("move away");
    let healthz = |app: &TestApp| {
        let url = format!("{}/healthz", app.addr);
        let client = app.client.clone();
        async move {
            client
                .get(url)
                .send()
                .await
                .expect("healthz")
                .status()
                .as_u16()
        }
    };
    assert_eq!(healthz(&app).await, 503);
    let r = app
        .pull_uri(&[("RollNo", "1234567"), ("Year", "2020")])
        .await;
    assert_eq!((r.http, r.status()), (503, "0"));

    // Another file under the old name is not the database the server opened either.
    std::fs::copy(&moved, &db).expect("copy back");
    assert_eq!(healthz(&app).await, 503);
    let r = app
        .pull_uri(&[("RollNo", "7654321"), ("Year", "2021")])
        .await;
    assert_eq!((r.http, r.status()), (503, "0"));

    // The very file moved back: served again.
    std::fs::remove_file(&db).expect("remove copy");
    std::fs::rename(&moved, &db).expect("move back");
    assert_eq!(healthz(&app).await, 200);
    let r = app
        .pull_uri(&[("RollNo", "7654321"), ("Year", "2021")])
        .await;
    assert_eq!((r.http, r.status()), (200, "1"));
}

fn doc_id_in(url: &str, roll: &str, year: &str) -> Option<String> {
    use dlrepo::store::documents::{find_by_udfs, udf_key, Lookup};
    let mut conn = dlrepo::store::establish(url).expect("conn");
    match find_by_udfs(&mut conn, "MARKS", &udf_key(&[roll, year])).expect("lookup") {
        Lookup::Found(r) => Some(r.doc_id),
        _ => None,
    }
}

/// PostgreSQL with `database.replica_url`: pulls read the replica; a document the
/// replica does not have yet, or a replica that does not answer, is read on the
/// primary. (The "replica" here is a second database holding less than the primary,
/// which is what a lagging streaming replica looks like to dlrepo.)
#[tokio::test]
async fn pulls_read_the_replica_and_fall_back_to_the_primary() {
    let Some(b) = Backend::postgres() else { return };
    let mut primary = Workspace::new(b);
    let csv = primary.write("marks.csv", MARKS_CSV);
    primary.import("MARKS", &csv);
    let replica = Workspace::new(b);
    let behind = replica.write(
        "marks.csv",
        "RollNo,Year,holder_name,doc_name,issued_on\n1234567,2020,Asha Rao,Mark Sheet 2020,15/05/2020\n",
    );
    replica.import("MARKS", &behind);
    let on_replica = doc_id_in(&replica.config.database.url, "1234567", "2020").expect("replica");
    let on_primary = doc_id_in(&primary.config.database.url, "1234567", "2020").expect("primary");
    assert_ne!(on_replica, on_primary);
    let replica_url = replica.config.database.url.clone();
    primary.edit_config(|c| {
        c.replace(
            "connect_timeout_secs = 2\n",
            &format!("connect_timeout_secs = 2\nreplica_url = \"{replica_url}\"\n"),
        )
    });
    let primary_url = primary.config.database.url.clone();
    let app = spawn_on(primary).await;
    let r = app
        .pull_uri(&[("RollNo", "1234567"), ("Year", "2020")])
        .await;
    assert_eq!(r.status(), "1");
    assert!(
        r.detail("URI").expect("uri").ends_with(&on_replica),
        "read on the replica"
    );
    let r = app
        .pull_uri(&[("RollNo", "7654321"), ("Year", "2021")])
        .await;
    assert_eq!(
        r.status(),
        "1",
        "not on the replica yet: read on the primary"
    );
    let uri = r.detail("URI").expect("uri").to_string();
    assert_eq!(
        app.pull_doc(&uri).await.status(),
        "1",
        "Pull Doc falls back too"
    );
    // Writes go to the primary: the replay memory is there, not on the replica.
    {
        use diesel::RunQueryDsl;
        #[derive(diesel::QueryableByName)]
        struct N {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let count = |url: &str| {
            let mut c = dlrepo::store::establish(url).expect("conn");
            diesel::sql_query("SELECT count(*) AS n FROM seen_requests")
                .get_result::<N>(&mut c)
                .expect("count")
                .n
        };
        assert!(count(&primary_url) >= 3);
        assert_eq!(count(&replica_url), 0);
    }

    // The replica goes away: pulls are answered from the primary.
    drop(replica);
    let r = app
        .pull_uri(&[("RollNo", "1234567"), ("Year", "2020")])
        .await;
    assert_eq!((r.http, r.status()), (200, "1"));
    assert!(r.detail("URI").expect("uri").ends_with(&on_primary));
}

/// A doc type served from a department's own database, that database not there when
/// `serve` starts (the department's system in its maintenance window): that doc type
/// alone answers 503, every other is served, /healthz stays 200 and names it, and it
/// is served once its database answers, without a restart. The same when it goes
/// away under the running server.
#[tokio::test]
async fn a_department_database_down_at_start_up_holds_up_only_its_own_doc_type() {
    use diesel::RunQueryDsl;
    let Some(_) = Backend::postgres() else { return };
    let name = PgDatabase::unused_name("dept_late_");
    let mut ws = Workspace::new(Backend::Sqlite);
    let csv = ws.write("marks.csv", MARKS_CSV);
    assert_eq!(ws.import("MARKS", &csv).imported, 2);
    ws.edit_config(|c| c + &crate::department::source_block(Some(&pg_url(&name)), "roll_no"));
    let (_server, addr) = serve(&ws.config_path).await;
    let client = reqwest::Client::new();
    let (code, text) = get_healthz(&client, &addr).await.expect("healthz");
    assert_eq!(code, 200, "{text}");
    assert!(text.contains("RSLT"), "{text}");
    assert!(!text.contains(&name), "healthz names no database: {text}");
    assert_eq!(department_up(&client, &addr).await, "0");
    let department = || {
        post_status(
            &client,
            &addr,
            pull_uri_body(&[("ExamRoll", "3001"), ("ExamYear", "2024")]),
        )
    };
    assert_eq!(department().await, (503, "0".to_string()));
    assert_eq!(
        pull_status(&client, &addr, "1234567", "2020").await,
        (200, "1".to_string()),
        "the imported doc type is served meanwhile"
    );

    // The department's database comes back, with its table.
    let db = PgDatabase::named(&name);
    let mut conn = dlrepo::store::establish(&db.url()).expect("conn");
    for sql in [
        "CREATE TABLE results (id SERIAL PRIMARY KEY, roll_no INTEGER NOT NULL, exam_year INTEGER NOT NULL, student_name TEXT, result_date DATE, total_marks NUMERIC(5,1), certificate BYTEA)",
        "INSERT INTO results (roll_no, exam_year, student_name, result_date, total_marks, certificate) VALUES (3001, 2024, 'Asha Rao', DATE '2024-05-15', 412.5, convert_to('%PDF-1.4 the board''s own file %%EOF', 'UTF8'))",
    ] {
        diesel::sql_query(sql).execute(&mut conn).expect(sql);
    }
    let started = Instant::now();
    while department().await != (200, "1".to_string()) {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "never served after the department's database came"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (code, text) = get_healthz(&client, &addr).await.expect("healthz");
    assert_eq!((code, text.as_str()), (200, "ok: database answers\n"));
    assert_eq!(department_up(&client, &addr).await, "1");

    // It goes away again under the running server: its pulls, even many at once,
    // are 503s, and the other doc type is served alongside them.
    drop(conn);
    drop(db);
    let (dept, marks) = futures_util::future::join(
        futures_util::future::join_all((0..8).map(|_| department())),
        pull_status(&client, &addr, "1234567", "2020"),
    )
    .await;
    assert!(dept.iter().all(|d| d.0 == 503), "{dept:?}");
    assert_eq!(marks, (200, "1".to_string()));
    let (code, text) = get_healthz(&client, &addr).await.expect("healthz");
    assert_eq!(code, 200, "{text}");
    assert!(text.contains("RSLT"), "{text}");
    assert_eq!(department_up(&client, &addr).await, "0");
}

/// `dlrepo_department_up` of doc type RSLT, as `/metrics` says it.
async fn department_up(client: &reqwest::Client, addr: &str) -> String {
    let text = client
        .get(format!("{addr}/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("body");
    text.lines()
        .find_map(|l| l.strip_prefix("dlrepo_department_up{doctype=\"RSLT\"} "))
        .unwrap_or_else(|| panic!("no dlrepo_department_up for RSLT: {text}"))
        .to_string()
}

/// A database host that takes the connection and then never answers (a firewall that
/// drops its packets, a host gone mid-handshake): the pool gives each attempt up after
/// `connect_timeout_secs` and tries again, so that it connects once the host is back.
/// Before, the first attempt waited on the kernel for hours, holding the pool's
/// connecting thread, and no other attempt was made.
#[test]
fn a_database_that_never_answers_is_given_up_on_and_tried_again() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    let black_hole = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = black_hole.local_addr().expect("addr").port();
    let accepted = Arc::new(AtomicUsize::new(0));
    let counted = accepted.clone();
    std::thread::spawn(move || {
        // Held open and never answered.
        let mut held = Vec::new();
        for stream in black_hole.incoming().flatten() {
            counted.fetch_add(1, Ordering::SeqCst);
            held.push(stream);
        }
    });
    let pool = dlrepo::store::pool(&dlrepo::store::DatabaseConfig {
        url: format!("postgres://postgres@127.0.0.1:{port}/nothing?sslmode=disable"),
        pool_size: 1,
        connect_timeout_secs: 2,
        replica_url: None,
        sqlite_mmap_mb: 0,
    })
    .expect("pool");
    assert!(pool.get().is_err(), "nothing answers there");
    let started = Instant::now();
    while accepted.load(Ordering::SeqCst) < 3 {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{} attempt(s): the first was never given up",
            accepted.load(Ordering::SeqCst)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
