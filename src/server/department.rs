//! Pull URI and Pull Doc for doc types kept in a department's own table. These run on a
//! blocking thread: the department's database is read with sync diesel.

use chrono::Utc;

use super::document::{check_resident, serve, Resident, Served};
use super::gather::Gather;
use super::respond::PullError;
use super::AppState;
use crate::doctype::DocType;
use crate::issuing::department::{self, awaiting, Followed, Link};
use crate::issuing::Facts;
use crate::store::department::{DeptRow, DeptTable};
use crate::store::documents;
use crate::store::linked::{self, LinkedDoc};
use crate::store::DbConn;
use crate::store::StoreError;
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
    let (doctype, dept, reads) = department_of(state, code)?;
    let Found {
        mut rows,
        link,
        kept,
    } = find(state, dept, reads, values, format.wants_pdf())?;
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
    let (doc_id, current) = follow(state, &mut conn, doctype, &row, link)?;
    facts.doc_id = doc_id.clone();
    let uri = DocUri::of(&state.config.issuer_id, code, &doc_id);
    if awaiting(doctype, &row) {
        return Ok(Served::pending(uri, &facts));
    }
    let source = RowDoc {
        row: &row,
        kept: kept.filter(|_| current),
    };
    serve_row(state, &mut conn, doctype, source, uri, &facts, format)
}

/// The department rows with these search fields (at most two) and, for one row, its
/// link when it was read with them.
pub(super) struct Found {
    rows: Vec<DeptRow>,
    link: Link,
    /// The signed bytes kept for the link, read with it (a signing server's).
    kept: Option<Vec<u8>>,
}

/// A department row's document as a pull serves it: made from the row, or the signed
/// bytes kept for it when they were read with a link that is still current.
struct RowDoc<'a> {
    row: &'a DeptRow,
    kept: Option<Vec<u8>>,
}

/// What a Pull Doc of a department DocId finds: its link, and the row behind it
/// (not read for a revoked one). `None`: never handed out.
type Linked = Option<LinkedRow>;

pub(super) struct LinkedRow {
    known: LinkedDoc,
    row: Option<DeptRow>,
    /// As [`Found::kept`].
    kept: Option<Vec<u8>>,
}

/// A pull's ask of a read together: what it seeks, and whether its answer holds a PDF
/// (the signed bytes kept for a link are read only then: an XML-only answer never
/// serves them).
type Ask<T> = (T, bool);

/// One department table's reads waiting to be read together: Pull URI by search
/// fields, Pull Doc by DocId.
pub(super) struct Gathers {
    uris: Gather<Ask<Vec<String>>, Found>,
    docs: Gather<Ask<String>, Linked>,
}

impl Gathers {
    pub fn new(most: usize) -> Self {
        Gathers {
            uris: Gather::new(most),
            docs: Gather::new(most),
        }
    }
}

/// Whether a read together brings the signed bytes kept for its links: on a signing
/// server, when some ask's answer holds a PDF.
fn reads_kept<T>(state: &AppState, asks: &[Ask<T>]) -> bool {
    state.signer.is_some() && asks.iter().any(|(_, pdf)| *pdf)
}

/// The rows a Pull URI seeks. On PostgreSQL with others waiting, read together with
/// theirs, links included: two queries for the lot instead of two each.
fn find(
    state: &AppState,
    dept: &DeptTable,
    reads: &Gathers,
    values: &[String],
    wants_pdf: bool,
) -> Result<Found, PullError> {
    if let Some(g) = dept.reads_together().then_some(reads) {
        let read = |asks: Vec<Ask<Vec<String>>>| logged(dept, rows_together(state, dept, &asks));
        if let Some(found) = g.uris.ask((values.to_vec(), wants_pdf), read) {
            return Ok(found);
        }
    }
    Ok(Found {
        rows: dept.find_by_udfs(values)?,
        link: Link::Unread,
        kept: None,
    })
}

/// The rows and links of several Pull URIs of one doc type.
fn rows_together(
    state: &AppState,
    dept: &DeptTable,
    asks: &[Ask<Vec<String>>],
) -> Result<Vec<Found>, StoreError> {
    let values: Vec<&[String]> = asks.iter().map(|(v, _)| v.as_slice()).collect();
    let rows = dept.find_by_udfs_among(&values)?;
    // Links only of asks that found their one row: no other is served.
    let keys: Vec<&str> = rows
        .iter()
        .filter(|r| r.len() == 1)
        .map(|r| r[0].row_key.as_str())
        .collect();
    let kept = reads_kept(state, asks);
    let mut links = match keys.is_empty() {
        true => Vec::new(),
        false => linked::linked_docs_among(&mut *state.conn()?, &dept.doctype, &keys, kept)?,
    }
    .into_iter();
    Ok(rows
        .into_iter()
        .zip(asks)
        .map(|(rows, (_, wants_pdf))| match rows.len() {
            1 => {
                let (doc, kept) = match links.next().flatten() {
                    Some(known) => (Some(known.doc), known.kept.filter(|_| *wants_pdf)),
                    None => (None, None),
                };
                Found {
                    rows,
                    link: Link::Read(doc),
                    kept,
                }
            }
            _ => Found {
                rows,
                link: Link::Unread,
                kept: None,
            },
        })
        .collect())
}

/// The link and row a Pull Doc seeks, read together with others waiting as [`find`].
fn find_linked(
    state: &AppState,
    dept: &DeptTable,
    reads: &Gathers,
    doc_id: &str,
    wants_pdf: bool,
) -> Result<Linked, PullError> {
    if let Some(g) = dept.reads_together().then_some(reads) {
        let read = |asks: Vec<Ask<String>>| logged(dept, linked_together(state, dept, &asks));
        if let Some(found) = g.docs.ask((doc_id.to_string(), wants_pdf), read) {
            return Ok(found);
        }
    }
    // One connection at a time: without `source.database_url` the department's table
    // is read through the server's own pool, and a thread holding one connection while
    // it waits for a second starved the pool under load (503 after the pool's timeout).
    let code = &dept.doctype;
    let Some((key, known)) = linked::linked_row_key(&mut *state.conn()?, code, doc_id)? else {
        return Ok(None);
    };
    let row = match known.status == documents::status::REVOKED {
        true => None,
        false => dept.find_by_key(&key)?,
    };
    Ok(Some(LinkedRow {
        known,
        row,
        kept: None,
    }))
}

/// The links and rows of several Pull Docs of one doc type.
fn linked_together(
    state: &AppState,
    dept: &DeptTable,
    asks: &[Ask<String>],
) -> Result<Vec<Linked>, StoreError> {
    let ids: Vec<&str> = asks.iter().map(|(id, _)| id.as_str()).collect();
    let kept = reads_kept(state, asks);
    let links = linked::linked_row_keys_among(&mut *state.conn()?, &dept.doctype, &ids, kept)?;
    let live = |k: &linked::Known| k.doc.status != documents::status::REVOKED;
    let keys: Vec<&str> = links
        .iter()
        .flatten()
        .filter(|(_, k)| live(k))
        .map(|(key, _)| key.as_str())
        .collect();
    let mut rows = dept.find_by_keys_among(&keys)?.into_iter();
    Ok(links
        .into_iter()
        .zip(asks)
        .map(|(link, (_, wants_pdf))| {
            let (_, found) = link?;
            let row = live(&found).then(|| rows.next().flatten()).flatten();
            Some(LinkedRow {
                known: found.doc,
                row,
                kept: found.kept.filter(|_| *wants_pdf),
            })
        })
        .collect())
}

/// A read together that failed is logged, and each of its asks is read alone (`None`)
/// to get its own error.
fn logged<R>(dept: &DeptTable, read: Result<Vec<R>, StoreError>) -> Option<Vec<R>> {
    read.map_err(|e| {
        tracing::warn!(error = %e, doctype = %dept.doctype, "department rows read together failed; each is read alone");
    })
    .ok()
}

pub(super) fn pull_doc(
    state: &AppState,
    code: &str,
    doc_id: &str,
    resident: &Resident,
    format: ResponseFormat,
) -> Result<Served, PullError> {
    let (doctype, dept, reads) = department_of(state, code)?;
    let uri = DocUri::of(&state.config.issuer_id, code, doc_id);
    let uri_err = |reason: &str| PullError::Uri {
        uri: uri.to_string(),
        reason: reason.to_string(),
    };
    let LinkedRow { known, row, kept } =
        find_linked(state, dept, reads, doc_id, format.wants_pdf())?
            .ok_or_else(|| uri_err("no such document"))?;
    if known.status == documents::status::REVOKED {
        return Err(PullError::Revoked(uri.to_string()));
    }
    let row = row.ok_or_else(|| uri_err("the department row behind this URI is gone"))?;
    let mut conn = state.conn()?;
    let (_, current) = follow(state, &mut conn, doctype, &row, Link::Read(Some(known)))?;
    let facts = department::facts(&row, doc_id);
    check_resident(doctype, resident, &facts)?;
    if awaiting(doctype, &row) {
        return Err(uri_err(
            "the document is recorded but not made yet (pending)",
        ));
    }
    let source = RowDoc {
        row: &row,
        kept: kept.filter(|_| current),
    };
    serve_row(state, &mut conn, doctype, source, uri, &facts, format)
}

fn serve_row(
    state: &AppState,
    conn: &mut DbConn,
    doctype: &DocType,
    source: RowDoc<'_>,
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
    serve(
        state,
        conn,
        doctype,
        uri,
        facts,
        format,
        kept_xml.as_deref(),
        |conn, uri| document(state, conn, doctype, source, uri),
    )
}

/// The row's DocId, after recording what changed since dlrepo last read it (a changed
/// row's document is made again below; a cancelled or revoked one is refused). `known`:
/// the row's link, when the caller has just read it; the bool: whether it was current.
fn follow(
    state: &AppState,
    conn: &mut DbConn,
    doctype: &DocType,
    row: &DeptRow,
    known: Link,
) -> Result<(String, bool), PullError> {
    let issuer = &state.config.issuer_id;
    let vault = state.vault.as_ref();
    let (followed, current) = department::follow(conn, issuer, doctype, row, known, vault)?;
    match followed {
        Followed::Live { doc_id, .. } => Ok((doc_id, current)),
        Followed::Revoked { doc_id, .. } => Err(PullError::Revoked(
            DocUri::of(&state.config.issuer_id, &doctype.code, &doc_id).to_string(),
        )),
    }
}

/// The doc type, its department table and the table's reads gathered together.
fn department_of<'s>(
    state: &'s AppState,
    code: &str,
) -> Result<(&'s DocType, &'s DeptTable, &'s Gathers), PullError> {
    let doctype = state
        .config
        .doctype(code)
        .ok_or_else(|| PullError::DocType(format!("'{code}'")))?;
    let (table, reads) = state.department_table(code)?;
    Ok((doctype, table, reads))
}

/// With a signing key: the bytes signed on the first pull, kept, so every pull serves
/// the same signed file (read with the link when it was read together). Without: the
/// row's document as it is now.
fn document(
    state: &AppState,
    conn: &mut DbConn,
    doctype: &DocType,
    source: RowDoc<'_>,
    uri: &DocUri,
) -> Result<Vec<u8>, PullError> {
    let row = source.row;
    let issue = |source| PullError::Issue {
        uri: uri.to_string(),
        source,
    };
    let Some(signer) = state.signer.as_ref() else {
        return department::make_unsigned(&state.config, doctype, row, uri).map_err(issue);
    };
    if let Some(kept) = source.kept {
        return Ok(kept);
    }
    if let Some(kept) = linked::linked_blob(conn, &doctype.code, &uri.doc_id)? {
        return Ok(kept);
    }
    let blob = department::make(&state.config, doctype, row, uri, Some(signer)).map_err(issue)?;
    Ok(linked::keep_linked_blob(
        conn,
        &doctype.code,
        &uri.doc_id,
        &row.digest(),
        &blob.bytes,
        Some(signer.cert_id().as_str()),
        Utc::now().naive_utc(),
    )?)
}
