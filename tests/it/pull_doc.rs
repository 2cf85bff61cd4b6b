//! Pull Doc over real HTTP.

use crate::common::*;

backend_tests!(
    pull_doc_serves_what_pull_uri_named,
    unknown_or_foreign_uris_answer_status_0,
    a_reserved_doc_id_is_not_a_document,
    a_pull_uri_request_is_not_a_pull_doc_request,
);

async fn pull_doc_serves_what_pull_uri_named(b: Backend) {
    let app = spawn_app(b).await;
    let found = app
        .pull_uri(&[("RollNo", "1234567"), ("Year", "2020")])
        .await;
    let uri = found.detail("URI").expect("uri").to_string();
    let r = app.pull_doc(&uri).await;
    assert_eq!((r.http, r.status()), (200, "1"));
    assert_eq!(r.root.name, "PullDocResponse");
    let st = r.root.child("ResponseStatus").expect("status");
    assert!(
        st.attr("txn").is_some_and(|t| t.starts_with("txn-2-")),
        "the request's txn is echoed"
    );
    assert_eq!(r.doc_bytes(), found.doc_bytes());
    // IssuerIds are case-insensitive.
    let upper = uri.replace(ISSUER, &ISSUER.to_uppercase());
    assert_eq!(app.pull_doc(&upper).await.status(), "1");
}

async fn unknown_or_foreign_uris_answer_status_0(b: Backend) {
    let app = spawn_app(b).await;
    for uri in [
        format!("{ISSUER}-MARKS-ZZZZZ"),
        format!("{ISSUER}-OTHER-ABCDE"),
        "in.gov.other.board-MARKS-ABCDE".to_string(),
        "testt.in.gov.kerala.edistrict-A001116301471-420".to_string(),
        "not a uri".to_string(),
        String::new(),
    ] {
        let r = app.pull_doc(&uri).await;
        assert_eq!((r.http, r.status()), (200, "0"), "{uri}");
        assert_eq!(r.detail("DocContent"), None);
    }
}

async fn a_reserved_doc_id_is_not_a_document(b: Backend) {
    let app = spawn_app(b).await;
    let dt = app.ws.config.doctype("MARKS").expect("doctype");
    let mut conn = dlrepo::store::establish(&app.ws.config.database.url).expect("conn");
    let ids = dlrepo::store::documents::reserve(
        &mut conn,
        "MARKS",
        &dt.id_space,
        1,
        chrono::Utc::now().naive_utc(),
    )
    .expect("reserve");
    let r = app.pull_doc(&format!("{ISSUER}-MARKS-{}", ids[0])).await;
    assert_eq!(r.status(), "0");
}

async fn a_pull_uri_request_is_not_a_pull_doc_request(b: Backend) {
    let app = spawn_app(b).await;
    let r = app
        .post(
            "/pulldoc",
            pull_uri_body(&[("RollNo", "1234567"), ("Year", "2020")]),
        )
        .await;
    assert_eq!((r.http, r.status()), (400, "0"));
    assert_eq!(r.root.name, "PullDocResponse");
}
