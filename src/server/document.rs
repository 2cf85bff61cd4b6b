//! What both pull endpoints do once a document is found, whichever store holds it: the
//! resident check, then the parts the caller asked for (the PDF, the certificate XML,
//! made and signed once and then kept), and who it was issued to.

use std::sync::Arc;

use chrono::Utc;

use super::respond::PullError;
use super::AppState;
use crate::auth;
use crate::docs::certificate::dd_mm_yyyy;
use crate::doctype::DocType;
use crate::issuing::{self, Facts, IssueError};
use crate::resident;
use crate::store::documents::{self, DocRecord};
use crate::store::DbConn;
use crate::uri::DocUri;
use crate::wire::{resident_field, Person, RequestHeader, ResponseFormat};

/// What DigiLocker sent about the resident (current API), for matching.
#[derive(Debug, Clone, Default)]
pub(super) struct Resident {
    pub full_name: Option<String>,
    pub dob: Option<String>,
}

impl Resident {
    pub fn from_request(fields: &[(String, String)]) -> Resident {
        Resident {
            full_name: resident_field(fields, "FullName").map(str::to_string),
            dob: resident_field(fields, "DOB").map(str::to_string),
        }
    }
}

/// A document ready to answer with.
pub(super) struct Served {
    /// Answer in the current API's form (see [`is_current`]).
    pub current: bool,
    pub uri: DocUri,
    pub pdf: Option<Vec<u8>>,
    pub xml: Option<Vec<u8>>,
    pub holder: Option<Person>,
    /// Recorded, but its document does not exist yet: Status 9.
    pub pending: bool,
}

impl Served {
    /// A document with the parts asked for.
    pub fn document(
        uri: DocUri,
        facts: &Facts,
        pdf: Option<Vec<u8>>,
        xml: Option<Vec<u8>>,
    ) -> Served {
        Served {
            current: false,
            holder: person(facts),
            uri,
            pdf,
            xml,
            pending: false,
        }
    }

    pub fn pending(uri: DocUri, facts: &Facts) -> Served {
        Served {
            current: true,
            uri,
            pdf: None,
            xml: None,
            holder: person(facts),
            pending: true,
        }
    }

    /// A line for the log: never bytes, never the holder.
    pub fn describe(&self) -> String {
        let mut parts = vec![self.uri.to_string()];
        if self.pending {
            parts.push("pending".into());
        }
        if let Some(p) = &self.pdf {
            parts.push(format!("pdf {} bytes", p.len()));
        }
        if let Some(x) = &self.xml {
            parts.push(format!("xml {} bytes", x.len()));
        }
        parts.join(", ")
    }
}

/// What identifies a request for the replay memory, and until when it must be kept.
#[derive(Debug, Clone)]
pub(super) struct RequestId {
    org_id: String,
    txn: String,
    expires_at: chrono::NaiveDateTime,
}

impl RequestId {
    /// As the replay memory records it.
    pub fn seen(&self) -> crate::store::replay::Seen<'_> {
        crate::store::replay::Seen {
            org_id: &self.org_id,
            txn: &self.txn,
            expires_at: self.expires_at,
        }
    }

    /// For an authenticated request (its ts was checked): kept until its window ends.
    pub fn of(state: &AppState, h: &RequestHeader) -> RequestId {
        let window = chrono::Duration::minutes(state.config.digilocker.ts_window_minutes);
        let expires_at = auth::parse_ts(&h.ts)
            .map(|t| t.naive_utc())
            .unwrap_or_else(|_| Utc::now().naive_utc())
            + window;
        // Without a txn, the keyhash (unique per ts) stands for the request.
        let txn = if h.txn.trim().is_empty() {
            format!("keyhash:{}", h.keyhash)
        } else {
            h.txn.clone()
        };
        RequestId {
            // The configured orgId, which auth matched whatever the request's case or
            // spaces: otherwise "org" and "ORG" were two requests to the memory.
            org_id: state.config.digilocker.org_id.clone(),
            txn,
            expires_at,
        }
    }
}

/// Refuses a request already answered (any server on this database); now and then
/// forgets the ones whose window has ended. Runs on a blocking thread.
fn check_replay(state: &AppState, id: &RequestId) -> Result<(), PullError> {
    if !state.config.digilocker.refuse_replays {
        return Ok(());
    }
    let memory = &state.replay;
    if !memory.first_time(|| state.conn(), &id.org_id, &id.txn, id.expires_at)? {
        return Err(PullError::Replay);
    }
    prune_now_and_then(state, 1, || state.conn())?;
    Ok(())
}

/// Counts `n` more requests remembered; at every thousandth, forgets the requests whose
/// window has ended.
pub(super) fn prune_now_and_then<C: std::ops::DerefMut<Target = DbConn>>(
    state: &AppState,
    n: u64,
    db: impl FnOnce() -> Result<C, crate::store::StoreError>,
) -> Result<(), crate::store::StoreError> {
    use std::sync::atomic::Ordering;
    let before = state.requests.fetch_add(n, Ordering::Relaxed);
    if before.div_ceil(1000) != (before + n).div_ceil(1000) {
        state.replay.prune(db, Utc::now().naive_utc())?;
    }
    Ok(())
}

/// Runs `answer` as a request that may be answered once: refused when replayed, and
/// forgotten again when it fails on our side (5xx), so that a retry gets through.
pub(super) fn once<T>(
    state: &AppState,
    id: &RequestId,
    answer: impl FnOnce() -> Result<T, PullError>,
) -> Result<T, PullError> {
    first_time(state, id)?;
    let result = answer();
    if let Err(e) = &result {
        if must_forget(state, e) {
            forget(state, id);
        }
    }
    result
}

/// [`once`]'s first half: the database is ready and the request is new (recorded as
/// answered from now). Writes when replays are refused: on a blocking thread then.
fn first_time(state: &AppState, id: &RequestId) -> Result<(), PullError> {
    if !state.is_ready() {
        return Err(crate::store::StoreError::Unavailable(
            "the database has not answered since start-up".into(),
        )
        .into());
    }
    check_replay(state, id)
}

/// Whether a request that failed this way must be forgotten, so that its retry (the
/// same txn) gets through: the failure was ours (5xx).
pub(super) fn must_forget(state: &AppState, e: &PullError) -> bool {
    state.config.digilocker.refuse_replays && e.http_status().is_server_error()
}

/// [`once`]'s second half for a failed request. On a blocking thread.
pub(super) fn forget(state: &AppState, id: &RequestId) {
    forget_on(state, id, || {
        state.pool.get().map_err(crate::store::StoreError::from)
    });
}

/// [`forget`] with the connection `db` gives (when the memory is in the database).
/// Best effort: if this fails too, the retry is refused as a replay.
pub(super) fn forget_on<C: std::ops::DerefMut<Target = DbConn>>(
    state: &AppState,
    id: &RequestId,
    db: impl FnOnce() -> Result<C, crate::store::StoreError>,
) {
    let _ = state.replay.forget(db, &id.org_id, &id.txn);
}

/// The format asked for: the request's, else the configured default.
pub(super) fn format_of(state: &AppState, sent: bool, format: ResponseFormat) -> ResponseFormat {
    if sent {
        format
    } else {
        state.config.digilocker.default_format
    }
}

/// Whether to answer in the current API's form (echo, IssuedTo, DataContent): the
/// request used it, or the department's default format is not the 1.0 PDF.
pub(super) fn is_current(state: &AppState, sent_current_fields: bool) -> bool {
    sent_current_fields || state.config.digilocker.default_format != ResponseFormat::Pdf
}

pub(super) fn person(facts: &Facts) -> Option<Person> {
    facts.holder_name.as_ref().map(|name| Person {
        name: name.clone(),
        dob: facts.dob.as_deref().map(dd_mm_yyyy),
        gender: facts.gender.clone(),
        phone: facts.phone.clone(),
    })
}

/// The doc type's resident check; the mismatching field goes to the log only.
pub(super) fn check_resident(
    doctype: &DocType,
    sent: &Resident,
    facts: &Facts,
) -> Result<(), PullError> {
    resident::check(
        doctype.resident_match,
        sent.full_name.as_deref(),
        sent.dob.as_deref(),
        facts.holder_name.as_deref(),
        facts.dob.as_deref(),
    )
    .map_err(PullError::Resident)
}

/// The parts asked for. `pdf` makes (or reads) the PDF of the URI it is given; the
/// certificate XML is read from `kept_xml`, or made from `facts`, signed and kept (with
/// a signing key).
#[allow(clippy::too_many_arguments)]
pub(super) fn serve(
    state: &AppState,
    conn: &mut DbConn,
    doctype: &DocType,
    uri: DocUri,
    facts: &Facts,
    format: ResponseFormat,
    kept_xml: Option<&str>,
    pdf: impl FnOnce(&mut DbConn, &DocUri) -> Result<Vec<u8>, PullError>,
) -> Result<Served, PullError> {
    let pdf = if format.wants_pdf() {
        Some(pdf(conn, &uri)?)
    } else {
        None
    };
    let xml = if format.wants_xml() {
        Some(certificate_xml(
            state, conn, doctype, &uri, facts, kept_xml,
        )?)
    } else {
        None
    };
    Ok(Served::document(uri, facts, pdf, xml))
}

/// [`serve`] for an imported document, already read with its PDF: a PDF answer needs
/// nothing more of the database, so it is made here, in the actix worker, without a
/// hand-off; certificate XML is read, or made and kept, on a blocking thread.
pub(super) async fn serve_kept(
    state: &Arc<AppState>,
    mut record: Box<DocRecord>,
    uri: DocUri,
    facts: Facts,
    format: ResponseFormat,
) -> Result<Served, PullError> {
    // Moved out, not copied: the PDF is the bulk of the record.
    let content = record.content.take();
    let pdf = move |uri: &DocUri| content.ok_or_else(|| PullError::NoContent(uri.to_string()));
    if !format.wants_xml() {
        let pdf = format.wants_pdf().then(|| pdf(&uri)).transpose()?;
        return Ok(Served::document(uri, &facts, pdf, None));
    }
    let st = state.clone();
    let kept_xml = record.xml_sha256.take();
    super::blocking(state, move || {
        let doctype = st
            .config
            .doctype(&uri.doc_type)
            .ok_or_else(|| PullError::DocType(format!("'{}'", uri.doc_type)))?;
        let mut conn = st.conn()?;
        serve(
            &st,
            &mut conn,
            doctype,
            uri,
            &facts,
            format,
            kept_xml.as_deref(),
            move |_, uri| pdf(uri),
        )
    })
    .await
}

fn certificate_xml(
    state: &AppState,
    conn: &mut DbConn,
    doctype: &DocType,
    uri: &DocUri,
    facts: &Facts,
    kept: Option<&str>,
) -> Result<Vec<u8>, PullError> {
    let signer = state.signer.as_ref();
    if let (Some(sha), Some(_)) = (kept, signer) {
        if let Some(bytes) = documents::xml_blob(conn, sha)? {
            return Ok(bytes);
        }
    }
    let xml = issuing::certificate_xml(doctype, facts, signer).map_err(|source: IssueError| {
        PullError::Issue {
            uri: uri.to_string(),
            source,
        }
    })?;
    if signer.is_none() {
        return Ok(xml);
    }
    Ok(documents::keep_xml(
        conn,
        &doctype.code,
        &uri.doc_id,
        &xml,
        Utc::now().naive_utc(),
    )?)
}
