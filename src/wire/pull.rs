//! Pull URI and Pull Doc: the two calls DigiLocker makes to an issuer (SPEC.md).

use base64::Engine;

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
    fn from_root(root: &Element) -> Result<Self, WireError> {
        let req = |name: &'static str| {
            root.attr(name)
                .map(str::to_string)
                .ok_or(WireError::MissingAttribute(name))
        };
        Ok(RequestHeader {
            ver: root.attr("ver").map(|v| v.trim().to_string()),
            ts: req("ts")?,
            txn: req("txn")?,
            org_id: req("orgId")?,
            // The seed's table spells it keyHash, its samples keyhash; attr() ignores case.
            keyhash: req("keyhash")?,
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

fn details(root: &Element) -> Result<&Element, WireError> {
    let mut found = root.children.iter().filter(|c| c.name == "DocDetails");
    let d = found
        .next()
        .ok_or(WireError::MissingElement("DocDetails"))?;
    if found.next().is_some() {
        return Err(WireError::Repeated("DocDetails".into()));
    }
    Ok(d)
}

/// `DocDetails` children that are not UDFs in the later API versions.
const KNOWN_DETAILS: &[&str] = &["DocType", "DigiLockerId", "UID", "FullName", "DOB", "Photo"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullUriRequest {
    pub header: RequestHeader,
    pub format: ResponseFormat,
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
        let root = root_named(body, Self::ROOT)?;
        let header = RequestHeader::from_root(&root)?;
        let format = match root.attr("format").map(|f| f.trim().to_ascii_lowercase()) {
            None => ResponseFormat::Pdf,
            Some(f) if f.is_empty() || f == "pdf" => ResponseFormat::Pdf,
            Some(f) if f == "xml" => ResponseFormat::Xml,
            Some(f) if f == "both" => ResponseFormat::Both,
            Some(f) => return Err(WireError::Format(f)),
        };
        let mut doc_type = None;
        let mut udfs: Vec<(String, String)> = Vec::new();
        let mut resident = Vec::new();
        for c in &details(&root)?.children {
            if !c.children.is_empty() && c.name != "Photo" {
                return Err(WireError::Nested(c.name.clone()));
            }
            if udfs.iter().any(|(n, _)| n == &c.name)
                || resident
                    .iter()
                    .any(|(n, _): &(String, String)| n == &c.name)
                || (c.name == "DocType" && doc_type.is_some())
            {
                return Err(WireError::Repeated(c.name.clone()));
            }
            match c.name.as_str() {
                "DocType" => doc_type = Some(c.text.clone()),
                "Photo" => {}
                n if KNOWN_DETAILS.contains(&n) => resident.push((c.name.clone(), c.text.clone())),
                _ => udfs.push((c.name.clone(), c.text.clone())),
            }
        }
        Ok(PullUriRequest {
            header,
            format,
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
}

impl PullDocRequest {
    pub const ROOT: &'static str = "PullDocRequest";

    pub fn from_xml(body: &[u8]) -> Result<Self, WireError> {
        let root = root_named(body, Self::ROOT)?;
        let header = RequestHeader::from_root(&root)?;
        let d = details(&root)?;
        let mut uris = d.children.iter().filter(|c| c.name == "URI");
        let uri = uris.next().ok_or(WireError::MissingElement("URI"))?;
        if uris.next().is_some() {
            return Err(WireError::Repeated("URI".into()));
        }
        Ok(PullDocRequest {
            header,
            uri: uri.text.clone(),
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

fn base64_element(out: &mut String, name: &str, bytes: &[u8]) {
    out.push('<');
    out.push_str(name);
    out.push('>');
    base64::engine::general_purpose::STANDARD.encode_string(bytes, out);
    out.push_str("</");
    out.push_str(name);
    out.push('>');
}

/// The answer to a Pull URI request. `ts` and `txn` are the request's.
#[derive(Debug)]
pub struct PullUriResponse<'a> {
    pub status: Status,
    pub ts: &'a str,
    pub txn: &'a str,
    pub udfs: &'a [(String, String)],
    pub uri: Option<&'a str>,
    pub doc_content: Option<&'a [u8]>,
}

impl PullUriResponse<'_> {
    pub fn to_xml(&self) -> String {
        let doc_len = self.doc_content.map_or(0, |d| d.len() * 4 / 3 + 4);
        let mut out = String::with_capacity(512 + doc_len);
        out.push_str(DECL);
        out.push_str(r#"<PullURIResponse xmlns:ns2="http://tempuri.org/">"#);
        status_element(&mut out, self.status, self.ts, self.txn);
        out.push_str("<DocDetails>");
        for (name, value) in self.udfs {
            text_element(&mut out, name, value);
        }
        if let Some(uri) = self.uri {
            text_element(&mut out, "URI", uri);
        }
        if let Some(doc) = self.doc_content {
            base64_element(&mut out, "DocContent", doc);
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
        out.push_str("</DocDetails></PullDocResponse>");
        out
    }
}

/// Builders for the requests, used by the demo's curl line, the tests and the benchmarks.
pub mod build {
    use super::escape;

    pub fn pull_uri_request(
        ts: &str,
        txn: &str,
        org_id: &str,
        keyhash: &str,
        udfs: &[(&str, &str)],
    ) -> String {
        let mut details = String::new();
        for (n, v) in udfs {
            details.push_str(&format!("<{n}>{}</{n}>", escape(v)));
        }
        format!(
            r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><PullURIRequest xmlns:ns2="http://tempuri.org/" ver="1.0" ts="{}" txn="{}" orgId="{}" keyhash="{}"><DocDetails>{details}</DocDetails></PullURIRequest>"#,
            escape(ts),
            escape(txn),
            escape(org_id),
            escape(keyhash)
        )
    }

    pub fn pull_doc_request(ts: &str, txn: &str, org_id: &str, keyhash: &str, uri: &str) -> String {
        format!(
            r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><PullDocRequest xmlns:ns2="http://tempuri.org/" ver="1.0" ts="{}" txn="{}" orgId="{}" keyhash="{}"><DocDetails><URI>{}</URI></DocDetails></PullDocRequest>"#,
            escape(ts),
            escape(txn),
            escape(org_id),
            escape(keyhash),
            escape(uri)
        )
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
            udfs: &udfs,
            uri: Some("in.gov.x-MARKS-ABC"),
            doc_content: Some(b"%PDF"),
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
