//! Several `dlrepo serve` processes on one database, and a server whose database is
//! not there: the real binary, real HTTP, a real stand-in of the central API.

use std::collections::{HashMap, HashSet};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;
use dlrepo::push::outbox;
use dlrepo::push::standin::StandIn;

backend_tests!(
    two_servers_push_every_row_once_when_the_pusher_dies,
    servers_started_together_on_a_fresh_database_all_migrate,
    builders_racing_never_make_an_empty_file,
    a_push_command_waits_its_turn_behind_the_pusher,
    a_file_left_in_flight_on_another_host_is_taken_over,
    a_request_one_server_answered_is_refused_by_every_server,
);

/// Where this file's Aadhaar numbers start (each test file its own range).
const AADHAAR_BASE: u64 = 24_000_000_000;

/// A `dlrepo serve` process on its own port; killed when dropped.
struct Server {
    child: Child,
    addr: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(config: &std::path::Path) -> Server {
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_dlrepo"))
        .arg("--config")
        .arg(config)
        .arg("serve")
        .env("DLREPO_BIND", format!("127.0.0.1:{port}"))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn serve");
    Server {
        child,
        addr: format!("http://127.0.0.1:{port}"),
    }
}

async fn healthz(client: &reqwest::Client, s: &Server) -> Option<u16> {
    client
        .get(format!("{}/healthz", s.addr))
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .ok()
        .map(|r| r.status().as_u16())
}

async fn wait_healthy(client: &reqwest::Client, s: &Server) {
    let started = Instant::now();
    while healthz(client, s).await != Some(200) {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{} never became healthy",
            s.addr
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The pid of the process that holds (or last held) a push file.
fn pusher_pid(ws: &Workspace) -> Option<u32> {
    let mut conn = dlrepo::store::establish(&ws.config.database.url).expect("conn");
    let mut files = outbox::files_with_status(&mut conn, "in_flight").expect("files");
    if files.is_empty() {
        files = outbox::files_with_status(&mut conn, "pushed").expect("files");
    }
    let claimed = files.into_iter().rev().find_map(|f| f.claimed_by)?;
    claimed.rsplit_once(':')?.1.parse().ok()
}

async fn two_servers_push_every_row_once_when_the_pusher_dies(b: Backend) {
    const ROWS: u64 = 20_000;
    const PER_FILE: u32 = 500;
    let central = push_standin(30);
    let mut ws = Workspace::new(b);
    with_push(&mut ws, &central.url(), PER_FILE, 5, "schedule_secs = 1\n");
    let csv = ws.write("marks.csv", MARKS_CSV);
    ws.import("MARKS", &csv);
    queue_rows(&ws, "S", AADHAAR_BASE, ROWS);

    let client = reqwest::Client::new();
    let mut servers = vec![serve(&ws.config_path), serve(&ws.config_path)];
    for s in &servers {
        wait_healthy(&client, s).await;
    }
    // Requests alternate between the two, as behind a load balancer.
    for s in &servers {
        assert_eq!(
            pull_status(&client, &s.addr, "1234567", "2020").await,
            (200, "1".into())
        );
    }

    let accepted = |c: &StandIn| c.received().iter().filter(|r| r.accepted).count();
    let started = Instant::now();
    while accepted(&central) < 4 {
        assert!(started.elapsed() < Duration::from_secs(60), "nobody pushes");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let pid = pusher_pid(&ws).expect("a file names its sender");
    let victim = servers
        .iter()
        .position(|s| s.child.id() == pid)
        .expect("one of the two servers pushes");
    let killed_at = accepted(&central);
    drop(servers.remove(victim));
    assert!(
        killed_at < (ROWS / PER_FILE as u64) as usize,
        "killed mid-push"
    );

    // The other server takes over on its next tick and sends the rest.
    let survivor = &servers[0];
    let started = Instant::now();
    loop {
        let rows: HashSet<String> = central
            .received()
            .into_iter()
            .filter(|r| r.accepted)
            .flat_map(|r| r.rows)
            .collect();
        if rows.len() as u64 == ROWS {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "only {} of {ROWS} rows arrived after the pusher died",
            rows.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let got = central.received();
    assert!(
        got.iter().all(|r| r.row_count > 0),
        "a file without rows was sent"
    );
    let mut sends: HashMap<&str, usize> = HashMap::new();
    for r in got.iter().filter(|r| r.accepted) {
        *sends.entry(&r.file_name).or_default() += 1;
    }
    let twice: Vec<_> = sends.iter().filter(|(_, &n)| n > 1).collect();
    // At most the one file in flight at the kill is sent again (the at-least-once window).
    assert!(twice.len() <= 1, "files sent twice: {twice:?}");
    assert!(sends.values().all(|&n| n <= 2));
    assert_eq!(
        pull_status(&client, &survivor.addr, "7654321", "2021").await,
        (200, "1".into())
    );
    let mut conn = dlrepo::store::establish(&ws.config.database.url).expect("conn");
    // The central API's answer comes before the pusher records it: wait for the record.
    let started = Instant::now();
    loop {
        let pushed: i64 = outbox::files_with_status(&mut conn, "pushed")
            .expect("files")
            .iter()
            .map(|f| f.row_count)
            .sum();
        if pushed as u64 == ROWS {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{pushed} of {ROWS} rows recorded as pushed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(outbox::files_with_status(&mut conn, "in_flight")
        .expect("files")
        .is_empty());
}

/// A config on a database nobody has migrated yet.
fn fresh_database(b: Backend) -> (tempfile::TempDir, std::path::PathBuf, Option<PgDatabase>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let pg = (b == Backend::Postgres).then(PgDatabase::create);
    let url = pg.as_ref().map_or("fresh.sqlite3".to_string(), |d| d.url());
    let config = dir.path().join("dlrepo.toml");
    std::fs::write(&config, config_text(&url)).expect("config");
    write_vault_key(dir.path());
    (dir, config, pg)
}

async fn servers_started_together_on_a_fresh_database_all_migrate(b: Backend) {
    let (_dir, config, _pg) = fresh_database(b);
    let children: Vec<Child> = (0..4)
        .map(|_| {
            Command::new(env!("CARGO_BIN_EXE_dlrepo"))
                .arg("--config")
                .arg(&config)
                .arg("migrate")
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn")
        })
        .collect();
    let mut applied = 0;
    for c in children {
        let out = c.wait_with_output().expect("wait");
        let text = String::from_utf8_lossy(&out.stdout).to_string()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "a migrating process died: {text}");
        applied += text.matches("applied ").count();
    }
    // Each migration ran exactly once, whoever ran it.
    let expected = std::fs::read_dir(env!("CARGO_MANIFEST_DIR").to_string() + "/migrations/sqlite")
        .expect("migrations")
        .count();
    assert_eq!(applied, expected);

    // Two servers started together on the same fresh database both come up.
    let (_dir, config, _pg) = fresh_database(b);
    let servers = [serve(&config), serve(&config)];
    let client = reqwest::Client::new();
    for s in &servers {
        wait_healthy(&client, s).await;
        assert_eq!(
            pull_status(&client, &s.addr, "1234567", "2020").await,
            (200, "0".into())
        );
    }
}

async fn builders_racing_never_make_an_empty_file(b: Backend) {
    let ws = Workspace::new(b);
    queue_rows(&ws, "S", AADHAAR_BASE, 3_000);
    let url = ws.config.database.url.clone();
    let builders: Vec<_> = (0..4)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || {
                let mut conn = dlrepo::store::establish(&url).expect("conn");
                let mut built = Vec::new();
                loop {
                    match outbox::build_file(&mut conn, 7, "t", chrono::Utc::now().naive_utc()) {
                        Ok(Some(f)) => built.push(f),
                        Ok(None) => return built,
                        // SQLite: another builder holds the write lock; try again.
                        Err(e) if dlrepo::store::is_retryable(&e) => {}
                        Err(e) => panic!("build_file: {e}"),
                    }
                }
            })
        })
        .collect();
    let files: Vec<_> = builders
        .into_iter()
        .flat_map(|h| h.join().expect("builder"))
        .collect();
    assert!(files.iter().all(|f| f.row_count > 0), "an empty file");
    assert_eq!(files.iter().map(|f| f.row_count).sum::<i64>(), 3_000);
    let mut conn = dlrepo::store::establish(&url).expect("conn");
    let mut ids = HashSet::new();
    for f in &files {
        let rows = outbox::rows_of(&mut conn, f.id).expect("rows");
        assert_eq!(rows.len() as i64, f.row_count);
        for r in rows {
            assert!(ids.insert(r.id), "row {} in two files", r.id);
        }
    }
}

async fn a_push_command_waits_its_turn_behind_the_pusher(b: Backend) {
    let central = push_standin(0);
    let mut ws = Workspace::new(b);
    with_push(&mut ws, &central.url(), 100, 5, "");
    queue_rows(&ws, "S", AADHAAR_BASE, 10);
    let mut holder = dlrepo::store::establish(&ws.config.database.url).expect("conn");
    let lock = dlrepo::push::lock::PushLock::try_acquire(&mut holder)
        .expect("lock")
        .expect("free");
    let push = || {
        Command::new(env!("CARGO_BIN_EXE_dlrepo"))
            .arg("--config")
            .arg(&ws.config_path)
            .arg("push")
            .output()
            .expect("push")
    };
    let out = push();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("another dlrepo is pushing"), "{err}");
    assert!(
        central.received().is_empty(),
        "nothing sent by the second pusher"
    );
    lock.release(&mut holder);
    let out = push();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(central.received().len(), 1);
}

/// A server on another machine died with a file in flight: whoever pushes next holds
/// the lock, so that sender is gone, whatever host it ran on.
async fn a_file_left_in_flight_on_another_host_is_taken_over(b: Backend) {
    let central = push_standin(0);
    let mut ws = Workspace::new(b);
    with_push(&mut ws, &central.url(), 100, 5, "");
    queue_rows(&ws, "S", AADHAAR_BASE, 30);
    let mut conn = dlrepo::store::establish(&ws.config.database.url).expect("conn");
    let file = outbox::build_file(&mut conn, 100, "t", chrono::Utc::now().naive_utc())
        .expect("build")
        .expect("a file");
    assert!(outbox::claim(
        &mut conn,
        &file,
        "db-2.example:4242",
        chrono::Utc::now().naive_utc()
    )
    .expect("claim"));
    let out = Command::new(env!("CARGO_BIN_EXE_dlrepo"))
        .arg("--config")
        .arg(&ws.config_path)
        .arg("push")
        .output()
        .expect("push");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got = central.received();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].row_count, 30);
    assert_eq!(got[0].file_name, file.file_name);
    assert!(outbox::files_with_status(&mut conn, "in_flight")
        .expect("files")
        .is_empty());
}

/// The replay memory is shared: a request one server answered is refused by another on
/// the same database and by a server started later, as is one remembered before an
/// upgrade (in the database's own table, where earlier versions kept it on SQLite too).
/// On SQLite the memory is a file beside the database, private like it.
async fn a_request_one_server_answered_is_refused_by_every_server(b: Backend) {
    use diesel::prelude::*;
    use dlrepo::store::schema::seen_requests;
    let ws = Workspace::new(b);
    let csv = ws.write("marks.csv", MARKS_CSV);
    ws.import("MARKS", &csv);
    let student = [("RollNo", "1234567"), ("Year", "2020")];
    let ts = dlrepo::auth::now_ts();
    let before_upgrade = dlrepo::wire::pull::build::pull_uri_request(
        &ts,
        "txn-before-upgrade",
        ORG,
        &signed(&ts),
        &student,
    );
    let mut conn = dlrepo::store::establish(&ws.config.database.url).expect("conn");
    diesel::insert_into(seen_requests::table)
        .values((
            seen_requests::org_id.eq(ORG),
            seen_requests::txn.eq("txn-before-upgrade"),
            seen_requests::expires_at
                .eq(chrono::Utc::now().naive_utc() + chrono::Duration::minutes(30)),
        ))
        .execute(&mut conn)
        .expect("an earlier version's memory");

    let client = reqwest::Client::new();
    let mut servers = vec![serve(&ws.config_path), serve(&ws.config_path)];
    for s in &servers {
        wait_healthy(&client, s).await;
    }
    let body = pull_uri_body(&student);
    let answered = (200, "1".to_string());
    let refused = (200, "0".to_string());
    assert_eq!(
        post_status(&client, &servers[0].addr, body.clone()).await,
        answered
    );
    assert_eq!(
        post_status(&client, &servers[1].addr, body.clone()).await,
        refused
    );
    assert_eq!(
        post_status(&client, &servers[1].addr, before_upgrade.clone()).await,
        refused,
        "remembered before the upgrade"
    );
    assert_eq!(
        pull_status(&client, &servers[1].addr, "1234567", "2020").await,
        answered,
        "a fresh txn"
    );

    // Every server stopped, one started again: it still remembers.
    servers.clear();
    let again = serve(&ws.config_path);
    wait_healthy(&client, &again).await;
    assert_eq!(post_status(&client, &again.addr, body).await, refused);
    assert_eq!(
        post_status(&client, &again.addr, before_upgrade).await,
        refused
    );

    if b == Backend::Sqlite {
        use std::os::unix::fs::PermissionsExt;
        let side = format!("{}-requests", ws.config.database.url);
        let mode = std::fs::metadata(&side)
            .expect("the side file")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{side}");
    }
}
