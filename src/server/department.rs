//! Pull URI and Pull Doc for doc types kept in a department's own table. These run on a
//! blocking thread: the department's database is read with sync diesel.

use chrono::Utc;

use super::document::{check_resident, serve, Resident, Served};
use super::respond::PullError;
use super::AppState;
use crate::doctype::DocType;
use crate::issuing::{self, Facts, IssueError};
use crate::store::department::{DeptRow, DeptTable};
use crate::store::DbConn;
use crate::store::{documents, linked};
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
    let mut facts = facts(&row, "");
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
    let doc_id = linked::link(
        &mut conn,
        code,
        &row.row_key,
        &doctype.id_space,
        Utc::now().naive_utc(),
    )?;
    facts.doc_id = doc_id.clone();
    let uri = DocUri::of(&state.config.issuer_id, code, &doc_id);
    if awaits_document(doctype, &row) {
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
    let mut conn = state.conn()?;
    let key = linked::linked_row_key(&mut conn, code, doc_id)?
        .ok_or_else(|| uri_err("no such document"))?;
    let row = dept
        .find_by_key(&key)?
        .ok_or_else(|| uri_err("the department row behind this URI is gone"))?;
    let facts = facts(&row, doc_id);
    check_resident(doctype, resident, &facts)?;
    if awaits_document(doctype, &row) {
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
    let kept_xml =
        documents::find_by_doc_id(conn, &doctype.code, &uri.doc_id)?.and_then(|r| r.xml_sha256);
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

/// A row whose document column is still empty, of a doc type that awaits documents
/// rather than rendering them.
fn awaits_document(doctype: &DocType, row: &DeptRow) -> bool {
    doctype.await_documents
        && row.content.is_none()
        && doctype
            .source
            .as_ref()
            .is_some_and(|s| s.document_column.is_some())
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
    let signer = state.signer.as_ref();
    if signer.is_some() {
        if let Some(kept) = linked::linked_blob(conn, &doctype.code, &uri.doc_id)? {
            return Ok(kept);
        }
    }
    let issue_err = |source: IssueError| PullError::Issue {
        uri: uri.to_string(),
        source,
    };
    let blob = match &row.content {
        Some(bytes) => issuing::seal(bytes.clone(), signer),
        None => issuing::render_and_seal(
            &state.config,
            doctype,
            &facts(row, &uri.doc_id),
            uri,
            signer,
        ),
    }
    .map_err(issue_err)?;
    if signer.is_none() {
        return Ok(blob.bytes.to_vec());
    }
    Ok(linked::keep_linked_blob(
        conn,
        &doctype.code,
        &uri.doc_id,
        &blob.bytes,
        Utc::now().naive_utc(),
    )?)
}

/// A department row's facts, as an imported row's would be.
fn facts(row: &DeptRow, doc_id: &str) -> Facts {
    Facts {
        doc_id: doc_id.to_string(),
        doc_name: row.doc_name.clone(),
        holder_name: row.holder_name.clone(),
        dob: row.dob.clone(),
        gender: row.gender.clone(),
        phone: row.phone.clone(),
        aadhaar: row.aadhaar.clone(),
        issued_on: row.issued_on.clone(),
        valid_from: row.valid_from.clone(),
        valid_to: row.valid_to.clone(),
        fields: row.fields.clone(),
    }
}
