//! PushCSVRequest / PushCSVResponse: the issuer's bulk upload of URIs (SPEC.md, 8.1).

use base64::Engine;

use super::xml::{self, escape, Element};
use super::WireError;

/// The request body we POST to the central CSV Upload API.
pub fn push_csv_request(
    ts: &str,
    txn: &str,
    org_id: &str,
    keyhash: &str,
    file_name: &str,
    csv: &[u8],
) -> String {
    let mut out = String::with_capacity(csv.len() * 4 / 3 + 512);
    out.push_str(r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>"#);
    out.push_str(&format!(
        r#"<PushCSVRequest xmlns:ns2="http://tempuri.org/" ver="1.0" ts="{}" txn="{}" orgId="{}" keyhash="{}"><DocDetails><DocContent>"#,
        escape(ts),
        escape(txn),
        escape(org_id),
        escape(keyhash)
    ));
    base64::engine::general_purpose::STANDARD.encode_string(csv, &mut out);
    out.push_str("</DocContent><FileName>");
    out.push_str(&escape(file_name));
    out.push_str("</FileName></DocDetails></PushCSVRequest>");
    out
}

/// The elements of `UriDetails`, in the order of the CSV columns.
pub const URI_DETAILS: [&str; 10] = [
    "Aadhaar",
    "Uri",
    "DocType",
    "DocName",
    "DocId",
    "IssuedOn",
    "ValidFrom",
    "ValidTo",
    "Timestamp",
    "Action",
];

/// A single PushUriRequest (the `issuedoc` endpoint): one document's row.
pub fn push_uri_request(
    ts: &str,
    txn: &str,
    org_id: &str,
    keyhash: &str,
    values: &[String; 10],
) -> String {
    let mut out = format!(
        r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><PushUriRequest xmlns:ns2="http://tempuri.org/" ver="1.0" ts="{}" txn="{}" orgId="{}" keyhash="{}"><UriDetails>"#,
        escape(ts),
        escape(txn),
        escape(org_id),
        escape(keyhash)
    );
    for (name, value) in URI_DETAILS.iter().zip(values) {
        out.push_str(&format!("<{name}>{}</{name}>", escape(value)));
    }
    out.push_str("</UriDetails></PushUriRequest>");
    out
}

/// A PushUriRequest as the central API (or our stand-in of it) reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushUriRequest {
    pub ts: String,
    pub txn: String,
    pub org_id: String,
    pub keyhash: String,
    pub values: [String; 10],
}

impl PushUriRequest {
    pub fn from_xml(body: &[u8]) -> Result<Self, WireError> {
        let root = xml::parse(body)?;
        if root.name != "PushUriRequest" {
            return Err(WireError::WrongRoot {
                expected: "PushUriRequest",
                found: root.name,
            });
        }
        let attr = |n: &'static str| {
            root.attr(n)
                .map(str::to_string)
                .ok_or(WireError::MissingAttribute(n))
        };
        let d = root
            .child("UriDetails")
            .ok_or(WireError::MissingElement("UriDetails"))?;
        let mut values: [String; 10] = Default::default();
        for (slot, name) in values.iter_mut().zip(URI_DETAILS) {
            *slot = d.child(name).map(|e| e.text.clone()).unwrap_or_default();
        }
        Ok(PushUriRequest {
            ts: attr("ts")?,
            txn: attr("txn")?,
            org_id: attr("orgId")?,
            keyhash: attr("keyhash")?,
            values,
        })
    }
}

/// A PushCSVRequest as the central API (or our stand-in of it) reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushCsvRequest {
    pub ts: String,
    pub txn: String,
    pub org_id: String,
    pub keyhash: String,
    pub file_name: String,
    pub csv: Vec<u8>,
}

impl PushCsvRequest {
    pub fn from_xml(body: &[u8]) -> Result<Self, WireError> {
        let root = xml::parse(body)?;
        if root.name != "PushCSVRequest" {
            return Err(WireError::WrongRoot {
                expected: "PushCSVRequest",
                found: root.name,
            });
        }
        let attr = |n: &'static str| {
            root.attr(n)
                .map(str::to_string)
                .ok_or(WireError::MissingAttribute(n))
        };
        let d = root
            .child("DocDetails")
            .ok_or(WireError::MissingElement("DocDetails"))?;
        let text = |n: &'static str| {
            d.child(n)
                .map(|e| e.text.clone())
                .ok_or(WireError::MissingElement(n))
        };
        let csv = base64::engine::general_purpose::STANDARD
            .decode(text("DocContent")?.as_bytes())
            .map_err(|_| WireError::MissingElement("DocContent (valid base64)"))?;
        Ok(PushCsvRequest {
            ts: attr("ts")?,
            txn: attr("txn")?,
            org_id: attr("orgId")?,
            keyhash: attr("keyhash")?,
            file_name: text("FileName")?,
            csv,
        })
    }
}

pub fn push_csv_response(ts: &str, txn: &str, org_id: &str, status: &str, message: &str) -> String {
    push_response("PushCSVResponse", ts, txn, org_id, status, message)
}

/// The answer to a PushCSVRequest (`PushCSVResponse`) or a PushUriRequest
/// (`PushUriResponse`): the same two elements.
pub fn push_response(
    root: &str,
    ts: &str,
    txn: &str,
    org_id: &str,
    status: &str,
    message: &str,
) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><{root} xmlns:ns2="http://tempuri.org/" ver="1.0" ts="{}" txn="{}" orgId="{}"><ResponseStatus>{}</ResponseStatus><ResponseMessage>{}</ResponseMessage></{root}>"#,
        escape(ts),
        escape(txn),
        escape(org_id),
        escape(status),
        escape(message)
    )
}

/// What the central API answered. Its body is untrusted: anything but a well-formed
/// PushCSVResponse with ResponseStatus 0 or 1 is an error with the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushCsvResponse {
    pub accepted: bool,
    pub message: String,
}

impl PushCsvResponse {
    pub fn from_xml(body: &[u8]) -> Result<Self, String> {
        let root: Element = xml::parse(body).map_err(|e| format!("answer is not XML: {e}"))?;
        if root.name != "PushCSVResponse" && root.name != "PushUriResponse" {
            return Err(format!(
                "answer is <{}>, not <PushCSVResponse> or <PushUriResponse>",
                root.name
            ));
        }
        let status = root
            .child("ResponseStatus")
            .map(|e| e.text.trim().to_string())
            .ok_or("answer has no ResponseStatus")?;
        let message = root
            .child("ResponseMessage")
            .map(|e| e.text.chars().take(500).collect())
            .unwrap_or_default();
        match status.as_str() {
            "1" => Ok(PushCsvResponse {
                accepted: true,
                message,
            }),
            "0" => Ok(PushCsvResponse {
                accepted: false,
                message,
            }),
            other => Err(format!(
                "answer has unknown ResponseStatus '{}'",
                other.chars().take(20).collect::<String>()
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_uri_request_round_trips() {
        let values: [String; 10] = [
            "234123412346",
            "in.gov.x-MARKS-ABC",
            "MARKS",
            "Mark <Sheet> & Co",
            "ABC",
            "15/05/2024",
            "",
            "",
            "15/05/2024 10:00:00 AM",
            "A",
        ]
        .map(String::from);
        let body = push_uri_request("t", "1", "o", "k", &values);
        let r = PushUriRequest::from_xml(body.as_bytes()).expect("parse");
        assert_eq!(r.values, values);
        assert_eq!((r.ts.as_str(), r.org_id.as_str()), ("t", "o"));
        let answer = push_response("PushUriResponse", "t", "1", "o", "1", "ok");
        assert!(
            PushCsvResponse::from_xml(answer.as_bytes())
                .expect("answer")
                .accepted
        );
    }

    #[test]
    fn request_round_trips() {
        let body = push_csv_request("t", "1", "ORG", "k", "a&b.csv", b"x,y\n");
        let r = PushCsvRequest::from_xml(body.as_bytes()).expect("parse");
        assert_eq!(r.file_name, "a&b.csv");
        assert_eq!(r.csv, b"x,y\n");
        assert_eq!(r.org_id, "ORG");
    }

    #[test]
    fn untrusted_answers_are_errors_not_panics() {
        let ok = push_csv_response("t", "1", "o", "1", "fine");
        assert!(
            PushCsvResponse::from_xml(ok.as_bytes())
                .expect("ok")
                .accepted
        );
        let no = push_csv_response("t", "1", "o", "0", "bad row 3");
        let r = PushCsvResponse::from_xml(no.as_bytes()).expect("parsed");
        assert!(!r.accepted);
        assert_eq!(r.message, "bad row 3");
        for bad in [
            "<html>502</html>".to_string(),
            "not xml".to_string(),
            push_csv_response("t", "1", "o", "7", "?"),
            "<PushCSVResponse/>".to_string(),
        ] {
            assert!(PushCsvResponse::from_xml(bad.as_bytes()).is_err(), "{bad}");
        }
    }
}
