//! The checks: each sends what DigiLocker would and judges the answer. A failure names
//! the mistake (diagnosed from the answer and, where it helps, from a second request
//! that tries the mistaken form), not just "Status 0".

use base64::Engine;
use chrono::{Duration as Span, FixedOffset, Utc};

use super::{CheckResult, Outcome, Selection, Target};
use crate::auth::{self, HmacEncoding};
use crate::uri::DocUri;
use crate::wire::build;
use crate::wire::xml::{self, Element};

const DEFAULT_NS: &str = r#"xmlns="http://tempuri.org/""#;
const SCHEMA_NS: &str =
    r#"xmlns="https://www.digitallocker.gov.in/schema/issuer/v1/pullurirequest""#;

/// One answer as received.
struct Answer {
    http: u16,
    root: Option<Element>,
}

impl Answer {
    fn status(&self) -> Option<&str> {
        self.root.as_ref()?.child("ResponseStatus")?.attr("Status")
    }

    fn txn(&self) -> Option<&str> {
        self.root.as_ref()?.child("ResponseStatus")?.attr("txn")
    }

    fn detail(&self, name: &str) -> Option<&str> {
        self.root
            .as_ref()?
            .child("DocDetails")?
            .child(name)
            .map(|e| e.text.as_str())
    }

    fn refused(&self) -> bool {
        (400..500).contains(&self.http) || self.status() == Some("0")
    }
}

/// The state of one run: the URI found first is the one Pull Doc asks for.
pub struct Session<'a> {
    target: &'a Target,
    client: &'a reqwest::blocking::Client,
    found_uri: Option<String>,
    txn: u64,
}

/// An ISO-8601 timestamp with the IST offset, as DigiLocker sends it, moved by `by`.
fn ts_moved(by: Span) -> String {
    let ist = FixedOffset::east_opt(5 * 3600 + 1800)
        .unwrap_or_else(|| FixedOffset::east_opt(0).expect("UTC"));
    (Utc::now() + by)
        .with_timezone(&ist)
        .format("%Y-%m-%dT%H:%M:%S%:z")
        .to_string()
}

fn b64(s: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::STANDARD
        .decode(s.trim())
        .ok()
}

impl<'a> Session<'a> {
    pub fn new(target: &'a Target, client: &'a reqwest::blocking::Client) -> Self {
        Session {
            target,
            client,
            found_uri: None,
            txn: rand::random::<u32>() as u64,
        }
    }

    fn next_txn(&mut self) -> String {
        self.txn += 1;
        format!("conf{}", self.txn)
    }

    /// The search values, borrowed from the target (not from `self`).
    fn udfs(&self) -> Vec<(&'a str, &'a str)> {
        self.target
            .udfs
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    }

    fn resident(&self) -> Vec<(&str, &str)> {
        let mut r = Vec::new();
        if let Some(n) = &self.target.full_name {
            r.push(("FullName", n.as_str()));
        }
        if let Some(d) = &self.target.dob {
            r.push(("DOB", d.as_str()));
        }
        r
    }

    fn post(&self, url: &str, body: &str, hmac: Option<&str>) -> Result<Answer, String> {
        let mut req = self
            .client
            .post(url)
            .header("Content-Type", "application/xml")
            .body(body.to_string());
        if let Some(h) = hmac {
            req = req.header("x-digilocker-hmac", h);
        }
        let resp = req
            .send()
            .map_err(|e| format!("no answer from {url}: {e}"))?;
        let http = resp.status().as_u16();
        let bytes = resp.bytes().map_err(|e| format!("answer cut short: {e}"))?;
        Ok(Answer {
            http,
            root: xml::parse(&bytes).ok(),
        })
    }

    fn pull_uri_10(&mut self, ts: &str, keyhash: &str, udfs: &[(&str, &str)]) -> (String, String) {
        let txn = self.next_txn();
        let body = build::pull_uri_request(ts, &txn, &self.target.org_id, keyhash, udfs);
        (body, txn)
    }

    fn pull_uri_current(&mut self, format: &str, ns: &str) -> (String, String) {
        let (ts, txn, keyhash) = self.signed_now();
        let body = build::pull_uri_request_current(
            &ts,
            &txn,
            &self.target.org_id,
            &keyhash,
            format,
            &self.target.doctype,
            &self.resident(),
            &self.udfs(),
        )
        .replacen(DEFAULT_NS, ns, 1);
        (body, txn)
    }

    fn good_10(&mut self) -> (String, String) {
        let ts = auth::now_ts();
        let keyhash = auth::keyhash(&self.target.api_key, &ts);
        let udfs = self.udfs();
        self.pull_uri_10(&ts, &keyhash, &udfs)
    }

    /// Every selected check, in order.
    pub fn run_all(mut self, selection: &Selection) -> Vec<CheckResult> {
        type Check<'s, 'a> = (&'static str, bool, fn(&mut Session<'a>) -> Outcome);
        let checks: Vec<Check<'_, 'a>> = vec![
            ("pull-uri/1.0", true, Session::pull_uri_10_found),
            ("pull-uri/current/default-ns/pdf", true, |s| {
                s.current(DEFAULT_NS, "pdf")
            }),
            ("pull-uri/current/default-ns/xml", true, |s| {
                s.current(DEFAULT_NS, "xml")
            }),
            ("pull-uri/current/default-ns/both", true, |s| {
                s.current(DEFAULT_NS, "both")
            }),
            ("pull-uri/current/schema-ns/pdf", true, |s| {
                s.current(SCHEMA_NS, "pdf")
            }),
            ("pull-uri/current/schema-ns/both", true, |s| {
                s.current(SCHEMA_NS, "both")
            }),
            ("hmac/accepted", true, Session::hmac_accepted),
            ("hmac/wrong-refused", true, Session::hmac_wrong),
            ("pull-doc/1.0", true, Session::pull_doc_10),
            ("pull-doc/current/both", true, Session::pull_doc_current),
            ("refuse/wrong-key", true, Session::wrong_key),
            ("refuse/stale-ts", true, |s| {
                s.moved_ts(Span::hours(-3), "3 hours old")
            }),
            ("refuse/future-ts", true, |s| {
                s.moved_ts(Span::hours(3), "3 hours ahead")
            }),
            ("refuse/replayed-txn", true, Session::replayed),
            ("refuse/malformed-xml", true, Session::malformed),
            ("refuse/unknown-values", true, Session::unknown_values),
            ("refuse/doctype", true, Session::doctype_declaration),
        ];
        let mut results = Vec::new();
        for (name, required, check) in checks {
            let outcome = if selection.wants(name) {
                check(&mut self)
            } else {
                Outcome::Skip("not selected".into())
            };
            results.push(CheckResult {
                name: name.to_string(),
                required,
                outcome,
            });
        }
        results
    }

    /// Status 1 with the request's txn, a well-formed URI and a signed PDF.
    fn judge_found(&self, a: &Answer, txn: &str, want_pdf: bool) -> Result<String, String> {
        if a.root.is_none() {
            return Err(format!("the answer (HTTP {}) is not XML", a.http));
        }
        if a.http != 200 {
            return Err(format!(
                "HTTP {} for a good request: DigiLocker expects 200 with a ResponseStatus",
                a.http
            ));
        }
        match a.status() {
            Some("1") => {}
            Some(s) => return Err(format!("Status {s} for a good request")),
            None => return Err("the answer has no ResponseStatus/@Status".into()),
        }
        if a.txn() != Some(txn) {
            return Err(format!(
                "the response does not echo txn (sent {txn}, got {:?})",
                a.txn()
            ));
        }
        if a.root.as_ref().is_some_and(|r| r.name == "PullDocResponse") {
            // Pull Doc answers the document alone: the URI was the question.
            if want_pdf {
                let pdf = a
                    .detail("DocContent")
                    .and_then(b64)
                    .ok_or("DocContent is missing or not base64")?;
                self.judge_pdf(&pdf)?;
            }
            return Ok(self.found_uri.clone().unwrap_or_default());
        }
        let uri = a.detail("URI").ok_or("the answer has no DocDetails/URI")?;
        let parsed = DocUri::parse(uri).map_err(|e| format!("URI {uri} is malformed: {e}"))?;
        if parsed.doc_type != self.target.doctype {
            return Err(format!(
                "URI {uri} names doc type {}, not {}",
                parsed.doc_type, self.target.doctype
            ));
        }
        if let Some(want) = &self.target.expect_uri {
            if uri != want {
                return Err(format!("URI {uri} is not the expected {want}"));
            }
        }
        if want_pdf {
            let pdf = a
                .detail("DocContent")
                .and_then(b64)
                .ok_or("DocContent is missing or not base64")?;
            self.judge_pdf(&pdf)?;
        }
        Ok(uri.to_string())
    }

    fn judge_pdf(&self, pdf: &[u8]) -> Result<(), String> {
        if !pdf.starts_with(b"%PDF-") {
            return Err("DocContent is not a PDF".into());
        }
        let reports = crate::docs::verify::verify(pdf, &self.target.trust);
        let Some(last) = reports.last() else {
            return Err("signature on the PDF is invalid or missing: the PDF is not signed".into());
        };
        if !last.intact {
            return Err(format!(
                "signature on the PDF is invalid or missing: {}",
                last.problem.as_deref().unwrap_or("it does not verify")
            ));
        }
        if !last.covers_whole_file {
            return Err(format!(
                "the PDF's signature does not cover the whole file ({} bytes added after it)",
                last.bytes_after
            ));
        }
        if last.trusted == Some(false) {
            return Err(format!(
                "the PDF's signer ({}) does not chain to the --trust certificates",
                last.signer
            ));
        }
        Ok(())
    }

    fn judge_xml(&self, a: &Answer) -> Result<(), String> {
        let xml = a
            .detail("DataContent")
            .and_then(b64)
            .ok_or("DataContent is missing or not base64 (mandatory from API 1.12 for xml/both)")?;
        let root = xml::parse(&xml)
            .map_err(|e| format!("DataContent is not well-formed certificate XML: {e}"))?;
        if root.name != "Certificate" {
            return Err(format!(
                "DataContent is not well-formed certificate XML: its root is <{}>, not <Certificate>",
                root.name
            ));
        }
        if root.child("Signature").is_none() {
            return Err(
                "DataContent carries no XMLDSig <Signature>: the certificate XML is not signed"
                    .into(),
            );
        }
        Ok(())
    }

    fn pull_uri_10_found(&mut self) -> Outcome {
        let (body, txn) = self.good_10();
        let url = self.target.pull_uri.clone();
        let a = match self.post(&url, &body, None) {
            Ok(a) => a,
            Err(e) => return Outcome::Fail(e),
        };
        match self.judge_found(&a, &txn, true) {
            Ok(uri) => {
                self.found_uri = Some(uri.clone());
                Outcome::Pass(format!("Status 1, {uri}, signed PDF"))
            }
            Err(e) if a.status() == Some("0") => Outcome::Fail(self.diagnose_status_0(e)),
            Err(e) => Outcome::Fail(e),
        }
    }

    /// A good request got Status 0: try the mistaken forms an issuer may expect.
    fn diagnose_status_0(&mut self, e: String) -> String {
        let ts = auth::now_ts();
        let reversed = auth::to_hex(&{
            use sha2::{Digest, Sha256};
            Sha256::digest(format!("{ts}{}", self.target.api_key).as_bytes())
        });
        let udfs = self.udfs();
        let (body, _) = self.pull_uri_10(&ts, &reversed, &udfs);
        let url = self.target.pull_uri.clone();
        if let Ok(a) = self.post(&url, &body, None) {
            if a.status() == Some("1") {
                return "keyhash accepted only as sha256(ts+key): order reversed (DigiLocker sends sha256(api_key+ts))".into();
            }
        }
        let ts_utc = Utc::now().format("%Y-%m-%dT%H:%M:%S").to_string();
        let keyhash = auth::keyhash(&self.target.api_key, &ts_utc);
        let (body, _) = self.pull_uri_10(&ts_utc, &keyhash, &udfs);
        if let Ok(a) = self.post(&url, &body, None) {
            if a.status() == Some("1") {
                return "a ts with its offset (+05:30) is refused but one without is accepted: parse ISO-8601 with the offset".into();
            }
        }
        format!("{e}: check the search values (--udf), the API key, the orgId and the ts window")
    }

    fn current(&mut self, ns: &str, format: &str) -> Outcome {
        let (body, txn) = self.pull_uri_current(format, ns);
        let url = self.target.pull_uri.clone();
        let a = match self.post(&url, &body, None) {
            Ok(a) => a,
            Err(e) => return Outcome::Fail(e),
        };
        let result = self.judge_found(&a, &txn, format != "xml").and_then(|uri| {
            if format != "pdf" {
                self.judge_xml(&a)?;
            }
            if a.detail("DocType") != Some(self.target.doctype.as_str()) {
                return Err("the current form's answer does not echo DocType".into());
            }
            Ok(uri)
        });
        match result {
            Ok(uri) => Outcome::Pass(format!("Status 1, {uri}")),
            Err(e) if ns != r#"xmlns:ns2="http://tempuri.org/""# && a.refused() && self.found_uri.is_some() => {
                Outcome::Fail(format!(
                    "{e}; the 1.0 form (prefix xmlns:ns2) is answered but this one ({ns}) is not: match element local names, not a namespace or prefix"
                ))
            }
            Err(e) => Outcome::Fail(e),
        }
    }

    fn hmac_accepted(&mut self) -> Outcome {
        let mut accepted = Vec::new();
        for enc in [HmacEncoding::Raw, HmacEncoding::Hex] {
            let (body, _) = self.pull_uri_current("pdf", DEFAULT_NS);
            let h = auth::hmac_header(body.as_bytes(), &self.target.api_key, enc);
            let url = self.target.pull_uri.clone();
            match self.post(&url, &body, Some(&h)) {
                Ok(a) if a.status() == Some("1") => accepted.push(enc.name()),
                Ok(_) => {}
                Err(e) => return Outcome::Fail(e),
            }
        }
        if accepted.is_empty() {
            Outcome::Fail("a request with a correct x-digilocker-hmac (base64 of the HMAC-SHA256 of the body, raw or as lowercase hex) is refused in both encodings".into())
        } else {
            Outcome::Pass(format!("accepted encodings: {}", accepted.join(", ")))
        }
    }

    fn hmac_wrong(&mut self) -> Outcome {
        let (body, _) = self.pull_uri_current("pdf", DEFAULT_NS);
        let h = auth::hmac_header(b"another body", &self.target.api_key, HmacEncoding::Hex);
        let url = self.target.pull_uri.clone();
        match self.post(&url, &body, Some(&h)) {
            Ok(a) if a.refused() => Outcome::Pass("refused".into()),
            Ok(_) => Outcome::Fail("a wrong x-digilocker-hmac was accepted: the HMAC is not checked (the header is computed over the exact raw body)".into()),
            Err(e) => Outcome::Fail(e),
        }
    }

    /// A fresh request's ts, txn and keyhash.
    fn signed_now(&mut self) -> (String, String, String) {
        let ts = auth::now_ts();
        let txn = self.next_txn();
        let keyhash = auth::keyhash(&self.target.api_key, &ts);
        (ts, txn, keyhash)
    }

    /// Where to send Pull Doc and which URI to ask for, or why the check is skipped.
    fn pull_doc_target(&self) -> Result<(String, String), Outcome> {
        let url = (self.target.pull_doc.clone())
            .ok_or_else(|| Outcome::Skip("no --pull-doc URL".into()))?;
        let uri = (self.found_uri.clone())
            .ok_or_else(|| Outcome::Skip("Pull URI found no document to ask for".into()))?;
        Ok((url, uri))
    }

    fn pull_doc_10(&mut self) -> Outcome {
        let (url, uri) = match self.pull_doc_target() {
            Ok(t) => t,
            Err(skip) => return skip,
        };
        let (ts, txn, keyhash) = self.signed_now();
        let body = build::pull_doc_request(&ts, &txn, &self.target.org_id, &keyhash, &uri);
        match self.post(&url, &body, None) {
            Ok(a) => match self.judge_found(&a, &txn, true) {
                Ok(got) if got == uri => Outcome::Pass("Status 1, signed PDF".into()),
                Ok(got) => Outcome::Fail(format!("Pull Doc of {uri} answered {got}")),
                Err(e) => Outcome::Fail(e),
            },
            Err(e) => Outcome::Fail(e),
        }
    }

    fn pull_doc_current(&mut self) -> Outcome {
        let (url, uri) = match self.pull_doc_target() {
            Ok(t) => t,
            Err(skip) => return skip,
        };
        let (ts, txn, keyhash) = self.signed_now();
        let resident = self.resident();
        let body = build::pull_doc_request_current(
            &ts,
            &txn,
            &self.target.org_id,
            &keyhash,
            "both",
            &uri,
            &resident,
        );
        match self.post(&url, &body, None) {
            Ok(a) => match self
                .judge_found(&a, &txn, true)
                .and_then(|_| self.judge_xml(&a))
            {
                Ok(()) => Outcome::Pass("Status 1, PDF and certificate XML".into()),
                Err(e) => Outcome::Fail(e),
            },
            Err(e) => Outcome::Fail(e),
        }
    }

    fn expect_refused(&self, body: &str, accepted: &str) -> Outcome {
        match self.post(&self.target.pull_uri, body, None) {
            Ok(a) if a.root.is_none() && a.http < 500 && a.http >= 400 => {
                Outcome::Pass(format!("refused with HTTP {} (the body is not XML)", a.http))
            }
            Ok(a) if a.refused() => Outcome::Pass(format!(
                "refused (HTTP {}, Status {})",
                a.http,
                a.status().unwrap_or("-")
            )),
            Ok(a) if a.http >= 500 => Outcome::Fail(format!(
                "HTTP {}: a bad request must be refused cleanly (Status 0 or a 4xx), not fail the server",
                a.http
            )),
            Ok(_) => Outcome::Fail(accepted.to_string()),
            Err(e) => Outcome::Fail(e),
        }
    }

    fn wrong_key(&mut self) -> Outcome {
        let ts = auth::now_ts();
        let keyhash = auth::keyhash("not-the-api-key", &ts);
        let udfs = self.udfs();
        let (body, _) = self.pull_uri_10(&ts, &keyhash, &udfs);
        self.expect_refused(
            &body,
            "Status 1 for a wrong key: authentication is not checked",
        )
    }

    fn moved_ts(&mut self, by: Span, what: &str) -> Outcome {
        let ts = ts_moved(by);
        let keyhash = auth::keyhash(&self.target.api_key, &ts);
        let udfs = self.udfs();
        let (body, _) = self.pull_uri_10(&ts, &keyhash, &udfs);
        self.expect_refused(
            &body,
            &format!("a ts {what} was accepted: the ts window is not checked"),
        )
    }

    fn replayed(&mut self) -> Outcome {
        let (body, _) = self.good_10();
        let url = self.target.pull_uri.clone();
        match self.post(&url, &body, None) {
            Ok(a) if a.status() == Some("1") => {}
            Ok(_) => return Outcome::Skip("the first request was not answered Status 1".into()),
            Err(e) => return Outcome::Fail(e),
        }
        self.expect_refused(
            &body,
            "the same request (same txn, ts and keyhash) was answered twice: a captured request can be replayed",
        )
    }

    fn malformed(&mut self) -> Outcome {
        let (body, _) = self.good_10();
        let cut = &body[..body.len() / 2];
        self.expect_refused(cut, "a truncated request was answered Status 1")
    }

    fn unknown_values(&mut self) -> Outcome {
        let ts = auth::now_ts();
        let keyhash = auth::keyhash(&self.target.api_key, &ts);
        let names: Vec<String> = self.target.udfs.iter().map(|(k, _)| k.clone()).collect();
        let udfs: Vec<(&str, &str)> = names
            .iter()
            .map(|k| (k.as_str(), "0000000000000000000000"))
            .collect();
        let (body, _) = self.pull_uri_10(&ts, &keyhash, &udfs);
        self.expect_refused(
            &body,
            "search values no document has were answered Status 1",
        )
    }

    fn doctype_declaration(&mut self) -> Outcome {
        let (body, _) = self.good_10();
        let body = body.replacen(
            "<PullURIRequest",
            "<!DOCTYPE r [<!ENTITY x SYSTEM \"file:///etc/passwd\">]><PullURIRequest",
            1,
        );
        match self.post(&self.target.pull_uri, &body, None) {
            Ok(a) if a.refused() || (a.root.is_none() && (400..500).contains(&a.http)) => {
                Outcome::Pass("refused".into())
            }
            Ok(a) => Outcome::Fail(format!(
                "a request with a DOCTYPE and an external entity was not refused (HTTP {}): entity expansion reads files and loops",
                a.http
            )),
            Err(e) => Outcome::Fail(e),
        }
    }
}
