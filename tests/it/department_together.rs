//! Department pulls at once: result day's first reads, and on PostgreSQL the reads
//! gathered into one (`server/gather.rs`), each answered as if read alone.

use diesel::RunQueryDsl;

use crate::common::*;
use crate::department::{department_table, drop_role, source_block};

backend_tests!(
    concurrent_first_pulls_of_department_rows_all_answer,
    pdf_and_xml_pulls_at_once_each_get_their_own_answer,
);

/// Result day: many people pull their department rows for the first time at once, so
/// many DocIds are minted and linked together, some rows asked twice at the same moment.
/// Every pull answers with the row's one URI. (On SQLite a read transaction that then
/// wrote failed at once with "database is locked" once another pull had written.)
async fn concurrent_first_pulls_of_department_rows_all_answer(b: Backend) {
    use futures_util::future::join_all;
    const ROWS: i64 = 40;
    let mut ws = Workspace::new(b);
    let url = department_table(&ws);
    {
        let mut conn = dlrepo::store::establish(&ws.config.database.url).expect("connect");
        let values: Vec<String> = (0..ROWS)
            .map(|i| format!("({}, 2024, 'Student {i}', 300)", 5000 + i))
            .collect();
        diesel::sql_query(format!(
            "INSERT INTO results (roll_no, exam_year, student_name, total_marks) VALUES {}",
            values.join(", ")
        ))
        .execute(&mut conn)
        .expect("rows");
    }
    ws.edit_config(|c| c + &source_block(url.as_deref(), "roll_no"));
    let app = spawn_on(ws).await;

    let asked: Vec<i64> = (0..2 * ROWS).map(|k| (k * 7) % ROWS + 5000).collect();
    let replies = pull_all_at_once(&app, &asked).await;
    let mut uri_of: std::collections::HashMap<i64, String> = Default::default();
    for (roll, r) in asked.iter().zip(&replies) {
        assert_eq!((r.http, r.status()), (200, "1"), "roll {roll}");
        let uri = r.detail("URI").expect("URI").to_string();
        let first = uri_of.entry(*roll).or_insert_with(|| uri.clone());
        assert_eq!(*first, uri, "roll {roll}: one URI, however many pulls");
    }
    let distinct: std::collections::HashSet<&String> = uri_of.values().collect();
    assert_eq!(distinct.len(), ROWS as usize, "a DocId per row");

    // Pull Doc of every URI at once (twice, with DocIds never handed out among them)
    // finds each row again: on PostgreSQL read together.
    let mut uris: Vec<String> = uri_of.values().chain(uri_of.values()).cloned().collect();
    for k in [3, 17, 41] {
        uris.insert(k, format!("in.gov.test.board-RSLT-NOSUCH{k}"));
    }
    let docs = join_all(uris.iter().map(|uri| app.pull_doc(uri))).await;
    for (uri, d) in uris.iter().zip(&docs) {
        let want = if uri.contains("NOSUCH") { "0" } else { "1" };
        assert_eq!((d.http, d.status()), (200, want), "{uri}");
    }

    // Again, all at once, with rows that two match and rows that none does: on
    // PostgreSQL these are read together, and each must get its own row's answer.
    let again: Vec<i64> = (0..2 * ROWS)
        .map(|k| match k % 10 {
            3 => 3003,
            7 => 4999,
            _ => (k * 3) % ROWS + 5000,
        })
        .collect();
    let replies = pull_all_at_once(&app, &again).await;
    for (roll, r) in again.iter().zip(&replies) {
        match uri_of.get(roll) {
            Some(uri) => {
                assert_eq!((r.http, r.status()), (200, "1"), "roll {roll}");
                assert_eq!(r.detail("URI"), Some(uri.as_str()), "roll {roll}");
            }
            None => assert_eq!((r.http, r.status()), (200, "0"), "roll {roll}"),
        }
    }
    read_together_as_alone(&app.ws, &uri_of);
    drop_role(&app.ws);
}

/// Pull URI of these exam rolls of 2024, all at once.
async fn pull_all_at_once(app: &TestApp, rolls: &[i64]) -> Vec<Reply> {
    futures_util::future::join_all(rolls.iter().map(|roll| async move {
        let roll = roll.to_string();
        app.pull_uri(&[("ExamRoll", &roll), ("ExamYear", "2024")])
            .await
    }))
    .await
}

/// The department rows and links of many asks read at once (one statement per 32 on
/// PostgreSQL) are what each ask reads alone: found, two found, none, a value that
/// cannot match the integer column, the same ask twice; rows linked and not.
fn read_together_as_alone(ws: &Workspace, uri_of: &std::collections::HashMap<i64, String>) {
    use dlrepo::store::linked;
    let config = &ws.config;
    let pool = dlrepo::store::pool(&config.database).expect("pool");
    let tables = dlrepo::store::department::prepare_all(&config.doctypes, &config.database, &pool)
        .expect("tables");
    let table = &tables["RSLT"];
    assert_eq!(table.reads_together(), ws.backend == Backend::Postgres);
    let mut rolls: Vec<String> = (0..45)
        .map(|i| (5000 + (i * 11) % 40).to_string())
        .collect();
    rolls.extend(["3003", "3001", "30x1", "3001", "4999"].map(String::from));
    let asks: Vec<Vec<String>> = rolls
        .iter()
        .map(|r| vec![r.clone(), "2024".to_string()])
        .collect();
    let slices: Vec<&[String]> = asks.iter().map(Vec::as_slice).collect();
    let together = table.find_by_udfs_among(&slices).expect("read together");
    assert_eq!(together.len(), asks.len());
    let mut keys = Vec::new();
    for (ask, rows) in asks.iter().zip(&together) {
        let alone = table.find_by_udfs(ask).expect("read alone");
        let names = |rows: &[dlrepo::store::department::DeptRow]| {
            let mut n: Vec<_> = rows
                .iter()
                .map(|r| (r.row_key.clone(), r.holder_name.clone()))
                .collect();
            n.sort();
            n
        };
        assert_eq!(names(rows), names(&alone), "ask {ask:?}");
        keys.extend(rows.iter().map(|r| r.row_key.clone()));
    }
    assert!(together[0].len() == 1 && together[45].len() == 2 && together[47].is_empty());
    keys.push("no such key".into());
    let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
    let mut conn = dlrepo::store::establish(&config.database.url).expect("conn");
    // A signing server keeps the bytes it signed for a link: one of them has some.
    let signed = linked::linked_doc(&mut conn, "RSLT", keys[0])
        .expect("read")
        .expect("linked");
    let now = chrono::Utc::now().naive_utc();
    let kept_bytes = b"%PDF-1.4\n% signed on its first pull\n%%EOF\n";
    let made_from = signed.fingerprint.clone().expect("a digest");
    // Bytes made from another version of the row than the one recorded are not kept.
    let stale = b"%PDF-1.4\n% made from the row before its change\n%%EOF\n";
    let served = linked::keep_linked_blob(
        &mut conn,
        "RSLT",
        &signed.doc_id,
        "b3:older",
        stale,
        None,
        now,
    )
    .expect("not kept");
    assert_eq!(served, stale, "served once, as made");
    assert_eq!(
        linked::linked_blob(&mut conn, "RSLT", &signed.doc_id).expect("read"),
        None
    );
    linked::keep_linked_blob(
        &mut conn,
        "RSLT",
        &signed.doc_id,
        &made_from,
        kept_bytes,
        None,
        now,
    )
    .expect("kept");
    let links = linked::linked_docs_among(&mut conn, "RSLT", &keys, true).expect("together");
    let bare = linked::linked_docs_among(&mut conn, "RSLT", &keys, false).expect("bare");
    let mut linked_rows = 0;
    for ((key, link), bare) in keys.iter().zip(&links).zip(&bare) {
        let alone = linked::linked_doc(&mut conn, "RSLT", key).expect("link alone");
        assert_eq!(
            link.as_ref()
                .map(|l| (&l.doc.doc_id, &l.doc.status, &l.doc.fingerprint)),
            alone
                .as_ref()
                .map(|l| (&l.doc_id, &l.status, &l.fingerprint)),
            "{key}"
        );
        let kept_alone = match &alone {
            Some(l) => linked::linked_blob(&mut conn, "RSLT", &l.doc_id).expect("blob"),
            None => None,
        };
        assert_eq!(
            link.as_ref().and_then(|l| l.kept.clone()),
            kept_alone,
            "{key}"
        );
        assert!(
            bare.as_ref().is_none_or(|l| l.kept.is_none()),
            "not asked for"
        );
        linked_rows += usize::from(link.is_some());
    }
    assert_eq!(linked_rows, 45, "the rows pulled above are linked");
    assert_eq!(
        links[0].as_ref().and_then(|l| l.kept.as_deref()),
        Some(&kept_bytes[..])
    );

    // A key with a second, later link (one that lost a race, for the moment before
    // it is taken back), stored ahead of the first (a table clustered newest first):
    // both reads hand out the first.
    let first = links[1].as_ref().expect("linked").doc.doc_id.clone();
    let mut later = vec![format!(
        "INSERT INTO documents (doctype, doc_id, status, udf_key, created_at, updated_at) \
         VALUES ('RSLT', 'LATERLINK', 'revoked', '{}', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
        keys[1]
    )];
    if ws.backend == Backend::Postgres {
        later.extend(
            [
                "CREATE INDEX newest_first ON documents (id DESC)",
                "CLUSTER documents USING newest_first",
                "DROP INDEX newest_first",
                "ANALYZE documents",
            ]
            .map(String::from),
        );
    }
    for sql in &later {
        diesel::sql_query(sql).execute(&mut conn).expect(sql);
    }
    let two = linked::linked_docs_among(&mut conn, "RSLT", &keys[..2], false).expect("two");
    let alone = linked::linked_doc(&mut conn, "RSLT", keys[1]).expect("alone");
    assert_eq!(two[1].as_ref().map(|l| &l.doc.doc_id), Some(&first));
    assert_eq!(alone.map(|l| l.doc_id), Some(first));

    // Pull Doc's reads: links by DocId, rows by their key.
    let mut doc_ids: Vec<String> = links
        .iter()
        .flatten()
        .map(|l| l.doc.doc_id.clone())
        .collect();
    doc_ids.extend(["NOSUCH".to_string(), doc_ids[0].clone()]);
    let ids: Vec<&str> = doc_ids.iter().map(String::as_str).collect();
    let by_id = linked::linked_row_keys_among(&mut conn, "RSLT", &ids, true).expect("by DocId");
    assert_eq!(by_id.len(), ids.len());
    let mut row_keys = Vec::new();
    for (id, found) in ids.iter().zip(&by_id) {
        let alone = linked::linked_row_key(&mut conn, "RSLT", id).expect("alone");
        assert_eq!(
            found
                .as_ref()
                .map(|(k, l)| (k, &l.doc.doc_id, &l.doc.status, l.kept.is_some())),
            alone
                .as_ref()
                .map(|(k, l)| (k, &l.doc_id, &l.status, l.doc_id == signed.doc_id)),
            "{id}"
        );
        row_keys.extend(found.as_ref().map(|(k, _)| k.clone()));
    }
    assert_eq!(
        by_id.iter().flatten().count(),
        46,
        "all but the unknown DocId"
    );
    row_keys.extend(["999999".to_string(), "1\u{1f}2".to_string()]);
    let keys: Vec<&str> = row_keys.iter().map(String::as_str).collect();
    let rows = table.find_by_keys_among(&keys).expect("rows by key");
    for (key, row) in keys.iter().zip(&rows) {
        let alone = table.find_by_key(key).expect("alone");
        assert_eq!(
            row.as_ref().map(|r| (&r.row_key, &r.holder_name)),
            alone.as_ref().map(|r| (&r.row_key, &r.holder_name)),
            "{key}"
        );
    }
    assert_eq!(
        rows.iter().flatten().count(),
        46,
        "all but the two that match no row"
    );
    assert!(uri_of.len() == 40);
}

/// A signing server: PDF and XML-only pulls of the same row at once (on PostgreSQL read
/// together, the signed PDF kept for its link read only for those that serve it). Each
/// PDF answer is the one signed file kept since the first pull, each XML answer has the
/// certificate XML and no PDF.
async fn pdf_and_xml_pulls_at_once_each_get_their_own_answer(b: Backend) {
    let mut ws = Workspace::new(b);
    let url = department_table(&ws);
    ws.sign_with_new_key();
    ws.edit_config(|c| c + &source_block(url.as_deref(), "roll_no"));
    let app = spawn_on(ws).await;
    let ask = |format: &str| {
        let ts = dlrepo::auth::now_ts();
        format!(
            r#"<PullURIRequest xmlns="http://tempuri.org/" ver="3.0" ts="{ts}" txn="{}" orgId="{ORG}" keyhash="{}" format="{format}"><DocDetails><DocType>RSLT</DocType><ExamRoll>3002</ExamRoll><ExamYear>2024</ExamYear></DocDetails></PullURIRequest>"#,
            fresh_txn("mixed-"),
            signed(&ts)
        )
    };
    // Row 3002 has no PDF of the board's: its certificate is rendered and signed.
    let first = app.post("/pulluri", ask("pdf")).await;
    assert_eq!(first.status(), "1", "{:?}", first.root);
    let signed_once = first.doc_bytes();
    let formats: Vec<&str> = (0..24).map(|i| ["xml", "pdf", "both"][i % 3]).collect();
    let replies =
        futures_util::future::join_all(formats.iter().map(|f| app.post("/pulluri", ask(f)))).await;
    for (format, r) in formats.iter().zip(&replies) {
        assert_eq!((r.http, r.status()), (200, "1"), "{format}");
        assert_eq!(r.detail("URI"), first.detail("URI"), "{format}");
        match *format {
            "xml" => assert!(r.detail("DocContent").is_none(), "no PDF in an XML answer"),
            _ => assert_eq!(r.doc_bytes(), signed_once, "{format}: the kept signed file"),
        }
        if *format != "pdf" {
            assert!(
                r.detail("DataContent").is_some(),
                "{format}: certificate XML"
            );
        }
    }
    drop_role(&app.ws);
}
