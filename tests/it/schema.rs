//! `src/store/schema.rs` must describe what the migrations create, on both backends;
//! the example configs must stay valid; a document never names bytes that are not
//! stored.

use crate::common::*;
use diesel::prelude::*;
use diesel::sql_types::Text;
use dlrepo::store::schema::{blobs, documents};

backend_tests!(
    schema_rs_matches_the_migrations,
    a_document_never_names_bytes_that_are_not_stored,
    the_doc_id_check_names_exactly_the_doc_ids_taken,
    a_bulk_insert_leaves_out_a_doc_id_taken_since_its_check
);

#[derive(QueryableByName)]
struct Col {
    #[diesel(sql_type = Text)]
    name: String,
}

fn schema_columns(sql: String) -> Vec<String> {
    // "SELECT `documents`.`id`, ..." or "SELECT \"documents\".\"id\", ...": take the
    // second quoted name of each column.
    let select = sql.split(" FROM").next().expect("select");
    let mut v: Vec<String> = select
        .split(", ")
        .map(|c| {
            c.rsplit('.')
                .next()
                .expect("column")
                .trim_matches(|ch| ch == '`' || ch == '"')
                .to_string()
        })
        .collect();
    v.sort();
    v
}

async fn schema_rs_matches_the_migrations(b: Backend) {
    let ws = Workspace::new(b);
    let mut conn = dlrepo::store::establish(&ws.config.database.url).expect("conn");
    for (table, declared) in [
        (
            "documents",
            schema_columns(
                diesel::debug_query::<diesel::sqlite::Sqlite, _>(
                    &documents::table.select(documents::all_columns),
                )
                .to_string(),
            ),
        ),
        (
            "blobs",
            schema_columns(
                diesel::debug_query::<diesel::sqlite::Sqlite, _>(
                    &blobs::table.select(blobs::all_columns),
                )
                .to_string(),
            ),
        ),
    ] {
        let live: Vec<Col> = match &mut conn {
            dlrepo::store::DbConn::Sqlite(c) => {
                diesel::sql_query("SELECT name FROM pragma_table_info(?) ORDER BY name")
                    .bind::<Text, _>(table)
                    .load(c)
            }
            dlrepo::store::DbConn::Postgres(c) => diesel::sql_query(
                "SELECT CAST(column_name AS TEXT) AS name FROM information_schema.columns \
                 WHERE table_schema = current_schema() AND table_name = $1 ORDER BY name",
            )
            .bind::<Text, _>(table)
            .load(c),
        }
        .expect("columns");
        let mut live: Vec<String> = live.into_iter().map(|c| c.name).collect();
        live.sort();
        assert_eq!(live, declared, "table {table}");
    }
}

#[test]
fn example_configs_are_valid() {
    use dlrepo::config::{Config, EnvOverrides};
    let dir = tempfile::tempdir().expect("tmp");
    let demo = std::fs::read_to_string("examples/demo/dlrepo.toml")
        .expect("demo config")
        .replace("@API_KEY@", "0123456789abcdef0123456789abcdef");
    let path = dir.path().join("demo.toml");
    // The demo's templates, with the fonts and logo they embed.
    std::fs::create_dir_all(dir.path().join("templates/fonts")).expect("dir");
    for sub in ["templates", "templates/fonts"] {
        for f in std::fs::read_dir(sub).expect("templates").flatten() {
            if f.path().is_file() {
                std::fs::copy(f.path(), dir.path().join(sub).join(f.file_name())).expect("copy");
            }
        }
    }
    std::fs::write(&path, demo).expect("write");
    Config::load(&path, &EnvOverrides::default()).expect("demo config is valid");
    let exam = Config::load(
        std::path::Path::new("examples/exam-board/dlrepo.toml"),
        &EnvOverrides::default(),
    )
    .expect("exam-board config is valid");
    assert!(exam.doctypes[0].source.is_some());
    if std::path::Path::new("/usr/share/fonts/truetype/noto/NotoSansTamil-Regular.ttf").exists() {
        let tamil = Config::load(
            std::path::Path::new("examples/tamil-board/dlrepo.toml"),
            &EnvOverrides::default(),
        )
        .expect("tamil-board config is valid");
        assert!(tamil.doctypes[0].template.is_some());
    }
}

#[derive(QueryableByName)]
struct PlanStep {
    #[diesel(sql_type = Text)]
    detail: String,
}

/// The SQL of every query `run` makes on a fresh SQLite store, each with its plan, as
/// SQLite plans it with its parameters unbound (as a prepared statement is).
fn planned(run: impl FnOnce(&mut dlrepo::store::DbConn)) -> Vec<(String, Vec<String>)> {
    let ws = Workspace::new(Backend::Sqlite);
    let mut conn = dlrepo::store::establish(&ws.config.database.url).expect("conn");
    recorded(&mut conn, run)
        .into_iter()
        .map(|sql| {
            let plan = diesel::sql_query(format!("EXPLAIN QUERY PLAN {sql}"))
                .load::<PlanStep>(&mut conn)
                .expect("plan")
                .into_iter()
                .map(|s| s.detail)
                .collect();
            (sql, plan)
        })
        .collect()
}

/// The SQL of every query `run` makes on `conn`, without diesel's "-- binds: [...]".
fn recorded(
    conn: &mut dlrepo::store::DbConn,
    run: impl FnOnce(&mut dlrepo::store::DbConn),
) -> Vec<String> {
    use diesel::connection::{Connection, InstrumentationEvent};
    use std::sync::{Arc, Mutex};
    let seen = Arc::new(Mutex::new(Vec::<String>::new()));
    let log = Arc::clone(&seen);
    conn.set_instrumentation(move |event: InstrumentationEvent<'_>| {
        if let InstrumentationEvent::StartQuery { query, .. } = event {
            log.lock().expect("log").push(query.to_string());
        }
    });
    run(conn);
    conn.set_instrumentation(|_: InstrumentationEvent<'_>| {});
    let queries = seen.lock().expect("log").clone();
    queries
        .into_iter()
        .map(|q| q.split(" -- binds").next().expect("sql").to_string())
        .collect()
}

/// Each of these SQLite plans searches `audit_pulls` through `how` ("INDEX name", "INTEGER
/// PRIMARY KEY"), without sorting.
fn assert_searched_through(queries: &[&(String, Vec<String>)], how: &str) {
    let search = format!("SEARCH audit_pulls USING {how}");
    for (sql, plan) in queries {
        assert!(
            plan.iter().any(|s| s.starts_with(&search)),
            "{sql}\nis planned as {plan:?}"
        );
        assert!(
            !plan.iter().any(|s| s.contains("TEMP B-TREE")),
            "{sql}\nsorts: {plan:?}"
        );
    }
}

/// Every lookup a pull or an import makes by search fields or DocId reads an index, on
/// SQLite (which plans without table statistics): after the full (doctype, udf_key)
/// index was dropped, only partial indexes remain for search fields, and SQLite uses one
/// only when the query names its statuses literally. A full scan would still answer
/// correctly, just ever slower as a board's documents grow, so only the plan shows it.
#[test]
fn every_lookup_by_search_fields_or_doc_id_reads_an_index() {
    use dlrepo::store::{documents as docs, linked};
    let queries = planned(|conn| {
        let key = docs::udf_key(&["2024001", "2024"]);
        docs::find_by_udfs(conn, "MARKS", &key).expect("by search fields");
        docs::find_by_doc_id(conn, "MARKS", "AB12C").expect("by DocId");
        docs::find_live_by_key(conn, "MARKS", &key).expect("live by key");
        linked::linked_doc(conn, "MARKS", &key).expect("linked by row key");
        linked::linked_row_key(conn, "MARKS", "AB12C").expect("linked by DocId");
    });
    assert_eq!(queries.len(), 5, "{queries:#?}");
    for (sql, plan) in queries {
        let documents_step = plan
            .iter()
            .find(|d| d.contains("documents"))
            .unwrap_or_else(|| panic!("no step reads documents: {plan:?}\n{sql}"));
        // Both key columns, in the index's order: `USING INDEX documents_known_key
        // (doctype=?)` alone reads every document of the doc type.
        let keyed = ["udf_key=?", "doc_id=?"].iter().any(|k| {
            documents_step.contains(&format!("(doctype=? AND {k})"))
                || documents_step.contains(&format!("({k} AND doctype=?)"))
        });
        assert!(
            documents_step.starts_with("SEARCH documents USING ") && keyed,
            "{sql}\nis planned as {plan:?}"
        );
    }
}

/// A pending MARKS document with these DocId and search key, as an import makes one.
fn new_document(doc_id: &str, key: &str) -> dlrepo::store::documents::NewDocument {
    use dlrepo::store::documents::{status, NewDocument};
    let now = chrono::Utc::now().naive_utc();
    NewDocument {
        doc_id: doc_id.into(),
        ..NewDocument::bare("MARKS", status::PENDING, Some(key), now)
    }
}

/// Runs one statement on either backend.
fn exec(conn: &mut dlrepo::store::DbConn, sql: &str) -> QueryResult<usize> {
    match conn {
        dlrepo::store::DbConn::Sqlite(c) => diesel::sql_query(sql).execute(c),
        dlrepo::store::DbConn::Postgres(c) => diesel::sql_query(sql).execute(c),
    }
}

fn is_foreign_key_violation(r: QueryResult<usize>) -> bool {
    matches!(
        r,
        Err(diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::ForeignKeyViolation,
            _
        ))
    )
}

/// On PostgreSQL the check is a statement's, not a row's (migration 12, for the import's
/// speed): a statement with one orphan among good rows writes none of them, a bulk COPY
/// is checked like an INSERT, and the blob side still refuses to lose bytes in use.
async fn a_document_never_names_bytes_that_are_not_stored(b: Backend) {
    use dlrepo::store::{bulk, documents as docs};
    let ws = Workspace::new(b);
    let mut conn = dlrepo::store::establish(&ws.config.database.url).expect("conn");
    let now = chrono::Utc::now().naive_utc();
    let kept = "ab".repeat(32);
    let spare = "ef".repeat(32);
    let absent = "cd".repeat(32);
    docs::put_blob(&mut conn, &kept, b"%PDF-1.7 kept", now).expect("blob");
    docs::put_blob(&mut conn, &spare, b"%PDF-1.7 spare", now).expect("blob");
    let insert = |doc_id: &str, blob: &str| {
        format!(
            "INSERT INTO documents (doctype, doc_id, status, udf_key, blob_sha256, created_at, updated_at) \
             VALUES ('MARKS', '{doc_id}', 'issued', 'k-{doc_id}', {blob}, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
        )
    };
    exec(&mut conn, &insert("GOOD1", &format!("'{kept}'"))).expect("names stored bytes");
    exec(&mut conn, &insert("NONE1", "NULL")).expect("names no bytes (pending)");
    assert!(is_foreign_key_violation(exec(
        &mut conn,
        &insert("ORPH1", &format!("'{absent}'"))
    )));
    // One orphan among three rows: the statement writes none.
    let three = format!(
        "INSERT INTO documents (doctype, doc_id, status, udf_key, blob_sha256, created_at, updated_at) VALUES \
         ('MARKS', 'MIX01', 'issued', 'k-MIX01', '{kept}', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP), \
         ('MARKS', 'MIX02', 'issued', 'k-MIX02', '{absent}', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP), \
         ('MARKS', 'MIX03', 'issued', 'k-MIX03', NULL, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
    );
    assert!(is_foreign_key_violation(exec(&mut conn, &three)));
    assert!(is_foreign_key_violation(exec(
        &mut conn,
        &format!("UPDATE documents SET blob_sha256 = '{absent}' WHERE doc_id = 'NONE1'")
    )));
    // The import's bulk path (a COPY on PostgreSQL).
    let orphan = docs::NewDocument {
        status: docs::status::ISSUED.into(),
        blob_sha256: Some(absent.clone()),
        ..new_document("BULK1", "k-BULK1")
    };
    let good = docs::NewDocument {
        doc_id: "BULK2".into(),
        udf_key: Some("k-BULK2".into()),
        blob_sha256: Some(kept.clone()),
        ..orphan.clone()
    };
    // Inside a transaction, as the import writes (SQLite's bulk path writes row by row).
    let refused = conn
        .transaction(|c| bulk::insert_many_if_free(c, &[&good, &orphan], true, true))
        .expect_err("a COPY naming missing bytes is refused");
    assert!(
        matches!(
            refused,
            dlrepo::store::StoreError::Query(diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::ForeignKeyViolation,
                _
            ))
        ),
        "{refused:?}"
    );
    for doc_id in ["ORPH1", "MIX01", "MIX02", "MIX03", "BULK1", "BULK2"] {
        assert!(
            docs::find_by_doc_id(&mut conn, "MARKS", doc_id)
                .expect("lookup")
                .is_none(),
            "{doc_id} was written"
        );
    }
    let none1 = docs::find_by_doc_id(&mut conn, "MARKS", "NONE1")
        .expect("lookup")
        .expect("NONE1");
    assert_eq!(none1.content, None);
    // Bytes in use stay; bytes no document names can go.
    assert!(is_foreign_key_violation(exec(
        &mut conn,
        &format!("DELETE FROM blobs WHERE sha256 = '{kept}'")
    )));
    assert!(is_foreign_key_violation(exec(
        &mut conn,
        &format!("UPDATE blobs SET sha256 = '{absent}' WHERE sha256 = '{kept}'")
    )));
    assert_eq!(
        exec(
            &mut conn,
            &format!("DELETE FROM blobs WHERE sha256 = '{spare}'")
        )
        .expect("unused"),
        1
    );
    assert!(docs::xml_blob(&mut conn, &kept).expect("read").is_some());
}

/// The import's DocId check (PostgreSQL; SQLite's bulk insert skips taken DocIds
/// itself): exactly the asked DocIds of that doc type that are taken, whatever their
/// status, once each however often asked.
async fn the_doc_id_check_names_exactly_the_doc_ids_taken(b: Backend) {
    let ws = Workspace::new(b);
    let mut conn = dlrepo::store::establish(&ws.config.database.url).expect("conn");
    for (doctype, doc_id, status) in [
        ("MARKS", "AAAAA", "issued"),
        ("MARKS", "BBBBB", "reserved"),
        ("MARKS", "CCCCC", "revoked"),
        ("DIPLM", "DDDDD", "issued"),
    ] {
        exec(
            &mut conn,
            &format!(
                "INSERT INTO documents (doctype, doc_id, status, udf_key, created_at, updated_at) \
                 VALUES ('{doctype}', '{doc_id}', '{status}', 'k-{doc_id}', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            ),
        )
        .expect("insert");
    }
    let asked = ["AAAAA", "BBBBB", "CCCCC", "DDDDD", "EEEEE", "AAAAA"];
    let taken = dlrepo::store::bulk::taken_doc_ids(&mut conn, "MARKS", &asked).expect("check");
    match b {
        Backend::Sqlite => assert_eq!(taken, None),
        Backend::Postgres => {
            let mut taken: Vec<String> = taken.expect("a set").into_iter().collect();
            taken.sort();
            assert_eq!(taken, ["AAAAA", "BBBBB", "CCCCC"]);
        }
    }
}

/// The import checks a batch's DocIds on a second connection, which cannot see the rows
/// its own writer has not committed. A DocId taken since must cost that one row only:
/// the others are still written straight in (on PostgreSQL without the staging table,
/// three times the cost), and the row already there is left as it was.
async fn a_bulk_insert_leaves_out_a_doc_id_taken_since_its_check(b: Backend) {
    use dlrepo::store::{bulk, documents as docs};
    let ws = Workspace::new(b);
    let mut conn = dlrepo::store::establish(&ws.config.database.url).expect("conn");
    let new = new_document;
    let there = new("TAKEN", "k-first");
    let rows = [
        new("FREE1", "k-1"),
        new("TAKEN", "k-2"),
        new("FREE2", "k-3"),
    ];
    let refs: Vec<&docs::NewDocument> = rows.iter().collect();
    let written = conn
        .transaction(|c| {
            // Written by this connection's open transaction, after the check.
            bulk::insert_many_if_free(c, &[&there], true, true)?;
            bulk::insert_many_if_free(c, &refs, true, true)
        })
        .expect("bulk insert");
    assert_eq!(written, [true, false, true]);
    for (doc_id, key) in [("FREE1", "k-1"), ("TAKEN", "k-first"), ("FREE2", "k-3")] {
        let found = docs::find_by_doc_id(&mut conn, "MARKS", doc_id)
            .expect("lookup")
            .unwrap_or_else(|| panic!("{doc_id} missing"));
        assert_eq!(found.udf_key.as_deref(), Some(key), "{doc_id}");
    }
    if b == Backend::Postgres {
        assert_eq!(
            exec(
                &mut conn,
                "DO $$ BEGIN IF to_regclass('pg_temp.documents_incoming') IS NOT NULL \
                 THEN RAISE EXCEPTION 'staged'; END IF; END $$"
            ),
            Ok(0),
            "the batch was staged"
        );
    }
}

/// `audit find` and the console's document page read the audit trail through indexes
/// on SQLite: the rows after the last segment by their ids, the rest through
/// `audit_lookups` by segment and key, never a scan of either table.
#[test]
fn audit_lookups_read_an_index() {
    use dlrepo::audit::segments::{self, Key};
    let queries = planned(|conn| {
        let by_search = Key::Search {
            doctype: "MARKS",
            search: "00ff",
        };
        segments::find(conn, by_search, 10).expect("by search");
        segments::find(conn, Key::Uri("in.gov.test-MARKS-AB12C"), 10).expect("by uri");
    });
    assert!(queries.len() >= 4, "{queries:#?}");
    for (sql, plan) in queries {
        for step in &plan {
            assert!(
                !step.starts_with("SCAN audit_pulls") && !step.starts_with("SCAN audit_lookups"),
                "{sql}\nis planned as {plan:?}"
            );
        }
        if sql.contains("`audit_lookups`") {
            assert!(
                plan.iter()
                    .any(|s| s.contains("audit_lookups") && s.contains("seg=? AND lookup=?")),
                "{sql}\nis planned as {plan:?}"
            );
        }
    }
}

/// The console's pull log filtered by a status other than 1 (the last failures) reads
/// the rows of that status newest first through an index, never a scan of
/// `audit_pulls` (at millions of rows a rare status read the whole table).
#[test]
fn the_pull_log_by_status_reads_an_index() {
    use dlrepo::audit::report::LogFilter;
    let failures = LogFilter {
        status: Some(0),
        ..LogFilter::default()
    };
    let mut in_doctype = failures.clone();
    in_doctype.doctype = Some("MARKS".into());
    assert_log_searched_through(&[failures, in_doctype], "INDEX audit_pulls_status");
}

/// The console's pull log under each filter is planned on SQLite through `how`.
fn assert_log_searched_through(filters: &[dlrepo::audit::report::LogFilter], how: &str) {
    let queries = planned(|conn| {
        for f in filters {
            dlrepo::audit::report::log(conn, f, 100).expect("log");
        }
    });
    assert_eq!(queries.len(), filters.len(), "{queries:#?}");
    assert_searched_through(&queries.iter().collect::<Vec<_>>(), how);
}

/// The pull log filtered by doc type alone (or with an endpoint, or Status 1) reads that
/// doc type's rows newest first through an index: a doc type pulled rarely read the
/// whole trail backwards for its last hundred answers.
#[test]
fn the_pull_log_by_doctype_reads_an_index() {
    use dlrepo::audit::report::LogFilter;
    let marks = LogFilter {
        doctype: Some("MARKS".into()),
        ..LogFilter::default()
    };
    let mut pull_doc = marks.clone();
    pull_doc.endpoint = Some("pulldoc".into());
    let mut found = marks.clone();
    found.status = Some(1);
    assert_log_searched_through(&[marks, pull_doc, found], "INDEX audit_pulls_doctype");
}

/// The report of some days (the console's dashboard is today's) reads those days'
/// running counts through their key, and only the rows not counted yet, page after
/// page through the primary key, each once: through the index on `at`, today's report
/// read every row of the day (4.85 s at 3M rows).
#[test]
fn the_report_reads_counts_and_then_only_the_rows_after_them() {
    use diesel::RunQueryDsl;
    use dlrepo::audit::{counts, report, segments};
    let day = chrono::NaiveDate::from_ymd_opt(2026, 1, 15).expect("date");
    let rows = |conn: &mut dlrepo::store::DbConn| {
        diesel::sql_query(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10001) \
             INSERT INTO audit_pulls (at, endpoint, api, status, http, latency_us) \
             SELECT '2026-01-15 10:00:00', 'pulluri', '1.0', 1, 200, 100 FROM n",
        )
        .execute(conn)
        .expect("rows");
    };
    let mut total = 0;
    let queries = planned(|conn| {
        rows(conn);
        segments::seal(conn, 1).expect("seal");
        counts::count_sealed(conn, 20_000).expect("count");
        rows(conn);
        let r = report::build(conn, day, day).expect("report");
        total = r.pulls.iter().map(|l| l.pulls).sum();
    });
    assert_eq!(total, 20002);
    // The report's queries: from its read of the counted end on.
    let start = queries
        .iter()
        .rposition(|(sql, _)| sql.contains("`audit_counted`"))
        .expect("the counted end read");
    let report: Vec<_> = queries[start..].iter().collect();
    let pages: Vec<_> = report
        .iter()
        .copied()
        .filter(|(sql, _)| sql.contains("FROM `audit_pulls`") && sql.contains("ORDER BY"))
        .collect();
    assert!(pages.len() >= 2, "{queries:#?}");
    assert_searched_through(&pages, "INTEGER PRIMARY KEY (rowid>?)");
    for table in ["audit_counts", "audit_latencies"] {
        let (sql, plan) = report
            .iter()
            .find(|(sql, _)| sql.contains(&format!("FROM `{table}`")))
            .expect("counts read");
        assert!(
            plan.iter()
                .any(|s| s.starts_with(&format!("SEARCH {table} USING INDEX"))),
            "{sql}\nis planned as {plan:?}"
        );
    }
}

#[derive(QueryableByName)]
struct PgPlanLine {
    #[diesel(sql_type = Text, column_name = "QUERY PLAN")]
    line: String,
}

/// On PostgreSQL too, the pull log by a status other than 1 reads the partial index
/// of those rows (the query as dlrepo sends it, prepared and planned with its values,
/// over a table where successes are most rows).
#[test]
fn the_pull_log_by_status_or_doctype_reads_its_index_on_postgres() {
    use diesel::RunQueryDsl;
    use dlrepo::audit::report::{self, LogFilter};
    let Some(b) = Backend::postgres() else {
        return;
    };
    let ws = Workspace::new(b);
    let mut conn = dlrepo::store::establish(&ws.config.database.url).expect("conn");
    // 20,000 successes and 20 failures of MARKS, and 20 answers of a rare doc type.
    diesel::sql_query(
        "INSERT INTO audit_pulls (at, endpoint, api, doctype, status, http, latency_us) \
         SELECT now(), 'pulluri', '1.0', CASE WHEN g % 1000 = 1 THEN 'RARE' ELSE 'MARKS' END, \
         CASE WHEN g % 1000 = 0 THEN 0 ELSE 1 END, 200, 100 \
         FROM generate_series(1, 20000) g",
    )
    .execute(&mut conn)
    .expect("rows");
    diesel::sql_query("ANALYZE audit_pulls")
        .execute(&mut conn)
        .expect("analyze");
    let failures = LogFilter {
        status: Some(0),
        ..LogFilter::default()
    };
    let rare = LogFilter {
        doctype: Some("RARE".into()),
        ..LogFilter::default()
    };
    for (n, (filter, params, index)) in [
        (failures, "0, 100", "audit_pulls_status"),
        (rare, "'RARE', 100", "audit_pulls_doctype"),
    ]
    .into_iter()
    .enumerate()
    {
        let mut rows = Vec::new();
        let sql = recorded(&mut conn, |c| {
            rows = report::log(c, &filter, 100).expect("log");
        })
        .remove(0);
        assert_eq!(rows.len(), 20);
        diesel::sql_query(format!("PREPARE pull_log{n} AS {sql}"))
            .execute(&mut conn)
            .expect("prepare");
        let plan: Vec<String> = diesel::sql_query(format!("EXPLAIN EXECUTE pull_log{n}({params})"))
            .load::<PgPlanLine>(&mut conn)
            .expect("plan")
            .into_iter()
            .map(|l| l.line)
            .collect();
        assert!(
            plan.iter().any(|l| l.contains(&format!("using {index}"))),
            "{sql}\nis planned as {plan:#?}"
        );
    }
}
