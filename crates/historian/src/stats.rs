//! Process-wide counters shared by the pollers, the batcher, the status line and the API.

use hdrhistogram::Histogram;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

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
    /// Latency distributions.
    pub timings: Timings,
}

/// Latency distributions since start-up, for the benchmark report and monitoring.
#[derive(Debug, Default)]
pub struct Timings {
    /// Duration of each poll (all requests of one device).
    pub poll: Latency,
    /// How late each poll started against its grid instant.
    pub jitter: Latency,
    /// Duration of each live batch write.
    pub write: Latency,
    /// From a batch's oldest poll start to the end of its write: poll-to-durable.
    pub durable: Latency,
}

/// A latency histogram in microseconds (1 µs to 1 h, 3 significant digits).
#[derive(Debug)]
pub struct Latency(Mutex<Option<Histogram<u64>>>);

impl Default for Latency {
    fn default() -> Self {
        // Constant bounds that hdrhistogram accepts, so this is always `Some`.
        Latency(Mutex::new(
            Histogram::new_with_bounds(1, 3_600_000_000, 3).ok(),
        ))
    }
}

impl Latency {
    /// Records one duration (saturating at the histogram's range).
    pub fn record(&self, d: Duration) {
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1);
        if let Ok(mut guard) = self.0.lock()
            && let Some(h) = guard.as_mut()
        {
            h.saturating_record(us);
        }
    }

    /// The `q` quantile (0.0-1.0) in milliseconds; 0 when nothing was recorded.
    pub fn quantile_ms(&self, q: f64) -> f64 {
        self.0
            .lock()
            .ok()
            .and_then(|g| g.as_ref().map(|h| h.value_at_quantile(q) as f64 / 1000.0))
            .unwrap_or(0.0)
    }

    /// Values recorded.
    pub fn count(&self) -> u64 {
        self.0
            .lock()
            .ok()
            .and_then(|g| g.as_ref().map(Histogram::len))
            .unwrap_or(0)
    }
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
