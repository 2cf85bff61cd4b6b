//! The pulls' lookups of imported documents, gathered (Pull URI by search fields, Pull
//! Doc by DocId). A request's lookup waits in a queue while the database workers are
//! busy; the next one free answers everything waiting with one query per doc type and
//! kind of lookup (PostgreSQL: `udf_key IN ($2, ...)`). Under load one
//! query then answers many pulls: on PostgreSQL the cost of a query itself (a round trip,
//! waking the server process, starting the executor) was most of its time per pull
//! (BENCHMARKS.md, 2026-12-07). Idle, a lookup goes at once, as a batch of one. When
//! replays are refused, the batch first records its requests in the replay memory, in
//! one write (one transaction on SQLite, one INSERT on PostgreSQL), and looks up the
//! documents of the new ones only.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::oneshot;

use super::document::{forget, must_forget, prune_now_and_then, RequestId, Served};
use super::respond::PullError;
use super::AppState;
use crate::store::documents::{self, Lookup};
use crate::store::replay::Seen;
use crate::store::{DbConn, StoreError};

/// At most this many lookups in one query: enough to take in every request a server
/// holds at once on a small machine, few enough that one answer's PDFs stay a few MiB.
const MAX_BATCH: usize = 32;

pub(super) struct Lookups {
    waiting: Mutex<Waiting>,
    /// Batches run at once, each on a blocking thread with one connection.
    max_running: usize,
}

#[derive(Default)]
struct Waiting {
    asks: VecDeque<Ask>,
    running: usize,
}

/// What a request looks up.
pub(super) enum Wanted {
    /// The live document with these joined search-field values (Pull URI).
    Key(String),
    /// The document with this DocId, whatever its status (Pull Doc).
    DocId(String),
}

impl Wanted {
    fn value(&self) -> &str {
        match self {
            Wanted::Key(v) | Wanted::DocId(v) => v,
        }
    }
    fn by_doc_id(&self) -> bool {
        matches!(self, Wanted::DocId(_))
    }
}

struct Ask {
    doctype: String,
    wanted: Wanted,
    /// The request, to record in the replay memory first (`refuse_replays`).
    remember: Option<RequestId>,
    reply: oneshot::Sender<Answer>,
}

/// What a batch found for one request.
pub(super) struct Answer {
    /// The request is now in the replay memory: it must be forgotten again if it fails
    /// on our side, so that its retry gets through.
    pub recorded: bool,
    pub lookup: Result<Lookup, PullError>,
}

impl Answer {
    fn failed(e: PullError) -> Answer {
        Answer {
            recorded: false,
            lookup: Err(e),
        }
    }
}

impl Lookups {
    /// `max_running`: the database connections lookups may hold at once.
    pub fn new(max_running: usize) -> Lookups {
        Lookups {
            waiting: Mutex::new(Waiting::default()),
            max_running: max_running.max(1),
        }
    }

    fn waiting(&self) -> MutexGuard<'_, Waiting> {
        // The queue holds no invariant a panicking holder could break halfway.
        self.waiting.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The document of `doctype` wanted: read on the replica when one answers and has
    /// it, else on the primary. With
    /// `remember`, the request is first recorded in the replay memory (and refused as
    /// a replay if it was there).
    pub async fn find(
        state: &Arc<AppState>,
        doctype: &str,
        wanted: Wanted,
        remember: Option<RequestId>,
    ) -> Answer {
        // A place like any lookup on a blocking thread: past `server.max_blocking`
        // waiting, refuse at once rather than queue behind a slow database.
        let Some(_slot) = state.slots.take() else {
            return Answer::failed(PullError::Busy);
        };
        let (reply, answer) = oneshot::channel();
        let start = {
            let mut w = state.lookups.waiting();
            w.asks.push_back(Ask {
                doctype: doctype.to_string(),
                wanted,
                remember,
                reply,
            });
            let start = w.running < state.lookups.max_running;
            if start {
                w.running += 1;
            }
            start
        };
        if start {
            let st = state.clone();
            // Not awaited: the batch answers other requests too, and goes on when this
            // one is dropped. Outside this request's span: it is not this request's.
            drop(tokio::task::spawn_blocking(move || Running(&st).drain()));
        }
        answer
            .await
            .unwrap_or_else(|_| Answer::failed(PullError::Cancelled))
    }
}

/// A pull of an imported document, answered once: `wanted` is looked up in a batch
/// (which records the request first when replays are refused) and handed to `then`;
/// as in [`super::document::once`], a request that fails on our side after it was
/// recorded is forgotten again, so that DigiLocker's retry gets through.
pub(super) async fn once_looked_up(
    state: &Arc<AppState>,
    id: RequestId,
    doctype: &str,
    wanted: Wanted,
    then: impl AsyncFnOnce(Lookup) -> Result<Served, PullError>,
) -> Result<Served, PullError> {
    let remember = state.config.digilocker.refuse_replays.then(|| id.clone());
    let found = Lookups::find(state, doctype, wanted, remember).await;
    let result = match found.lookup {
        Ok(lookup) => then(lookup).await,
        Err(e) => Err(e),
    };
    if let Err(e) = &result {
        if found.recorded && must_forget(state, e) {
            let st = state.clone();
            // Best effort, as in `once`: if this fails too, the retry is refused.
            let _ = super::blocking(state, move || {
                forget(&st, &id);
                Ok(())
            })
            .await;
        }
    }
    result
}

/// One batch worker, from its start until the queue is empty.
struct Running<'s>(&'s AppState);

impl Running<'_> {
    fn drain(self) {
        loop {
            let batch: Vec<Ask> = {
                let mut w = self.0.lookups.waiting();
                if w.asks.is_empty() {
                    // Said under the lock a new ask takes: no ask is left without a
                    // worker.
                    w.running -= 1;
                    std::mem::forget(self);
                    return;
                }
                let n = w.asks.len().min(MAX_BATCH);
                w.asks.drain(..n).collect()
            };
            answer(self.0, batch);
        }
    }
}

impl Drop for Running<'_> {
    /// Only on a panic: the asks still waiting get "cancelled" (503) instead of
    /// waiting for a worker that no longer runs.
    fn drop(&mut self) {
        let mut w = self.0.lookups.waiting();
        w.running -= 1;
        if w.running == 0 {
            w.asks.clear();
        }
    }
}

/// Answers a batch: records its requests (replays refused), then looks up the rest,
/// one query per doc type.
fn answer(state: &AppState, batch: Vec<Ask>) {
    let mut primary = match state.conn() {
        Ok(c) => c,
        Err(e) => {
            for ask in batch {
                let _ = ask.reply.send(Answer::failed(shared(&e).into()));
            }
            return;
        }
    };
    let mut answers: Vec<Option<Answer>> = batch.iter().map(|_| None).collect();
    let mut recorded = vec![false; batch.len()];
    remember(state, &mut primary, &batch, &mut answers, &mut recorded);
    // The asks still to look up, by doc type and kind of lookup.
    let kind = |i: usize| (batch[i].doctype.as_str(), batch[i].wanted.by_doc_id());
    let mut todo: Vec<usize> = (0..batch.len()).filter(|&i| answers[i].is_none()).collect();
    todo.sort_by_key(|&i| kind(i));
    for group in todo.chunk_by(|&a, &b| kind(a) == kind(b)) {
        let values: Vec<&str> = group.iter().map(|&i| batch[i].wanted.value()).collect();
        let (doctype, by_doc_id) = kind(group[0]);
        match find_among(state, &mut primary, doctype, by_doc_id, &values) {
            Ok(found) => {
                for (&i, lookup) in group.iter().zip(found) {
                    answers[i] = Some(Answer {
                        recorded: recorded[i],
                        lookup: Ok(lookup),
                    });
                }
            }
            Err(e) => {
                for &i in group {
                    answers[i] = Some(Answer {
                        recorded: recorded[i],
                        lookup: Err(shared(&e).into()),
                    });
                }
            }
        }
    }
    drop(primary);
    for (ask, answer) in batch.into_iter().zip(answers) {
        let answer = answer.unwrap_or_else(|| Answer::failed(PullError::Cancelled));
        let _ = ask.reply.send(answer);
    }
}

/// Records the batch's requests that ask for it in the replay memory, in one write;
/// a replay, or a request the write failed for, is answered here.
fn remember(
    state: &AppState,
    primary: &mut DbConn,
    batch: &[Ask],
    answers: &mut [Option<Answer>],
    recorded: &mut [bool],
) {
    let asking: Vec<usize> = (0..batch.len())
        .filter(|&i| batch[i].remember.is_some())
        .collect();
    let seen: Vec<Seen<'_>> = batch
        .iter()
        .filter_map(|a| a.remember.as_ref().map(RequestId::seen))
        .collect();
    if seen.is_empty() {
        return;
    }
    match state.replay.first_times(|| Ok(&mut *primary), &seen) {
        Ok(firsts) => {
            for (&i, first) in asking.iter().zip(firsts) {
                if first {
                    recorded[i] = true;
                } else {
                    answers[i] = Some(Answer::failed(PullError::Replay));
                }
            }
        }
        Err(e) => {
            for &i in &asking {
                answers[i] = Some(Answer::failed(shared(&e).into()));
            }
            return;
        }
    }
    let n = u64::try_from(seen.len()).unwrap_or(u64::MAX);
    if let Err(e) = prune_now_and_then(state, n, || Ok(&mut *primary)) {
        // The requests are recorded; only the tidying failed, and is tried again later.
        tracing::warn!(error = %crate::error::chain(&e), "replay memory: forgetting expired requests failed");
    }
}

/// [`AppState::read`] for many values: the replica's answers where it has the
/// document, the primary's for the rest (replication lags) or for all when the replica
/// fails.
fn find_among(
    state: &AppState,
    primary: &mut DbConn,
    doctype: &str,
    by_doc_id: bool,
    values: &[&str],
) -> Result<Vec<Lookup>, StoreError> {
    let find = |c: &mut DbConn, values: &[&str]| {
        if by_doc_id {
            documents::find_by_doc_ids_among(c, doctype, values)
        } else {
            documents::find_by_udfs_among(c, doctype, values)
        }
    };
    let mut found: Vec<Option<Lookup>> = vec![None; values.len()];
    if let Some(replica) = state.replica_if_up() {
        match replica
            .get()
            .map_err(StoreError::from)
            .and_then(|mut c| find(&mut c, values))
        {
            Ok(answers) => {
                for (slot, lookup) in found.iter_mut().zip(answers) {
                    if lookup != Lookup::NotFound {
                        *slot = Some(lookup);
                    }
                }
            }
            Err(e) => state.replica_failed(&e),
        }
    }
    let missing: Vec<usize> = (0..values.len()).filter(|&i| found[i].is_none()).collect();
    if !missing.is_empty() {
        let asked: Vec<&str> = missing.iter().map(|&i| values[i]).collect();
        for (i, lookup) in missing.into_iter().zip(find(primary, &asked)?) {
            found[i] = Some(lookup);
        }
    }
    Ok(found
        .into_iter()
        .map(|l| l.unwrap_or(Lookup::NotFound))
        .collect())
}

/// One failure told to every request of the batch it failed: the same kind (so the
/// same HTTP status), the same words.
fn shared(e: &StoreError) -> StoreError {
    match e {
        StoreError::Unavailable(m) => StoreError::Unavailable(m.clone()),
        StoreError::Migration(m) => StoreError::Migration(m.clone()),
        StoreError::Duplicates(m) => StoreError::Duplicates(m.clone()),
        StoreError::Vault(m) => StoreError::Vault(m.clone()),
        StoreError::Setup(m) => StoreError::Setup(m.clone()),
        StoreError::Query(q) => StoreError::Query(diesel::result::Error::QueryBuilderError(
            q.to_string().into(),
        )),
    }
}
