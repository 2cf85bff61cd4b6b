//! Pull URI and Pull Doc for doc types kept in a department's own table. These run on a
//! blocking thread: the department's database is read with sync diesel.

use chrono::Utc;

use super::pull_uri::Found;
use super::respond::PullError;
use super::AppState;
use crate::doctype::DocType;
use crate::issuing::{self, Facts, IssueError};
use crate::store::department::{DeptRow, DeptTable};
use crate::store::documents;
use crate::store::{DbConn, StoreError};
use crate::uri::DocUri;

/// Find the one row, tie it to a stable DocId (minted on its first pull), and serve its
/// document.
pub(super) fn pull_uri(
    state: &AppState,
    code: &str,
    values: &[String],
) -> Result<Found, PullError> {
    let (doctype, dept) = department_of(state, code)?;
    let mut rows = dept.find_by_udfs(values)?;
    let row = match rows.len() {
        0 => return Err(PullError::NotFound),
        1 => rows.remove(0),
        _ => return Err(PullError::Ambiguous),
    };
    let mut conn = state.pool.get().map_err(StoreError::from)?;
    let doc_id = documents::link(
        &mut conn,
        code,
        &row.row_key,
        &doctype.id_space,
        Utc::now().naive_utc(),
    )?;
    let uri = DocUri::of(&state.config.issuer_id, code, &doc_id);
    let content = document(state, &mut conn, doctype, &row, &uri)?;
    Ok(Found { uri, content })
}

pub(super) fn pull_doc(
    state: &AppState,
    code: &str,
    doc_id: &str,
    uri: &str,
) -> Result<Vec<u8>, PullError> {
    let (doctype, dept) = department_of(state, code)?;
    let uri_err = |reason: &str| PullError::Uri {
        uri: uri.to_string(),
        reason: reason.to_string(),
    };
    let mut conn = state.pool.get().map_err(StoreError::from)?;
    let key = documents::linked_row_key(&mut conn, code, doc_id)?
        .ok_or_else(|| uri_err("no such document"))?;
    let row = dept
        .find_by_key(&key)?
        .ok_or_else(|| uri_err("the department row behind this URI is gone"))?;
    let uri = DocUri::of(&state.config.issuer_id, code, doc_id);
    document(state, &mut conn, doctype, &row, &uri)
}

fn department_of<'s>(
    state: &'s AppState,
    code: &str,
) -> Result<(&'s DocType, &'s DeptTable), PullError> {
    match (state.config.doctype(code), state.departments.get(code)) {
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
        if let Some(kept) = documents::linked_blob(conn, &doctype.code, &uri.doc_id)? {
            return Ok(kept);
        }
    }
    let issue_err = |source: IssueError| PullError::Issue {
        uri: uri.to_string(),
        source,
    };
    let blob = match &row.content {
        Some(bytes) => issuing::seal(bytes.clone(), signer),
        None => issuing::render_and_seal(&state.config, doctype, &facts(row, uri), uri, signer),
    }
    .map_err(issue_err)?;
    if signer.is_none() {
        return Ok(blob.bytes.to_vec());
    }
    Ok(documents::keep_linked_blob(
        conn,
        &doctype.code,
        &uri.doc_id,
        &blob.bytes,
        Utc::now().naive_utc(),
    )?)
}

/// A department row's facts, as an imported row's would be.
fn facts(row: &DeptRow, uri: &DocUri) -> Facts {
    Facts {
        doc_id: uri.doc_id.clone(),
        doc_name: row.doc_name.clone(),
        holder_name: row.holder_name.clone(),
        aadhaar: row.aadhaar.clone(),
        issued_on: row.issued_on.clone(),
        valid_from: row.valid_from.clone(),
        valid_to: row.valid_to.clone(),
        fields: row.fields.clone(),
    }
}
