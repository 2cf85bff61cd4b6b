//! Reads of several requests gathered into one, for requests that run on blocking
//! threads (department pulls). A request that finds fewer than `most` reads running
//! reads at once, for itself and every request waiting; one that finds them all
//! running waits, and is answered by the next read to start. Idle, a request reads
//! alone at once; under load one query answers many (on PostgreSQL a query's own cost,
//! its round trip and wake-up, was most of a pull's, BENCHMARKS.md).
//!
//! Unlike [`super::lookups`] there are no threads of its own: the requests' own
//! blocking threads take turns reading, so nothing is handed to another thread.

use std::collections::{HashMap, VecDeque};
use std::sync::{Condvar, Mutex, MutexGuard};

/// At most this many asks in one read.
const MOST_ASKS: usize = 32;

pub(super) struct Gather<A, R> {
    inner: Mutex<Inner<A, R>>,
    changed: Condvar,
    most: usize,
}

struct Inner<A, R> {
    next: u64,
    waiting: VecDeque<(u64, A)>,
    /// Answers not yet taken by their asker; `None`: the read failed, ask alone.
    answers: HashMap<u64, Option<R>>,
    running: usize,
}

impl<A, R> Gather<A, R> {
    /// `most`: reads that may run at once (each holds a database connection).
    pub fn new(most: usize) -> Self {
        Gather {
            inner: Mutex::new(Inner {
                next: 0,
                waiting: VecDeque::new(),
                answers: HashMap::new(),
                running: 0,
            }),
            changed: Condvar::new(),
            most: most.max(1),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner<A, R>> {
        // Every change under the lock is whole before the lock is let go.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The answer to `ask`, read by `read` together with the asks waiting (`read`
    /// answers each ask given, in order). `None` when the read it was part of failed
    /// or panicked: the caller reads it alone, and so gets its own error.
    pub fn ask(&self, ask: A, read: impl Fn(Vec<A>) -> Option<Vec<R>>) -> Option<R> {
        let mut inner = self.lock();
        let id = inner.next;
        inner.next += 1;
        inner.waiting.push_back((id, ask));
        loop {
            if let Some(answer) = inner.answers.remove(&id) {
                return answer;
            }
            if inner.running < self.most && !inner.waiting.is_empty() {
                let n = inner.waiting.len().min(MOST_ASKS);
                let (ids, asks): (Vec<u64>, Vec<A>) = inner.waiting.drain(..n).unzip();
                inner.running += 1;
                drop(inner);
                let mut ended = Ended {
                    gather: self,
                    own: id,
                    ids,
                    answers: None,
                };
                ended.answers = read(asks).filter(|a| a.len() == ended.ids.len());
                drop(ended);
                inner = self.lock();
                continue;
            }
            inner = self.changed.wait(inner).unwrap_or_else(|e| e.into_inner());
        }
    }
}

/// A read ended, even by a panic: its asks get their answers (or `None`), its place
/// is free, and the waiting are woken.
struct Ended<'g, A, R> {
    gather: &'g Gather<A, R>,
    /// The reader's own ask, which may or may not be among `ids`.
    own: u64,
    ids: Vec<u64>,
    answers: Option<Vec<R>>,
}

impl<A, R> Drop for Ended<'_, A, R> {
    fn drop(&mut self) {
        let mut inner = self.gather.lock();
        inner.running -= 1;
        // A panicking reader's own ask has no one left to take its answer.
        let gone = std::thread::panicking().then_some(self.own);
        if let Some(own) = gone {
            inner.waiting.retain(|(id, _)| *id != own);
        }
        let mut answers = self.answers.take().map(Vec::into_iter);
        for id in self.ids.drain(..) {
            let answer = answers.as_mut().and_then(Iterator::next);
            if Some(id) != gone {
                inner.answers.insert(id, answer);
            }
        }
        drop(inner);
        self.gather.changed.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Barrier};

    #[test]
    fn each_ask_gets_its_own_answer_and_reads_are_shared_under_load() {
        let gather = Arc::new(Gather::<u32, u32>::new(1));
        let reads = Arc::new(AtomicUsize::new(0));
        let start = Arc::new(Barrier::new(16));
        let threads: Vec<_> = (0..16u32)
            .map(|n| {
                let (gather, reads, start) = (gather.clone(), reads.clone(), start.clone());
                std::thread::spawn(move || {
                    start.wait();
                    gather.ask(n, |asks| {
                        reads.fetch_add(1, Ordering::SeqCst);
                        std::thread::sleep(std::time::Duration::from_millis(20));
                        Some(asks.iter().map(|a| a * 10).collect())
                    })
                })
            })
            .collect();
        for (n, t) in threads.into_iter().enumerate() {
            assert_eq!(t.join().ok().flatten(), Some(n as u32 * 10));
        }
        // One read at a time, 20 ms each: the 16 asks cannot have taken 16 reads.
        assert!(reads.load(Ordering::SeqCst) < 16);
    }

    #[test]
    fn a_failed_or_panicking_read_sends_its_asks_to_read_alone() {
        let gather = Gather::<u32, u32>::new(2);
        assert_eq!(gather.ask(1, |_| None), None);
        assert_eq!(gather.ask(2, |_| Some(Vec::new())), None);
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            gather.ask(3, |_| panic!("the read broke"))
        }));
        assert!(panicked.is_err());
        // The place the panicking read held is free again, and nothing of it is left.
        assert_eq!(gather.ask(4, Some), Some(4));
        assert_eq!(gather.ask(5, Some), Some(5));
        let inner = gather.lock();
        assert!(inner.answers.is_empty() && inner.waiting.is_empty());
    }
}
