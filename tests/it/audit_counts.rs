//! The usage report and the console's dashboard from running counts
//! (`dlrepo::audit::counts`): rows counted and rows not yet counted make the same report
//! as the rows read one by one, each row once, through pruning, with two counters at
//! once, and from the server's own writer over real HTTP. Both backends, real databases.

use chrono::SubsecRound;
use diesel::prelude::*;

use crate::audit_lookups::{insert, record};
use crate::common::*;
use crate::operate::wait_audited;
use dlrepo::audit::{counts, report, segments, PullRecord};
use dlrepo::store::schema::audit_counts;
use dlrepo::store::DbConn;

backend_tests!(
    counted_and_recent_rows_make_the_same_report,
    two_counters_count_each_row_once,
    the_servers_writer_counts_what_it_audits,
);

fn conn_of(ws: &Workspace) -> DbConn {
    dlrepo::store::establish(&ws.config.database.url).expect("conn")
}

/// Two days of answers of every kind: found, pending, not found, refused for two
/// reasons, Pull Doc served and not, of two doc types and none, latencies from 0 µs to
/// seconds. Returns how many.
fn two_days(conn: &mut DbConn, day1: chrono::NaiveDateTime) -> usize {
    let mut n = 0;
    for i in 0..60i64 {
        let at = day1 + chrono::Duration::minutes(i * 45); // over two days
        let mut r: PullRecord = record(at, "aaaa", "in.gov.test-MARKS-A1");
        r.latency_us = (i * i * i * 997) % 3_000_000;
        match i % 7 {
            0 => r.status = 9,
            1 => {
                r.status = 0;
                r.reason = Some("not_found");
                r.uri = None;
            }
            2 => {
                r.status = 0;
                r.reason = Some("bad_hmac");
                r.doctype = None;
            }
            3 => {
                r.status = 0;
                r.reason = Some("stale");
                r.doctype = Some("OTHER".into());
            }
            4 => r.endpoint = "pulldoc",
            5 => {
                r.endpoint = "pulldoc";
                r.status = 0;
                r.reason = None;
            }
            _ => {}
        }
        insert(conn, &r);
        n += 1;
    }
    n
}

fn report_of(
    conn: &mut DbConn,
    from: chrono::NaiveDate,
    to: chrono::NaiveDate,
) -> Vec<report::PullLine> {
    report::build(conn, from, to).expect("report").pulls
}

/// Midnight three days ago, that day and the next.
fn two_days_ago() -> (chrono::NaiveDateTime, chrono::NaiveDate, chrono::NaiveDate) {
    let day1 = (chrono::Utc::now() - chrono::Duration::days(3))
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .expect("midnight");
    (day1, day1.date(), day1.date().succ_opt().expect("day 2"))
}

fn counted(conn: &mut DbConn) -> i64 {
    counts::counted_up_to(conn).expect("counted")
}

/// The same report whatever part of the rows is counted, and each row once: counting
/// again finds nothing to add. Pruning takes the old days' counts with their rows, and
/// once no row is left the next one (SQLite numbers it 1 again) is counted afresh.
async fn counted_and_recent_rows_make_the_same_report(b: Backend) {
    let ws = Workspace::new(b);
    let mut conn = conn_of(&ws);
    let (day1, d1, d2) = two_days_ago();
    let rows = two_days(&mut conn, day1);
    let by_rows = report_of(&mut conn, d1, d2);
    assert_eq!(
        by_rows.iter().map(|l| l.pulls + l.pull_doc).sum::<u64>(),
        rows as u64
    );
    assert!(by_rows.iter().any(|l| l.doctype == "-"), "{by_rows:?}");
    let first_day = report_of(&mut conn, d1, d1);

    // Counted a part at a time: each step's report is the one read row by row.
    assert_eq!(segments::seal(&mut conn, 1).expect("seal"), rows as i64);
    let mut steps = 0;
    while counts::count_sealed(&mut conn, 7).expect("count") > 0 {
        steps += 1;
        assert_eq!(report_of(&mut conn, d1, d2), by_rows, "after {steps} steps");
    }
    assert_eq!(steps, rows.div_ceil(7));
    assert_eq!(counted(&mut conn), insert_max(&mut conn));
    assert_eq!(counts::count_sealed(&mut conn, 1000).expect("again"), 0);
    assert_eq!(report_of(&mut conn, d1, d2), by_rows);
    assert_eq!(report_of(&mut conn, d1, d1), first_day, "one day of two");
    let count_rows: i64 = audit_counts::table
        .count()
        .get_result(&mut conn)
        .expect("n");
    assert!(
        count_rows < rows as i64,
        "{count_rows} counts for {rows} rows"
    );

    // Rows after the counted ones are added to the counts.
    let mut late = record(
        day1 + chrono::Duration::hours(30),
        "bbbb",
        "in.gov.test-MARKS-B1",
    );
    late.latency_us = 2_500;
    insert(&mut conn, &late);
    let more = report_of(&mut conn, d1, d2);
    let marks = |r: &[report::PullLine]| {
        r.iter()
            .find(|l| l.doctype == "MARKS")
            .map(|l| l.found)
            .expect("MARKS line")
    };
    assert_eq!(marks(&more), marks(&by_rows) + 1);

    // Pruning up to a time of the second day: the whole first day goes, its counts
    // with its rows; the second day keeps all of its rows and its counts.
    let second_day = report_of(&mut conn, d2, d2);
    let rows_of_d2 = |conn: &mut DbConn| -> i64 {
        use dlrepo::store::schema::audit_pulls;
        audit_pulls::table
            .filter(audit_pulls::at.ge(d2.and_hms_opt(0, 0, 0).expect("d2")))
            .count()
            .get_result(conn)
            .expect("rows")
    };
    let kept = rows_of_d2(&mut conn);
    dlrepo::audit::prune(&mut conn, d2.and_hms_opt(5, 0, 0).expect("d2")).expect("prune");
    assert_eq!(report_of(&mut conn, d1, d1), Vec::new());
    assert_eq!(report_of(&mut conn, d2, d2), second_day);
    assert_eq!(rows_of_d2(&mut conn), kept, "retention keeps whole days");

    // Every row gone: the counted end starts again at 0.
    let now = chrono::Utc::now().naive_utc().trunc_subsecs(0);
    dlrepo::audit::prune(&mut conn, now).expect("prune all");
    assert_eq!(counted(&mut conn), 0);
    insert(&mut conn, &record(now, "cccc", "in.gov.test-MARKS-C1"));
    let today = report_of(&mut conn, now.date(), now.date());
    assert_eq!(today.len(), 1, "{today:?}");
    assert_eq!(today[0].found, 1);
    // Counted a row at a time in one step, however high its id (on PostgreSQL ids go
    // on after the gap the pruning left).
    segments::seal(&mut conn, 1).expect("seal");
    assert!(counts::count_sealed(&mut conn, 1).expect("count") > 0);
    assert_eq!(counts::count_sealed(&mut conn, 1).expect("again"), 0);
    assert_eq!(report_of(&mut conn, now.date(), now.date()), today);
}

fn insert_max(conn: &mut DbConn) -> i64 {
    use dlrepo::store::schema::audit_pulls;
    audit_pulls::table
        .select(diesel::dsl::max(audit_pulls::id))
        .first::<Option<i64>>(conn)
        .expect("max")
        .unwrap_or(0)
}

/// Several servers' writers count at once (one PostgreSQL, or one SQLite file): each
/// row still counts once.
async fn two_counters_count_each_row_once(b: Backend) {
    let ws = Workspace::new(b);
    let mut conn = conn_of(&ws);
    let (day1, d1, d2) = two_days_ago();
    let mut rows = 0;
    for _ in 0..10 {
        rows += two_days(&mut conn, day1);
    }
    let by_rows = report_of(&mut conn, d1, d2);
    segments::seal(&mut conn, 1).expect("seal");
    let url = ws.config.database.url.clone();
    let counters: Vec<_> = (0..2)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || {
                let mut c = dlrepo::store::establish(&url).expect("conn");
                let mut steps = 0;
                while counts::count_sealed(&mut c, 5).expect("count") > 0 {
                    steps += 1;
                }
                steps
            })
        })
        .collect();
    let steps: usize = counters
        .into_iter()
        .map(|t| t.join().expect("counter"))
        .sum();
    assert_eq!(steps, rows.div_ceil(5), "the steps of both counters");
    assert_eq!(counted(&mut conn), insert_max(&mut conn));
    assert_eq!(report_of(&mut conn, d1, d2), by_rows);
}

/// Over HTTP: the server's audit writer seals and counts (`segment_rows = 3`), and the
/// usage report `dlrepo report` prints shows every answer once, counted or not.
async fn the_servers_writer_counts_what_it_audits(b: Backend) {
    let app = crate::audit_lookups::app_sealing_every_3_rows(b).await;
    let asha = [("RollNo", "1234567"), ("Year", "2020")];
    let nobody = [("RollNo", "0000000"), ("Year", "2020")];
    for _ in 0..5 {
        assert_eq!(app.pull_uri(&asha).await.status(), "1");
        assert_eq!(app.pull_uri(&nobody).await.status(), "0");
    }
    wait_audited(&app.ws, 10).await;
    let mut conn = conn_of(&app.ws);
    let started = std::time::Instant::now();
    while counted(&mut conn) == 0 {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "the writer counted nothing of 10 rows with segment_rows = 3"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(app.pull_uri(&asha).await.status(), "1");
    wait_audited(&app.ws, 11).await;
    let today = chrono::Utc::now().date_naive();
    let lines = report_of(&mut conn, today, today);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(
        (lines[0].pulls, lines[0].found, lines[0].not_found),
        (11, 6, 5)
    );
    let day = today.format("%Y-%m-%d").to_string();
    let text = crate::operate::dlrepo(&app.ws, &["report", "--from", &day, "--to", &day]);
    assert!(text.contains("MARKS"), "{text}");
}
