//! Batches readied on the reader's thread while the writer writes the one before:
//! DocIds minted, rows sorted, on PostgreSQL the DocIds checked against the table on a
//! connection of their own, so that the writer's backend only copies, and documents'
//! bytes made on every core: certificates rendered, files signed ([`BytesAhead`]).
//!
//! The check sees committed rows only. The writer's own rows of batches that were not
//! yet committed when a batch was checked are [`Recent`]: the writer keeps their DocIds
//! and holds back a checked row that drew one of them, to be minted again and checked
//! on its own connection like any row whose DocId was taken.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use super::given::GivenIds;
use super::row::{Content, FileBytes, ValidRow};
use crate::config::Config;
use crate::docs::keys::SigningKey;
use crate::doctype::DocType;
use crate::issuing;
use crate::store::{bulk, DbConn};
use crate::uri::DocUri;

/// How many rounds of minting again a batch's taken DocIds get before the writer is left
/// to deal with the rest.
const CHECK_ROUNDS: usize = 4;

/// The most DocIds [`Recent`] holds (~30 MiB); past it, batches checked before are
/// checked again by the writer (a transaction of many batches, `--commit-after`).
const RECENT_CAP: usize = 500_000;

/// What the reader thread does to a batch before handing it over.
pub(super) struct Ahead<'a> {
    pub doctype: &'a DocType,
    /// DocIds rows of the file give: never minted.
    given: &'a GivenIds,
    check: Option<Check<'a>>,
    bytes: BytesAhead<'a>,
}

/// Documents' bytes made before the writer takes the batch, on as many threads as the
/// machine has cores: rows without a file rendered and signed under their minted
/// DocIds, and the files rows name signed. On one thread a rendered import ran at the
/// speed of one core (1,062 rows/s on SQLite with the Latin-1 mark sheet; on PostgreSQL
/// each such row was also a few round trips on the row-by-row path), and an import of
/// a PDF per row at the speed of one core's RSA signatures.
pub(super) struct BytesAhead<'a> {
    pub config: &'a Config,
    pub signer: Option<&'a SigningKey>,
    pub threads: usize,
    /// The writer found most of its last batch already issued: a re-run, whose rows
    /// need no new bytes, so none are made ahead.
    pub rerun_likely: &'a AtomicBool,
    /// Bytes a rendered row came to in the last batch rendered, for the reader to cut
    /// batches by size ([`super::BATCH_FILE_BYTES`]); a bilingual certificate is 50 KiB.
    pub bytes_per_row: usize,
}

struct Check<'a> {
    conn: DbConn,
    /// How many batches the writer has committed.
    committed: &'a AtomicU64,
}

impl<'a> Ahead<'a> {
    /// `check`: a second connection to a PostgreSQL store, and the writer's count of
    /// committed batches; None on SQLite, whose bulk insert skips taken DocIds itself.
    pub fn new(
        doctype: &'a DocType,
        given: &'a GivenIds,
        check: Option<(DbConn, &'a AtomicU64)>,
        bytes: BytesAhead<'a>,
    ) -> Self {
        let check = check.map(|(conn, committed)| Check { conn, committed });
        Self {
            doctype,
            given,
            check,
            bytes,
        }
    }

    /// Mints the batch's DocIds (unique within it), sorts it by search fields (the
    /// lookup index then fills its pages in sequence, ~15% faster at a million rows in
    /// random order), where it can checks the DocIds against the table, renders the
    /// rows without a file under them and signs the files rows name. Returns the
    /// number of batches committed before the check when every minted DocId was free
    /// then.
    pub fn ready(&mut self, batch: &mut [ValidRow]) -> Option<u64> {
        let checked = self.mint_and_check(batch);
        self.bytes.render(self.doctype, batch);
        self.bytes.seal_files(batch);
        checked
    }

    /// What a row to render is expected to hold in memory once rendered.
    pub fn render_estimate(&self) -> usize {
        self.bytes.bytes_per_row
    }

    fn mint_and_check(&mut self, batch: &mut [ValidRow]) -> Option<u64> {
        let mut ids = HashSet::with_capacity(batch.len());
        for row in batch.iter_mut().filter(|r| r.minted) {
            row.doc.doc_id = mint_unique(self.doctype, self.given, &mut ids);
        }
        // Equal search fields stay in file order: the bulk insert keeps the first and
        // the row path compares the rest with it (refused, or with `--correct` applied
        // over it), as when the lines fall in different batches.
        batch.sort_unstable_by(|a, b| {
            (a.doc.udf_key.as_deref(), a.line).cmp(&(b.doc.udf_key.as_deref(), b.line))
        });
        let check = self.check.as_mut()?;
        let stamp = check.committed.load(Ordering::Acquire);
        let mut todo: Vec<usize> = (0..batch.len()).filter(|&i| batch[i].minted).collect();
        for _ in 0..CHECK_ROUNDS {
            let asked: Vec<&str> = todo.iter().map(|&i| batch[i].doc.doc_id.as_str()).collect();
            let taken = match bulk::taken_doc_ids(&mut check.conn, &self.doctype.code, &asked) {
                Ok(Some(taken)) => taken,
                // Not PostgreSQL, or its connection failed: the writer checks instead.
                Ok(None) | Err(_) => {
                    self.check = None;
                    return None;
                }
            };
            todo.retain(|&i| taken.contains(&batch[i].doc.doc_id));
            if todo.is_empty() {
                return Some(stamp);
            }
            for &i in &todo {
                batch[i].doc.doc_id = mint_unique(self.doctype, self.given, &mut ids);
            }
        }
        None
    }
}

impl BytesAhead<'_> {
    /// Renders and signs the batch's rows that have no file (under their minted or
    /// given DocIds), split over the threads. A row that fails to render is left as it
    /// was: the writer renders it again and reports why.
    fn render(&mut self, doctype: &DocType, batch: &mut [ValidRow]) {
        if self.rerun_likely.load(Ordering::Relaxed) {
            return;
        }
        let mut rows: Vec<&mut ValidRow> = batch
            .iter_mut()
            .filter(|r| matches!(r.content, Content::Render(_)))
            .collect();
        on_threads(&mut rows, self.threads, |row| self.render_row(doctype, row));
        let made: Vec<usize> = rows
            .iter()
            .filter_map(|r| r.ready_bytes().map(|b| b.bytes.len()))
            .collect();
        if !made.is_empty() {
            self.bytes_per_row = made.iter().sum::<usize>() / made.len();
        }
    }

    /// Signs and names the batch's files not yet sealed, each once however many rows
    /// name it, split over the threads. A file that fails is left for the writer's row
    /// path to report.
    fn seal_files(&self, batch: &[ValidRow]) {
        if self.rerun_likely.load(Ordering::Relaxed) {
            return;
        }
        let mut seen = HashSet::new();
        let mut files: Vec<&FileBytes> = batch
            .iter()
            .filter_map(|r| match &r.content {
                Content::File(f) if !f.is_sealed() && seen.insert(Arc::as_ptr(f)) => Some(&**f),
                _ => None,
            })
            .collect();
        on_threads(&mut files, self.threads, |file| {
            let _ = file.seal(self.signer);
        });
    }

    fn render_row(&self, doctype: &DocType, row: &mut ValidRow) {
        let Content::Render(facts) = &mut row.content else {
            return;
        };
        facts.doc_id.clone_from(&row.doc.doc_id);
        let uri = DocUri::of(&self.config.issuer_id, &doctype.code, &row.doc.doc_id);
        let Ok(blob) = issuing::render_and_seal(self.config, doctype, facts, &uri, self.signer)
        else {
            return;
        };
        row.content = match std::mem::replace(&mut row.content, Content::Pending) {
            Content::Render(facts) => Content::Rendered(facts, blob),
            other => other,
        };
    }
}

/// `work` on each item, the items split in turn over up to `threads` threads.
fn on_threads<T: Send>(items: &mut [T], threads: usize, work: impl Fn(&mut T) + Sync) {
    if items.is_empty() {
        return;
    }
    let per_thread = items.len().div_ceil(threads.max(1));
    let work = &work;
    std::thread::scope(|scope| {
        for part in items.chunks_mut(per_thread) {
            scope.spawn(move || part.iter_mut().for_each(work));
        }
    });
}

/// Draws before a mint gives up avoiding what it should: in a space that is nearly
/// full (the file giving most of its DocIds) the last draw is returned anyway, and the
/// database's clash handling refuses the row with "no free DocId" rather than minting
/// looping for ever.
const DRAWS: usize = 256;

/// A DocId not yet drawn into `ids`, and none a row of the file gives.
pub(super) fn mint_unique(
    doctype: &DocType,
    given: &GivenIds,
    ids: &mut HashSet<String>,
) -> String {
    draw(doctype, |id| {
        !given.contains(id) && ids.insert(id.to_string())
    })
}

/// A DocId none of the file's rows gives.
pub(super) fn mint(doctype: &DocType, given: &GivenIds) -> String {
    draw(doctype, |id| !given.contains(id))
}

/// The first of up to [`DRAWS`] fresh DocIds that `free` takes, else the last drawn.
fn draw(doctype: &DocType, mut free: impl FnMut(&str) -> bool) -> String {
    let mut id = doctype.id_space.mint();
    for _ in 0..DRAWS {
        if free(&id) {
            break;
        }
        id = doctype.id_space.mint();
    }
    id
}

/// The DocIds the writer wrote in batches that a batch checked ahead may not have seen
/// committed, with their batch numbers; forgotten once every batch still to come was
/// checked after they were committed.
#[derive(Default)]
pub(super) struct Recent {
    by_id: HashMap<String, u64>,
    /// The lowest batch number held.
    oldest: u64,
    /// The first batch number whose DocIds are all here (those before were forgotten
    /// when the memory was full).
    floor: u64,
}

impl Recent {
    /// Whether a batch checked when `stamp` batches were committed can rely on its check
    /// together with these DocIds.
    pub fn covers(&self, stamp: u64) -> bool {
        stamp + 1 >= self.floor
    }

    /// Forgets the batches committed before the check of `stamp` (stamps only grow).
    pub fn forget_up_to(&mut self, stamp: u64) {
        if self.oldest <= stamp && !self.by_id.is_empty() {
            self.by_id.retain(|_, n| *n > stamp);
            self.oldest = stamp + 1;
        }
    }

    /// Whether a DocId was written by one of these batches.
    pub fn contains(&self, doc_id: &str) -> bool {
        self.by_id.contains_key(doc_id)
    }

    /// Batch number `n` wrote these DocIds.
    pub fn add(&mut self, n: u64, ids: Vec<String>) {
        if self.by_id.len() + ids.len() > RECENT_CAP {
            *self = Recent {
                floor: n,
                ..Recent::default()
            };
        }
        if self.by_id.is_empty() {
            self.oldest = n;
        }
        self.by_id.extend(ids.into_iter().map(|id| (id, n)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn recent_keeps_what_a_check_may_not_have_seen_and_forgets_the_rest() {
        let mut r = Recent::default();
        r.add(1, ids(&["AAAAA", "BBBBB"]));
        r.add(2, ids(&["CCCCC"]));
        // A batch checked when nothing was committed: batches 1 and 2 are unseen.
        assert!(r.covers(0));
        assert!(r.contains("AAAAA") && r.contains("CCCCC"));
        // Checked once batch 1 was committed: its DocIds were seen by the check.
        r.forget_up_to(1);
        assert!(!r.contains("AAAAA"));
        assert!(r.contains("CCCCC"));
        r.forget_up_to(2);
        assert!(!r.contains("CCCCC"));
    }

    #[test]
    fn recent_past_its_cap_starts_again_and_no_longer_covers_older_checks() {
        let mut r = Recent::default();
        let many: Vec<String> = (0..RECENT_CAP).map(|i| format!("{i:07}")).collect();
        r.add(1, many);
        assert!(r.covers(0));
        r.add(2, ids(&["ZZZZZ"]));
        // Batch 1's DocIds are gone: a check made before it was committed is not
        // enough any more, one made after it still is.
        assert!(!r.contains("0000000"));
        assert!(r.contains("ZZZZZ"));
        assert!(!r.covers(0));
        assert!(r.covers(1));
    }
}
