//! `src/store/schema.rs` must describe what the migrations create, on both backends;
//! the example configs must stay valid.

use crate::common::*;
use diesel::prelude::*;
use diesel::sql_types::Text;
use dlrepo::store::schema::{blobs, documents};

backend_tests!(schema_rs_matches_the_migrations);

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

/// Every lookup a pull or an import makes by search fields or DocId reads an index, on
/// SQLite (which plans without table statistics): after the full (doctype, udf_key)
/// index was dropped, only partial indexes remain for search fields, and SQLite uses one
/// only when the query names its statuses literally. A full scan would still answer
/// correctly, just ever slower as a board's documents grow, so only the plan shows it.
#[test]
fn every_lookup_by_search_fields_or_doc_id_reads_an_index() {
    use diesel::connection::{Connection, InstrumentationEvent};
    use dlrepo::store::{documents as docs, linked};
    use std::sync::{Arc, Mutex};
    let ws = Workspace::new(Backend::Sqlite);
    let mut conn = dlrepo::store::establish(&ws.config.database.url).expect("conn");
    let seen = Arc::new(Mutex::new(Vec::<String>::new()));
    let log = Arc::clone(&seen);
    conn.set_instrumentation(move |event: InstrumentationEvent<'_>| {
        if let InstrumentationEvent::StartQuery { query, .. } = event {
            log.lock().expect("log").push(query.to_string());
        }
    });
    let key = docs::udf_key(&["2024001", "2024"]);
    docs::find_by_udfs(&mut conn, "MARKS", &key).expect("by search fields");
    docs::find_by_doc_id(&mut conn, "MARKS", "AB12C").expect("by DocId");
    docs::find_live_by_key(&mut conn, "MARKS", &key).expect("live by key");
    linked::linked_doc(&mut conn, "MARKS", &key).expect("linked by row key");
    linked::linked_row_key(&mut conn, "MARKS", "AB12C").expect("linked by DocId");
    conn.set_instrumentation(|_: InstrumentationEvent<'_>| {});
    let queries = seen.lock().expect("log").clone();
    assert_eq!(queries.len(), 5, "{queries:#?}");
    for query in queries {
        // The SQL without diesel's "-- binds: [...]", planned with its parameters unbound
        // as a prepared statement is.
        let sql = query.split(" -- binds").next().expect("sql");
        let plan: Vec<String> = diesel::sql_query(format!("EXPLAIN QUERY PLAN {sql}"))
            .load::<PlanStep>(&mut conn)
            .expect("plan")
            .into_iter()
            .map(|s| s.detail)
            .collect();
        let documents_step = plan
            .iter()
            .find(|d| d.contains("documents"))
            .unwrap_or_else(|| panic!("no step reads documents: {plan:?}\n{sql}"));
        // Both key columns: `USING INDEX documents_doc_id (doctype=?)` alone reads every
        // document of the doc type.
        assert!(
            documents_step.starts_with("SEARCH documents USING ")
                && (documents_step.contains("(doctype=? AND udf_key=?)")
                    || documents_step.contains("(doctype=? AND doc_id=?)")),
            "{sql}\nis planned as {plan:?}"
        );
    }
}
