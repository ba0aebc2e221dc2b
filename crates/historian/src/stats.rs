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
    /// Readings appended to the spool because the store was down or slow.
    pub readings_spooled: AtomicU64,
    /// Readings replayed from the spool into the store.
    pub readings_replayed: AtomicU64,
    /// Readings dropped because the spool was full and `when_full = "drop_newest"`.
    pub readings_dropped: AtomicU64,
    /// Spool appends that failed (disk full, I/O error).
    pub spool_errors: AtomicU64,
    /// Bytes in spool segment files now (gauge).
    pub spool_bytes: AtomicU64,
    /// Batches waiting in the spool now (gauge).
    pub spool_batches: AtomicU64,
    /// Readings waiting in the spool now (gauge).
    pub spool_readings: AtomicU64,
    /// Unix time in microseconds of the oldest spooled reading, 0 when none (gauge).
    pub spool_oldest_us: AtomicU64,
    /// Polls written through to Redis.
    pub redis_updates: AtomicU64,
    /// Polls not written to Redis (queue full, Redis down or slow).
    pub redis_updates_skipped: AtomicU64,
    /// 1 while the store takes writes, 0 while batches go to the spool (gauge).
    pub store_up: AtomicU64,
}

impl Stats {
    /// Adds `n` to `counter`.
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// Sets a gauge.
    pub fn set(gauge: &AtomicU64, v: u64) {
        gauge.store(v, Ordering::Relaxed);
    }

    /// Reads `counter`.
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}
