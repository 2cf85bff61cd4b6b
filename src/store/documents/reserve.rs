//! `dlrepo mint`: DocIds reserved ahead of their documents.

use chrono::NaiveDateTime;

use super::super::{DbConn, StoreError};
use super::{insert_if_free, lock_doctype, status, NewDocument};
use crate::uri::DocIdSpace;

/// Clashes tolerated for one DocId before giving up: with a space 10x the documents, the
/// chance of even two in a row is below 1%.
pub const MINT_ATTEMPTS: usize = 16;

#[derive(Debug, thiserror::Error)]
#[error("no free DocId after {MINT_ATTEMPTS} attempts: the DocId space of {0} is nearly full; raise expected_count")]
pub struct SpaceExhausted(pub String);

/// `dlrepo mint`: reserves `count` fresh DocIds in one transaction.
pub fn reserve(
    conn: &mut DbConn,
    doctype: &str,
    space: &DocIdSpace,
    count: usize,
    now: NaiveDateTime,
) -> Result<Vec<String>, StoreError> {
    // Minters and imports of one doc type take turns (lock_doctype), so none waits on
    // another's uncommitted DocIds. Ids still go in sorted, and a deadlock PostgreSQL
    // breaks by aborting this transaction (with a writer that takes no turn) is retried.
    let mut attempt = 0u64;
    loop {
        let result = super::super::write_transaction(conn, |conn| {
            lock_doctype(conn, doctype)?;
            let mut ids = Vec::with_capacity(count);
            let mut doc = NewDocument::bare(doctype, status::RESERVED, None, now);
            for _ in 0..MINT_ATTEMPTS {
                let mut round: Vec<String> = std::iter::repeat_with(|| space.mint())
                    .take(count - ids.len())
                    .collect();
                round.sort_unstable();
                round.dedup();
                for id in round {
                    doc.doc_id = id;
                    if insert_if_free(conn, &doc)? {
                        ids.push(doc.doc_id.clone());
                    }
                }
                if ids.len() == count {
                    return Ok(ids);
                }
            }
            Err(StoreError::Unavailable(
                SpaceExhausted(doctype.to_string()).to_string(),
            ))
        });
        match result {
            Err(e) if attempt < 30 && super::super::is_retryable(&e) => {
                attempt += 1;
                std::thread::sleep(std::time::Duration::from_millis(
                    rand::random::<u64>() % (20 * attempt.min(10)) + 10,
                ));
            }
            other => return other,
        }
    }
}
