//! Pull URI and Pull Doc: the two calls DigiLocker makes to an issuer (SPEC.md).

use super::xml::{self, escape, Element, XmlError};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error(transparent)]
    Xml(#[from] XmlError),
    #[error("root element is <{found}>, this endpoint takes <{expected}>")]
    WrongRoot {
        expected: &'static str,
        found: String,
    },
    #[error("attribute '{0}' is missing on the root element")]
    MissingAttribute(&'static str),
    #[error("element <{0}> is missing")]
    MissingElement(&'static str),
    #[error("element <{0}> appears more than once")]
    Repeated(String),
    #[error("element <{0}> must hold text only")]
    Nested(String),
    #[error("attribute format='{0}' is not one of xml, pdf, both")]
    Format(String),
}

/// The attributes every request from DigiLocker carries on its root element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHeader {
    pub ver: Option<String>,
    pub ts: String,
    pub txn: String,
    pub org_id: String,
    pub keyhash: String,
}

impl RequestHeader {
    /// The header's attributes, taken out of the root (the rest stay).
    fn from_root(root: &mut Element) -> Result<Self, WireError> {
        let mut req = |name: &'static str| {
            root.take_attr(name)
                .ok_or(WireError::MissingAttribute(name))
        };
        let (ts, txn, org_id) = (req("ts")?, req("txn")?, req("orgId")?);
        // The seed's table spells it keyHash, its samples keyhash; take_attr ignores case.
        let keyhash = req("keyhash")?;
        Ok(RequestHeader {
            ver: root.take_attr("ver").map(|v| v.trim().to_string()),
            ts,
            txn,
            org_id,
            keyhash,
        })
    }
}

/// What the caller wants back (`format`, since API 1.10; absent means the PDF, as in 1.0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ResponseFormat {
    #[default]
    Pdf,
    Xml,
    Both,
}

impl ResponseFormat {
    /// `format` on the root element, and whether it was there.
    fn from_root(root: &Element) -> Result<(ResponseFormat, bool), WireError> {
        match root.attr("format").map(|f| f.trim().to_ascii_lowercase()) {
            None => Ok((ResponseFormat::Pdf, false)),
            Some(f) if f.is_empty() || f == "pdf" => Ok((ResponseFormat::Pdf, true)),
            Some(f) if f == "xml" => Ok((ResponseFormat::Xml, true)),
            Some(f) if f == "both" => Ok((ResponseFormat::Both, true)),
            Some(f) => Err(WireError::Format(f)),
        }
    }

    pub fn wants_pdf(self) -> bool {
        self != ResponseFormat::Xml
    }

    pub fn wants_xml(self) -> bool {
        self != ResponseFormat::Pdf
    }
}

impl std::str::FromStr for ResponseFormat {
    type Err = WireError;
    fn from_str(s: &str) -> Result<Self, WireError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "pdf" => Ok(ResponseFormat::Pdf),
            "xml" => Ok(ResponseFormat::Xml),
            "both" => Ok(ResponseFormat::Both),
            other => Err(WireError::Format(other.to_string())),
        }
    }
}

/// The resident fields of the current API, in the order responses echo them.
pub const RESIDENT_FIELDS: &[&str] = &["DigiLockerId", "UID", "FullName", "DOB"];

/// A resident field's value as sent, if it was.
pub fn resident_field<'r>(resident: &'r [(String, String)], name: &str) -> Option<&'r str> {
    resident
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.trim().is_empty())
}

fn root_named(body: &[u8], expected: &'static str) -> Result<Element, WireError> {
    let root = xml::parse(body)?;
    if root.name != expected {
        return Err(WireError::WrongRoot {
            expected,
            found: root.name,
        });
    }
    Ok(root)
}

/// The one `DocDetails` child, taken out of the root.
fn details(root: &mut Element) -> Result<Element, WireError> {
    let mut found = root
        .children
        .iter()
        .enumerate()
        .filter(|(_, c)| c.name == "DocDetails")
        .map(|(i, _)| i);
    let i = found
        .next()
        .ok_or(WireError::MissingElement("DocDetails"))?;
    if found.next().is_some() {
        return Err(WireError::Repeated("DocDetails".into()));
    }
    Ok(root.children.swap_remove(i))
}

/// `DocDetails` children that are not UDFs in the later API versions.
const KNOWN_DETAILS: &[&str] = &["DocType", "DigiLockerId", "UID", "FullName", "DOB", "Photo"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullUriRequest {
    pub header: RequestHeader,
    /// As sent; `Pdf` when absent (see `format_sent`).
    pub format: ResponseFormat,
    /// Whether the request carried `format` at all.
    pub format_sent: bool,
    /// Sent by API 1.10 and later; 1.0 callers are matched by their UDF names.
    pub doc_type: Option<String>,
    /// The search fields in request order, as (element name, value).
    pub udfs: Vec<(String, String)>,
    /// The later versions' resident details (`DigiLockerId`, `UID`, `FullName`, `DOB`),
    /// kept for matching; `Photo` is dropped.
    pub resident: Vec<(String, String)>,
}

impl PullUriRequest {
    pub const ROOT: &'static str = "PullURIRequest";

    pub fn from_xml(body: &[u8]) -> Result<Self, WireError> {
        let mut root = root_named(body, Self::ROOT)?;
        let header = RequestHeader::from_root(&mut root)?;
        let (format, format_sent) = ResponseFormat::from_root(&root)?;
        let mut doc_type = None;
        let mut udfs: Vec<(String, String)> = Vec::new();
        let mut resident = Vec::new();
        // Taken out of the tree, not copied: a request's strings were a good part of
        // what reading it cost.
        for c in details(&mut root)?.children {
            if !c.children.is_empty() && c.name != "Photo" {
                return Err(WireError::Nested(c.name));
            }
            if udfs.iter().any(|(n, _)| n == &c.name)
                || resident
                    .iter()
                    .any(|(n, _): &(String, String)| n == &c.name)
                || (c.name == "DocType" && doc_type.is_some())
            {
                return Err(WireError::Repeated(c.name));
            }
            match c.name.as_str() {
                "DocType" => doc_type = Some(c.text),
                "Photo" => {}
                n if KNOWN_DETAILS.contains(&n) => resident.push((c.name, c.text)),
                _ => udfs.push((c.name, c.text)),
            }
        }
        Ok(PullUriRequest {
            header,
            format,
            format_sent,
            doc_type,
            udfs,
            resident,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullDocRequest {
    pub header: RequestHeader,
    pub uri: String,
    pub format: ResponseFormat,
    pub format_sent: bool,
    /// `DigiLockerId`, `UID`, `FullName`, `DOB` when sent (the current API).
    pub resident: Vec<(String, String)>,
}

impl PullDocRequest {
    pub const ROOT: &'static str = "PullDocRequest";

    pub fn from_xml(body: &[u8]) -> Result<Self, WireError> {
        let mut root = root_named(body, Self::ROOT)?;
        let header = RequestHeader::from_root(&mut root)?;
        let d = details(&mut root)?;
        let mut uris = d.children.iter().filter(|c| c.name == "URI");
        let uri = uris.next().ok_or(WireError::MissingElement("URI"))?;
        if uris.next().is_some() {
            return Err(WireError::Repeated("URI".into()));
        }
        let (format, format_sent) = ResponseFormat::from_root(&root)?;
        let mut resident: Vec<(String, String)> = Vec::new();
        for c in d
            .children
            .iter()
            .filter(|c| RESIDENT_FIELDS.contains(&c.name.as_str()))
        {
            if resident.iter().any(|(n, _)| n == &c.name) {
                return Err(WireError::Repeated(c.name.clone()));
            }
            resident.push((c.name.clone(), c.text.clone()));
        }
        Ok(PullDocRequest {
            header,
            uri: uri.text.clone(),
            format,
            format_sent,
            resident,
        })
    }
}

/// `ResponseStatus/@Status`: 1 success, 0 failure, 9 pending (API 1.10+).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Failure = 0,
    Success = 1,
    Pending = 9,
}

const DECL: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>"#;

fn status_element(out: &mut String, status: Status, ts: &str, txn: &str) {
    let s = status as u8;
    out.push_str(&format!(
        r#"<ResponseStatus Status="{s}" ts="{}" txn="{}">{s}</ResponseStatus>"#,
        escape(ts),
        escape(txn)
    ));
}

fn text_element(out: &mut String, name: &str, value: &str) {
    out.push('<');
    out.push_str(name);
    out.push('>');
    out.push_str(&escape(value));
    out.push_str("</");
    out.push_str(name);
    out.push('>');
}

/// SIMD base64 straight into `out`'s buffer (see Cargo.toml on base64-simd).
fn push_base64(out: &mut String, bytes: &[u8]) {
    base64_simd::STANDARD.encode_append(bytes, out);
}

fn base64_element(out: &mut String, name: &str, bytes: &[u8]) {
    out.push('<');
    out.push_str(name);
    out.push('>');
    push_base64(out, bytes);
    out.push_str("</");
    out.push_str(name);
    out.push('>');
}

/// `IssuedTo/Persons/Person`: who the document was issued to, so that DigiLocker can
/// match the resident itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Person {
    pub name: String,
    /// DD-MM-YYYY.
    pub dob: Option<String>,
    pub gender: Option<String>,
    pub phone: Option<String>,
}

fn issued_to(out: &mut String, p: &Person) {
    out.push_str("<IssuedTo><Persons><Person name=\"");
    out.push_str(&escape(&p.name));
    out.push('"');
    for (k, v) in [("dob", &p.dob), ("gender", &p.gender), ("phone", &p.phone)] {
        if let Some(v) = v {
            out.push_str(&format!(" {k}=\"{}\"", escape(v)));
        }
    }
    out.push_str("/></Persons></IssuedTo>");
}

/// The answer to a Pull URI request. `ts` and `txn` are the request's. The current
/// API's parts (`echo`, `issued_to`, `data_content`) are empty for a 1.0 answer, which
/// then stays byte for byte what 1.0 callers always got.
#[derive(Debug)]
pub struct PullUriResponse<'a> {
    pub status: Status,
    pub ts: &'a str,
    pub txn: &'a str,
    /// `DocType`, `DigiLockerId`, `UID`, `FullName`, `DOB` as sent, before the UDFs.
    pub echo: &'a [(String, String)],
    pub udfs: &'a [(String, String)],
    pub issued_to: Option<&'a Person>,
    pub uri: Option<&'a str>,
    pub doc_content: Option<&'a [u8]>,
    /// The signed certificate XML.
    pub data_content: Option<&'a [u8]>,
}

impl PullUriResponse<'_> {
    pub fn to_xml(&self) -> String {
        let doc_len = self.doc_content.map_or(0, |d| d.len() * 4 / 3 + 4)
            + self.data_content.map_or(0, |d| d.len() * 4 / 3 + 4);
        let mut out = String::with_capacity(512 + doc_len);
        out.push_str(DECL);
        out.push_str(r#"<PullURIResponse xmlns:ns2="http://tempuri.org/">"#);
        status_element(&mut out, self.status, self.ts, self.txn);
        out.push_str("<DocDetails>");
        for (name, value) in self.echo.iter().chain(self.udfs) {
            text_element(&mut out, name, value);
        }
        if let Some(p) = self.issued_to {
            issued_to(&mut out, p);
        }
        if let Some(uri) = self.uri {
            text_element(&mut out, "URI", uri);
        }
        if let Some(doc) = self.doc_content {
            base64_element(&mut out, "DocContent", doc);
        }
        if let Some(data) = self.data_content {
            base64_element(&mut out, "DataContent", data);
        }
        out.push_str("</DocDetails></PullURIResponse>");
        out
    }
}

/// The answer to a Pull Doc request.
#[derive(Debug)]
pub struct PullDocResponse<'a> {
    pub status: Status,
    pub ts: &'a str,
    pub txn: &'a str,
    pub doc_content: Option<&'a [u8]>,
    /// The signed certificate XML (current API, `format` xml or both).
    pub data_content: Option<&'a [u8]>,
}

impl PullDocResponse<'_> {
    pub fn to_xml(&self) -> String {
        let doc_len = self.doc_content.map_or(0, |d| d.len() * 4 / 3 + 4);
        let mut out = String::with_capacity(256 + doc_len);
        out.push_str(DECL);
        out.push_str(r#"<PullDocResponse xmlns:ns2="http://tempuri.org/">"#);
        status_element(&mut out, self.status, self.ts, self.txn);
        out.push_str("<DocDetails>");
        if let Some(doc) = self.doc_content {
            base64_element(&mut out, "DocContent", doc);
        }
        if let Some(data) = self.data_content {
            base64_element(&mut out, "DataContent", data);
        }
        out.push_str("</DocDetails></PullDocResponse>");
        out
    }
}

pub use super::build;

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Any bytes at all: a request, or a refusal; never a panic.
        #[test]
        fn any_body_is_read_or_refused(body in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = PullUriRequest::from_xml(&body);
            let _ = PullDocRequest::from_xml(&body);
        }

        /// Text mangled from a good request: still a request or a refusal.
        #[test]
        fn a_mangled_request_is_read_or_refused(cut in 0usize..400, junk in "\\PC{0,20}") {
            let good = build::pull_uri_request("2016-01-11T14:44:48+05:30", "1", "ORG", "k", &[("RollNo", "1")]);
            let at = cut.min(good.len());
            let at = (0..=at).rev().find(|&i| good.is_char_boundary(i)).unwrap_or(0);
            let body = format!("{}{junk}{}", &good[..at], &good[at..]);
            let _ = PullUriRequest::from_xml(body.as_bytes());
        }

        /// What a request builder writes, the reader reads back: every UDF value, with
        /// its XML metacharacters, as sent.
        #[test]
        fn built_requests_round_trip(
            values in proptest::collection::vec("[^\\s\\x00-\\x1f][^\\x00-\\x1f]{0,20}[^\\s\\x00-\\x1f]", 1..4),
            txn in "[A-Za-z0-9<&>\"']{0,12}",
        ) {
            let names: Vec<String> = (0..values.len()).map(|i| format!("Udf{i}")).collect();
            let udfs: Vec<(&str, &str)> = names.iter().map(String::as_str).zip(values.iter().map(String::as_str)).collect();
            let body = build::pull_uri_request("2016-01-11T14:44:48+05:30", &txn, "ORG", "k", &udfs);
            let r = PullUriRequest::from_xml(body.as_bytes()).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(&r.header.txn, &txn);
            let got: Vec<(String, String)> = r.udfs.clone();
            let want: Vec<(String, String)> = names.iter().cloned().zip(values.iter().cloned()).collect();
            prop_assert_eq!(got, want);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED_PULL_URI: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<PullURIRequest xmlns:ns2="http://tempuri.org/" ver="1.0" ts="2016-01-11T14:44:48+05:30"
                txn="1452503688" orgId="ORG" keyhash="abc">
  <DocDetails>
    <RollNo>13333</RollNo> <Year>2016</Year>
  </DocDetails>
</PullURIRequest>"#;

    #[test]
    fn reads_the_seed_pull_uri_request() {
        let r = PullUriRequest::from_xml(SEED_PULL_URI.as_bytes()).expect("parse");
        assert_eq!(r.header.ts, "2016-01-11T14:44:48+05:30");
        assert_eq!(r.header.txn, "1452503688");
        assert_eq!(r.header.org_id, "ORG");
        assert_eq!(r.format, ResponseFormat::Pdf);
        assert_eq!(
            r.udfs,
            vec![
                ("RollNo".into(), "13333".into()),
                ("Year".into(), "2016".into())
            ]
        );
    }

    #[test]
    fn reads_the_current_api_form() {
        let body = r#"<PullURIRequest xmlns="https://www.digitallocker.gov.in/schema/issuer/v1/pullurirequest" ver="3.0" ts="t" txn="1" orgId="o" keyHash="k" format="both">
<DocDetails><DocType>MARKS</DocType><DigiLockerId>123e4567-e89b-12d3-a456-426614174000</DigiLockerId><FullName>A B</FullName><DOB>01-01-2000</DOB><Photo format="JPG">xx</Photo><RollNo>1</RollNo></DocDetails></PullURIRequest>"#;
        let r = PullUriRequest::from_xml(body.as_bytes()).expect("parse");
        assert_eq!(r.format, ResponseFormat::Both);
        assert_eq!(r.doc_type.as_deref(), Some("MARKS"));
        assert_eq!(r.udfs, vec![("RollNo".into(), "1".into())]);
        assert_eq!(r.resident.len(), 3);
        assert_eq!(r.header.keyhash, "k");
    }

    #[test]
    fn a_pull_doc_request_is_not_a_pull_uri_request() {
        let body = build::pull_doc_request("t", "1", "o", "k", "a-B-C");
        assert!(matches!(
            PullUriRequest::from_xml(body.as_bytes()),
            Err(WireError::WrongRoot { .. })
        ));
        assert_eq!(
            PullDocRequest::from_xml(body.as_bytes()).expect("doc").uri,
            "a-B-C"
        );
    }

    #[test]
    fn missing_parts_are_named() {
        let no_ts = SEED_PULL_URI.replace(r#"ts="2016-01-11T14:44:48+05:30""#, "");
        assert_eq!(
            PullUriRequest::from_xml(no_ts.as_bytes()),
            Err(WireError::MissingAttribute("ts"))
        );
        let no_details = r#"<PullDocRequest ts="t" txn="" orgId="" keyhash="k"/>"#;
        assert_eq!(
            PullDocRequest::from_xml(no_details.as_bytes()),
            Err(WireError::MissingElement("DocDetails"))
        );
        let twice = SEED_PULL_URI.replace("<Year>2016</Year>", "<Year>2016</Year><Year>1</Year>");
        assert!(matches!(
            PullUriRequest::from_xml(twice.as_bytes()),
            Err(WireError::Repeated(_))
        ));
    }

    #[test]
    fn response_echoes_and_escapes() {
        let udfs = vec![("RollNo".to_string(), "1<2".to_string())];
        let xml = PullUriResponse {
            status: Status::Success,
            ts: "2016-01-11T14:44:48+05:30",
            txn: "tx\"1",
            echo: &[],
            udfs: &udfs,
            issued_to: None,
            uri: Some("in.gov.x-MARKS-ABC"),
            doc_content: Some(b"%PDF"),
            data_content: None,
        }
        .to_xml();
        let root = xml::parse(xml.as_bytes()).expect("well-formed");
        assert_eq!(root.name, "PullURIResponse");
        let st = root.child("ResponseStatus").expect("status");
        assert_eq!(st.attr("Status"), Some("1"));
        assert_eq!(st.attr("txn"), Some("tx\"1"));
        assert_eq!(st.text, "1");
        let d = root.child("DocDetails").expect("details");
        assert_eq!(d.child("RollNo").expect("udf").text, "1<2");
        assert_eq!(d.child("URI").expect("uri").text, "in.gov.x-MARKS-ABC");
        assert_eq!(d.child("DocContent").expect("doc").text, "JVBERg==");
    }
}
