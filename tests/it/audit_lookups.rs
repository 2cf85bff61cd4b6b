//! Finding audit rows again (`dlrepo audit find`, the console's document page) through
//! keys indexed in segments (`dlrepo::audit::segments`): rows whose keys are indexed and
//! rows not yet, after an upgrade, and as old rows are pruned. Both backends, real
//! databases; the server's own writer over real HTTP.

use std::time::{Duration, Instant};

use chrono::SubsecRound;

use crate::common::*;
use crate::operate::{audit_find_marks, wait_audited};
use diesel::prelude::*;
use dlrepo::audit::{report, segments, PullRecord};
use dlrepo::store::schema::{audit_lookups, audit_pulls, audit_segments};
use dlrepo::store::DbConn;

backend_tests!(
    the_server_indexes_lookup_keys_and_audit_find_sees_every_pull,
    lookups_cover_indexed_and_recent_rows_through_pruning,
    an_upgrade_indexes_the_rows_already_audited,
    a_segment_waits_for_an_insert_in_flight,
);

fn segment_count(conn: &mut DbConn) -> i64 {
    audit_segments::table
        .count()
        .get_result(conn)
        .expect("segments")
}

/// A server of the MARKS rows whose audit writer seals a segment (and counts it) every
/// 3 rows.
pub(crate) async fn app_sealing_every_3_rows(b: Backend) -> TestApp {
    let mut ws = Workspace::new(b);
    let csv = ws.write("marks.csv", MARKS_CSV);
    ws.import("MARKS", &csv);
    ws.edit_config(|c| c + "\n[audit]\nsegment_rows = 3\n");
    spawn_on(ws).await
}

/// The server's audit writer indexes keys once `segment_rows` rows have gathered; `audit
/// find` lists a search's pulls and the console's lookup a URI's, whichever side of the
/// last segment they are on.
async fn the_server_indexes_lookup_keys_and_audit_find_sees_every_pull(b: Backend) {
    let app = app_sealing_every_3_rows(b).await;
    let asha = [("RollNo", "1234567"), ("Year", "2020")];
    let ravi = [("RollNo", "7654321"), ("Year", "2021")];
    let first = app.pull_uri(&asha).await;
    assert_eq!(first.status(), "1");
    let uri = first.detail("URI").expect("uri").to_string();
    for _ in 0..4 {
        assert_eq!(app.pull_uri(&asha).await.status(), "1");
        assert_eq!(app.pull_uri(&ravi).await.status(), "1");
    }
    assert_eq!(app.pull_doc(&uri).await.status(), "1");
    wait_audited(&app.ws, 10).await;
    let mut conn = dlrepo::store::establish(&app.ws.config.database.url).expect("conn");
    let started = Instant::now();
    while segment_count(&mut conn) == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the writer made no segment of 10 rows with segment_rows = 3"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Two more after that, which may or may not join a segment before the lookups below
    // (the writer's batches decide); either way every pull must be found. The other
    // test makes both kinds of rows for certain.
    assert_eq!(app.pull_uri(&asha).await.status(), "1");
    assert_eq!(app.pull_doc(&uri).await.status(), "1");
    wait_audited(&app.ws, 12).await;

    let found = audit_find_marks(&app.ws, "1234567", "2020");
    assert_eq!(found.lines().count(), 6, "{found}");
    assert!(found.lines().all(|l| l.contains(&uri)), "{found}");
    let found = audit_find_marks(&app.ws, "7654321", "2021");
    assert_eq!(found.lines().count(), 4, "{found}");
    assert!(!found.contains(&uri), "{found}");
    // The console's document page: six Pull URI answers and two Pull Doc.
    let of_uri = report::pulls_of(&mut conn, &uri, 20).expect("pulls of");
    assert_eq!(of_uri.len(), 8, "{of_uri:?}");
    assert_eq!(
        of_uri.iter().filter(|p| p.endpoint.contains("doc")).count(),
        2,
        "{of_uri:?}"
    );
    assert!(
        of_uri.windows(2).all(|w| w[0].at >= w[1].at),
        "newest first: {of_uri:?}"
    );
    assert_eq!(report::pulls_of(&mut conn, &uri, 3).expect("3").len(), 3);
}

pub(crate) fn record(at: chrono::NaiveDateTime, search: &str, uri: &str) -> PullRecord {
    PullRecord {
        at,
        caller: Some("127.0.0.1".into()),
        endpoint: "pulluri",
        api: "1.0",
        ver: Some("1.0".into()),
        doctype: Some("MARKS".into()),
        uri: Some(uri.into()),
        search: Some(search.into()),
        status: 1,
        http: 200,
        reason: None,
        latency_us: 100,
    }
}

pub(crate) fn insert(conn: &mut DbConn, r: &PullRecord) -> i64 {
    match conn {
        DbConn::Sqlite(c) => diesel::insert_into(audit_pulls::table)
            .values(r)
            .returning(audit_pulls::id)
            .get_result(c),
        DbConn::Postgres(c) => diesel::insert_into(audit_pulls::table)
            .values(r)
            .returning(audit_pulls::id)
            .get_result(c),
    }
    .expect("insert")
}

fn found(conn: &mut DbConn, search: &str) -> Vec<chrono::NaiveDateTime> {
    report::find(conn, "MARKS", search, 100)
        .expect("find")
        .into_iter()
        .map(|f| f.at)
        .collect()
}

/// Rows in a segment and rows after it are found together, newest first; pruning drops
/// the segments whose rows are all gone and keeps the rest findable, and once every row
/// is gone the next row (SQLite numbers it 1 again) is found too.
async fn lookups_cover_indexed_and_recent_rows_through_pruning(b: Backend) {
    let ws = Workspace::new(b);
    let mut conn = dlrepo::store::establish(&ws.config.database.url).expect("conn");
    let now = chrono::Utc::now().naive_utc().trunc_subsecs(0);
    let old = now - chrono::Duration::days(500);
    let minute = chrono::Duration::minutes(1);
    // Three old rows of search A in a segment; two recent A and two B in another.
    for i in 0..3 {
        insert(
            &mut conn,
            &record(old + minute * i, "aaaa", "in.gov.test-MARKS-A1"),
        );
    }
    assert_eq!(segments::seal(&mut conn, 3).expect("seal"), 3);
    for i in 0..2 {
        insert(
            &mut conn,
            &record(now - minute * (10 - i), "aaaa", "in.gov.test-MARKS-A1"),
        );
        insert(
            &mut conn,
            &record(now - minute * (10 - i), "bbbb", "in.gov.test-MARKS-B1"),
        );
    }
    assert_eq!(segments::seal(&mut conn, 5).expect("too few"), 0);
    assert_eq!(segments::seal(&mut conn, 4).expect("seal"), 4);
    assert_eq!(segments::seal(&mut conn, 1).expect("nothing new"), 0);
    assert_eq!(segment_count(&mut conn), 2);
    // Two more A rows, not in a segment.
    let newest = now - minute;
    insert(
        &mut conn,
        &record(newest - minute, "aaaa", "in.gov.test-MARKS-A1"),
    );
    insert(&mut conn, &record(newest, "aaaa", "in.gov.test-MARKS-A1"));

    let a = found(&mut conn, "aaaa");
    assert_eq!(a.len(), 7, "{a:?}");
    assert_eq!(a[0], newest, "newest first: {a:?}");
    assert!(a.windows(2).all(|w| w[0] > w[1]), "{a:?}");
    assert_eq!(found(&mut conn, "bbbb").len(), 2);
    assert_eq!(found(&mut conn, "cccc").len(), 0);
    assert_eq!(
        report::find(&mut conn, "OTHER", "aaaa", 100)
            .expect("find")
            .len(),
        0,
        "the doc type is part of the key"
    );
    let limited = report::find(&mut conn, "MARKS", "aaaa", 3).expect("find");
    assert_eq!(limited.len(), 3, "two recent and one indexed");
    assert_eq!(limited[2].at, a[2]);
    assert_eq!(
        report::pulls_of(&mut conn, "in.gov.test-MARKS-B1", 20)
            .expect("by uri")
            .len(),
        2
    );

    // The retention: the three old rows go, and their segment with its keys; the other
    // segment and the rows after it stay findable.
    let pruned = dlrepo::audit::prune(&mut conn, now - chrono::Duration::days(400)).expect("prune");
    assert_eq!(pruned, 3);
    assert_eq!(found(&mut conn, "aaaa").len(), 4);
    assert_eq!(found(&mut conn, "bbbb").len(), 2);
    assert_eq!(segment_count(&mut conn), 1);
    let keys: i64 = audit_lookups::table
        .count()
        .get_result(&mut conn)
        .expect("lookups");
    assert_eq!(
        keys, 8,
        "a search and a URI key for each of the second segment's rows"
    );

    // Every row old: every segment and index entry goes with them, and the next row is
    // found (on SQLite it is row 1 again, below the old segment's last row).
    diesel::update(audit_pulls::table)
        .set(audit_pulls::at.eq(old))
        .execute(&mut conn)
        .expect("age");
    dlrepo::audit::prune(&mut conn, now - chrono::Duration::days(400)).expect("prune");
    assert_eq!(segment_count(&mut conn), 0);
    let left: i64 = audit_lookups::table
        .count()
        .get_result(&mut conn)
        .expect("lookups");
    assert_eq!(left, 0);
    insert(&mut conn, &record(now, "aaaa", "in.gov.test-MARKS-A1"));
    assert_eq!(found(&mut conn, "aaaa"), vec![now]);
}

/// Rows audited before the upgrade that brought segments are in segment 1, so that
/// `audit find` still finds them; the migration's down step restores the old index.
async fn an_upgrade_indexes_the_rows_already_audited(b: Backend) {
    use diesel_migrations::MigrationHarness;
    const SEGMENTS: &str = "20261207000016";
    let ws = Workspace::new(b);
    let mut conn = dlrepo::store::establish(&ws.config.database.url).expect("conn");
    // Back to the schema before it.
    loop {
        let reverted = match &mut conn {
            DbConn::Sqlite(c) => c
                .revert_last_migration(dlrepo::store::SQLITE_MIGRATIONS)
                .map(|v| v.to_string()),
            DbConn::Postgres(c) => c
                .revert_last_migration(dlrepo::store::POSTGRES_MIGRATIONS)
                .map(|v| v.to_string()),
        }
        .expect("revert");
        if reverted.replace('-', "").starts_with(SEGMENTS) {
            break;
        }
    }
    let now = chrono::Utc::now().naive_utc().trunc_subsecs(0);
    for i in 0..3 {
        insert(
            &mut conn,
            &record(
                now - chrono::Duration::seconds(i),
                "aaaa",
                "in.gov.test-MARKS-A1",
            ),
        );
    }
    let mut anonymous = record(now, "bbbb", "in.gov.test-MARKS-B1");
    anonymous.search = None;
    anonymous.uri = None;
    insert(&mut conn, &anonymous);
    dlrepo::store::migrate(&mut conn).expect("migrate again");
    assert_eq!(segment_count(&mut conn), 1);
    assert_eq!(found(&mut conn, "aaaa").len(), 3);
    assert_eq!(
        report::pulls_of(&mut conn, "in.gov.test-MARKS-A1", 20)
            .expect("by uri")
            .len(),
        3
    );
    // The segment ends at the last row, the one without keys: nothing is read twice.
    insert(&mut conn, &record(now, "aaaa", "in.gov.test-MARKS-A1"));
    assert_eq!(found(&mut conn, "aaaa").len(), 4);
}

/// PostgreSQL, several servers on one database: a segment made while another server's
/// insert is still open waits for it. Otherwise a row whose id was taken before the
/// segment's end and committed after it would be in neither the segment nor the rows
/// after it, and no lookup would ever find it. (SQLite has one writer at a time.)
async fn a_segment_waits_for_an_insert_in_flight(b: Backend) {
    use dlrepo::store::{write_transaction, StoreError};
    if b == Backend::Sqlite {
        return;
    }
    let ws = Workspace::new(b);
    let url = ws.config.database.url.clone();
    let now = chrono::Utc::now().naive_utc().trunc_subsecs(0);
    let (taken, id_taken) = std::sync::mpsc::channel();
    let slow = std::thread::spawn(move || {
        let mut conn = dlrepo::store::establish(&url).expect("conn");
        write_transaction(&mut conn, |c| -> Result<(), StoreError> {
            segments::inserting(c)?;
            insert(c, &record(now, "aaaa", "in.gov.test-MARKS-A1"));
            taken.send(()).expect("send");
            std::thread::sleep(Duration::from_millis(700));
            Ok(())
        })
        .expect("slow insert");
    });
    id_taken.recv().expect("the slow insert took its id");
    let mut conn = dlrepo::store::establish(&ws.config.database.url).expect("conn");
    // A later id, committed at once.
    write_transaction(&mut conn, |c| -> Result<(), StoreError> {
        segments::inserting(c)?;
        insert(c, &record(now, "aaaa", "in.gov.test-MARKS-A1"));
        Ok(())
    })
    .expect("quick insert");
    let sealed = segments::seal(&mut conn, 1).expect("seal");
    slow.join().expect("slow thread");
    assert_eq!(
        sealed, 2,
        "the segment waited for the open insert and holds both rows"
    );
    assert_eq!(found(&mut conn, "aaaa").len(), 2);
}
