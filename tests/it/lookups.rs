//! Pull URI lookups answered together: under load the server looks up the documents of
//! many waiting requests in one query. Each request must still get its own document.

use crate::common::*;

backend_tests!(
    a_lookup_of_many_keys_answers_each_key_as_a_lookup_of_one,
    concurrent_pulls_each_get_their_own_document,
    a_request_sent_many_times_at_once_is_answered_once,
    a_request_that_fails_on_our_side_is_forgotten_so_its_retry_gets_through,
);
use dlrepo::store::{self, documents};
use futures_util::future::join_all;

const PEOPLE: u32 = 40;

/// `PEOPLE` mark sheets, each rendered for its own holder (so each PDF differs).
fn workspace_of_many(b: Backend) -> Workspace {
    let ws = Workspace::new(b);
    let mut csv = String::from("RollNo,Year,holder_name,doc_name,issued_on\n");
    for i in 0..PEOPLE {
        csv.push_str(&format!(
            "{},2020,Person {i},Mark Sheet 2020,15/05/2020\n",
            roll(i)
        ));
    }
    let path = ws.write("many.csv", &csv);
    let report = ws.import("MARKS", &path);
    assert_eq!(report.imported, u64::from(PEOPLE), "{:?}", report.rejected);
    ws
}

fn roll(i: u32) -> String {
    (2_000_000 + i).to_string()
}

async fn a_lookup_of_many_keys_answers_each_key_as_a_lookup_of_one(b: Backend) {
    let ws = workspace_of_many(b);
    let mut conn = store::establish(&ws.config.database.url).expect("connect");
    // Known keys, a key asked twice, unknown keys, in every batch size a server uses
    // (PostgreSQL prepares one statement per size bucket and pads the last one).
    let mut keys: Vec<String> = Vec::new();
    for i in 0..PEOPLE {
        keys.push(documents::udf_key(&[roll(i), "2020".into()]));
        if i % 7 == 0 {
            keys.push(documents::udf_key(&[roll(i), "2020".into()]));
            keys.push(documents::udf_key(&[roll(i + 500), "2020".into()]));
        }
    }
    for n in [1, 2, 3, 4, 5, 8, 9, 16, 17, 32, 33, keys.len()] {
        for window in keys.chunks(n) {
            let asked: Vec<&str> = window.iter().map(String::as_str).collect();
            let many =
                documents::find_by_udfs_among(&mut conn, "MARKS", &asked).expect("lookup of many");
            assert_eq!(many.len(), asked.len(), "one answer per key asked");
            for (key, answer) in asked.iter().zip(many) {
                let one = documents::find_by_udfs(&mut conn, "MARKS", key).expect("lookup");
                assert_eq!(answer, one, "batch of {n}, key {key:?}");
            }
        }
    }
    // The same by DocId (Pull Doc): the people's DocIds and unknown ones.
    let mut doc_ids: Vec<String> = Vec::new();
    for i in 0..PEOPLE {
        let key = documents::udf_key(&[roll(i), "2020".into()]);
        match documents::find_by_udfs(&mut conn, "MARKS", &key).expect("lookup") {
            documents::Lookup::Found(r) => doc_ids.push(r.doc_id),
            other => panic!("person {i}: {other:?}"),
        }
        if i % 5 == 0 {
            doc_ids.push(format!("NO-SUCH-{i}"));
            doc_ids.push(doc_ids[doc_ids.len() - 2].clone());
        }
    }
    for n in [1, 2, 3, 4, 5, 8, 9, 16, 17, 32, 33, doc_ids.len()] {
        for window in doc_ids.chunks(n) {
            let asked: Vec<&str> = window.iter().map(String::as_str).collect();
            let many = documents::find_by_doc_ids_among(&mut conn, "MARKS", &asked)
                .expect("lookup of many");
            assert_eq!(many.len(), asked.len(), "one answer per DocId asked");
            for (id, answer) in asked.iter().zip(many) {
                let one = documents::find_by_doc_id(&mut conn, "MARKS", id)
                    .expect("lookup")
                    .map_or(documents::Lookup::NotFound, |r| {
                        documents::Lookup::Found(Box::new(r))
                    });
                assert_eq!(answer, one, "batch of {n}, DocId {id:?}");
            }
        }
    }
    // And the doc type is part of the lookup: the same key under another is not found.
    let key = documents::udf_key(&[roll(1), "2020".into()]);
    let other =
        documents::find_by_udfs_among(&mut conn, "DIPLM", &[&key, &key, &key]).expect("lookup");
    assert!(other.iter().all(|l| *l == documents::Lookup::NotFound));
    let id = doc_ids[0].as_str();
    let other = documents::find_by_doc_ids_among(&mut conn, "DIPLM", &[id, id]).expect("lookup");
    assert!(other.iter().all(|l| *l == documents::Lookup::NotFound));
}

async fn concurrent_pulls_each_get_their_own_document(b: Backend) {
    let ws = workspace_of_many(b);
    let app = spawn_on(ws).await;
    // Each person's document, asked alone.
    let mut alone = Vec::new();
    for i in 0..PEOPLE {
        let r = app
            .pull_uri(&[("RollNo", &roll(i)), ("Year", "2020")])
            .await;
        assert_eq!(r.status(), "1");
        alone.push((r.detail("URI").expect("URI").to_string(), r.doc_bytes()));
    }
    let uris: std::collections::HashSet<&String> = alone.iter().map(|(u, _)| u).collect();
    assert_eq!(uris.len(), PEOPLE as usize, "a DocId each");

    // Then all at once, three times each and in another order, with unknown people
    // among them: far more than the server looks up at a time, so they wait together.
    let asked: Vec<u32> = (0..3 * PEOPLE)
        .map(|k| (k * 17) % PEOPLE)
        .chain(1000..1020)
        .collect();
    let replies = join_all(asked.iter().map(|&i| {
        let roll = roll(i);
        let app = &app;
        async move { app.pull_uri(&[("RollNo", &roll), ("Year", "2020")]).await }
    }))
    .await;
    for (&i, r) in asked.iter().zip(&replies) {
        assert_eq!(r.http, 200);
        match alone.get(i as usize) {
            Some((uri, pdf)) => {
                assert_eq!(r.status(), "1", "person {i}");
                assert_eq!(r.detail("URI"), Some(uri.as_str()), "person {i}");
                assert!(r.doc_bytes() == *pdf, "person {i} got another PDF");
            }
            None => {
                assert_eq!(r.status(), "0", "unknown person {i}");
                assert_eq!(r.detail("DocContent"), None);
            }
        }
    }

    // Pull Doc the same way: every URI three times at once, and unknown DocIds.
    let unknown = format!("{ISSUER}-MARKS-NOSUCHDOC");
    let asked: Vec<Option<usize>> = (0..3 * alone.len())
        .map(|k| Some((k * 13) % alone.len()))
        .chain((0..10).map(|_| None))
        .collect();
    let replies = join_all(asked.iter().map(|&i| {
        let uri = i.map_or(unknown.clone(), |i| alone[i].0.clone());
        let app = &app;
        async move { app.pull_doc(&uri).await }
    }))
    .await;
    for (&i, r) in asked.iter().zip(&replies) {
        assert_eq!(r.http, 200);
        match i {
            Some(i) => {
                assert_eq!(r.status(), "1", "URI of person {i}");
                assert!(r.doc_bytes() == alone[i].1, "person {i} got another PDF");
            }
            None => assert_eq!(r.status(), "0", "unknown DocId"),
        }
    }
}

/// Replays are refused (the default): the batch records its requests in one write, and
/// copies of one request within a batch, or across batches, must not all get through.
async fn a_request_sent_many_times_at_once_is_answered_once(b: Backend) {
    let ws = workspace_of_many(b);
    let app = spawn_on(ws).await;
    let bodies: Vec<String> = (0..PEOPLE)
        .map(|i| pull_uri_body(&[("RollNo", &roll(i)), ("Year", "2020")]))
        .collect();
    // Each request five times, all at once.
    let sent: Vec<usize> = (0..5 * bodies.len()).map(|k| k % bodies.len()).collect();
    let replies = join_all(sent.iter().map(|&i| {
        let (app, body) = (&app, bodies[i].clone());
        async move { app.post("/pulluri", body).await }
    }))
    .await;
    let mut answered = vec![0; bodies.len()];
    for (&i, r) in sent.iter().zip(&replies) {
        assert_eq!(r.http, 200);
        match r.status() {
            "1" => answered[i] += 1,
            "0" => assert_eq!(r.detail("DocContent"), None),
            other => panic!("status {other}"),
        }
    }
    assert!(
        answered.iter().all(|&n| n == 1),
        "each request answered exactly once: {answered:?}"
    );
}

/// A request recorded in the replay memory whose lookup then fails on our side (here:
/// the blobs table is renamed away under the server, so the query fails) answers 5xx
/// and is forgotten again: DigiLocker's retry of the same request gets its document.
async fn a_request_that_fails_on_our_side_is_forgotten_so_its_retry_gets_through(b: Backend) {
    use diesel::RunQueryDsl;
    let ws = workspace_of_many(b);
    let url = ws.config.database.url.clone();
    let app = spawn_on(ws).await;
    let uri = app
        .pull_uri(&[("RollNo", &roll(3)), ("Year", "2020")])
        .await
        .detail("URI")
        .expect("URI")
        .to_string();
    let by_search = pull_uri_body(&[("RollNo", &roll(4)), ("Year", "2020")]);
    let by_uri = pull_doc_body(&uri);

    let mut admin = store::establish(&url).expect("connect");
    diesel::sql_query("ALTER TABLE blobs RENAME TO blobs_away")
        .execute(&mut admin)
        .expect("rename");
    for (path, body) in [("/pulluri", &by_search), ("/pulldoc", &by_uri)] {
        let failed = app.post(path, body.clone()).await;
        assert!(failed.http >= 500, "{path}: HTTP {}", failed.http);
        assert_eq!(failed.status(), "0");
    }
    diesel::sql_query("ALTER TABLE blobs_away RENAME TO blobs")
        .execute(&mut admin)
        .expect("rename back");
    for (path, body) in [("/pulluri", &by_search), ("/pulldoc", &by_uri)] {
        let retry = app.post(path, body.clone()).await;
        assert_eq!(
            (retry.http, retry.status()),
            (200, "1"),
            "{path}: the retry"
        );
        assert!(retry.doc_bytes().starts_with(b"%PDF-"));
        // Answered now: the same request again is a replay.
        let again = app.post(path, body.clone()).await;
        assert_eq!((again.http, again.status()), (200, "0"), "{path}: replayed");
    }
}
