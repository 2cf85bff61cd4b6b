//! Nothing issued twice: the same file imported again, an import killed midway and run
//! again, two imports of one file (or of two files) at once; on SQLite and PostgreSQL.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::*;
use diesel::connection::SimpleConnection;
use diesel::RunQueryDsl;

backend_tests!(
    the_same_file_twice_issues_nothing_twice,
    a_file_mixing_new_and_issued_rows_adds_only_the_new_ones,
    kill_9_midway_then_run_again_gives_each_person_one_document,
    two_imports_of_one_file_at_once_make_no_duplicates,
    two_imports_of_different_files_of_one_doc_type_at_once_both_finish,
    one_import_into_a_crowded_doc_id_space_issues_every_row_once,
    a_page_cache_smaller_than_the_table_still_issues_every_row_once,
    duplicates_from_before_the_rule_are_listed_revoked_then_migrated,
    a_person_twice_in_one_batch_is_issued_as_the_first_line_says,
    a_failed_transaction_names_the_lines_it_rolled_back,
    a_signed_re_run_stores_no_second_copy_of_any_document,
    the_out_file_of_a_re_run_lists_every_row_with_its_uri,
    a_re_run_without_the_doc_id_column_finds_the_documents_it_gave,
);

fn dlrepo(ws: &Workspace) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_dlrepo"));
    c.arg("--config")
        .arg(&ws.config_path)
        .env("RUST_LOG", "warn");
    c
}

fn aadhaar_of(i: u64) -> String {
    valid_aadhaar(23_000_000_000 + i)
}

/// `rows` mark sheets, each with its own Aadhaar number; the PDF file (written by
/// [`write_csv`]) is shared, so the bulk path is what runs.
fn csv(rows: u64) -> String {
    let mut s = String::from("RollNo,Year,holder_name,aadhaar,doc_name,issued_on,pdf\n");
    for i in 0..rows {
        s.push_str(&format!(
            "{},2024,Student {i},{},Mark Sheet 2024,15/05/2024,sheet.pdf\n",
            1_000_000 + i,
            aadhaar_of(i)
        ));
    }
    s
}

/// The mark sheets of students `range` (roll number 1,000,000 + i), with no Aadhaar
/// numbers: nothing to seal or push, only documents to write.
fn csv_without_aadhaar(range: std::ops::Range<u64>) -> String {
    let mut s = String::from("RollNo,Year,holder_name,doc_name,issued_on,pdf\n");
    for i in range {
        s.push_str(&format!(
            "{},2024,Student {i},Mark Sheet 2024,15/05/2024,sheet.pdf\n",
            1_000_000 + i
        ));
    }
    s
}

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

fn count(ws: &Workspace, sql: &str) -> i64 {
    let mut conn = dlrepo::store::establish(&ws.config.database.url).expect("connect");
    diesel::sql_query(sql)
        .get_result::<Count>(&mut conn)
        .expect("count")
        .n
}

fn issued(ws: &Workspace) -> i64 {
    count(
        ws,
        "SELECT COUNT(*) AS n FROM documents WHERE status = 'issued'",
    )
}

/// (outbox rows, distinct Aadhaar numbers among them), all of action A.
fn queued_adds(ws: &Workspace) -> (i64, i64) {
    (
        count(
            ws,
            "SELECT COUNT(*) AS n FROM push_outbox WHERE action = 'A'",
        ),
        count(
            ws,
            "SELECT COUNT(DISTINCT aadhaar) AS n FROM push_outbox WHERE action = 'A'",
        ),
    )
}

fn write_csv(ws: &Workspace, name: &str, content: &str) -> std::path::PathBuf {
    std::fs::write(
        ws.path("sheet.pdf"),
        b"%PDF-1.4\n% the board's mark sheet\n%%EOF\n",
    )
    .expect("pdf");
    ws.write(name, content)
}

fn run_import(ws: &Workspace, file: &std::path::Path, extra: &[&str]) -> (bool, String) {
    let out = dlrepo(ws)
        .args(["import", "--doctype", "MARKS"])
        .args(extra)
        .arg(file)
        .output()
        .expect("run");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

async fn the_same_file_twice_issues_nothing_twice(b: Backend) {
    let ws = Workspace::new(b);
    // Batches of 10: the later batches of a re-run look their rows up before the bulk
    // insert, the first after it; a conflict in each.
    let batches = ["--batch", "10"];
    let file = write_csv(&ws, "m.csv", &csv(50));
    let (ok, text) = run_import(&ws, &file, &batches);
    assert!(ok, "{text}");
    assert!(
        text.contains("imported 50 row(s), rejected 0, 0 already issued"),
        "{text}"
    );
    let (ok, text) = run_import(&ws, &file, &batches);
    assert!(ok, "{text}");
    assert!(
        text.contains("imported 0 row(s), rejected 0, 50 already issued"),
        "{text}"
    );
    // Its rate counts the rows it read: a re-run is not shown as stuck.
    assert!(!text.contains("(0 rows/s)"), "{text}");
    assert_eq!(issued(&ws), 50);
    assert_eq!(queued_adds(&ws), (50, 50));

    // Two people's rows changed: conflicts naming the field, nothing written.
    let changed = csv(50)
        .replace("Student 7,", "Student Seven,")
        .replace("Student 37,", "Student Thirty-Seven,");
    let file2 = write_csv(&ws, "m2.csv", &changed);
    let (ok, text) = run_import(&ws, &file2, &batches);
    assert!(!ok, "a conflict is a rejected row");
    assert!(
        text.contains("line 9: conflicts with in.gov.test.board-MARKS-"),
        "{text}"
    );
    assert!(
        text.contains("line 39: conflicts with in.gov.test.board-MARKS-"),
        "{text}"
    );
    assert!(text.contains("holder_name differs"), "{text}");
    assert!(text.contains("48 already issued"), "{text}");
    // --correct updates that document (same URI) and queues a U.
    let (ok, text) = run_import(&ws, &file2, &["--correct", "--batch", "10"]);
    assert!(ok, "{text}");
    assert!(text.contains("imported 2 row(s)"), "{text}");
    assert_eq!(issued(&ws), 50);
    assert_eq!(
        count(
            &ws,
            "SELECT COUNT(*) AS n FROM push_outbox WHERE action = 'U'"
        ),
        2
    );
    assert_eq!(
        count(
            &ws,
            "SELECT COUNT(*) AS n FROM documents \
             WHERE holder_name IN ('Student Seven', 'Student Thirty-Seven')"
        ),
        2
    );
    let out = dlrepo(&ws).arg("check-data").output().expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

async fn a_file_mixing_new_and_issued_rows_adds_only_the_new_ones(b: Backend) {
    let ws = Workspace::new(b);
    let all = csv(200);
    let mut lines: Vec<&str> = all.lines().collect();
    // Every fourth student first.
    let quarter: Vec<&str> = lines
        .iter()
        .enumerate()
        .filter(|(n, _)| *n == 0 || (n - 1) % 4 == 0)
        .map(|(_, l)| *l)
        .collect();
    let file = write_csv(&ws, "quarter.csv", &(quarter.join("\n") + "\n"));
    let (ok, text) = run_import(&ws, &file, &[]);
    assert!(ok, "{text}");
    assert!(text.contains("imported 50 row(s)"), "{text}");
    // Then everyone, student 1 twice in one batch: batches of 10 with a few rows
    // already issued each (PostgreSQL's straight copy of a batch fails on them and
    // the batch goes in row by row instead).
    let student_1 = lines[2];
    lines.insert(3, student_1);
    let file = write_csv(&ws, "all.csv", &(lines.join("\n") + "\n"));
    let (ok, text) = run_import(&ws, &file, &["--batch", "10"]);
    assert!(ok, "{text}");
    assert!(
        text.contains("imported 150 row(s), rejected 0, 51 already issued"),
        "{text}"
    );
    assert_eq!(issued(&ws), 200);
    assert_eq!(queued_adds(&ws), (200, 200));
}

async fn kill_9_midway_then_run_again_gives_each_person_one_document(b: Backend) {
    const ROWS: u64 = 100_000;
    let ws = Workspace::new(b);
    let file = write_csv(&ws, "big.csv", &csv(ROWS));
    let mut child = dlrepo(&ws)
        .args(["import", "--doctype", "MARKS", "--batch", "5000"])
        .arg(&file)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    // Kill at a random point once some batches are in (and before the end).
    let wait_for = rand::random::<u64>() % 40_000 + 5_000;
    let started = Instant::now();
    loop {
        std::thread::sleep(Duration::from_millis(20));
        if issued(&ws) as u64 >= wait_for || started.elapsed() > Duration::from_secs(120) {
            break;
        }
        if child.try_wait().expect("wait").is_some() {
            break;
        }
    }
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    let before = issued(&ws) as u64;
    assert!(before < ROWS, "killed midway ({before} issued)");

    let (ok, text) = run_import(&ws, &file, &["--batch", "5000"]);
    assert!(ok, "{text}");
    assert!(
        text.contains(&format!("{before} already issued")),
        "the re-run is the resume: {text}"
    );
    assert_eq!(issued(&ws) as u64, ROWS);
    assert_eq!(queued_adds(&ws), (ROWS as i64, ROWS as i64));

    // Pull URI finds a sample of people, each with exactly one document.
    let app = spawn_on(ws).await;
    for _ in 0..40 {
        let i = rand::random::<u64>() % ROWS;
        let roll = format!("{}", 1_000_000 + i);
        let r = app.pull_uri(&[("RollNo", &roll), ("Year", "2024")]).await;
        assert_eq!(r.status(), "1", "row {i}");
    }
}

/// Runs `dlrepo import` of each file at once, in batches of 500.
fn imports_at_once(ws: &Workspace, files: [&std::path::Path; 2], extra: &[&str]) {
    let spawn = |file: &std::path::Path| {
        dlrepo(ws)
            .args(["import", "--doctype", "MARKS", "--batch", "500"])
            .args(extra)
            .arg(file)
            .output()
            .expect("run")
    };
    let outs = std::thread::scope(|s| {
        let runs = files.map(|f| s.spawn(move || spawn(f)));
        runs.map(|r| r.join().expect("thread"))
    });
    for out in &outs {
        eprintln!("DBG {}", String::from_utf8_lossy(&out.stdout));
        assert!(
            out.status.success(),
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// DocIds of 3 characters (29,791 of them) for MARKS.
fn crowd_doc_ids(ws: &Workspace) {
    let config = std::fs::read_to_string(&ws.config_path).expect("config");
    let config = config.replacen(
        "name = \"Class X Mark Sheet\"",
        "name = \"Class X Mark Sheet\"\nexpected_count = 2000",
        1,
    );
    std::fs::write(&ws.config_path, config).expect("config");
}

/// Every row issued once, and check-data content.
fn each_once(ws: &Workspace, rows: u64) {
    assert_eq!(issued(ws) as u64, rows);
    let out = dlrepo(ws).arg("check-data").output().expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

async fn two_imports_of_one_file_at_once_make_no_duplicates(b: Backend) {
    const ROWS: u64 = 5_000;
    let ws = Workspace::new(b);
    let file = write_csv(&ws, "m.csv", &csv(ROWS));
    imports_at_once(&ws, [&file, &file], &[]);
    each_once(&ws, ROWS);
    assert_eq!(queued_adds(&ws), (ROWS as i64, ROWS as i64));
}

/// Two offices loading their own students into one doc type at the same time, a
/// transaction a batch. Their random DocIds clash now and then; on PostgreSQL two
/// transactions that each inserted a DocId the other then drew used to wait on each
/// other until PostgreSQL aborted one ("deadlock detected"), failing that import.
async fn two_imports_of_different_files_of_one_doc_type_at_once_both_finish(b: Backend) {
    const ROWS: u64 = 6_000;
    let ws = Workspace::new(b);
    // Hundreds of clashes between the files.
    crowd_doc_ids(&ws);
    let a = write_csv(&ws, "a.csv", &csv_without_aadhaar(0..ROWS));
    let b2 = write_csv(&ws, "b.csv", &csv_without_aadhaar(ROWS..2 * ROWS));
    imports_at_once(&ws, [&a, &b2], &["--commit-after", "0"]);
    each_once(&ws, 2 * ROWS);
}

/// DocIds of 3 characters and one long transaction: on PostgreSQL the reader checks
/// each batch's DocIds while none of the import's own rows are committed yet, so the
/// writer must hold back those that drew a DocId it wrote itself.
async fn one_import_into_a_crowded_doc_id_space_issues_every_row_once(b: Backend) {
    const ROWS: u64 = 6_000;
    let ws = Workspace::new(b);
    crowd_doc_ids(&ws);
    let file = write_csv(&ws, "a.csv", &csv_without_aadhaar(0..ROWS));
    let (ok, text) = run_import(&ws, &file, &["--batch", "500", "--commit-after", "600"]);
    assert!(ok, "{text}");
    assert!(text.contains("imported 6000 row(s), rejected 0"), "{text}");
    each_once(&ws, ROWS);
}

/// `--sqlite-cache-mb 1`: SQLite writes dirty pages out in the middle of the import's
/// one transaction and reads them back; every row goes in once and a re-run finds them
/// all. PostgreSQL has no such cache and takes the flag as it is. 0 MiB, or a batch
/// of 0 rows, is refused.
async fn a_page_cache_smaller_than_the_table_still_issues_every_row_once(b: Backend) {
    const ROWS: u64 = 6_000;
    let ws = Workspace::new(b);
    let file = write_csv(&ws, "a.csv", &csv_without_aadhaar(0..ROWS));
    for flag in ["--sqlite-cache-mb", "--batch"] {
        let (ok, text) = run_import(&ws, &file, &[flag, "0"]);
        assert!(!ok, "{text}");
        assert!(text.contains(flag), "{text}");
    }
    assert_eq!(issued(&ws), 0);
    let small = [
        "--sqlite-cache-mb",
        "1",
        "--batch",
        "500",
        "--commit-after",
        "600",
    ];
    let (ok, text) = run_import(&ws, &file, &small);
    assert!(ok, "{text}");
    assert!(text.contains("imported 6000 row(s), rejected 0"), "{text}");
    each_once(&ws, ROWS);
    let (ok, text) = run_import(&ws, &file, &small);
    assert!(ok, "{text}");
    assert!(
        text.contains("imported 0 row(s), rejected 0, 6000 already issued"),
        "{text}"
    );
}

/// A database from before the one-document-per-search rule, holding a duplicate: the
/// README's path out of it (check-data, revoke, migrate) works as it says.
async fn duplicates_from_before_the_rule_are_listed_revoked_then_migrated(b: Backend) {
    use diesel_migrations::MigrationHarness;
    // A fresh database, migrated only up to the rule (four migrations).
    let ws = Workspace::new(b);
    let pg = (b == Backend::Postgres).then(PgDatabase::create);
    let url = match &pg {
        None => ws.path("old.sqlite3").to_str().expect("path").to_string(),
        Some(d) => d.url(),
    };
    let mut conn = dlrepo::store::establish(&url).expect("conn");
    for _ in 0..4 {
        match &mut conn {
            dlrepo::store::DbConn::Sqlite(c) => {
                c.run_next_migration(dlrepo::store::SQLITE_MIGRATIONS)
                    .expect("migration");
            }
            dlrepo::store::DbConn::Postgres(c) => {
                c.run_next_migration(dlrepo::store::POSTGRES_MIGRATIONS)
                    .expect("migration");
            }
        }
    }
    let key = dlrepo::store::documents::udf_key(&["1234567", "2020"]);
    for id in ["DUPAAA", "DUPBBB"] {
        diesel::sql_query(format!(
            "INSERT INTO documents (doctype, doc_id, status, udf_key, doc_name, created_at, updated_at) \
             VALUES ('MARKS', '{id}', 'issued', '{key}', 'Mark Sheet', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
        ))
        .execute(&mut conn)
        .expect("insert");
    }
    drop(conn);
    let text = std::fs::read_to_string(&ws.config_path).expect("config");
    let old_config = ws.path("old.toml");
    let url_line = format!("url = \"{url}\"");
    let replaced = text
        .lines()
        .map(|l| {
            if l.starts_with("url = ") {
                url_line.clone()
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(&old_config, replaced).expect("config");
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_dlrepo"))
            .arg("--config")
            .arg(&old_config)
            .args(args)
            .output()
            .expect("run");
        (
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    };
    let (ok, text) = run(&["check-data"]);
    assert!(!ok, "{text}");
    assert!(
        text.contains(&format!("{ISSUER}-MARKS-DUPAAA"))
            && text.contains(&format!("{ISSUER}-MARKS-DUPBBB")),
        "{text}"
    );
    let (ok, text) = run(&["migrate"]);
    assert!(!ok, "the rule cannot be applied over the duplicate");
    assert!(text.contains("check-data"), "{text}");
    let (ok, text) = run(&["revoke", &format!("{ISSUER}-MARKS-DUPBBB")]);
    assert!(ok, "{text}");
    let (ok, text) = run(&["migrate"]);
    assert!(ok, "{text}");
    let (ok, text) = run(&["check-data"]);
    assert!(ok, "{text}");
    drop(pg);
}

/// A file that lists students again further down with another name (a correction
/// appended at the end), all in one batch: the batch is sorted by search fields, and
/// the line earlier in the file must still be the one issued, the later one refused
/// (or, with `--correct`, applied over it) whatever order the sort left equal keys in.
async fn a_person_twice_in_one_batch_is_issued_as_the_first_line_says(b: Backend) {
    const ROWS: u64 = 3_000;
    const AGAIN: u64 = 60;
    let ws = Workspace::new(b);
    let mut content = csv_without_aadhaar(0..ROWS);
    // Every 50th student again, renamed.
    for i in (0..ROWS).step_by((ROWS / AGAIN) as usize) {
        content.push_str(&format!(
            "{},2024,Student {i} again,Mark Sheet 2024,15/05/2024,sheet.pdf\n",
            1_000_000 + i
        ));
    }
    let file = write_csv(&ws, "twice.csv", &content);
    let (ok, text) = run_import(&ws, &file, &[]);
    assert!(!ok, "the later lines are refused: {text}");
    assert!(
        text.contains(&format!("imported {ROWS} row(s), rejected {AGAIN}")),
        "{text}"
    );
    for n in 0..AGAIN {
        // Line 1 is the header, the students are lines 2..=ROWS+1.
        let line = ROWS + 2 + n;
        assert!(
            text.contains(&format!("line {line}: conflicts with")),
            "line {line}: {text}"
        );
    }
    assert_eq!(
        count(
            &ws,
            "SELECT COUNT(*) AS n FROM documents WHERE holder_name LIKE '% again'"
        ),
        0
    );
    // With --correct the later line is the correction, and it wins.
    let (ok, text) = run_import(&ws, &file, &["--correct"]);
    assert!(ok, "{text}");
    assert!(text.contains(&format!("imported {AGAIN} row(s)")), "{text}");
    assert_eq!(
        count(
            &ws,
            "SELECT COUNT(*) AS n FROM documents WHERE holder_name LIKE '% again'"
        ),
        AGAIN as i64
    );
    assert_eq!(issued(&ws), ROWS as i64);
}

/// A database error in the second of three transactions: the error names the lines
/// that transaction held, in file order, though its batch was sorted by search fields
/// (here the reverse of file order); the first transaction's rows stay, and a re-run
/// once the cause is gone imports the rest.
async fn a_failed_transaction_names_the_lines_it_rolled_back(b: Backend) {
    const ROWS: u64 = 3_000;
    let ws = Workspace::new(b);
    let rows = csv_without_aadhaar(0..ROWS);
    let mut lines: Vec<&str> = rows.lines().collect();
    lines[1..].reverse();
    let file = write_csv(&ws, "reversed.csv", &(lines.join("\n") + "\n"));
    // Student 1500 is on line 1501, in the batch of lines 1002..=2001.
    let mut conn = dlrepo::store::establish(&ws.config.database.url).expect("connect");
    let refuse = match &mut conn {
        dlrepo::store::DbConn::Postgres(c) => c.batch_execute(
            "CREATE FUNCTION refuse_1500() RETURNS trigger LANGUAGE plpgsql AS $$ \
             BEGIN IF NEW.holder_name = 'Student 1500' THEN RAISE EXCEPTION 'refused by the test'; \
             END IF; RETURN NEW; END $$; \
             CREATE TRIGGER refuse_1500 BEFORE INSERT ON documents FOR EACH ROW \
             EXECUTE FUNCTION refuse_1500();",
        ),
        dlrepo::store::DbConn::Sqlite(c) => c.batch_execute(
            "CREATE TRIGGER refuse_1500 BEFORE INSERT ON documents \
             WHEN NEW.holder_name = 'Student 1500' \
             BEGIN SELECT RAISE(ABORT, 'refused by the test'); END;",
        ),
    };
    refuse.expect("trigger");
    let one_per_transaction = ["--batch", "1000", "--commit-after", "0"];
    let (ok, text) = run_import(&ws, &file, &one_per_transaction);
    assert!(!ok, "{text}");
    assert!(
        text.contains("transaction of lines 1002..=2001; it was rolled back"),
        "{text}"
    );
    assert_eq!(text.matches("refused by the test").count(), 1, "{text}");
    assert_eq!(issued(&ws), 1000);
    match &mut conn {
        dlrepo::store::DbConn::Postgres(c) => {
            c.batch_execute("DROP TRIGGER refuse_1500 ON documents")
        }
        dlrepo::store::DbConn::Sqlite(c) => c.batch_execute("DROP TRIGGER refuse_1500"),
    }
    .expect("drop");
    let (ok, text) = run_import(&ws, &file, &one_per_transaction);
    assert!(ok, "{text}");
    assert!(
        text.contains("imported 2000 row(s), rejected 0, 1000 already issued"),
        "{text}"
    );
    each_once(&ws, ROWS);
}

/// Stored files that no document or kept version refers to.
fn unreferenced_blobs(ws: &Workspace) -> i64 {
    count(
        ws,
        "SELECT COUNT(*) AS n FROM blobs b WHERE \
         NOT EXISTS (SELECT 1 FROM documents d \
                     WHERE d.blob_sha256 = b.sha256 OR d.xml_sha256 = b.sha256) \
         AND NOT EXISTS (SELECT 1 FROM document_versions v \
                         WHERE v.blob_sha256 = b.sha256 OR v.xml_sha256 = b.sha256)",
    )
}

/// With a signing key every signature is new bytes (it holds its time), and the
/// first batch's documents are made ahead before the import knows whether it is a
/// re-run: no copy of a document a re-run finds already issued, or of a changed row
/// it refuses among issued ones, may stay stored. Rendered rows and rows naming a
/// file, in batches of 10.
async fn a_signed_re_run_stores_no_second_copy_of_any_document(b: Backend) {
    let mut ws = Workspace::new(b);
    ws.sign_with_new_key();
    let pdf = dlrepo::docs::render::plain_certificate("Board", "Mark Sheet", &[("a", "b")], "u")
        .expect("pdf");
    std::fs::write(ws.path("own.pdf"), pdf).expect("pdf");
    let mut content = String::from("RollNo,Year,holder_name,doc_name,issued_on,pdf\n");
    for i in 0..40 {
        // Half rendered, half the same file of their own.
        let file = if i % 2 == 0 { "own.pdf" } else { "" };
        content.push_str(&format!(
            "{},2024,Student {i},Mark Sheet 2024,15/05/2024,{file}\n",
            1_000_000 + i
        ));
    }
    let file = ws.write("signed.csv", &content);
    let batches = ["--batch", "10"];
    let (ok, text) = run_import(&ws, &file, &batches);
    assert!(ok, "{text}");
    assert!(text.contains("imported 40 row(s)"), "{text}");
    let stored = count(&ws, "SELECT COUNT(*) AS n FROM blobs");
    assert_eq!(unreferenced_blobs(&ws), 0);
    for _ in 0..2 {
        let (ok, text) = run_import(&ws, &file, &batches);
        assert!(ok, "{text}");
        assert!(text.contains("40 already issued"), "{text}");
        assert_eq!(unreferenced_blobs(&ws), 0);
        assert_eq!(count(&ws, "SELECT COUNT(*) AS n FROM blobs"), stored);
    }
    // A file of new rows that lists some issued ones among them, past its first batch
    // (no batch mostly issued: none looks like a re-run's) stores only the new rows'
    // bytes: new rows each naming a file of its own, then also rendered.
    let rows: Vec<&str> = content.lines().collect();
    for (n, own_file) in [(2_000_000, true), (3_000_000, false)] {
        let mut mixed = String::from(rows[0]);
        mixed.push('\n');
        for i in 0..40 {
            let file = if own_file {
                let name = format!("own{n}-{i}.pdf");
                std::fs::copy(ws.path("own.pdf"), ws.path(&name)).expect("copy");
                name
            } else {
                String::new()
            };
            mixed.push_str(&format!(
                "{},2024,Student {i},Mark Sheet 2024,15/05/2024,{file}\n",
                n + i
            ));
            // Issued rows naming the file they share.
            if i >= 10 && i % 6 == 0 {
                mixed.push_str(rows[1 + i as usize]);
                mixed.push('\n');
            }
        }
        let mixed = ws.write("mixed.csv", &mixed);
        let (ok, text) = run_import(&ws, &mixed, &batches);
        assert!(ok, "{text}");
        assert!(
            text.contains("imported 40 row(s), rejected 0, 5 already issued"),
            "{text}"
        );
        assert_eq!(unreferenced_blobs(&ws), 0);
    }
    let stored = count(&ws, "SELECT COUNT(*) AS n FROM blobs");
    // A file of one row is looked up before its bytes are stored, as a batch is.
    let one = ws.write("one.csv", &format!("{}\n{}\n", rows[0], rows[1]));
    let (ok, text) = run_import(&ws, &one, &batches);
    assert!(ok, "{text}");
    assert!(text.contains("1 already issued"), "{text}");
    assert_eq!(unreferenced_blobs(&ws), 0);
    assert_eq!(count(&ws, "SELECT COUNT(*) AS n FROM blobs"), stored);
    // A renamed student is refused: nothing of that row is kept either.
    let changed = ws.write(
        "changed.csv",
        &content.replace("Student 3,", "Student Three,"),
    );
    let (ok, text) = run_import(&ws, &changed, &batches);
    assert!(!ok, "{text}");
    assert!(text.contains("holder_name differs"), "{text}");
    assert_eq!(unreferenced_blobs(&ws), 0);
    // Corrected, the document refers to its new bytes; the copy it replaced is kept in
    // document_versions with its bytes, as a department row's change keeps its, and
    // no bytes are left that nothing refers to.
    let replaced = blob_of(&ws, "Student 3");
    let (ok, text) = run_import(&ws, &changed, &["--correct", "--batch", "10"]);
    assert!(ok, "{text}");
    assert!(text.contains("imported 1 row(s)"), "{text}");
    assert_ne!(blob_of(&ws, "Student Three"), replaced);
    assert_eq!(unreferenced_blobs(&ws), 0);
    assert_eq!(
        count(
            &ws,
            &format!("SELECT COUNT(*) AS n FROM blobs WHERE sha256 = '{replaced}'")
        ),
        1
    );
    assert_eq!(
        count(
            &ws,
            &format!(
                "SELECT COUNT(*) AS n FROM document_versions WHERE blob_sha256 = '{replaced}'"
            )
        ),
        1
    );
}

/// The SHA-256 of the bytes of the document issued to this holder.
fn blob_of(ws: &Workspace, holder: &str) -> String {
    use diesel::prelude::*;
    use dlrepo::store::schema::documents;
    let mut conn = dlrepo::store::establish(&ws.config.database.url).expect("connect");
    let sha: Option<String> = documents::table
        .filter(documents::holder_name.eq(holder))
        .select(documents::blob_sha256)
        .first(&mut conn)
        .expect("document");
    sha.expect("bytes")
}

/// `line,uri` rows of an `--out` file, in its order.
fn out_rows(path: &std::path::Path) -> Vec<(u64, String)> {
    let text = std::fs::read_to_string(path).expect("out file");
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("line,uri"));
    lines
        .map(|l| {
            let (line, uri) = l.split_once(',').expect("line,uri");
            (line.parse().expect("line"), uri.to_string())
        })
        .collect()
}

/// An import resumed after a crash is a re-run: its `--out` file lists the rows the
/// first run wrote too, under the same URIs, not only the rest. Batches of 10.
async fn the_out_file_of_a_re_run_lists_every_row_with_its_uri(b: Backend) {
    let ws = Workspace::new(b);
    let first = write_csv(&ws, "first.csv", &csv_without_aadhaar(0..30));
    let all = write_csv(&ws, "all.csv", &csv_without_aadhaar(0..50));
    let out = |name: &str| ws.path(name).to_string_lossy().into_owned();
    let (ok, text) = run_import(&ws, &first, &["--batch", "10", "--out", &out("first.out")]);
    assert!(ok, "{text}");
    let before = out_rows(&ws.path("first.out"));
    assert_eq!(before.len(), 30);
    let (ok, text) = run_import(&ws, &all, &["--batch", "10", "--out", &out("all.out")]);
    assert!(ok, "{text}");
    assert!(
        text.contains("imported 20 row(s), rejected 0, 30 already issued"),
        "{text}"
    );
    let after = out_rows(&ws.path("all.out"));
    let lines: Vec<u64> = after.iter().map(|(l, _)| *l).collect();
    assert_eq!(
        lines,
        (2..=51).collect::<Vec<u64>>(),
        "every line, in order"
    );
    // The same line of both files is the same student: the same URI.
    assert_eq!(&after[..30], &before[..]);
    let uris: std::collections::HashSet<&String> = after.iter().map(|(_, u)| u).collect();
    assert_eq!(uris.len(), 50, "one URI a student");
}

/// A file first imported with its own DocIds, imported again without the `doc_id`
/// column, finds its documents unchanged: the DocId they were given is not a
/// difference; nor, the other way, is a DocId given now that was minted then. (Both
/// had been refused, "pdf differs", with the same file.) A row whose file did change
/// is still refused, and names the pdf.
async fn a_re_run_without_the_doc_id_column_finds_the_documents_it_gave(b: Backend) {
    let ws = Workspace::new(b);
    let pdf = dlrepo::docs::render::plain_certificate("Board", "Mark Sheet", &[("a", "b")], "u")
        .expect("pdf");
    std::fs::write(ws.path("own.pdf"), &pdf).expect("pdf");
    std::fs::write(ws.path("other.pdf"), [pdf.as_slice(), b"\n"].concat()).expect("pdf");
    let given = ws.write(
        "given.csv",
        "RollNo,Year,holder_name,doc_name,issued_on,pdf,doc_id\n\
         1000001,2024,Student 1,Mark Sheet 2024,15/05/2024,own.pdf,OWN1\n\
         1000002,2024,Student 2,Mark Sheet 2024,15/05/2024,own.pdf,OWN2\n",
    );
    let (ok, text) = run_import(&ws, &given, &[]);
    assert!(ok, "{text}");
    assert!(text.contains("imported 2 row(s)"), "{text}");
    let without = ws.write(
        "without.csv",
        "RollNo,Year,holder_name,doc_name,issued_on,pdf\n\
         1000001,2024,Student 1,Mark Sheet 2024,15/05/2024,own.pdf\n\
         1000002,2024,Student 2,Mark Sheet 2024,15/05/2024,own.pdf\n",
    );
    let (ok, text) = run_import(&ws, &without, &[]);
    assert!(ok, "{text}");
    assert!(
        text.contains("imported 0 row(s), rejected 0, 2 already issued"),
        "{text}"
    );
    // The other way: minted first, then given the DocId it was minted under (a file
    // made from `--out`).
    let minted = ws.write(
        "minted.csv",
        "RollNo,Year,holder_name,doc_name,issued_on,pdf\n\
         1000003,2024,Student 3,Mark Sheet 2024,15/05/2024,own.pdf\n",
    );
    let out = ws.path("minted.out");
    let (ok, text) = run_import(&ws, &minted, &["--out", out.to_str().expect("utf-8")]);
    assert!(ok, "{text}");
    let written = std::fs::read_to_string(&out).expect("out");
    let doc_id = written
        .lines()
        .nth(1)
        .and_then(|l| l.rsplit('-').next())
        .expect("a DocId")
        .to_string();
    let given_now = ws.write(
        "given_now.csv",
        &format!(
            "RollNo,Year,holder_name,doc_name,issued_on,pdf,doc_id\n\
             1000003,2024,Student 3,Mark Sheet 2024,15/05/2024,own.pdf,{doc_id}\n"
        ),
    );
    let (ok, text) = run_import(&ws, &given_now, &[]);
    assert!(ok, "{text}");
    assert!(
        text.contains("imported 0 row(s), rejected 0, 1 already issued"),
        "{text}"
    );
    let changed = ws.write(
        "changed.csv",
        "RollNo,Year,holder_name,doc_name,issued_on,pdf\n\
         1000001,2024,Student 1,Mark Sheet 2024,15/05/2024,other.pdf\n",
    );
    let (ok, text) = run_import(&ws, &changed, &[]);
    assert!(!ok, "{text}");
    assert!(text.contains("-MARKS-OWN1"), "{text}");
    assert!(text.contains("pdf differs"), "{text}");
}
