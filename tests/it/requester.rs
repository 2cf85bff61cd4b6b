//! The requester side: a stand-in of DigiLocker's widget posts to the upload service
//! and serves the shared file over loopback HTTPS; every bad call is answered FAILURE
//! with nothing stored; Save to Locker links serve the document while they are good.
//! Both backends.

use std::time::Duration;

use crate::common::*;
use actix_web::{web, App, HttpResponse, HttpServer};
use diesel::prelude::*;
use dlrepo::store::schema::requester_documents;

backend_tests!(
    the_upload_service_stores_shared_documents_once_and_refuses_the_rest,
    save_to_locker_links_serve_the_document_while_good,
);

const APP_ID: &str = "in.gov.test.board.app";
const APP_KEY: &str = "requester-app-key-0123456789";
const SHARED: &[u8] = b"%PDF-1.4\n% a mark sheet the resident shared\n%%EOF\n";

/// DigiLocker's file host, over HTTPS on loopback: the shared file, a file too large,
/// a redirect to another port. Returns its port and the CA (its own certificate).
async fn file_host(ws: &Workspace, other_port: u16) -> u16 {
    let (cert, key) = self_signed_localhost();
    std::fs::write(ws.path("host.crt"), &cert).expect("cert");
    dlrepo::files::write_private(&ws.path("host.key"), &key).expect("key");
    let mut acceptor =
        openssl::ssl::SslAcceptor::mozilla_intermediate_v5(openssl::ssl::SslMethod::tls_server())
            .expect("acceptor");
    acceptor
        .set_certificate_chain_file(ws.path("host.crt"))
        .expect("chain");
    acceptor
        .set_private_key_file(ws.path("host.key"), openssl::ssl::SslFiletype::PEM)
        .expect("key");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let server = HttpServer::new(move || {
        App::new()
            .route(
                "/shared.pdf",
                web::get().to(|| async {
                    HttpResponse::Ok()
                        .content_type("application/pdf")
                        .body(SHARED)
                }),
            )
            .route(
                "/other.pdf",
                web::get()
                    .to(|| async { HttpResponse::Ok().body("%PDF-1.4\n% another one\n%%EOF\n") }),
            )
            .route(
                "/huge.pdf",
                web::get().to(|| async { HttpResponse::Ok().body(vec![b'%'; 200_000]) }),
            )
            .route(
                "/elsewhere",
                web::get().to(move || async move {
                    HttpResponse::Found()
                        .insert_header(("Location", format!("https://localhost:{other_port}/x")))
                        .finish()
                }),
            )
    })
    .workers(1)
    .listen_openssl(listener, acceptor)
    .expect("listen")
    .run();
    tokio::spawn(server);
    port
}

async fn requester_app(b: Backend) -> (TestApp, u16) {
    let mut ws = Workspace::new(b);
    let other = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let port = file_host(&ws, other).await;
    ws.edit_config(|c| {
        c + &format!(
            r#"
[requester]
app_id = "{APP_ID}"
app_key = "{APP_KEY}"
public_upload_url = "https://board.example/requester/upload"
allowed_hosts = ["localhost:{port}"]
ca_file = "host.crt"
max_bytes = 65536
"#
        )
    });
    let csv = ws.write("marks.csv", MARKS_CSV);
    ws.import("MARKS", &csv);
    (spawn_on(ws).await, port)
}

fn stored(ws: &Workspace) -> i64 {
    let mut conn = dlrepo::store::establish(&ws.config.database.url).expect("conn");
    requester_documents::table
        .count()
        .get_result(&mut conn)
        .expect("count")
}

async fn call(app: &TestApp, query: &str, form: &[(&str, &str)]) -> String {
    app.client
        .post(format!("{}/requester/upload?{query}", app.addr))
        .form(form)
        .timeout(Duration::from_secs(20))
        .send()
        .await
        .expect("call")
        .text()
        .await
        .expect("body")
}

fn signed_query(app_id: &str, key: &str, ts: i64) -> String {
    let ts = ts.to_string();
    format!(
        "app_id={app_id}&ts={ts}&hash={}",
        dlrepo::requester::app_hash(app_id, key, &ts)
    )
}

async fn the_upload_service_stores_shared_documents_once_and_refuses_the_rest(b: Backend) {
    let (app, port) = requester_app(b).await;
    let now = chrono::Utc::now().timestamp();
    let good = signed_query(APP_ID, APP_KEY, now);
    let url = format!("https://localhost:{port}/shared.pdf");
    let form = [
        ("user_ref", "applicant-42"),
        ("doc_id", "marksheet"),
        ("doc_url", url.as_str()),
    ];

    // The widget snippet the page embeds carries the same signed values.
    let snippet = app
        .client
        .get(format!("{}/requester/snippet?button=marksheet", app.addr))
        .send()
        .await
        .expect("snippet")
        .text()
        .await
        .expect("body");
    assert!(
        snippet.contains(&format!("data-app-id=\"{APP_ID}\"")),
        "{snippet}"
    );
    assert!(
        snippet.contains("id=\"marksheet\"")
            && snippet.contains("data-upload-url=\"https://board.example/requester/upload?app_id=")
    );

    assert_eq!(call(&app, &good, &form).await, "SUCCESS");
    assert_eq!(call(&app, &good, &form).await, "SUCCESS", "a repeated call");
    assert_eq!(stored(&app.ws), 1, "one copy per reference");
    let other = format!("https://localhost:{port}/other.pdf");
    let again = [
        ("user_ref", "applicant-42"),
        ("doc_id", "marksheet"),
        ("doc_url", other.as_str()),
    ];
    assert_eq!(
        call(&app, &good, &again).await,
        "FAILURE",
        "another document under a reference that holds one is not taken silently"
    );
    assert_eq!(stored(&app.ws), 1);
    let mut conn = dlrepo::store::establish(&app.ws.config.database.url).expect("conn");
    let content: Vec<u8> = requester_documents::table
        .select(requester_documents::content)
        .first(&mut conn)
        .expect("row");
    assert_eq!(content, SHARED);

    // Refused, each with FAILURE and nothing stored.
    let stale = signed_query(APP_ID, APP_KEY, now - 31 * 60);
    let other_port = port.wrapping_add(1);
    /// (what, the signed query, the form fields it changes)
    type Case<'a> = (&'a str, String, Vec<(&'a str, String)>);
    let refused: Vec<Case> = vec![
        (
            "bad app id",
            signed_query("someone.else", APP_KEY, now),
            vec![],
        ),
        (
            "wrong hash",
            format!("app_id={APP_ID}&ts={now}&hash=00ff"),
            vec![],
        ),
        ("stale timestamp", stale, vec![]),
        (
            "oversized file",
            good.clone(),
            vec![("doc_url", format!("https://localhost:{port}/huge.pdf"))],
        ),
        (
            "not https",
            good.clone(),
            vec![("doc_url", format!("http://localhost:{port}/shared.pdf"))],
        ),
        (
            "an IP literal",
            good.clone(),
            vec![("doc_url", format!("https://127.0.0.1:{port}/shared.pdf"))],
        ),
        (
            "another port of 127.0.0.1",
            good.clone(),
            vec![(
                "doc_url",
                format!("https://localhost:{other_port}/shared.pdf"),
            )],
        ),
        (
            "a host not allowed",
            good.clone(),
            vec![("doc_url", "https://example.com/shared.pdf".to_string())],
        ),
        (
            "a redirect elsewhere",
            good.clone(),
            vec![("doc_url", format!("https://localhost:{port}/elsewhere"))],
        ),
        ("no doc_url", good.clone(), vec![("doc_url", String::new())]),
    ];
    for (what, query, overrides) in refused {
        let mut f: Vec<(&str, String)> = vec![
            ("user_ref", format!("ref-{what}")),
            ("doc_id", "marksheet".into()),
            ("doc_url", url.clone()),
        ];
        for (k, v) in overrides {
            f.retain(|(fk, _)| *fk != k);
            f.push((k, v));
        }
        let form: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
        assert_eq!(call(&app, &query, &form).await, "FAILURE", "{what}");
        assert_eq!(stored(&app.ws), 1, "{what}: nothing stored");
    }

    // JSON bodies are read too; `dlrepo requester list` shows what came.
    let r = app
        .client
        .post(format!("{}/requester/upload?{good}", app.addr))
        .header("Content-Type", "application/json")
        .body(
            serde_json::json!({"user_ref": "applicant-43", "doc_id": "poi", "doc_url": url})
                .to_string(),
        )
        .send()
        .await
        .expect("call")
        .text()
        .await
        .expect("body");
    assert_eq!(r, "SUCCESS");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_dlrepo"))
        .arg("--config")
        .arg(&app.ws.config_path)
        .args(["requester", "list"])
        .output()
        .expect("list");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("user_ref=applicant-42") && text.contains("user_ref=applicant-43"),
        "{text}"
    );
}

async fn save_to_locker_links_serve_the_document_while_good(b: Backend) {
    let (app, _) = requester_app(b).await;
    let r = app
        .pull_uri(&[("RollNo", "1234567"), ("Year", "2020")])
        .await;
    let uri = r.detail("URI").expect("uri").to_string();
    let pdf = r.doc_bytes();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_dlrepo"))
        .arg("--config")
        .arg(&app.ws.config_path)
        .args(["save-to-locker", "snippet", &uri])
        .output()
        .expect("snippet");
    let snippet = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{snippet}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        snippet.contains("class=\"locker-saver\"") && snippet.contains("savelocker.js"),
        "{snippet}"
    );
    let href = snippet
        .split("href=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("href");
    assert!(
        href.starts_with("https://board.example/savelocker/"),
        "{href}"
    );
    let path = href.trim_start_matches("https://board.example");
    let got = app
        .client
        .get(format!("{}{path}", app.addr))
        .send()
        .await
        .expect("get");
    assert_eq!(got.status().as_u16(), 200);
    assert_eq!(got.bytes().await.expect("bytes").to_vec(), pdf);
    // A changed or expired link serves nothing.
    let tampered = path.replace("MARKS", "DIPLM");
    let expired = format!(
        "/savelocker/{}",
        dlrepo::requester::link_token(APP_KEY, &uri, chrono::Utc::now().timestamp() - 1)
    );
    for p in [tampered, expired] {
        let r = app
            .client
            .get(format!("{}{p}", app.addr))
            .send()
            .await
            .expect("get");
        assert_eq!(r.status().as_u16(), 404, "{p}");
        assert_eq!(r.text().await.expect("body"), "FAILURE");
    }
}
