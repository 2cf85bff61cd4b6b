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
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Once, Weak};
use std::time::Duration;

use tokio::sync::oneshot;

use super::document::{forget, forget_on, must_forget, prune_now_and_then, RequestId, Served};
use super::limits::Slot;
use super::respond::PullError;
use super::AppState;
use crate::store::documents::{self, Lookup};
use crate::store::replay::Seen;
use crate::store::{DbConn, StoreError};

/// At most this many lookups in one query: enough to take in every request a server
/// holds at once on a small machine, few enough that one answer's PDFs stay a few MiB.
const MAX_BATCH: usize = 32;

/// The lookup workers: threads of their own, not actix's blocking threads, so that
/// under a load that never lets the queue empty they do not hold the threads a
/// worker's other database jobs (certificate XML, department tables, `/metrics`) need.
pub(super) struct Lookups {
    queue: Arc<Queue>,
    workers: usize,
    started: Once,
}

#[derive(Default)]
struct Queue {
    asks: Mutex<VecDeque<Ask>>,
    ready: Condvar,
    /// Workers running: none (they could not be started) fails lookups at once.
    alive: std::sync::atomic::AtomicUsize,
}

impl Queue {
    fn asks(&self) -> MutexGuard<'_, VecDeque<Ask>> {
        // The queue holds no invariant a panicking holder could break halfway.
        self.asks.lock().unwrap_or_else(|e| e.into_inner())
    }
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
    /// The request's place (`server.max_blocking`), held until the batch is done with
    /// it, even when the request is gone.
    _slot: Slot,
}

/// What a batch found for one request.
pub(super) struct Answer {
    /// The request is in the replay memory: it must be forgotten again if it fails on
    /// our side, so that its retry gets through.
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
    /// `workers`: the database connections lookups may hold at once.
    pub fn new(workers: usize) -> Lookups {
        Lookups {
            queue: Arc::default(),
            workers: workers.max(1),
            started: Once::new(),
        }
    }

    /// Starts the workers on the first lookup. They hold the state weakly, and end
    /// within a second of its last owner (tests run many servers in one process).
    fn start(state: &Arc<AppState>) {
        let lookups = &state.lookups;
        lookups.started.call_once(|| {
            for n in 0..lookups.workers {
                let (queue, state) = (lookups.queue.clone(), Arc::downgrade(state));
                let spawned = std::thread::Builder::new()
                    .name(format!("lookups-{n}"))
                    .spawn(move || work(&queue, &state));
                match spawned {
                    Ok(_) => {
                        lookups
                            .queue
                            .alive
                            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
                    }
                    Err(e) => tracing::error!(error = %e, "cannot start a lookup worker"),
                }
            }
        });
    }

    /// The document of `doctype` wanted: read on the replica when one answers and has
    /// it, else on the primary. With `remember`, the request is first recorded in the
    /// replay memory (and refused as a replay if it was there).
    pub async fn find(
        state: &Arc<AppState>,
        doctype: &str,
        wanted: Wanted,
        remember: Option<RequestId>,
    ) -> Answer {
        Lookups::start(state);
        let queue = &state.lookups.queue;
        if queue.alive.load(std::sync::atomic::Ordering::Acquire) == 0 {
            return Answer::failed(PullError::Cancelled);
        }
        // A place like any lookup on a blocking thread: past `server.max_blocking`
        // waiting, refuse at once rather than queue behind a slow database.
        let Some(slot) = state.slots.take() else {
            return Answer::failed(PullError::Busy);
        };
        let (reply, answer) = oneshot::channel();
        let mut awaited = Awaited {
            answer: Some(answer),
            state: state.clone(),
            id: remember.clone(),
        };
        queue.asks().push_back(Ask {
            doctype: doctype.to_string(),
            wanted,
            remember,
            reply,
            _slot: slot,
        });
        queue.ready.notify_one();
        let got = match awaited.answer.as_mut() {
            Some(answer) => answer.await,
            None => return Answer::failed(PullError::Cancelled),
        };
        awaited.answer = None;
        got.unwrap_or_else(|_| Answer::failed(PullError::Cancelled))
    }
}

/// A request's wait for its batch. Dropped before the answer was read (the caller went
/// away), an answer already sent that recorded the request forgets it again; one not
/// sent yet is refused at the channel, and the batch forgets it (`gone`).
struct Awaited {
    answer: Option<oneshot::Receiver<Answer>>,
    state: Arc<AppState>,
    id: Option<RequestId>,
}

impl Drop for Awaited {
    fn drop(&mut self) {
        let Some(mut answer) = self.answer.take() else {
            return;
        };
        answer.close();
        if answer.try_recv().is_ok_and(|a| a.recorded) {
            drop(Unsettled {
                state: self.state.clone(),
                id: self.id.take(),
            });
        }
    }
}

/// A lookup worker: waits for asks, takes all that wait (up to [`MAX_BATCH`]) and
/// answers them.
fn work(queue: &Queue, state: &Weak<AppState>) {
    loop {
        let batch: Vec<Ask> = {
            let mut asks = queue.asks();
            while asks.is_empty() {
                if state.strong_count() == 0 {
                    queue
                        .alive
                        .fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
                    return;
                }
                asks = queue
                    .ready
                    .wait_timeout(asks, Duration::from_secs(1))
                    .unwrap_or_else(|e| e.into_inner())
                    .0;
            }
            let n = asks.len().min(MAX_BATCH);
            asks.drain(..n).collect()
        };
        // More waiting: the next free worker takes them meanwhile.
        if !queue.asks().is_empty() {
            queue.ready.notify_one();
        }
        // Asks whose request is gone are neither recorded nor looked up.
        let batch: Vec<Ask> = batch.into_iter().filter(|a| !a.reply.is_closed()).collect();
        let Some(state) = state.upgrade() else {
            continue;
        };
        // A panic fails this batch's requests (their answers are dropped: "cancelled",
        // 503), not the worker; those it had recorded are forgotten again.
        let mut recorded = Vec::new();
        let answered = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            answer(&state, batch, &mut recorded)
        }));
        if answered.is_err() {
            tracing::error!("a lookup batch panicked: its requests answered 503");
            for id in &recorded {
                forget(&state, id);
            }
        }
    }
}

/// A pull of an imported document, answered once: `wanted` is looked up in a batch
/// (which records the request first when replays are refused) and handed to `then`;
/// as in [`super::document::once`], a request that fails on our side after it was
/// recorded is forgotten again, so that DigiLocker's retry gets through. So is one
/// dropped before its answer was made (the caller went away).
pub(super) async fn once_looked_up(
    state: &Arc<AppState>,
    id: RequestId,
    doctype: &str,
    wanted: Wanted,
    then: impl AsyncFnOnce(Lookup) -> Result<Served, PullError>,
) -> Result<Served, PullError> {
    let remember = state.config.digilocker.refuse_replays.then(|| id.clone());
    let found = Lookups::find(state, doctype, wanted, remember).await;
    let mut unsettled = Unsettled {
        state: state.clone(),
        id: found.recorded.then_some(id),
    };
    let result = match found.lookup {
        Ok(lookup) => then(lookup).await,
        Err(e) => Err(e),
    };
    if !matches!(&result, Err(e) if must_forget(state, e)) {
        unsettled.id = None;
    }
    result
}

/// A recorded request whose answer is not made yet: forgotten when dropped so, on a
/// thread of its own (needing no place of `server.max_blocking`, and run even when the
/// request's future is dropped). Best effort, as in `once`: if it fails too, the retry
/// is refused.
struct Unsettled {
    state: Arc<AppState>,
    id: Option<RequestId>,
}

impl Drop for Unsettled {
    fn drop(&mut self) {
        let Some(id) = self.id.take() else {
            return;
        };
        let state = self.state.clone();
        let forget = move || forget(&state, &id);
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => drop(runtime.spawn_blocking(forget)),
            Err(_) => forget(),
        }
    }
}

/// Answers a batch: records its requests (replays refused), then looks up the rest,
/// one query per doc type and kind of lookup. A recorded request whose lookup failed,
/// or whose caller is gone, is forgotten here, on the batch's connection.
///
/// `recorded`: the requests recorded and not yet answered, for the caller to forget
/// should this panic half-way.
fn answer(state: &AppState, batch: Vec<Ask>, recorded_ids: &mut Vec<RequestId>) {
    let mut primary = match state.conn() {
        Ok(c) => c,
        Err(e) => {
            for ask in batch {
                let _ = ask.reply.send(Answer::failed(shared(&e).into()));
            }
            return;
        }
    };
    let mut answers: Vec<Option<Result<Lookup, PullError>>> = batch.iter().map(|_| None).collect();
    let mut recorded = vec![false; batch.len()];
    remember(state, &mut primary, &batch, &mut answers, &mut recorded);
    recorded_ids.extend(
        batch
            .iter()
            .zip(&recorded)
            .filter(|(_, r)| **r)
            .filter_map(|(a, _)| a.remember.clone()),
    );
    let kind = |i: usize| (batch[i].doctype.as_str(), batch[i].wanted.by_doc_id());
    let mut todo: Vec<usize> = (0..batch.len()).filter(|&i| answers[i].is_none()).collect();
    todo.sort_by_key(|&i| kind(i));
    for group in todo.chunk_by(|&a, &b| kind(a) == kind(b)) {
        let values: Vec<&str> = group.iter().map(|&i| batch[i].wanted.value()).collect();
        let (doctype, by_doc_id) = kind(group[0]);
        let found = find_among(state, &mut primary, doctype, by_doc_id, &values);
        for (&i, lookup) in group.iter().zip(found) {
            answers[i] = Some(lookup.map_err(PullError::from));
        }
    }
    let mut to_forget = Vec::new();
    for ((ask, lookup), recorded) in batch.into_iter().zip(answers).zip(recorded) {
        let lookup = lookup.unwrap_or(Err(PullError::Cancelled));
        let failed = matches!(&lookup, Err(e) if e.http_status().is_server_error());
        let forget_here = recorded && failed;
        let answer = Answer {
            recorded: recorded && !forget_here,
            lookup,
        };
        let Ask {
            remember, reply, ..
        } = ask;
        let gone = reply.send(answer).is_err();
        if recorded && (forget_here || gone) {
            to_forget.extend(remember);
        }
    }
    recorded_ids.clear();
    for id in &to_forget {
        forget_on(state, id, || Ok(&mut *primary));
    }
}

/// Records the batch's requests that ask for it in the replay memory, in one write;
/// a replay, or a request the write failed for, is answered here.
fn remember(
    state: &AppState,
    primary: &mut DbConn,
    batch: &[Ask],
    answers: &mut [Option<Result<Lookup, PullError>>],
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
                match first {
                    Ok(true) => recorded[i] = true,
                    Ok(false) => answers[i] = Some(Err(PullError::Replay)),
                    Err(e) => answers[i] = Some(Err(e.into())),
                }
            }
        }
        Err(e) => {
            for &i in &asking {
                answers[i] = Some(Err(shared(&e).into()));
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

/// The documents wanted, read on the replica when one is configured and answering: its
/// answers where it has the document, the primary's for the rest (replication lags
/// behind it) or for all when the replica fails. A failure of the primary fails only
/// the values it was asked for. Writes never go to the replica.
fn find_among(
    state: &AppState,
    primary: &mut DbConn,
    doctype: &str,
    by_doc_id: bool,
    values: &[&str],
) -> Vec<Result<Lookup, StoreError>> {
    let find = |c: &mut DbConn, values: &[&str]| {
        if by_doc_id {
            documents::find_by_doc_ids_among(c, doctype, values)
        } else {
            documents::find_by_udfs_among(c, doctype, values)
        }
    };
    let mut found: Vec<Option<Result<Lookup, StoreError>>> = values.iter().map(|_| None).collect();
    if let Some(replica) = state.replica_if_up() {
        match replica
            .get()
            .map_err(StoreError::from)
            .and_then(|mut c| find(&mut c, values))
        {
            Ok(answers) => {
                for (slot, lookup) in found.iter_mut().zip(answers) {
                    if lookup != Lookup::NotFound {
                        *slot = Some(Ok(lookup));
                    }
                }
            }
            Err(e) => state.replica_failed(&e),
        }
    }
    let missing: Vec<usize> = (0..values.len()).filter(|&i| found[i].is_none()).collect();
    if !missing.is_empty() {
        let asked: Vec<&str> = missing.iter().map(|&i| values[i]).collect();
        match find(primary, &asked) {
            Ok(answers) => {
                for (i, lookup) in missing.into_iter().zip(answers) {
                    found[i] = Some(Ok(lookup));
                }
            }
            Err(e) => {
                for i in missing {
                    found[i] = Some(Err(shared(&e)));
                }
            }
        }
    }
    found
        .into_iter()
        .map(|l| l.unwrap_or(Ok(Lookup::NotFound)))
        .collect()
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
