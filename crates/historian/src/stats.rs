//! Process-wide counters shared by the pollers, the batcher, the status line and the API.

use std::sync::atomic::{AtomicU64, Ordering};

/// Running totals since start-up.
#[derive(Debug, Default)]
pub struct Stats {
    /// Polls that read every request of their plan.
    pub polls_ok: AtomicU64,
    /// Polls with at least one failed request.
    pub polls_failed: AtomicU64,
    /// Grid slots skipped because the previous poll overran.
    pub polls_missed: AtomicU64,
    /// Readings handed to ingest.
    pub readings_polled: AtomicU64,
    /// Readings written to the store (new rows).
    pub readings_stored: AtomicU64,
    /// Readings the store already held (replays), skipped.
    pub readings_duplicate: AtomicU64,
    /// Readings the store refused for good (e.g. unknown device), with an error logged.
    pub readings_rejected: AtomicU64,
    /// Readings that could not be written before shutdown gave up (never expected).
    pub readings_lost: AtomicU64,
    /// Batches written.
    pub batches_written: AtomicU64,
    /// Failed batch write attempts (each retried).
    pub write_errors: AtomicU64,
}

impl Stats {
    /// Adds `n` to `counter`.
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// Reads `counter`.
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}
