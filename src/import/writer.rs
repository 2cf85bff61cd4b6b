//! The database side of an import: batches written inside the caller's transaction,
//! DocIds minted, bytes rendered and signed through [`crate::issuing`], push rows queued
//! with the documents.

use std::collections::HashSet;

use chrono::{NaiveDateTime, Utc};

use super::ahead::{mint, mint_unique, Recent};
use super::given::GivenIds;
use super::known::{differing_field, own_bytes, KnownLive};
use super::row::{Content, ValidRow};
use super::Rejection;
use crate::config::Config;
use crate::docs::keys::SigningKey;
use crate::doctype::DocType;
use crate::issuing::{self, Blob, Facts, PushFacts};
use crate::push::outbox::{self, Action};
use crate::store::documents::{self, NewDocument};
use crate::store::{bulk, DbConn, StoreError};
use crate::uri::DocUri;
use crate::vault::Vault;

/// Blob ids the writer remembers as stored, at most (~100 bytes each).
const KEPT_BLOB_IDS: usize = 100_000;

/// What one batch did.
pub(super) struct BatchOutcome {
    /// (line, URI) of each row written.
    pub done: Vec<(u64, String)>,
    /// Rows refused by the database side (a conflict, a DocId taken).
    pub rejected: Vec<Rejection>,
    /// Rows already issued exactly so (a re-run of the same file).
    pub unchanged: u64,
    /// (line, URI) of each of those, when the writer lists them ([`Writer::list_unchanged`]).
    pub already: Vec<(u64, String)>,
    /// DocIds the batch wrote (in bulk or row by row), when batches are checked ahead.
    pub written_ids: Vec<String>,
}

/// What became of one row on the row-by-row path.
enum RowOutcome {
    /// With the Aadhaar reference the document had before, for an update.
    Written(Action, Option<String>),
    /// With the DocId of the document it is.
    Unchanged(String),
    Rejected(String),
}

/// The database side of an import.
pub(super) struct Writer<'a> {
    pub config: &'a Config,
    pub doctype: &'a DocType,
    /// DocIds rows of the file give: never minted.
    pub given: &'a GivenIds,
    /// Blobs committed by this import, so each distinct file is written once.
    pub stored_blobs: HashSet<String>,
    /// Blobs written in the open transaction: committed with it, or forgotten.
    pub new_blobs: HashSet<String>,
    /// Most of the last batch was already issued: this is likely a re-run, so the next
    /// batch's live documents are looked up before its bulk insert, not after. Shared
    /// with the reader, which then makes no bytes ahead.
    pub rerun_likely: &'a std::sync::atomic::AtomicBool,
    /// No row of the last batch was found already issued: the next batch's rows are
    /// likely all new too, which lets PostgreSQL copy them straight in.
    pub all_new_last: bool,
    /// Batches written so far, and committed so far (read by the reader's DocId check).
    pub batches_written: u64,
    pub batches_committed: &'a std::sync::atomic::AtomicU64,
    /// DocIds of batches a batch checked ahead may not have seen committed; None when
    /// batches are not checked ahead (SQLite).
    pub recent: Option<Recent>,
    /// Rows whose doc_id is already issued replace that document (pushed as U).
    pub correct: bool,
    /// Rows found already issued are told with their URI too (`--out`: the file of a
    /// resumed import lists every row, not only those the last run wrote).
    pub list_unchanged: bool,
    pub signer: Option<&'a SigningKey>,
    pub vault: Option<&'a Vault>,
}

impl Writer<'_> {
    fn uri(&self, doc_id: &str) -> DocUri {
        DocUri::of(&self.config.issuer_id, &self.doctype.code, doc_id)
    }

    /// Whether the last batch said this is likely a re-run.
    fn rerun_likely(&self) -> bool {
        self.rerun_likely.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The open transaction committed: its blobs are in the database.
    pub fn committed(&mut self) {
        // Only spares resending bytes the database has (a blob is stored unless there):
        // bounded, since rows that each name their own file would add one per row.
        if self.stored_blobs.len() + self.new_blobs.len() > KEPT_BLOB_IDS {
            self.stored_blobs.clear();
        }
        self.stored_blobs.extend(self.new_blobs.drain());
        self.batches_committed
            .store(self.batches_written, std::sync::atomic::Ordering::Release);
    }

    /// The open transaction rolled back: its blobs are not.
    pub fn rolled_back(&mut self) {
        self.new_blobs.clear();
    }

    /// Writes one batch inside the caller's transaction. Per-row outcomes (a DocId
    /// already issued) become rejections; a database error is returned, for the caller
    /// to roll the whole transaction back.
    /// `checked`: the reader found the batch's minted DocIds free when that many
    /// batches were committed.
    pub fn write_batch(
        &mut self,
        conn: &mut DbConn,
        batch: &mut [ValidRow],
        checked: Option<u64>,
    ) -> Result<BatchOutcome, StoreError> {
        let now = Utc::now().naive_utc();
        let checked = match (checked, self.recent.as_mut()) {
            (Some(stamp), Some(recent)) => {
                recent.forget_up_to(stamp);
                recent.covers(stamp)
            }
            _ => false,
        };
        let mut new_blobs = std::mem::take(&mut self.new_blobs);
        let mut outcome = self.write_sorted(conn, batch, checked, &mut new_blobs, now);
        self.new_blobs = new_blobs;
        self.batches_written += 1;
        if let Ok(o) = &mut outcome {
            if let Some(recent) = self.recent.as_mut() {
                recent.add(self.batches_written, std::mem::take(&mut o.written_ids));
            }
            self.rerun_likely.store(
                o.unchanged as usize * 2 >= batch.len(),
                std::sync::atomic::Ordering::Relaxed,
            );
            self.all_new_last = o.unchanged == 0 && o.rejected.is_empty();
        }
        outcome
    }

    fn write_sorted(
        &self,
        conn: &mut DbConn,
        batch: &mut [ValidRow],
        checked: bool,
        new_blobs: &mut HashSet<String>,
        now: NaiveDateTime,
    ) -> Result<BatchOutcome, StoreError> {
        // Sealed in the same transaction as the documents that refer to them.
        if let Some(vault) = self.vault {
            let mut seen = HashSet::new();
            let numbers: Vec<&str> = batch
                .iter()
                .filter_map(|r| r.aadhaar.as_deref())
                .filter(|n| seen.insert(*n))
                .collect();
            vault
                .store_many(conn, &numbers, now)
                .map_err(StoreError::from)?;
        }
        let mut queued = Vec::new();
        let mut done = Vec::with_capacity(batch.len());
        let mut rejected = Vec::new();
        let mut unchanged = 0;
        let mut already = Vec::new();
        let mut written_ids = Vec::new();
        // A re-run's rows are all issued: trying each in the bulk insert first cost as
        // much again as the lookups that then tell it is unchanged, and on PostgreSQL a
        // lookup a row is a round trip a row. Otherwise the few rows the bulk insert
        // skips are looked up one by one. (A batch lookup of a few keys had taken
        // PostgreSQL 150 to 300 ms while the table was not yet analysed; see
        // `store::refresh_statistics`.)
        // So is the first batch's: the bytes made ahead for it, before anything told
        // whether this is a re-run, are stored only for rows not issued already. A
        // signature is new bytes each time (it holds its time), so every resume with
        // a signing key had stored a copy of each document of its first batch (all of
        // them on SQLite, which looked nothing up ahead).
        // And so is every batch where a row's bytes are its own (`own_bytes`): a row of
        // a new file that lists issued ones among new ones (past its first batch, no
        // batch mostly issued) had stored its copy and then been found issued.
        let first = self.batches_written == 0;
        let mut known = KnownLive::default();
        if self.rerun_likely() || first || own_bytes(batch, self.signer.is_some()) {
            known = KnownLive::fetch(conn, &self.doctype.code, batch)?;
        }
        let written = self.insert_bulk(conn, batch, &known, checked, new_blobs, now)?;
        // What the bulk insert wrote changed those keys: ask again.
        for (row, _) in batch.iter().zip(&written).filter(|(_, ok)| **ok) {
            known.forget(row);
        }
        for (row, ok) in batch.iter_mut().zip(written) {
            let (action, previous) = if ok {
                (Action::Add, None)
            } else {
                match self.write_row(conn, row, &mut known, new_blobs, now)? {
                    RowOutcome::Written(action, previous) => {
                        known = KnownLive::default();
                        (action, previous)
                    }
                    RowOutcome::Unchanged(doc_id) => {
                        unchanged += 1;
                        if self.list_unchanged {
                            already.push((row.line, self.uri(&doc_id).to_string()));
                        }
                        continue;
                    }
                    RowOutcome::Rejected(reason) => {
                        rejected.push(Rejection {
                            line: row.line,
                            reason,
                        });
                        continue;
                    }
                }
            };
            // A batch checked ahead cannot see these until they are committed: one
            // left out here (a row the bulk insert skipped) made a later batch's COPY
            // clash and take the staged way, ~10% of a 1M-row import.
            if self.recent.is_some() {
                written_ids.push(row.doc.doc_id.clone());
            }
            let uri = self.uri(&row.doc.doc_id);
            // A pending document is pushed once it is there, not before.
            let issued = row.doc.status == documents::status::ISSUED;
            let now_aadhaar = row.doc.aadhaar.as_deref().filter(|_| issued);
            for (aadhaar, action) in issuing::push_actions(action, previous.as_deref(), now_aadhaar)
            {
                let d = &row.doc;
                let facts = PushFacts {
                    aadhaar,
                    uri: &uri,
                    doc_name: d.doc_name.as_deref().unwrap_or_default(),
                    issued_on: d.issued_on.as_deref(),
                    valid_from: d.valid_from.as_deref(),
                    valid_to: d.valid_to.as_deref(),
                };
                queued.push(issuing::outbox_row(&facts, action, now));
            }
            done.push((row.line, uri.to_string()));
        }
        // Same transaction as the documents: a row is queued for push iff it is issued.
        outbox::enqueue(conn, &queued)?;
        Ok(BatchOutcome {
            done,
            rejected,
            unchanged,
            already,
            written_ids,
        })
    }

    fn put_blob(
        &self,
        conn: &mut DbConn,
        blob: &Blob,
        new_blobs: &mut HashSet<String>,
        now: NaiveDateTime,
    ) -> Result<(), StoreError> {
        if self.claim_blob(&blob.sha256, new_blobs) {
            documents::put_blob(conn, &blob.sha256, &blob.bytes, now)?;
        }
        Ok(())
    }

    /// Whether these bytes are still to be written in this transaction; if so they are
    /// counted as written (a failed write rolls the transaction and `new_blobs` back).
    fn claim_blob(&self, sha: &str, new_blobs: &mut HashSet<String>) -> bool {
        !self.stored_blobs.contains(sha) && new_blobs.insert(sha.to_string())
    }

    /// The fast path for the bulk case (bytes ready, DocIds minted or given): bulk inserts
    /// of the whole batch that skip clashing rows; the rows still skipped take the
    /// row-by-row path. Returns which rows were written.
    fn insert_bulk(
        &self,
        conn: &mut DbConn,
        batch: &mut [ValidRow],
        known: &KnownLive,
        checked: bool,
        new_blobs: &mut HashSet<String>,
        now: NaiveDateTime,
    ) -> Result<Vec<bool>, StoreError> {
        // The batch's files not yet stored, together (on PostgreSQL a round trip a
        // file had been most of an import of rows with a PDF each). Files the reader's
        // threads did not sign (nothing is made ahead for a likely re-run) are signed
        // here, one by one, when the row is known to be new or a re-run is unlikely;
        // one that fails, or is left unsigned, takes the row path, which signs it only
        // once it has found the row not already issued. (SQLite's re-runs look nothing
        // up ahead: signing every row's file here had made a re-run of 20,000 rows
        // with PDFs of their own take 45 s where the import took 9.)
        let mut fresh: Vec<(&str, &[u8])> = Vec::new();
        for row in batch.iter() {
            if let Content::File(file) = &row.content {
                let new = if known.knows(row) {
                    !known.is_live(row)
                } else {
                    !self.rerun_likely()
                };
                if !file.is_sealed() && new {
                    let _ = file.seal(self.signer);
                }
            }
            // A row known to be issued already is not written: its bytes are not stored
            // (nothing removes stored bytes: that would read `documents` for rows that
            // refer to them).
            if let Some(blob) = row.ready_bytes().filter(|_| !known.is_live(row)) {
                if self.claim_blob(&blob.sha256, new_blobs) {
                    fresh.push((&blob.sha256, &blob.bytes));
                }
            }
        }
        documents::put_blobs(conn, &fresh, now)?;
        for row in batch.iter_mut() {
            if let Some(sha) = row.ready_bytes().map(|b| b.sha256.clone()) {
                row.doc.blob_sha256 = Some(sha);
                row.doc.signed_with = self.signer.map(|k| k.cert_id());
            }
        }
        // Rows that give their DocId too: one already there (reserved by `mint`, or
        // issued) is skipped like any clash and takes the row path, which tells them
        // apart. On that path each cost several queries: 1,666 rows/s on PostgreSQL
        // for a file giving every DocId, against 80,000 minting them.
        let bulk = |r: &ValidRow| r.ready_bytes().is_some() && !known.is_live(r);
        let mut written = vec![false; batch.len()];
        let mut todo: Vec<usize> = (0..batch.len()).filter(|&i| bulk(&batch[i])).collect();
        // A row whose DocId or search fields a row before it in the batch has (a file
        // giving a DocId twice, or listing a holder again) is left to the row path,
        // which compares it with what that row wrote. The database would skip it too,
        // but PostgreSQL's COPY would fail whole and the batch be staged, whose answer
        // cannot tell which of two such rows went in.
        // The batch is sorted by search fields, so equal ones are neighbours; minted
        // DocIds are unique in the batch and never one the file gives, so only given
        // ones are counted (a file without a doc_id column pays nothing here).
        {
            let mut given = HashSet::new();
            let mut last_key: Option<&str> = None;
            todo.retain(|&i| {
                let row = &batch[i];
                let key = row.doc.udf_key.as_deref();
                let first_key = key.is_none() || key != last_key;
                last_key = key.or(last_key);
                let first_id = row.minted || given.insert(row.doc.doc_id.as_str());
                first_key && first_id
            });
        }
        // Rows known to be issued were left out above.
        let likely_free = self.all_new_last || self.rerun_likely();
        // A checked row that drew a DocId this import wrote after the check waits for
        // the second insert, under a fresh DocId.
        let mut held = Vec::new();
        if let (true, Some(recent)) = (checked, &self.recent) {
            todo.retain(|&i| {
                let clash = batch[i].minted && recent.contains(&batch[i].doc.doc_id);
                if clash {
                    held.push(i);
                }
                !clash
            });
        }
        // DocIds were minted unique within the batch, so a skipped row drew a DocId
        // already issued (a few rows in a hundred once a doc type fills up), or its
        // search fields have a live document (every row of a re-run). The first kind
        // goes in with the second insert, under a fresh DocId: on the row path each cost
        // several queries (1.7% of a million bench rows did; 0.03% now). When most rows
        // were skipped it is a re-run, which a second insert would only skip again.
        for round in 0..2 {
            if todo.is_empty() && held.is_empty() {
                break;
            }
            if round > 0 {
                // A rendered row's bytes name its DocId: one that must change is made
                // again on the row path. So does a row whose own DocId clashed.
                todo.retain(|&i| batch[i].minted && matches!(batch[i].content, Content::File(_)));
                // Unique among themselves; a clash with a row just written is skipped
                // again like any other.
                let mut ids = HashSet::with_capacity(todo.len());
                for &i in &todo {
                    batch[i].doc.doc_id = mint_unique(self.doctype, self.given, &mut ids);
                }
            }
            let docs: Vec<&NewDocument> = todo.iter().map(|&i| &batch[i].doc).collect();
            // Only minted DocIds were checked ahead.
            let checked = checked && round == 0 && todo.iter().all(|&i| batch[i].minted);
            let inserted = bulk::insert_many_if_free(conn, &docs, likely_free, checked)?;
            let skipped = inserted.iter().filter(|ok| !**ok).count();
            for (&i, ok) in todo.iter().zip(&inserted) {
                written[i] = *ok;
            }
            todo.retain(|&i| !written[i]);
            todo.append(&mut held);
            // The usual case, a new file: every row went in, nothing to look up.
            if todo.is_empty() {
                break;
            }
            if skipped * 10 > docs.len() {
                break;
            }
        }
        Ok(written)
    }

    /// One row on its own: a given DocId (a reservation or a new one), a rendered
    /// document, or a minted row whose bulk insert clashed.
    fn write_row(
        &self,
        conn: &mut DbConn,
        row: &mut ValidRow,
        known: &mut KnownLive,
        new_blobs: &mut HashSet<String>,
        now: NaiveDateTime,
    ) -> Result<RowOutcome, StoreError> {
        for _ in 0..documents::MINT_ATTEMPTS {
            if let Some(done) = self.already_issued(conn, row, known, new_blobs, now)? {
                return Ok(done);
            }
            if row.minted {
                row.doc.doc_id = mint(self.doctype, self.given);
            }
            match self.bytes(row) {
                Ok(Some(blob)) => {
                    self.put_blob(conn, &blob, new_blobs, now)?;
                    row.doc.blob_sha256 = Some(blob.sha256);
                    row.doc.signed_with = self.signer.map(|k| k.cert_id());
                }
                Ok(None) => {}
                Err(e) => return Ok(RowOutcome::Rejected(e)),
            }
            if !row.minted && documents::issue_reserved(conn, &row.doc)? {
                return Ok(RowOutcome::Written(Action::Add, None));
            }
            if documents::insert_if_free(conn, &row.doc)? {
                return Ok(RowOutcome::Written(Action::Add, None));
            }
            if !row.minted {
                let previous =
                    documents::find_by_doc_id(conn, &self.doctype.code, &row.doc.doc_id)?
                        .and_then(|r| r.aadhaar);
                if self.correct && documents::correct(conn, &row.doc)? {
                    return Ok(RowOutcome::Written(Action::Update, previous));
                }
                return Ok(RowOutcome::Rejected(format!(
                    "doc_id {} is already issued for {}{}",
                    row.doc.doc_id,
                    self.doctype.code,
                    if self.correct {
                        " and not open to correction (revoked?)"
                    } else {
                        " (import with --correct to replace it)"
                    }
                )));
            }
        }
        Ok(RowOutcome::Rejected(format!(
            "no free DocId after {} attempts: raise expected_count of {}",
            documents::MINT_ATTEMPTS,
            self.doctype.code
        )))
    }

    /// A row whose search-field values already have a live document: unchanged (a
    /// re-run), a conflict, or with `--correct` an update of that document.
    fn already_issued(
        &self,
        conn: &mut DbConn,
        row: &mut ValidRow,
        known: &mut KnownLive,
        new_blobs: &mut HashSet<String>,
        now: NaiveDateTime,
    ) -> Result<Option<RowOutcome>, StoreError> {
        let key = row.doc.udf_key.clone().unwrap_or_default();
        let Some((old, fingerprint)) = known.take(conn, &self.doctype.code, &key)? else {
            return Ok(None);
        };
        // The document a pending record waited for: issue it now (and push it, as A).
        let fills_pending =
            old.status == documents::status::PENDING && row.doc.status == documents::status::ISSUED;
        let field = differing_field(&old, fingerprint.as_deref(), row);
        let Some(field) = field.filter(|_| !fills_pending) else {
            if !fills_pending {
                return Ok(Some(RowOutcome::Unchanged(old.doc_id)));
            }
            return self.update(conn, row, &old.doc_id, (Action::Add, None), new_blobs, now);
        };
        if !self.correct {
            let uri = self.uri(&old.doc_id);
            return Ok(Some(RowOutcome::Rejected(format!(
                "conflicts with {uri}, issued for the same search fields: {field} differs (import with --correct to update it)"
            ))));
        }
        let previous = old.aadhaar.clone();
        self.update(
            conn,
            row,
            &old.doc_id,
            (Action::Update, previous),
            new_blobs,
            now,
        )
    }

    /// Writes the row over the live document of its search fields, under its DocId.
    fn update(
        &self,
        conn: &mut DbConn,
        row: &mut ValidRow,
        doc_id: &str,
        (action, previous): (Action, Option<String>),
        new_blobs: &mut HashSet<String>,
        now: NaiveDateTime,
    ) -> Result<Option<RowOutcome>, StoreError> {
        row.doc.doc_id = doc_id.to_string();
        match self.bytes(row) {
            Ok(Some(blob)) => {
                self.put_blob(conn, &blob, new_blobs, now)?;
                row.doc.blob_sha256 = Some(blob.sha256);
                row.doc.signed_with = self.signer.map(|k| k.cert_id());
            }
            Ok(None) => row.doc.blob_sha256 = None,
            Err(e) => return Ok(Some(RowOutcome::Rejected(e))),
        }
        Ok(Some(match documents::correct_by_key(conn, &row.doc)? {
            Some(_) => RowOutcome::Written(action, previous),
            None => RowOutcome::Rejected(format!(
                "{} changed while importing; run again",
                self.uri(doc_id)
            )),
        }))
    }

    /// The row's document: its file, or rendered under its DocId; signed. None while
    /// pending.
    fn bytes(&self, row: &ValidRow) -> Result<Option<Blob>, String> {
        if let Some(blob) = row.ready_bytes() {
            return Ok(Some(blob.clone()));
        }
        match &row.content {
            Content::Pending => Ok(None),
            Content::File(file) => file
                .seal(self.signer)
                .map(|blob| Some(blob.clone()))
                .map_err(str::to_string),
            // Not made yet, or made under a DocId the row no longer has.
            Content::Render(facts) | Content::Rendered(facts, _) => {
                let facts = Facts {
                    doc_id: row.doc.doc_id.clone(),
                    ..(**facts).clone()
                };
                let uri = self.uri(&row.doc.doc_id);
                issuing::render_and_seal(self.config, self.doctype, &facts, &uri, self.signer)
                    .map(Some)
                    .map_err(|e| e.to_string())
            }
        }
    }
}
