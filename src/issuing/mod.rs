//! One issuing path for every document dlrepo serves: its bytes (a given file, or a
//! certificate rendered from one set of [`Facts`]) are checked, signed once, and named
//! by their SHA-256 before the store keeps them; its push row is built here too. Import,
//! correction, revocation and department-table rows all go through this file, so a
//! template or a signature behaves the same whichever way a document came in.

pub mod department;
pub mod resign;

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{NaiveDateTime, Utc};

use crate::config::Config;
use crate::docs::certificate::{self, CertificateFacts, Holder};
use crate::docs::keys::SigningKey;
use crate::docs::{pdf_sign, render, xmldsig};
use crate::doctype::DocType;
use crate::push::outbox::{self, Action, NewOutboxRow};
use crate::store::documents::{self, blob_id, DocRecord};
use crate::store::{DbConn, StoreError};
use crate::uri::DocUri;

/// Why a document's bytes could not be made: an operator's problem (a broken template,
/// file or key), never the caller's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IssueError {
    #[error("not a PDF file")]
    NotPdf,
    #[error("cannot render the certificate: {0}")]
    Render(String),
    #[error("cannot sign: {0}")]
    Sign(String),
}

/// What a rendered certificate says, whichever way the row came in.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    pub doc_id: String,
    pub doc_name: Option<String>,
    pub holder_name: Option<String>,
    pub dob: Option<String>,
    pub gender: Option<String>,
    pub phone: Option<String>,
    /// The number, or its vault reference: only the last four digits are ever printed.
    pub aadhaar: Option<String>,
    /// Dates as the department wrote them.
    pub issued_on: Option<String>,
    pub valid_from: Option<String>,
    pub valid_to: Option<String>,
    /// Search fields, then further columns, as (name, value) in print order.
    pub fields: Vec<(String, String)>,
}

impl Facts {
    /// The values a template reads, by field name.
    pub fn template_values(&self) -> HashMap<String, String> {
        let mut values: HashMap<String, String> = self.fields.iter().cloned().collect();
        values.insert("doc_id".into(), self.doc_id.clone());
        for (k, v) in [
            ("doc_name", &self.doc_name),
            ("holder_name", &self.holder_name),
            ("dob", &self.dob),
            ("gender", &self.gender),
            ("phone", &self.phone),
            ("issued_on", &self.issued_on),
            ("valid_from", &self.valid_from),
            ("valid_to", &self.valid_to),
        ] {
            if let Some(v) = v {
                values.insert(k.into(), v.clone());
            }
        }
        if let Some(a) = &self.aadhaar {
            values.insert("aadhaar_last4".into(), masked(a));
        }
        values
    }

    /// The lines of the plain built-in page.
    fn plain_lines(&self) -> Vec<(&str, &str)> {
        let mut lines: Vec<(&str, &str)> = self
            .fields
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        for (label, v) in [
            ("Name", &self.holder_name),
            ("Document", &self.doc_name),
            ("Issued on", &self.issued_on),
        ] {
            if let Some(v) = v {
                lines.push((label, v));
            }
        }
        lines
    }
}

impl Facts {
    /// The facts of a stored document: its search fields back from the lookup key,
    /// its further fields from `data`. Its values are moved out of the record, not
    /// copied (a pull drops the record after; its PDF and XML digest are left in it).
    pub fn from_record(doctype: &DocType, r: &mut DocRecord) -> Facts {
        let mut fields: Vec<(String, String)> = Vec::new();
        if let Some(key) = r.udf_key.as_deref() {
            fields.extend(
                doctype
                    .udfs
                    .iter()
                    .zip(key.split(documents::UDF_SEPARATOR))
                    .map(|(u, v)| (u.name.clone(), v.to_string())),
            );
        }
        if let Some(serde_json::Value::Object(map)) = r
            .data
            .as_deref()
            .and_then(|d| serde_json::from_str::<serde_json::Value>(d).ok())
        {
            for (k, v) in map {
                if let serde_json::Value::String(v) = v {
                    fields.push((k, v));
                }
            }
        }
        Facts {
            doc_id: std::mem::take(&mut r.doc_id),
            doc_name: r.doc_name.take(),
            holder_name: r.holder_name.take(),
            dob: r.holder_dob.take(),
            gender: r.holder_gender.take(),
            phone: r.holder_phone.take(),
            aadhaar: r.aadhaar.take(),
            issued_on: r.issued_on.take(),
            valid_from: r.valid_from.take(),
            valid_to: r.valid_to.take(),
            fields,
        }
    }
}

/// The doc type's certificate XML for a document, signed (enveloped XMLDSig) with the
/// key that signs its PDFs when one is configured.
pub fn certificate_xml(
    doctype: &DocType,
    facts: &Facts,
    signer: Option<&SigningKey>,
) -> Result<Vec<u8>, IssueError> {
    let today = Utc::now().date_naive().format("%Y-%m-%d").to_string();
    let name = facts.doc_name.as_deref().unwrap_or(&doctype.name);
    let xml = certificate::build(
        &doctype.certificate,
        &CertificateFacts {
            name,
            number: &facts.doc_id,
            issue_date: facts.issued_on.as_deref(),
            valid_from: facts.valid_from.as_deref(),
            expiry: facts.valid_to.as_deref(),
            status: certificate::status_code(false, facts.valid_to.as_deref(), &today),
            holder: Holder {
                name: facts.holder_name.clone(),
                dob: facts.dob.clone(),
                gender: facts.gender.clone(),
                phone: facts.phone.clone(),
                uid: facts.aadhaar.as_deref().map(masked),
            },
            fields: &facts.fields,
        },
    );
    match signer {
        Some(key) => xmldsig::sign_enveloped(&xml, key)
            .map(String::into_bytes)
            .map_err(|e| IssueError::Sign(e.to_string())),
        None => Ok(format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{xml}").into_bytes()),
    }
}

/// An Aadhaar number or vault reference as it may be shown: its last four digits.
fn masked(a: &str) -> String {
    format!("********{}", crate::vault::last4(a))
}

/// Bytes ready to store: signed (when a key is configured) and named.
#[derive(Debug, Clone)]
pub struct Blob {
    pub sha256: String,
    pub bytes: Arc<Vec<u8>>,
}

/// The doc type's template, or the plain page, filled from `facts`.
pub fn render(
    config: &Config,
    doctype: &DocType,
    facts: &Facts,
    uri: &DocUri,
) -> Result<Vec<u8>, IssueError> {
    let uri = uri.to_string();
    match &doctype.template {
        Some(t) => t
            .render(&facts.template_values(), &uri)
            .map_err(|e| IssueError::Render(e.to_string())),
        None => {
            let title = facts.doc_name.as_deref().unwrap_or(&doctype.name);
            let issuer = config.issuer_name.as_deref().unwrap_or(&config.issuer_id);
            render::plain_certificate(issuer, title, &facts.plain_lines(), &uri)
                .map_err(|e| IssueError::Render(e.to_string()))
        }
    }
}

/// Whether `bytes` are a PDF, as far as storing them goes: its header.
pub fn check_pdf(bytes: &[u8]) -> Result<(), IssueError> {
    if bytes.starts_with(b"%PDF-") {
        Ok(())
    } else {
        Err(IssueError::NotPdf)
    }
}

/// Checks that `bytes` are a PDF, signs them once with `signer`, and names the result.
pub fn seal(bytes: Vec<u8>, signer: Option<&SigningKey>) -> Result<Blob, IssueError> {
    check_pdf(&bytes)?;
    let bytes = match signer {
        Some(key) => {
            let started = std::time::Instant::now();
            let signed = pdf_sign::sign(&bytes, key, Utc::now())
                .map_err(|e| IssueError::Sign(e.to_string()))?;
            if let Some(m) = crate::metrics::get() {
                m.signatures.inc();
                m.signing_seconds.observe(started.elapsed().as_secs_f64());
            }
            signed
        }
        None => bytes,
    };
    Ok(Blob {
        sha256: blob_id(&bytes),
        bytes: Arc::new(bytes),
    })
}

/// Rendered and sealed in one step.
pub fn render_and_seal(
    config: &Config,
    doctype: &DocType,
    facts: &Facts,
    uri: &DocUri,
    signer: Option<&SigningKey>,
) -> Result<Blob, IssueError> {
    seal(render(config, doctype, facts, uri)?, signer)
}

/// What the push of one document's change needs to say.
pub struct PushFacts<'a> {
    pub aadhaar: &'a str,
    pub uri: &'a DocUri,
    pub doc_name: &'a str,
    pub issued_on: Option<&'a str>,
    pub valid_from: Option<&'a str>,
    pub valid_to: Option<&'a str>,
}

/// The outbox row of an issued (A), corrected (U) or revoked (D) document.
pub fn outbox_row(doc: &PushFacts<'_>, action: Action, now: NaiveDateTime) -> NewOutboxRow {
    NewOutboxRow {
        aadhaar: doc.aadhaar.to_string(),
        uri: doc.uri.to_string(),
        doc_type: doc.uri.doc_type.clone(),
        doc_name: doc.doc_name.to_string(),
        doc_id: doc.uri.doc_id.clone(),
        issued_on: doc.issued_on.map(str::to_string),
        valid_from: doc.valid_from.map(str::to_string),
        valid_to: doc.valid_to.map(str::to_string),
        action: action.code().to_string(),
        time_stamp: now,
    }
}

/// The push rows a change of one document makes, by the Aadhaar reference it had and
/// has: an update under the same number is U; under another number the old holder's
/// link is deleted (D) and the new one's added (A); a number removed is D, one added A.
pub fn push_actions<'a>(
    action: Action,
    before: Option<&'a str>,
    after: Option<&'a str>,
) -> Vec<(&'a str, Action)> {
    match (action, before, after) {
        (Action::Update, Some(b), Some(a)) if b == a => vec![(a, Action::Update)],
        (Action::Update, Some(b), Some(a)) => vec![(b, Action::Delete), (a, Action::Add)],
        (Action::Update, Some(b), None) => vec![(b, Action::Delete)],
        (Action::Update, None, Some(a)) => vec![(a, Action::Add)],
        (action, _, Some(a)) => vec![(a, action)],
        (_, _, None) => Vec::new(),
    }
}

/// Revokes an issued document and, when it was pushed under an Aadhaar number, queues
/// its D row, in one transaction. `None`: no issued document has that URI; otherwise
/// whether a D row was queued.
pub fn revoke(
    conn: &mut DbConn,
    doctype: &DocType,
    uri: &DocUri,
    now: NaiveDateTime,
) -> Result<Option<bool>, StoreError> {
    crate::store::write_transaction(conn, |conn| {
        let revoked = if doctype.source.is_some() {
            // A department row's document: revoked for good, whatever the row says.
            let known = documents::find_by_doc_id(conn, &doctype.code, &uri.doc_id)?;
            match known {
                Some(r)
                    if crate::store::linked::revoke_linked(
                        conn,
                        &doctype.code,
                        &uri.doc_id,
                        now,
                    )? =>
                {
                    Some(documents::Revoked {
                        aadhaar: r.aadhaar,
                        doc_name: r.doc_name,
                        issued_on: r.issued_on,
                        valid_from: r.valid_from,
                        valid_to: r.valid_to,
                    })
                }
                _ => None,
            }
        } else {
            documents::revoke(conn, &doctype.code, &uri.doc_id, now)?
        };
        let Some(r) = revoked else {
            return Ok(None);
        };
        let Some(aadhaar) = &r.aadhaar else {
            return Ok(Some(false));
        };
        let facts = PushFacts {
            aadhaar,
            uri,
            doc_name: r.doc_name.as_deref().unwrap_or(&doctype.name),
            issued_on: r.issued_on.as_deref(),
            valid_from: r.valid_from.as_deref(),
            valid_to: r.valid_to.as_deref(),
        };
        outbox::enqueue(conn, &[outbox_row(&facts, Action::Delete, now)])?;
        Ok(Some(true))
    })
}
