//! The current issuer API (v1.13 / API Setu 3.0) over real HTTP, on both backends:
//! every namespace, version and format; the echo, IssuedTo and DataContent; the signed
//! certificate XML judged by xmlsec1; the HMAC header; resident matching.

use std::process::Command;

use crate::common::*;
use base64::Engine;
use dlrepo::auth::{self, HmacEncoding};
use dlrepo::wire::build;
use dlrepo::wire::xml::{self, Element};

backend_tests!(
    every_namespace_version_and_format_answers_from_the_same_data,
    a_one_point_zero_request_gets_exactly_the_one_point_zero_answer,
    data_content_is_signed_once_and_xmlsec1_accepts_it,
    the_hmac_header_in_both_encodings_and_a_changed_byte,
    the_resident_must_be_the_holder,
    certificate_fields_come_from_the_doc_types_mapping,
    default_format_and_pull_doc_in_the_current_form,
    a_record_without_its_document_is_pending_until_it_comes,
    dlrepo_curl_prints_a_current_request_that_is_answered,
);

const HOLDERS_CSV: &str = "RollNo,Year,holder_name,dob,gender,phone,doc_name,issued_on\n\
1234567,2020,Asha Rao,02/01/2005,F,9876543210,Mark Sheet 2020,15/05/2020\n\
7654321,2021,Ravi Kumar Sharma,,M,,Mark Sheet 2021,16/05/2021\n";

/// A workspace with a signing key and the holders above.
async fn app_with(b: Backend, extra_config: &str) -> TestApp {
    let mut ws = Workspace::new(b);
    dlrepo::docs::keygen::generate(
        &ws.path("certs"),
        dlrepo::docs::keygen::Algorithm::Rsa,
        30,
        None,
    )
    .expect("keygen");
    ws.edit_config(|c| {
        let c = c.replace(
            "ts_window_minutes = 30\n",
            &format!("ts_window_minutes = 30\n{extra_config}"),
        );
        c + "\n[signing]\nkey = \"certs/signer.key\"\nchain = \"certs/signer-chain.pem\"\n"
    });
    let csv = ws.write("holders.csv", HOLDERS_CSV);
    let report = ws.import("MARKS", &csv);
    assert_eq!(report.imported, 2, "{:?}", report.rejected);
    spawn_on(ws).await
}

/// A current-API request, namespace and version as given.
/// A current-API request, namespace and version as given, with a fresh txn.
fn current_request(ns: &str, ver: &str, format: Option<&str>, details: &str) -> String {
    current_request_txn(&fresh_txn("t-"), ns, ver, format, details)
}

fn current_request_txn(
    txn: &str,
    ns: &str,
    ver: &str,
    format: Option<&str>,
    details: &str,
) -> String {
    let ts = auth::now_ts();
    let format = format.map_or(String::new(), |f| format!(" format=\"{f}\""));
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><PullURIRequest {ns} ver="{ver}" ts="{ts}" txn="{txn}" orgId="{ORG}" keyhash="{}"{format}><DocDetails>{details}</DocDetails></PullURIRequest>"#,
        signed(&ts)
    )
}

const ASHA: &str = "<DocType>MARKS</DocType><DigiLockerId>123e4567-e89b-12d3-a456-426614174000</DigiLockerId><FullName>Asha Rao</FullName><DOB>02-01-2005</DOB><RollNo>1234567</RollNo><Year>2020</Year>";

fn children(reply: &Reply) -> Vec<String> {
    reply
        .root
        .child("DocDetails")
        .expect("DocDetails")
        .children
        .iter()
        .map(|c| c.name.clone())
        .collect()
}

fn data_content(reply: &Reply) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(reply.detail("DataContent").expect("DataContent"))
        .expect("base64")
}

async fn post_with(app: &TestApp, path: &str, body: &str, hmac: Option<&str>) -> Reply {
    let mut req = app
        .client
        .post(format!("{}{}", app.addr, path))
        .header("Content-Type", "application/xml")
        .body(body.to_string());
    if let Some(h) = hmac {
        req = req.header("x-digilocker-hmac", h);
    }
    let resp = req.send().await.expect("request");
    let http = resp.status().as_u16();
    let text = resp.text().await.expect("body");
    let root = xml::parse(text.as_bytes()).unwrap_or_else(|e| panic!("not XML ({e}): {text}"));
    Reply { http, root }
}

async fn every_namespace_version_and_format_answers_from_the_same_data(b: Backend) {
    let app = app_with(b, "").await;
    let plain = app
        .pull_uri(&[("RollNo", "1234567"), ("Year", "2020")])
        .await;
    assert_eq!(plain.status(), "1");
    let uri = plain.detail("URI").expect("uri").to_string();
    let pdf = plain.doc_bytes();
    for ns in [
        r#"xmlns="http://tempuri.org/""#,
        r#"xmlns:ns2="http://tempuri.org/""#,
        r#"xmlns="https://www.digitallocker.gov.in/schema/issuer/v1/pullurirequest""#,
    ] {
        for ver in ["1.0", "2.0", "3.0"] {
            for format in [None, Some("pdf"), Some("xml"), Some("both")] {
                let txn = fresh_txn("t-42-");
                let body = current_request_txn(&txn, ns, ver, format, ASHA);
                let r = app.post("/pulluri", body).await;
                let what = format!("{ns} ver={ver} format={format:?}");
                assert_eq!((r.http, r.status()), (200, "1"), "{what}");
                let st = r.root.child("ResponseStatus").expect("status");
                assert_eq!(st.attr("txn"), Some(txn.as_str()));
                let mut expected: Vec<&str> = vec![
                    "DocType",
                    "DigiLockerId",
                    "FullName",
                    "DOB",
                    "RollNo",
                    "Year",
                    "IssuedTo",
                    "URI",
                ];
                let wants_pdf = format != Some("xml");
                let wants_xml = matches!(format, Some("xml" | "both"));
                if wants_pdf {
                    expected.push("DocContent");
                }
                if wants_xml {
                    expected.push("DataContent");
                }
                assert_eq!(children(&r), expected, "{what}");
                assert_eq!(r.detail("DocType"), Some("MARKS"));
                assert_eq!(
                    r.detail("DigiLockerId"),
                    Some("123e4567-e89b-12d3-a456-426614174000")
                );
                assert_eq!(r.detail("FullName"), Some("Asha Rao"));
                assert_eq!(r.detail("DOB"), Some("02-01-2005"));
                assert_eq!(r.detail("URI"), Some(uri.as_str()), "{what}");
                let person = r
                    .root
                    .child("DocDetails")
                    .and_then(|d| d.child("IssuedTo"))
                    .and_then(|i| i.child("Persons"))
                    .and_then(|p| p.child("Person"))
                    .expect("IssuedTo/Persons/Person");
                assert_eq!(person.attr("name"), Some("Asha Rao"));
                assert_eq!(person.attr("dob"), Some("02-01-2005"));
                assert_eq!(person.attr("gender"), Some("F"));
                assert_eq!(person.attr("phone"), Some("9876543210"));
                if wants_pdf {
                    assert_eq!(r.doc_bytes(), pdf, "{what}");
                }
                if wants_xml {
                    let cert = xml::parse(&data_content(&r)).expect("certificate XML");
                    assert_eq!(cert.name, "Certificate");
                }
            }
        }
    }
    // An unknown format is a malformed request.
    let r = app
        .post(
            "/pulluri",
            current_request(r#"xmlns="http://tempuri.org/""#, "3.0", Some("docx"), ASHA),
        )
        .await;
    assert_eq!((r.http, r.status()), (400, "0"));
}

async fn a_one_point_zero_request_gets_exactly_the_one_point_zero_answer(b: Backend) {
    let app = app_with(b, "").await;
    let ts = auth::now_ts();
    let body = build::pull_uri_request(
        &ts,
        "1452503688",
        ORG,
        &signed(&ts),
        &[("RollNo", "1234567"), ("Year", "2020")],
    );
    let resp = app
        .client
        .post(format!("{}/pulluri", app.addr))
        .body(body)
        .send()
        .await
        .expect("request");
    let text = resp.text().await.expect("body");
    let root = xml::parse(text.as_bytes()).expect("xml");
    let d = root.child("DocDetails").expect("details");
    let uri = &d.child("URI").expect("uri").text;
    let doc = &d.child("DocContent").expect("doc").text;
    let golden = format!(
        r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><PullURIResponse xmlns:ns2="http://tempuri.org/"><ResponseStatus Status="1" ts="{ts}" txn="1452503688">1</ResponseStatus><DocDetails><RollNo>1234567</RollNo><Year>2020</Year><URI>{uri}</URI><DocContent>{doc}</DocContent></DocDetails></PullURIResponse>"#
    );
    assert_eq!(text, golden);
}

async fn data_content_is_signed_once_and_xmlsec1_accepts_it(b: Backend) {
    let app = app_with(b, "").await;
    let body = current_request(r#"xmlns="http://tempuri.org/""#, "3.0", Some("xml"), ASHA);
    let first = app.post("/pulluri", body.clone()).await;
    assert_eq!(first.status(), "1");
    let cert = data_content(&first);
    let again = app
        .post(
            "/pulluri",
            current_request(r#"xmlns="http://tempuri.org/""#, "3.0", Some("both"), ASHA),
        )
        .await;
    assert_eq!(data_content(&again), cert, "signed once, the same bytes");
    let parsed = xml::parse(&cert).expect("xml");
    assert_eq!(
        parsed.attr("number"),
        first.detail("URI").and_then(|u| u.rsplit('-').next())
    );
    assert_eq!(parsed.attr("issueDate"), Some("15-05-2020"));
    assert_eq!(parsed.attr("status"), Some("A"));
    let text = String::from_utf8(cert.clone()).expect("utf-8");
    assert!(!text.contains("Aadhaar"), "no Aadhaar was imported");

    let Some(xmlsec1) = xmlsec1() else { return };
    let ca = app.ws.path("certs/ca.crt");
    let verify = |bytes: &[u8]| {
        let f = app.ws.path("cert.xml");
        std::fs::write(&f, bytes).expect("write");
        std::process::Command::new(&xmlsec1)
            .args(["--verify", "--trusted-pem"])
            .arg(&ca)
            .arg(&f)
            .output()
            .expect("xmlsec1")
    };
    let out = verify(&cert);
    assert!(
        out.status.success(),
        "xmlsec1: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tampered = text.replace("issueDate=\"15-05-2020\"", "issueDate=\"15-05-2021\"");
    assert_ne!(tampered, text);
    assert!(
        !verify(tampered.as_bytes()).status.success(),
        "a changed attribute fails"
    );
}

fn xmlsec1() -> Option<String> {
    let there = std::process::Command::new("xmlsec1")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if there {
        return Some("xmlsec1".into());
    }
    if std::env::var("DLREPO_TEST_REQUIRE_TOOLS").is_ok_and(|v| v == "1") {
        panic!("DLREPO_TEST_REQUIRE_TOOLS=1 but xmlsec1 is not installed");
    }
    eprintln!("skipped: xmlsec1 is not installed");
    None
}

/// The request with the first character of its txn replaced: one byte different,
/// still a well-formed and fresh request.
fn with_one_byte_changed(body: &str) -> String {
    let at = body.find("txn=\"").expect("txn") + 5;
    let old = body.as_bytes()[at];
    let new = if old == b'Z' { 'Y' } else { 'Z' };
    format!("{}{new}{}", &body[..at], &body[at + 1..])
}

async fn the_hmac_header_in_both_encodings_and_a_changed_byte(b: Backend) {
    let app = app_with(b, "").await;
    let fresh = || current_request(r#"xmlns="http://tempuri.org/""#, "3.0", Some("pdf"), ASHA);
    for enc in [HmacEncoding::Raw, HmacEncoding::Hex] {
        let body = fresh();
        let h = auth::hmac_header(body.as_bytes(), API_KEY, enc);
        let r = post_with(&app, "/pulluri", &body, Some(&h)).await;
        assert_eq!(r.status(), "1", "{enc:?}");
        // One byte of the txn changed after the MAC was computed: refused, although
        // the changed body is a good, fresh request under its own MAC.
        let original = fresh();
        let h = auth::hmac_header(original.as_bytes(), API_KEY, enc);
        let changed = with_one_byte_changed(&original);
        let r = post_with(&app, "/pulluri", &changed, Some(&h)).await;
        assert_eq!((r.http, r.status()), (200, "0"), "{enc:?}");
        let own = auth::hmac_header(changed.as_bytes(), API_KEY, enc);
        let r = post_with(&app, "/pulluri", &changed, Some(&own)).await;
        assert_eq!(r.status(), "1", "{enc:?}: the same body under its own MAC");
    }
    let body = fresh();
    let r = post_with(&app, "/pulluri", &body, Some("not base64 at all")).await;
    assert_eq!(r.status(), "0");
    let r = post_with(&app, "/pulluri", &body, None).await;
    assert_eq!(r.status(), "1", "absent is fine unless required");

    // Required: absent is refused, present still works; Pull Doc alike.
    let required = app_with(b, "require_hmac = true\nhmac_encodings = [\"hex\"]\n").await;
    let r = post_with(&required, "/pulluri", &body, None).await;
    assert_eq!(r.status(), "0");
    let hex = auth::hmac_header(body.as_bytes(), API_KEY, HmacEncoding::Hex);
    let r = post_with(&required, "/pulluri", &body, Some(&hex)).await;
    assert_eq!(r.status(), "1");
    let uri = r.detail("URI").expect("uri").to_string();
    let unsent = fresh();
    let raw = auth::hmac_header(unsent.as_bytes(), API_KEY, HmacEncoding::Raw);
    let r = post_with(&required, "/pulluri", &unsent, Some(&raw)).await;
    assert_eq!(r.status(), "0", "raw is not among the accepted encodings");
    let hex = auth::hmac_header(unsent.as_bytes(), API_KEY, HmacEncoding::Hex);
    let r = post_with(&required, "/pulluri", &unsent, Some(&hex)).await;
    assert_eq!(r.status(), "1", "the same request in the accepted encoding");
    let doc = pull_doc_body(&uri);
    assert_eq!(
        post_with(&required, "/pulldoc", &doc, None).await.status(),
        "0"
    );
    let h = auth::hmac_header(doc.as_bytes(), API_KEY, HmacEncoding::Hex);
    assert_eq!(
        post_with(&required, "/pulldoc", &doc, Some(&h))
            .await
            .status(),
        "1"
    );
}

async fn the_resident_must_be_the_holder(b: Backend) {
    let app = app_with(b, "").await;
    let ask = |name: &str, dob: &str, roll: &str, year: &str| {
        let mut d = format!("<DocType>MARKS</DocType><FullName>{name}</FullName>");
        if !dob.is_empty() {
            d.push_str(&format!("<DOB>{dob}</DOB>"));
        }
        d.push_str(&format!("<RollNo>{roll}</RollNo><Year>{year}</Year>"));
        current_request(r#"xmlns="http://tempuri.org/""#, "3.0", Some("pdf"), &d)
    };
    for (name, dob, ok) in [
        ("Asha Rao", "02-01-2005", true),
        ("RAO  asha", "02/01/2005", true),
        ("A. Rao", "", true),
        ("Asha", "02-01-2005", false),
        ("Ravi Kumar Sharma", "02-01-2005", false),
        ("Asha Rao", "03-01-2005", false),
    ] {
        let r = app
            .post("/pulluri", ask(name, dob, "1234567", "2020"))
            .await;
        assert_eq!(r.status(), if ok { "1" } else { "0" }, "{name} {dob}");
        if !ok {
            assert_eq!(r.detail("URI"), None);
            assert_eq!(r.detail("FullName"), Some(name), "the echo stays");
        }
    }
    // No date of birth on record: only the name is checked.
    let r = app
        .post(
            "/pulluri",
            ask("R K Sharma", "01-01-1999", "7654321", "2021"),
        )
        .await;
    assert_eq!(r.status(), "1");

    // A doc type whose records hold no reliable name turns the check off.
    let off = app_with(b, "").await;
    let mut ws = off.ws;
    ws.edit_config(|c| {
        c.replace(
            "name = \"Class X Mark Sheet\"",
            "name = \"Class X Mark Sheet\"\nresident_match = \"off\"",
        )
    });
    let off = spawn_on(ws).await;
    let r = off
        .post(
            "/pulluri",
            ask("Someone Else", "01-01-1990", "1234567", "2020"),
        )
        .await;
    assert_eq!(r.status(), "1");
}

async fn certificate_fields_come_from_the_doc_types_mapping(b: Backend) {
    let mut ws = Workspace::new(b);
    ws.edit_config(|c| {
        c.replace(
            "[[doctypes]]\ncode = \"DIPLM\"",
            "[doctypes.certificate]\ntype = \"SSCER\"\nissued_at = \"Pune\"\norganization = { name = \"Test Board\", code = \"TB\", type = \"SG\" }\ndata_element = \"Performance\"\ndata = [ [\"total\", \"TotalMarks\"], [\"result\", \"Result\"], [\"roll\", \"RollNo\"] ]\nperson = [ [\"swd\", \"Father\"] ]\n[[doctypes]]\ncode = \"DIPLM\"",
        )
    });
    // A CSV without a mapped column is refused by name.
    let missing = ws.write(
        "m.csv",
        "RollNo,Year,holder_name,doc_name,issued_on,TotalMarks\n1234567,2020,Asha Rao,M,15/05/2020,412\n",
    );
    let mut conn = dlrepo::store::establish(&ws.config.database.url).expect("conn");
    let err = dlrepo::import::run(
        &ws.config,
        &mut conn,
        &dlrepo::import::ImportOptions {
            doctype: "MARKS",
            csv: &missing,
            out: None,
            batch_size: 10,
            commit_after: dlrepo::import::COMMIT_AFTER,
            sqlite_cache_mb: dlrepo::import::SQLITE_CACHE_MB,
            progress: false,
            correct: false,
            signer: None,
            vault: None,
        },
    )
    .expect_err("Result is mapped but missing");
    assert!(err.to_string().contains("'Result'"), "{err}");
    let csv = ws.write(
        "ok.csv",
        "RollNo,Year,holder_name,doc_name,issued_on,TotalMarks,Result,Father\n1234567,2020,Asha Rao,M,15/05/2020,412,PASS & distinction,Ramesh Rao\n",
    );
    assert_eq!(ws.import("MARKS", &csv).imported, 1);
    let app = spawn_on(ws).await;
    let r = app
        .post(
            "/pulluri",
            current_request(r#"xmlns="http://tempuri.org/""#, "3.0", Some("xml"), ASHA),
        )
        .await;
    assert_eq!(r.status(), "1");
    let cert: Element = xml::parse(&data_content(&r)).expect("xml");
    assert_eq!(cert.attr("type"), Some("SSCER"));
    assert_eq!(cert.attr("issuedAt"), Some("Pune"));
    let org = cert
        .child("IssuedBy")
        .and_then(|i| i.child("Organization"))
        .expect("org");
    assert_eq!(
        (org.attr("name"), org.attr("code")),
        (Some("Test Board"), Some("TB"))
    );
    let perf = cert
        .child("CertificateData")
        .and_then(|d| d.child("Performance"))
        .expect("Performance");
    assert_eq!(perf.attr("total"), Some("412"));
    assert_eq!(perf.attr("result"), Some("PASS & distinction"));
    assert_eq!(perf.attr("roll"), Some("1234567"));
    let person = cert
        .child("IssuedTo")
        .and_then(|i| i.child("Person"))
        .expect("Person");
    assert_eq!(
        person.attr("swd"),
        Some("Ramesh Rao"),
        "a CSV column mapped onto Person"
    );

    // A department doc type's mapping must point at something it has.
    let bad = Workspace::new(b);
    let text = std::fs::read_to_string(&bad.config_path).expect("config")
        + "\n[[doctypes]]\ncode = \"RSLT\"\nname = \"R\"\nudfs = [ { name = \"ExamRoll\", pattern = \"[0-9]{4}\" } ]\n[doctypes.source]\ntable = \"results\"\nudf_columns = { ExamRoll = \"roll_no\" }\nfields = [ [\"Total marks\", \"total_marks\"] ]\n[doctypes.certificate]\ndata = [ [\"total\", \"Total marks\"], [\"grade\", \"Grade\"] ]\n";
    std::fs::write(&bad.config_path, text).expect("write");
    let err = dlrepo::config::Config::load(&bad.config_path, &Default::default())
        .expect_err("Grade points nowhere");
    let msg = err.to_string();
    assert!(msg.contains("doctypes[2].certificate.data"), "{msg}");
    assert!(
        msg.contains("'Grade'") && !msg.contains("'Total marks'"),
        "{msg}"
    );
}

async fn default_format_and_pull_doc_in_the_current_form(b: Backend) {
    let app = app_with(b, "default_format = \"both\"\n").await;
    // A request without format gets what the registration says.
    let r = app
        .pull_uri(&[("RollNo", "1234567"), ("Year", "2020")])
        .await;
    assert_eq!(r.status(), "1");
    assert!(r.detail("DocContent").is_some() && r.detail("DataContent").is_some());
    let uri = r.detail("URI").expect("uri").to_string();
    let xml_bytes = data_content(&r);

    let ts = auth::now_ts();
    let doc = build::pull_doc_request_current(
        &ts,
        &fresh_txn("d-1-"),
        ORG,
        &signed(&ts),
        "xml",
        &uri,
        &[("FullName", "Asha Rao"), ("DOB", "02-01-2005")],
    );
    let r = app.post("/pulldoc", doc).await;
    assert_eq!(r.status(), "1");
    assert_eq!(r.detail("DocContent"), None);
    assert_eq!(data_content(&r), xml_bytes, "the same kept certificate");
    let ts = auth::now_ts();
    let wrong = build::pull_doc_request_current(
        &ts,
        &fresh_txn("d-2-"),
        ORG,
        &signed(&ts),
        "pdf",
        &uri,
        &[("FullName", "Ravi Kumar")],
    );
    assert_eq!(app.post("/pulldoc", wrong).await.status(), "0");
}

async fn a_record_without_its_document_is_pending_until_it_comes(b: Backend) {
    let mut ws = Workspace::new(b);
    ws.edit_config(|c| {
        c.replace(
            "name = \"Class X Mark Sheet\"",
            "name = \"Class X Mark Sheet\"\nawait_documents = true",
        )
    });
    let base = "23412341234";
    let aadhaar = format!("{base}{}", dlrepo::aadhaar::verhoeff_digit(base));
    let header = "RollNo,Year,holder_name,aadhaar,doc_name,issued_on,pdf\n";
    let row = format!("1234567,2020,Asha Rao,{aadhaar},Mark Sheet 2020,15/05/2020,");
    let csv = ws.write("pending.csv", &format!("{header}{row}\n"));
    assert_eq!(ws.import("MARKS", &csv).imported, 1);
    let queued = |ws: &Workspace| {
        let mut conn = dlrepo::store::establish(&ws.config.database.url).expect("conn");
        dlrepo::push::outbox::counts(&mut conn)
            .expect("counts")
            .queued_rows
    };
    assert_eq!(queued(&ws), 0, "nothing to push before the document exists");
    let app = spawn_on(ws).await;
    let body = || current_request(r#"xmlns="http://tempuri.org/""#, "3.0", Some("pdf"), ASHA);
    let r = app.post("/pulluri", body()).await;
    assert_eq!((r.http, r.status()), (200, "9"));
    assert_eq!(r.detail("URI"), None);
    assert_eq!(r.detail("DocContent"), None);
    assert_eq!(r.detail("RollNo"), Some("1234567"));

    // The document comes: the same row with its file issues it, and queues it for push.
    std::fs::write(app.ws.path("m.pdf"), b"%PDF-1.4\n% the sheet\n%%EOF\n").expect("pdf");
    let csv = app.ws.write("done.csv", &format!("{header}{row}m.pdf\n"));
    let report = app.ws.import("MARKS", &csv);
    assert_eq!(report.imported, 1, "{:?}", report.rejected);
    assert_eq!(queued(&app.ws), 1);
    let r = app.post("/pulluri", body()).await;
    assert_eq!(r.status(), "1");
    assert!(r.doc_bytes().starts_with(b"%PDF-1.4"));
}

/// `dlrepo curl pull-uri --api current` prints a request whose HMAC header and body the
/// server accepts, in either encoding.
async fn dlrepo_curl_prints_a_current_request_that_is_answered(b: Backend) {
    let app = app_with(b, "require_hmac = true\n").await;
    for enc in ["hex", "raw"] {
        let out = Command::new(env!("CARGO_BIN_EXE_dlrepo"))
            .arg("--config")
            .arg(&app.ws.config_path)
            .args(["curl", "pull-uri", "--api", "current", "--format", "both"])
            .args([
                "--hmac",
                enc,
                "--full-name",
                "Asha Rao",
                "--dob",
                "02-01-2005",
            ])
            .args(["RollNo=1234567", "Year=2020"])
            .output()
            .expect("run");
        assert!(out.status.success());
        let line = String::from_utf8(out.stdout).expect("utf-8");
        let between = |start: &str, end: &str| {
            let i = line.find(start).expect(start) + start.len();
            line[i..][..line[i..].find(end).expect(end)].to_string()
        };
        let hmac = between("x-digilocker-hmac: ", "'");
        let body = between("--data-binary '", "'\n");
        let r = post_with(&app, "/pulluri", &body, Some(&hmac)).await;
        assert_eq!(r.status(), "1", "{enc}: {line}");
        assert!(r.detail("DataContent").is_some() && r.detail("DocContent").is_some());
    }
}
