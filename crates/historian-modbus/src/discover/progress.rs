//! How far a discovery has come, shared between the scan and whoever shows it (a progress
//! bar on a terminal, an API job).

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Counters a running discovery updates and any number of readers watch.
#[derive(Debug, Default)]
pub struct Progress {
    done: AtomicU64,
    total: AtomicU64,
    requests: AtomicU64,
    ranges: AtomicU64,
    phase: Mutex<String>,
}

impl Progress {
    /// Adds `n` units of work (addresses or unit ids) to the total.
    pub fn add_total(&self, n: u64) {
        self.total.fetch_add(n, Ordering::Relaxed);
    }

    /// Marks `n` units of work done.
    pub fn advance(&self, n: u64) {
        self.done.fetch_add(n, Ordering::Relaxed);
    }

    /// Counts one request sent.
    pub fn count_request(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one readable range found.
    pub fn count_range(&self) {
        self.ranges.fetch_add(1, Ordering::Relaxed);
    }

    /// Readable ranges found so far.
    pub fn ranges(&self) -> u64 {
        self.ranges.load(Ordering::Relaxed)
    }

    /// Names what is being done now (e.g. `unit 1 holding registers`).
    pub fn set_phase(&self, phase: impl Into<String>) {
        if let Ok(mut p) = self.phase.lock() {
            *p = phase.into();
        }
    }

    /// Work done so far.
    pub fn done(&self) -> u64 {
        self.done.load(Ordering::Relaxed)
    }

    /// Work known so far.
    pub fn total(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }

    /// Requests sent so far.
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// What is being done now.
    pub fn phase(&self) -> String {
        self.phase.lock().map(|p| p.clone()).unwrap_or_default()
    }
}
