//! `dlrepo resign`: every stored document of a doc type made and signed again with the
//! configured key — after a key change, or a template change. Rendered certificates
//! are rendered again from what the document says, a department row's document from
//! its row; a department's own PDF (imported as a file) is signed again on top, an
//! incremental update whose signature covers the whole file.
//!
//! Each document records the certificate it was signed with (`signed_with`); resign
//! takes only those signed with another, in id order, a batch per transaction, so a
//! run killed midway is resumed by running it again: nothing is signed twice, nothing
//! is skipped. The copy it replaces is kept in `document_versions`.

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use super::{department, render_and_seal, seal, Facts, IssueError};
use crate::config::Config;
use crate::docs::keys::SigningKey;
use crate::doctype::DocType;
use crate::store::department::DeptTable;
use crate::store::documents::{self, made, status};
use crate::store::schema::documents as docs;
use crate::store::versions;
use crate::store::{DbConn, StoreError};
use crate::uri::DocUri;

#[derive(Debug, thiserror::Error)]
pub enum ResignError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{uri}: {source}")]
    Issue { uri: String, source: IssueError },
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct ResignReport {
    pub resigned: u64,
    /// Department documents whose row is gone: left as they are.
    pub skipped: u64,
}

#[derive(Queryable)]
struct Target {
    id: i64,
    doc_id: String,
    udf_key: Option<String>,
    blob_sha256: Option<String>,
    xml_sha256: Option<String>,
    made_from: Option<String>,
    fingerprint: Option<String>,
}

/// How many stored documents were signed with another certificate than `key`'s: what
/// `serve` reports at start-up after a key change.
pub fn signed_with_another(conn: &mut DbConn, key: &SigningKey) -> Result<i64, StoreError> {
    Ok(docs::table
        .filter(docs::blob_sha256.is_not_null())
        .filter(docs::signed_with.is_not_null())
        .filter(docs::signed_with.ne(key.cert_id()))
        .count()
        .get_result(conn)?)
}

/// Signs again every document of `doctype` not yet signed with `key` (issued since
/// `since`, when given), `batch` per transaction.
#[allow(clippy::too_many_arguments)]
pub fn resign(
    conn: &mut DbConn,
    config: &Config,
    doctype: &DocType,
    table: Option<&DeptTable>,
    key: &SigningKey,
    since: Option<NaiveDate>,
    batch: i64,
    mut progress: impl FnMut(&ResignReport),
) -> Result<ResignReport, ResignError> {
    let current = key.cert_id();
    let since = since.and_then(|d| d.and_hms_opt(0, 0, 0));
    let mut report = ResignReport::default();
    let mut after = 0i64;
    loop {
        let mut q = docs::table
            .filter(docs::doctype.eq(&doctype.code))
            .filter(docs::status.eq_any([status::ISSUED, status::LINKED]))
            .filter(docs::blob_sha256.is_not_null())
            .filter(
                docs::signed_with
                    .is_null()
                    .or(docs::signed_with.ne(&current)),
            )
            .filter(docs::id.gt(after))
            .into_boxed();
        if let Some(t) = since {
            q = q.filter(docs::created_at.ge(t));
        }
        let targets: Vec<Target> = q
            .order(docs::id)
            .limit(batch)
            .select((
                docs::id,
                docs::doc_id,
                docs::udf_key,
                docs::blob_sha256,
                docs::xml_sha256,
                docs::made_from,
                docs::fingerprint,
            ))
            .load(conn)
            .map_err(StoreError::from)?;
        let Some(last) = targets.last() else { break };
        after = last.id;
        let now = chrono::Utc::now().naive_utc();
        // Made outside the transaction (signing is the slow part), written in one.
        let mut made_now = Vec::with_capacity(targets.len());
        for t in &targets {
            match remake(conn, config, doctype, table, key, t)? {
                Some(bytes) => made_now.push((t, bytes)),
                None => report.skipped += 1,
            }
        }
        crate::store::write_transaction(conn, |conn| {
            for (t, bytes) in &made_now {
                if replace(conn, doctype, t, bytes, &current, now)? {
                    report.resigned += 1;
                }
            }
            Ok::<_, StoreError>(())
        })?;
        progress(&report);
    }
    Ok(report)
}

/// The document's bytes made again and signed; None for a department row that is gone.
fn remake(
    conn: &mut DbConn,
    config: &Config,
    doctype: &DocType,
    table: Option<&DeptTable>,
    key: &SigningKey,
    t: &Target,
) -> Result<Option<Vec<u8>>, ResignError> {
    let uri = DocUri::of(&config.issuer_id, &doctype.code, &t.doc_id);
    let failed = |source| ResignError::Issue {
        uri: uri.to_string(),
        source,
    };
    if let Some(table) = table {
        let Some(row) = t
            .udf_key
            .as_deref()
            .map(|k| table.find_by_key(k))
            .transpose()?
            .flatten()
        else {
            return Ok(None);
        };
        let blob = department::make(config, doctype, &row, &uri, Some(key)).map_err(failed)?;
        return Ok(Some(blob.bytes.to_vec()));
    }
    let Some(mut record) = documents::find_by_doc_id(conn, &doctype.code, &t.doc_id)? else {
        return Ok(None);
    };
    let blob = if t.made_from.as_deref() == Some(made::RENDER) {
        let facts = Facts::from_record(doctype, &mut record);
        render_and_seal(config, doctype, &facts, &uri, Some(key))
    } else {
        // The department's own PDF: its original is not kept; sign the stored file again.
        let stored = record.content.clone().unwrap_or_default();
        seal(stored, Some(key))
    }
    .map_err(failed)?;
    Ok(Some(blob.bytes.to_vec()))
}

/// Stores the new bytes and keeps the old ones as a version, unless the document
/// changed meanwhile (compare-and-set on its bytes).
fn replace(
    conn: &mut DbConn,
    doctype: &DocType,
    t: &Target,
    bytes: &[u8],
    current: &str,
    now: NaiveDateTime,
) -> Result<bool, StoreError> {
    let sha = documents::blob_id(bytes);
    documents::put_blob(conn, &sha, bytes, now)?;
    let n = diesel::update(
        docs::table
            .filter(docs::id.eq(t.id))
            .filter(docs::blob_sha256.eq(&t.blob_sha256)),
    )
    .set((
        docs::blob_sha256.eq(&sha),
        docs::xml_sha256.eq(None::<String>),
        docs::signed_with.eq(current),
        docs::updated_at.eq(now),
    ))
    .execute(conn)?;
    if n == 1 {
        let copy = versions::Replaced {
            doctype: &doctype.code,
            doc_id: &t.doc_id,
            blob_sha256: t.blob_sha256.as_deref(),
            xml_sha256: t.xml_sha256.as_deref(),
            fingerprint: t.fingerprint.as_deref(),
        };
        versions::keep(conn, &copy, now)?;
    }
    Ok(n == 1)
}
