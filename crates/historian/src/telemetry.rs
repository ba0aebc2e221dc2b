//! Prometheus metrics: the process-wide recorder (installed once, without its own HTTP
//! listener: `GET /metrics` renders from the handle), the metric names with their help
//! texts, and the recording helpers the pollers call.

use historian_modbus::Quality;
use historian_store::Reading;
use metrics::{
    Counter, Histogram, Unit, counter, describe_counter, describe_gauge, describe_histogram,
    histogram,
};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use std::time::Duration;

/// Polls per device and result (`ok`, `failed`).
pub const POLLS: &str = "historian_polls_total";
/// Histogram: seconds one live batch write took.
pub const BATCH_WRITE_SECONDS: &str = "historian_batch_write_seconds";
/// Histogram: readings per batch written live.
pub const BATCH_ROWS: &str = "historian_batch_rows";
/// Duration of one poll per device.
pub const POLL_SECONDS: &str = "historian_poll_duration_seconds";
/// Grid slots skipped because a poll overran, per device.
pub const POLLS_MISSED: &str = "historian_polls_missed_total";
/// Readings polled per device and quality (`good`, `bad`, `uncertain`).
pub const READINGS_POLLED: &str = "historian_readings_polled_total";
/// Readings written to the store (new rows).
pub const READINGS_STORED: &str = "historian_readings_stored_total";
/// Readings the store already held (replays).
pub const READINGS_DUPLICATE: &str = "historian_readings_duplicate_total";
/// Readings the store refused for good.
pub const READINGS_REJECTED: &str = "historian_readings_rejected_total";
/// Batches written to the store.
pub const BATCHES_WRITTEN: &str = "historian_batches_written_total";
/// Failed batch write attempts.
pub const WRITE_ERRORS: &str = "historian_store_write_errors_total";
/// Readings appended to the spool because the store was down or slow.
pub const READINGS_SPOOLED: &str = "historian_readings_spooled_total";
/// Readings replayed from the spool into the store.
pub const SPOOL_REPLAYED: &str = "historian_spool_replayed_readings_total";
/// Readings dropped because the spool was full (`when_full = "drop_newest"`).
pub const READINGS_DROPPED: &str = "historian_readings_dropped_total";
/// Spool appends that failed.
pub const SPOOL_ERRORS: &str = "historian_spool_errors_total";
/// Bytes in spool segment files.
pub const SPOOL_BYTES: &str = "historian_spool_bytes";
/// Batches waiting in the spool.
pub const SPOOL_BATCHES: &str = "historian_spool_batches";
/// Readings waiting in the spool.
pub const SPOOL_READINGS: &str = "historian_spool_readings";
/// Age of the oldest spooled reading (0 when the spool is empty).
pub const SPOOL_OLDEST_AGE: &str = "historian_spool_oldest_age_seconds";
/// 1 while the store takes writes, 0 while batches go to the spool.
pub const STORE_WRITABLE: &str = "historian_store_writable";
/// Polls written through to Redis.
pub const REDIS_UPDATES: &str = "historian_redis_updates_total";
/// Polls not written to Redis (queue full, Redis down or slow).
pub const REDIS_SKIPPED: &str = "historian_redis_updates_skipped_total";
/// Devices polled.
pub const DEVICES: &str = "historian_devices";
/// 1 when the device's last poll reached it, else 0.
pub const DEVICE_UP: &str = "historian_device_up";
/// API request latency per method, route and status.
pub const HTTP_SECONDS: &str = "historian_http_request_duration_seconds";
/// Bytes of the whole database.
pub const STORE_BYTES: &str = "historian_store_database_bytes";
/// Bytes of the readings table and its indexes.
pub const STORE_READINGS_BYTES: &str = "historian_store_readings_bytes";
/// Chunks (TimescaleDB) or partitions (PostgreSQL).
pub const STORE_CHUNKS: &str = "historian_store_chunks";
/// Compressed chunks (TimescaleDB).
pub const STORE_COMPRESSED_CHUNKS: &str = "historian_store_compressed_chunks";
/// Bytes before / after compression (TimescaleDB).
pub const STORE_COMPRESSION_RATIO: &str = "historian_store_compression_ratio";
/// 1 when the last scrape could read the store figures, else 0.
pub const STORE_UP: &str = "historian_store_figures_ok";

/// Bucket bounds, in seconds, of the latency histograms.
const SECONDS_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// Bucket bounds of the batch size histogram.
const ROWS_BUCKETS: &[f64] = &[
    1.0, 10.0, 100.0, 500.0, 1_000.0, 2_500.0, 5_000.0, 10_000.0, 25_000.0, 50_000.0,
];
/// How often histogram samples are folded into their buckets between scrapes.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

static HANDLE: OnceLock<Result<PrometheusHandle, String>> = OnceLock::new();

/// The process's recorder, installed on first use. Fails only when another recorder was
/// installed first (the global recorder can be set once per process).
pub fn handle() -> Result<&'static PrometheusHandle, &'static str> {
    HANDLE.get_or_init(install).as_ref().map_err(String::as_str)
}

fn install() -> Result<PrometheusHandle, String> {
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), SECONDS_BUCKETS)
        .and_then(|b| {
            b.set_buckets_for_metric(Matcher::Full("historian_batch_rows".into()), ROWS_BUCKETS)
        })
        .and_then(PrometheusBuilder::install_recorder)
        .map_err(|e| format!("cannot install the metrics recorder: {e}"))?;
    describe();
    let upkeep = handle.clone();
    // A plain thread: upkeep must go on whichever runtime (if any) is running.
    let spawned = std::thread::Builder::new()
        .name("metrics-upkeep".into())
        .spawn(move || {
            loop {
                std::thread::sleep(UPKEEP_EVERY);
                upkeep.run_upkeep();
            }
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "no metrics upkeep thread; histograms fold in at scrape time only");
    }
    Ok(handle)
}

fn describe() {
    describe_counter!(
        POLLS,
        "Polls per device and result (ok: every request answered; failed: at least one did not)."
    );
    describe_histogram!(
        POLL_SECONDS,
        Unit::Seconds,
        "Duration of one poll per device."
    );
    describe_counter!(
        POLLS_MISSED,
        "Grid slots skipped because the previous poll overran, per device."
    );
    describe_counter!(READINGS_POLLED, "Readings polled, per device and quality.");
    describe_histogram!(
        BATCH_WRITE_SECONDS,
        Unit::Seconds,
        "Duration of one live batch write to the store."
    );
    describe_histogram!(BATCH_ROWS, "Readings per batch written live.");
    describe_counter!(READINGS_STORED, "Readings written to the store (new rows).");
    describe_counter!(
        READINGS_DUPLICATE,
        "Readings the store already held (replays), skipped."
    );
    describe_counter!(
        READINGS_REJECTED,
        "Readings the store refused for good (e.g. unknown device)."
    );
    describe_counter!(BATCHES_WRITTEN, "Batches written to the store.");
    describe_counter!(WRITE_ERRORS, "Failed batch write attempts (each retried).");
    describe_counter!(
        READINGS_SPOOLED,
        "Readings appended to the spool because the store was down or slow."
    );
    describe_counter!(
        SPOOL_REPLAYED,
        "Readings replayed from the spool into the store."
    );
    describe_counter!(
        READINGS_DROPPED,
        "Readings dropped because the spool was full (when_full = drop_newest)."
    );
    describe_counter!(
        SPOOL_ERRORS,
        "Spool appends that failed (disk full, I/O error)."
    );
    describe_gauge!(SPOOL_BYTES, Unit::Bytes, "Bytes in spool segment files.");
    describe_gauge!(SPOOL_BATCHES, "Batches waiting in the spool.");
    describe_gauge!(SPOOL_READINGS, "Readings waiting in the spool.");
    describe_gauge!(
        SPOOL_OLDEST_AGE,
        Unit::Seconds,
        "Age of the oldest spooled reading (0 when the spool is empty)."
    );
    describe_gauge!(
        STORE_WRITABLE,
        "1 while the store takes writes, 0 while batches go to the spool."
    );
    describe_counter!(REDIS_UPDATES, "Polls written through to Redis.");
    describe_counter!(
        REDIS_SKIPPED,
        "Polls not written to Redis (queue full, Redis down or slow)."
    );
    describe_gauge!(DEVICES, "Devices polled.");
    describe_gauge!(
        DEVICE_UP,
        "1 when the device's last poll reached it, else 0."
    );
    describe_histogram!(
        HTTP_SECONDS,
        Unit::Seconds,
        "API request latency per method, route and status."
    );
    describe_gauge!(
        STORE_BYTES,
        Unit::Bytes,
        "Bytes on disk of the whole database."
    );
    describe_gauge!(
        STORE_READINGS_BYTES,
        Unit::Bytes,
        "Bytes of the readings table and its indexes."
    );
    describe_gauge!(
        STORE_CHUNKS,
        "Chunks (TimescaleDB) or partitions (PostgreSQL) of the readings table."
    );
    describe_gauge!(STORE_COMPRESSED_CHUNKS, "Compressed chunks (TimescaleDB).");
    describe_gauge!(
        STORE_COMPRESSION_RATIO,
        "Bytes before / after compression of the compressed chunks."
    );
    describe_gauge!(
        STORE_UP,
        "1 when the last scrape could read the store figures, else 0."
    );
}

/// One device's poll metrics. Made once per poller: looking a labelled metric up hashes
/// and compares its labels, which a profile at 100k readings/s showed on every poll.
pub struct PollMetrics {
    ok: Counter,
    failed: Counter,
    seconds: Histogram,
    /// Readings polled by quality: good, bad, uncertain.
    polled: [Counter; 3],
    missed: Counter,
}

impl std::fmt::Debug for PollMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PollMetrics").finish_non_exhaustive()
    }
}

impl PollMetrics {
    /// The handles of `device`'s series.
    pub fn new(device: &str) -> Self {
        let polled = |quality: &'static str| counter!(READINGS_POLLED, "device" => device.to_string(), "quality" => quality);
        Self {
            ok: counter!(POLLS, "device" => device.to_string(), "result" => "ok"),
            failed: counter!(POLLS, "device" => device.to_string(), "result" => "failed"),
            seconds: histogram!(POLL_SECONDS, "device" => device.to_string()),
            polled: [polled("good"), polled("bad"), polled("uncertain")],
            missed: counter!(POLLS_MISSED, "device" => device.to_string()),
        }
    }

    /// Records one finished poll and the readings it produced.
    pub fn poll_done(&self, ok: bool, took: Duration, readings: &[Reading]) {
        let mut qualities = [0u64; 3];
        for r in readings {
            qualities[match r.quality {
                Quality::Good => 0,
                Quality::Bad => 1,
                Quality::Uncertain => 2,
            }] += 1;
        }
        if ok { &self.ok } else { &self.failed }.increment(1);
        self.seconds.record(took.as_secs_f64());
        for (counter, n) in self.polled.iter().zip(qualities) {
            if n > 0 {
                counter.increment(n);
            }
        }
    }

    /// Records grid slots skipped.
    pub fn missed(&self, n: u64) {
        self.missed.increment(n);
    }
}
