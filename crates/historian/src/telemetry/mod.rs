//! Telemetry: the metrics recorder (installed once, without its own HTTP listener:
//! `GET /metrics` renders from the handle), the catalog of metric names, each with its help
//! text written once, and the events that log and count together.
//!
//! Process totals (stored, spooled, ...) are declared in [`crate::stats`] with the names
//! they are exported under; the labelled metrics (per device, per route) are declared here.

pub mod events;
mod poll;

pub use poll::PollMetrics;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use std::time::Duration;

/// Declares labelled metrics: `/// help` then `NAME: KIND "metric_name"`, KIND one of
/// counter, gauge, seconds (a histogram of durations), histogram, age (a gauge in seconds).
macro_rules! catalog {
    ($( #[doc = $doc:literal] $const:ident: $kind:ident $name:literal ),* $(,)?) => {
        $( #[doc = $doc] pub const $const: &str = $name; )*

        /// Describes every labelled metric to the recorder.
        fn describe_labelled() {
            $( describe!($kind, $name, $doc.trim()); )*
        }
    };
}

macro_rules! describe {
    (counter, $name:literal, $help:expr) => {
        metrics::describe_counter!($name, $help)
    };
    (gauge, $name:literal, $help:expr) => {
        metrics::describe_gauge!($name, $help)
    };
    (age, $name:literal, $help:expr) => {
        metrics::describe_gauge!($name, metrics::Unit::Seconds, $help)
    };
    (histogram, $name:literal, $help:expr) => {
        metrics::describe_histogram!($name, $help)
    };
    (seconds, $name:literal, $help:expr) => {
        metrics::describe_histogram!($name, metrics::Unit::Seconds, $help)
    };
    (bytes, $name:literal, $help:expr) => {
        metrics::describe_gauge!($name, metrics::Unit::Bytes, $help)
    };
}

catalog! {
    /// Polls per device and result (ok: every request answered; failed: at least one did not).
    POLLS: counter "historian_polls_total",
    /// Duration of one poll per device.
    POLL_SECONDS: seconds "historian_poll_duration_seconds",
    /// Grid slots skipped because the previous poll overran, per device.
    POLLS_MISSED: counter "historian_polls_missed_total",
    /// Readings polled, per device and quality.
    READINGS_POLLED: counter "historian_readings_polled_total",
    /// Duration of one live batch write to the store.
    BATCH_WRITE_SECONDS: seconds "historian_batch_write_seconds",
    /// Readings per batch written live.
    BATCH_ROWS: histogram "historian_batch_rows",
    /// Age of the oldest spooled reading (0 when the spool is empty).
    SPOOL_OLDEST_AGE: age "historian_spool_oldest_age_seconds",
    /// Devices polled.
    DEVICES: gauge "historian_devices",
    /// 1 when the device's last poll reached it, else 0.
    DEVICE_UP: gauge "historian_device_up",
    /// API request latency per method, route and status.
    HTTP_SECONDS: seconds "historian_http_request_duration_seconds",
    /// Bytes on disk of the whole database.
    STORE_BYTES: bytes "historian_store_database_bytes",
    /// Bytes of the readings table and its indexes.
    STORE_READINGS_BYTES: bytes "historian_store_readings_bytes",
    /// Chunks (TimescaleDB) or partitions (PostgreSQL) of the readings table.
    STORE_CHUNKS: gauge "historian_store_chunks",
    /// Compressed chunks (TimescaleDB).
    STORE_COMPRESSED_CHUNKS: gauge "historian_store_compressed_chunks",
    /// Bytes before / after compression of the compressed chunks.
    STORE_COMPRESSION_RATIO: gauge "historian_store_compression_ratio",
    /// 1 when the last scrape could read the store figures, else 0.
    STORE_UP: gauge "historian_store_figures_ok",
}

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
        .and_then(|b| b.set_buckets_for_metric(Matcher::Full(BATCH_ROWS.into()), ROWS_BUCKETS))
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
    describe_labelled();
    crate::stats::Stats::describe();
}
