//! `dlrepo conformance` against dlrepo itself (every check passes, both backends) and
//! against issuers made to get one thing wrong each, as the partner FAQ lists them:
//! exactly the matching checks fail, with the matching diagnosis, and the rest still run.

use std::collections::{BTreeSet, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::common::*;
use actix_web::{web, App, HttpResponse, HttpServer};
use dlrepo::conformance::{self, Outcome, Selection, Target};
use dlrepo::wire::pull::{PullUriRequest, PullUriResponse, ResponseFormat, Status};

backend_tests!(every_check_passes_against_dlrepo);

async fn every_check_passes_against_dlrepo(b: Backend) {
    let mut ws = Workspace::new(b);
    ws.sign_with_new_key();
    let csv = ws.write("marks.csv", MARKS_CSV);
    ws.import("MARKS", &csv);
    let app = spawn_on(ws).await;
    let junit = app.ws.path("conformance.xml");
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_dlrepo"))
        .args(["conformance", "--pull-uri"])
        .arg(format!("{}/pulluri", app.addr))
        .arg("--pull-doc")
        .arg(format!("{}/pulldoc", app.addr))
        .args(["--org-id", ORG, "--key", API_KEY, "--doctype", "MARKS"])
        .args(["--udf", "RollNo=1234567", "--udf", "Year=2020"])
        .args(["--full-name", "Asha Rao", "--trust"])
        .arg(app.ws.path("keys/ca.crt"))
        .arg("--junit")
        .arg(&junit)
        .output()
        .await
        .expect("conformance");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("17 checks: 17 passed, 0 required failed"),
        "{text}"
    );
    let report = dlrepo::wire::xml::parse(&std::fs::read(&junit).expect("junit")).expect("xml");
    assert_eq!(report.attr("tests"), Some("17"));
    assert_eq!(report.attr("failures"), Some("0"));

    // A wrong key given to the tool: its own good requests fail, and it says why.
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_dlrepo"))
        .args(["conformance", "--pull-uri"])
        .arg(format!("{}/pulluri", app.addr))
        .args([
            "--org-id",
            ORG,
            "--key",
            "some-other-key",
            "--doctype",
            "MARKS",
        ])
        .args([
            "--udf",
            "RollNo=1234567",
            "--udf",
            "Year=2020",
            "--only",
            "pull-uri/1.0",
        ])
        .output()
        .await
        .expect("conformance");
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("FAIL  pull-uri/1.0") && text.contains("API key"),
        "{text}"
    );
}

/// One of the FAQ's mistakes, made on purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    ReversedKeyhash,
    NoAuth,
    NoTxnEcho,
    UnsignedPdf,
    PrefixOnlyNamespace,
    NoTsWindow,
}

struct Fake {
    fault: Fault,
    seen: Mutex<HashSet<String>>,
    signed: Vec<u8>,
    unsigned: Vec<u8>,
    xml: Vec<u8>,
}

const FAKE_URI: &str = "in.gov.fake.board-MARKS-ABC234";

fn sha_hex(s: &str) -> String {
    use sha2::{Digest, Sha256};
    dlrepo::auth::to_hex(&Sha256::digest(s.as_bytes()))
}

async fn fake_pull_uri(
    fake: web::Data<Fake>,
    req: actix_web::HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let fail = |code: u16, r: Option<&PullUriRequest>| {
        let body = PullUriResponse {
            status: Status::Failure,
            ts: r.map_or("", |r| &r.header.ts),
            txn: r.map_or("", |r| &r.header.txn),
            echo: &[],
            udfs: &[],
            issued_to: None,
            uri: None,
            doc_content: None,
            data_content: None,
        }
        .to_xml();
        HttpResponse::build(actix_web::http::StatusCode::from_u16(code).expect("code"))
            .content_type("application/xml")
            .body(body)
    };
    let text = String::from_utf8_lossy(&body);
    if fake.fault == Fault::PrefixOnlyNamespace && !text.contains("xmlns:ns2=") {
        return fail(400, None);
    }
    let Ok(r) = PullUriRequest::from_xml(&body) else {
        return fail(400, None);
    };
    let h = &r.header;
    let authentic = match fake.fault {
        Fault::NoAuth => true,
        Fault::ReversedKeyhash => h.keyhash == sha_hex(&format!("{}{API_KEY}", h.ts)),
        _ => h.keyhash == dlrepo::auth::keyhash(API_KEY, &h.ts),
    };
    let fresh = matches!(fake.fault, Fault::NoAuth | Fault::NoTsWindow)
        || dlrepo::auth::parse_ts(&h.ts).is_ok_and(|t| {
            (chrono::Utc::now() - t.with_timezone(&chrono::Utc))
                .num_minutes()
                .abs()
                <= 30
        });
    let hmac_ok = fake.fault == Fault::NoAuth
        || dlrepo::auth::verify_hmac(
            req.headers()
                .get("x-digilocker-hmac")
                .and_then(|v| v.to_str().ok()),
            &body,
            API_KEY,
            &[
                dlrepo::auth::HmacEncoding::Raw,
                dlrepo::auth::HmacEncoding::Hex,
            ],
            false,
        )
        .is_ok();
    let first_time =
        fake.fault == Fault::NoAuth || fake.seen.lock().expect("lock").insert(h.txn.clone());
    let value = |n: &str| r.udfs.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str());
    let found = value("RollNo") == Some("1234567") && value("Year") == Some("2020");
    if !(authentic && fresh && hmac_ok && first_time && found) {
        return fail(200, Some(&r));
    }
    let echo = if r.format_sent {
        vec![("DocType".to_string(), "MARKS".to_string())]
    } else {
        Vec::new()
    };
    let pdf = if fake.fault == Fault::UnsignedPdf {
        &fake.unsigned
    } else {
        &fake.signed
    };
    let wants_pdf = r.format != ResponseFormat::Xml;
    let wants_xml = r.format != ResponseFormat::Pdf;
    let body = PullUriResponse {
        status: Status::Success,
        ts: &h.ts,
        txn: if fake.fault == Fault::NoTxnEcho {
            "1"
        } else {
            &h.txn
        },
        echo: &echo,
        udfs: &r.udfs,
        issued_to: None,
        uri: Some(FAKE_URI),
        doc_content: wants_pdf.then_some(pdf.as_slice()),
        data_content: wants_xml.then_some(fake.xml.as_slice()),
    }
    .to_xml();
    HttpResponse::Ok()
        .content_type("application/xml")
        .body(body)
}

struct Lab {
    _dir: tempfile::TempDir,
    signed: Vec<u8>,
    unsigned: Vec<u8>,
    xml: Vec<u8>,
    ca: openssl::x509::X509,
}

fn lab() -> Lab {
    let dir = tempfile::tempdir().expect("tmp");
    let keys = dir.path().join("keys");
    dlrepo::docs::keygen::generate(&keys, dlrepo::docs::keygen::Algorithm::Ec, 30, None)
        .expect("keys");
    let key = dlrepo::docs::keys::SigningKey::load(&dlrepo::docs::keys::KeySource {
        key: Some(&keys.join("signer.key")),
        chain: Some(&keys.join("signer-chain.pem")),
        pkcs12: None,
        pkcs12_password: None,
        allow_expired: false,
    })
    .expect("key");
    let unsigned = dlrepo::docs::render::plain_certificate(
        "Fake Board",
        "Mark Sheet",
        &[("RollNo", "1234567")],
        FAKE_URI,
    )
    .expect("pdf");
    let signed = dlrepo::issuing::seal(unsigned.clone(), Some(&key))
        .expect("sign")
        .bytes
        .to_vec();
    let xml = dlrepo::docs::xmldsig::sign_enveloped(
        r#"<Certificate name="Mark Sheet" number="ABC234" type="MARKS"><IssuedTo><Person name="Asha Rao"></Person></IssuedTo></Certificate>"#,
        &key,
    )
    .expect("xml")
    .into_bytes();
    let ca = openssl::x509::X509::from_pem(&std::fs::read(keys.join("ca.crt")).expect("ca"))
        .expect("pem");
    Lab {
        _dir: dir,
        signed,
        unsigned,
        xml,
        ca,
    }
}

async fn against(lab: &Lab, fault: Fault) -> Vec<conformance::CheckResult> {
    let fake = web::Data::new(Fake {
        fault,
        seen: Mutex::new(HashSet::new()),
        signed: lab.signed.clone(),
        unsigned: lab.unsigned.clone(),
        xml: lab.xml.clone(),
    });
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = HttpServer::new(move || {
        App::new()
            .app_data(fake.clone())
            .route("/pulluri", web::post().to(fake_pull_uri))
    })
    .workers(1)
    .listen(listener)
    .expect("listen")
    .run();
    let handle = server.handle();
    tokio::spawn(server);
    let target = Target {
        pull_uri: format!("http://{addr}/pulluri"),
        pull_doc: None,
        org_id: ORG.into(),
        api_key: API_KEY.into(),
        doctype: "MARKS".into(),
        udfs: vec![
            ("RollNo".into(), "1234567".into()),
            ("Year".into(), "2020".into()),
        ],
        expect_uri: None,
        full_name: None,
        dob: None,
        trust: vec![lab.ca.clone()],
        timeout: Duration::from_secs(5),
    };
    let results = tokio::task::spawn_blocking(move || {
        conformance::run(&target, &Selection::default()).expect("run")
    })
    .await
    .expect("join");
    handle.stop(false).await;
    results
}

fn failed(results: &[conformance::CheckResult]) -> BTreeSet<String> {
    results
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Fail(_)))
        .map(|r| r.name.clone())
        .collect()
}

fn diagnosis<'r>(results: &'r [conformance::CheckResult], name: &str) -> &'r str {
    match &results
        .iter()
        .find(|r| r.name == name)
        .expect("check")
        .outcome
    {
        Outcome::Fail(why) => why,
        other => panic!("{name} did not fail: {other:?}"),
    }
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

const CURRENT: [&str; 5] = [
    "pull-uri/current/default-ns/pdf",
    "pull-uri/current/default-ns/xml",
    "pull-uri/current/default-ns/both",
    "pull-uri/current/schema-ns/pdf",
    "pull-uri/current/schema-ns/both",
];

#[tokio::test]
async fn each_mistake_of_the_faq_fails_its_own_check_with_its_diagnosis() {
    let lab = Arc::new(lab());

    let r = against(&lab, Fault::ReversedKeyhash).await;
    assert_eq!(r.len(), 17, "every check runs");
    let mut want = set(&CURRENT);
    want.extend(set(&["pull-uri/1.0", "hmac/accepted"]));
    assert_eq!(failed(&r), want);
    assert!(diagnosis(&r, "pull-uri/1.0").contains("order reversed"));

    let r = against(&lab, Fault::NoAuth).await;
    assert_eq!(
        failed(&r),
        set(&[
            "hmac/wrong-refused",
            "refuse/wrong-key",
            "refuse/stale-ts",
            "refuse/future-ts",
            "refuse/replayed-txn",
        ])
    );
    assert!(diagnosis(&r, "refuse/wrong-key").contains("authentication is not checked"));
    assert!(diagnosis(&r, "hmac/wrong-refused").contains("HMAC is not checked"));

    let r = against(&lab, Fault::NoTxnEcho).await;
    let mut want = set(&CURRENT);
    want.insert("pull-uri/1.0".into());
    assert_eq!(failed(&r), want);
    assert!(diagnosis(&r, "pull-uri/1.0").contains("does not echo txn"));

    let r = against(&lab, Fault::UnsignedPdf).await;
    assert_eq!(
        failed(&r),
        set(&[
            "pull-uri/1.0",
            "pull-uri/current/default-ns/pdf",
            "pull-uri/current/default-ns/both",
            "pull-uri/current/schema-ns/pdf",
            "pull-uri/current/schema-ns/both",
        ])
    );
    assert!(diagnosis(&r, "pull-uri/1.0").contains("signature on the PDF is invalid or missing"));

    let r = against(&lab, Fault::PrefixOnlyNamespace).await;
    let mut want = set(&CURRENT);
    want.insert("hmac/accepted".into());
    assert_eq!(failed(&r), want);
    assert!(diagnosis(&r, "pull-uri/current/default-ns/pdf").contains("match element local names"));

    let r = against(&lab, Fault::NoTsWindow).await;
    assert_eq!(failed(&r), set(&["refuse/stale-ts", "refuse/future-ts"]));
    assert!(diagnosis(&r, "refuse/stale-ts").contains("ts window is not checked"));
}
