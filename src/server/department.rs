//! Pull URI and Pull Doc for doc types kept in a department's own table. These run on a
//! blocking thread: the department's database is read with sync diesel.

use chrono::Utc;

use super::document::{check_resident, serve, Resident, Served};
use super::respond::PullError;
use super::AppState;
use crate::doctype::DocType;
use crate::issuing::department::{self, awaiting, Followed};
use crate::issuing::Facts;
use crate::store::department::{DeptRow, DeptTable};
use crate::store::documents;
use crate::store::linked::{self, LinkedDoc};
use crate::store::DbConn;
use crate::uri::DocUri;
use crate::wire::ResponseFormat;

/// Find the one row, tie it to a stable DocId (minted on its first pull), and serve its
/// document.
pub(super) fn pull_uri(
    state: &AppState,
    code: &str,
    values: &[String],
    resident: &Resident,
    format: ResponseFormat,
) -> Result<Served, PullError> {
    let (doctype, dept) = department_of(state, code)?;
    let mut rows = dept.find_by_udfs(values)?;
    let row = match rows.len() {
        0 => return Err(PullError::NotFound),
        1 => rows.remove(0),
        _ => return Err(PullError::Ambiguous),
    };
    let mut facts = department::facts(&row, "");
    // The search fields are the row's too: the certificate XML may map them.
    facts.fields.extend(
        doctype
            .udfs
            .iter()
            .zip(values)
            .map(|(u, v)| (u.name.clone(), v.clone())),
    );
    check_resident(doctype, resident, &facts)?;
    let mut conn = state.conn()?;
    let doc_id = follow(state, &mut conn, doctype, &row, None)?;
    facts.doc_id = doc_id.clone();
    let uri = DocUri::of(&state.config.issuer_id, code, &doc_id);
    if awaiting(doctype, &row) {
        return Ok(Served::pending(uri, &facts));
    }
    serve_row(state, &mut conn, doctype, &row, uri, &facts, format)
}

pub(super) fn pull_doc(
    state: &AppState,
    code: &str,
    doc_id: &str,
    resident: &Resident,
    format: ResponseFormat,
) -> Result<Served, PullError> {
    let (doctype, dept) = department_of(state, code)?;
    let uri = DocUri::of(&state.config.issuer_id, code, doc_id);
    let uri_err = |reason: &str| PullError::Uri {
        uri: uri.to_string(),
        reason: reason.to_string(),
    };
    // One connection at a time: without `source.database_url` the department's table
    // is read through the server's own pool, and a thread holding one connection while
    // it waits for a second starved the pool under load (503 after the pool's timeout).
    let (key, known) = linked::linked_row_key(&mut *state.conn()?, code, doc_id)?
        .ok_or_else(|| uri_err("no such document"))?;
    if known.status == documents::status::REVOKED {
        return Err(PullError::Revoked(uri.to_string()));
    }
    let row = dept
        .find_by_key(&key)?
        .ok_or_else(|| uri_err("the department row behind this URI is gone"))?;
    let mut conn = state.conn()?;
    follow(state, &mut conn, doctype, &row, Some(known))?;
    let facts = department::facts(&row, doc_id);
    check_resident(doctype, resident, &facts)?;
    if awaiting(doctype, &row) {
        return Err(uri_err(
            "the document is recorded but not made yet (pending)",
        ));
    }
    serve_row(state, &mut conn, doctype, &row, uri, &facts, format)
}

fn serve_row(
    state: &AppState,
    conn: &mut DbConn,
    doctype: &DocType,
    row: &DeptRow,
    uri: DocUri,
    facts: &Facts,
    format: ResponseFormat,
) -> Result<Served, PullError> {
    // Read only for an answer with certificate XML: a PDF-only pull (most) is spared
    // a query.
    let kept_xml = if format.wants_xml() {
        documents::find_by_doc_id(conn, &doctype.code, &uri.doc_id)?.and_then(|r| r.xml_sha256)
    } else {
        None
    };
    let pdf_uri = uri.clone();
    serve(
        state,
        conn,
        doctype,
        uri,
        facts,
        format,
        kept_xml.as_deref(),
        |conn| document(state, conn, doctype, row, &pdf_uri),
    )
}

/// The row's DocId, after recording what changed since dlrepo last read it (a changed
/// row's document is made again below; a cancelled or revoked one is refused). `known`:
/// the row's link, when the caller has just read it.
fn follow(
    state: &AppState,
    conn: &mut DbConn,
    doctype: &DocType,
    row: &DeptRow,
    known: Option<LinkedDoc>,
) -> Result<String, PullError> {
    let issuer = &state.config.issuer_id;
    let followed = department::follow(conn, issuer, doctype, row, known, state.vault.as_ref())?;
    match followed {
        Followed::Live { doc_id, .. } => Ok(doc_id),
        Followed::Revoked { doc_id, .. } => Err(PullError::Revoked(
            DocUri::of(&state.config.issuer_id, &doctype.code, &doc_id).to_string(),
        )),
    }
}

fn department_of<'s>(
    state: &'s AppState,
    code: &str,
) -> Result<(&'s DocType, &'s DeptTable), PullError> {
    match (state.config.doctype(code), state.departments().get(code)) {
        (Some(d), Some(t)) => Ok((d, t)),
        _ => Err(PullError::DocType(format!("'{code}'"))),
    }
}

/// With a signing key: the bytes signed on the first pull, kept, so every pull serves
/// the same signed file. Without: the row's document as it is now.
fn document(
    state: &AppState,
    conn: &mut DbConn,
    doctype: &DocType,
    row: &DeptRow,
    uri: &DocUri,
) -> Result<Vec<u8>, PullError> {
    let issue = |source| PullError::Issue {
        uri: uri.to_string(),
        source,
    };
    let Some(signer) = state.signer.as_ref() else {
        return department::make_unsigned(&state.config, doctype, row, uri).map_err(issue);
    };
    if let Some(kept) = linked::linked_blob(conn, &doctype.code, &uri.doc_id)? {
        return Ok(kept);
    }
    let blob = department::make(&state.config, doctype, row, uri, Some(signer)).map_err(issue)?;
    Ok(linked::keep_linked_blob(
        conn,
        &doctype.code,
        &uri.doc_id,
        &blob.bytes,
        Some(signer.cert_id().as_str()),
        Utc::now().naive_utc(),
    )?)
}
