//! What one server may hold at once: open files, connections, database threads.
//!
//! Each connection costs a file descriptor; at the open-file limit `accept` fails and
//! even `/healthz` stops answering. So the soft limit is raised to the hard one where
//! the system allows, and connections are capped below it, leaving room for the
//! database, the log and the files a pull reads.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Descriptors kept for everything that is not a client connection.
const RESERVED_FILES: u64 = 64;

/// The open-file limits after raising the soft one as far as allowed: (soft, hard).
#[cfg(unix)]
pub fn raise_open_files() -> std::io::Result<(u64, u64)> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct passed to them.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    if lim.rlim_cur < lim.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: lim.rlim_max,
            rlim_max: lim.rlim_max,
        };
        // SAFETY: as above.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            lim.rlim_cur = lim.rlim_max;
        }
    }
    Ok((lim.rlim_cur, lim.rlim_max))
}

#[cfg(not(unix))]
pub fn raise_open_files() -> std::io::Result<(u64, u64)> {
    Ok((u64::MAX, u64::MAX))
}

/// Connections the whole server may hold: the configured number, else what the
/// open-file limit leaves after the reserve and the database pools; never above it.
pub fn connection_cap(configured: usize, soft_files: u64, pools: u64) -> usize {
    let room = soft_files
        .saturating_sub(RESERVED_FILES + pools)
        .clamp(16, 1_000_000) as usize;
    if configured == 0 {
        room
    } else {
        configured.min(room)
    }
}

/// Counts lookups handed to blocking threads; past `max` a pull is refused at once
/// (503) instead of queueing behind threads that wait for a slow database.
#[derive(Debug, Clone)]
pub struct BlockingSlots {
    busy: Arc<AtomicUsize>,
    max: usize,
}

/// One lookup's place; given back when the blocking job ends (not when its request
/// is dropped: the job still holds a thread).
#[derive(Debug)]
pub struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl BlockingSlots {
    pub fn new(max: usize) -> Self {
        BlockingSlots {
            busy: Arc::new(AtomicUsize::new(0)),
            max,
        }
    }

    pub fn take(&self) -> Option<Slot> {
        let before = self.busy.fetch_add(1, Ordering::AcqRel);
        let slot = Slot(self.busy.clone());
        (before < self.max).then_some(slot)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_stays_below_the_file_limit() {
        assert_eq!(connection_cap(0, 256, 8), 184);
        assert_eq!(connection_cap(100, 256, 8), 100);
        assert_eq!(connection_cap(10_000, 256, 8), 184);
        assert_eq!(connection_cap(0, 20, 8), 16);
    }

    #[test]
    fn slots_are_given_back() {
        let s = BlockingSlots::new(2);
        let a = s.take().expect("first");
        let _b = s.take().expect("second");
        assert!(s.take().is_none(), "full");
        drop(a);
        assert!(s.take().is_some(), "one given back");
    }
}
