//! Process-wide totals shared by the pollers, ingest, the status pages and `/metrics`:
//! each total is declared once below, with the Prometheus name and help it is exported
//! under, if any; `/metrics` copies them at scrape time and the status pages read them.

use crate::telemetry::catalog::describe_metric;
use hdrhistogram::Histogram;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Declares the totals: `/// help` then `field`, and `=> KIND "metric_name"` for those
/// exported as they are (counter, gauge, or bytes: a gauge in bytes).
macro_rules! totals {
    ($( #[doc = $doc:literal] $field:ident $(=> $kind:ident $name:literal)? ),* $(,)?) => {
        /// Running totals since start-up.
        #[derive(Debug, Default)]
        pub struct Stats {
            $( #[doc = $doc] pub $field: AtomicU64, )*
            /// Latency distributions.
            pub timings: Timings,
        }

        impl Stats {
            /// Copies every exported total into the metrics recorder.
            pub fn export(&self) {
                $( $( export!($kind, $name, Stats::get(&self.$field)); )? )*
                export!(counter, "historian_readings_lost_total", self.losses().total());
            }

            /// Describes every exported total to the metrics recorder.
            pub fn describe() {
                $( $( describe_metric!($kind, $name, $doc.trim()); )? )*
                describe_metric!(counter, "historian_readings_lost_total", LOST_HELP);
            }
        }
    };
}

macro_rules! export {
    (counter, $name:literal, $v:expr) => {
        metrics::counter!($name).absolute($v)
    };
    (gauge, $name:literal, $v:expr) => {
        metrics::gauge!($name).set($v as f64)
    };
    (bytes, $name:literal, $v:expr) => {
        metrics::gauge!($name).set($v as f64)
    };
}

totals! {
    /// Polls that read every request of their plan (per device: `historian_polls_total`).
    polls_ok,
    /// Polls with at least one failed request.
    polls_failed,
    /// Grid slots that passed while a poller was still busy with an earlier poll.
    polls_missed,
    /// Readings handed to ingest.
    readings_polled,
    /// Readings written to the store (new rows).
    readings_stored => counter "historian_readings_stored_total",
    /// Readings the store already held (replays), skipped.
    readings_duplicate => counter "historian_readings_duplicate_total",
    /// Readings the store refused for good (e.g. unknown device).
    readings_rejected => counter "historian_readings_rejected_total",
    /// Readings neither stored nor spooled: the shutdown budget ran out with both failing.
    readings_lost_at_shutdown,
    /// Batches written to the store.
    batches_written => counter "historian_batches_written_total",
    /// Failed batch write attempts (each retried).
    write_errors => counter "historian_store_write_errors_total",
    /// Readings appended to the spool because the store was down or slow.
    readings_spooled => counter "historian_readings_spooled_total",
    /// Readings replayed from the spool into the store.
    readings_replayed => counter "historian_spool_replayed_readings_total",
    /// Readings dropped because the spool was full (when_full = drop_newest).
    readings_dropped => counter "historian_readings_dropped_total",
    /// Spool appends that failed (disk full, I/O error).
    spool_errors => counter "historian_spool_errors_total",
    /// Readings in damaged spool records set aside (copied to `.corrupt` files), not replayed.
    spool_readings_set_aside => counter "historian_spool_readings_lost_total",
    /// Bytes of damaged spool records set aside to `.corrupt` files.
    spool_bytes_set_aside => counter "historian_spool_set_aside_bytes_total",
    /// Bytes in spool segment files.
    spool_bytes => bytes "historian_spool_bytes",
    /// Batches waiting in the spool.
    spool_batches => gauge "historian_spool_batches",
    /// Readings waiting in the spool.
    spool_readings => gauge "historian_spool_readings",
    /// Unix time in microseconds of the oldest spooled reading, 0 when none.
    spool_oldest_us,
    /// Polls written through to Redis.
    redis_updates => counter "historian_redis_updates_total",
    /// Polls not written to Redis (queue full, Redis down or slow).
    redis_updates_skipped => counter "historian_redis_updates_skipped_total",
    /// 1 while the store takes writes, 0 while batches go to the spool.
    store_up => gauge "historian_store_writable",
    /// MQTT messages the broker took (QoS 0: written to it; QoS 1: acknowledged).
    mqtt_published => counter "historian_mqtt_published_total",
    /// Readings waiting in the queue in front of the MQTT broker.
    mqtt_queued => gauge "historian_mqtt_queued",
    /// Readings never offered to the MQTT broker: the queue was full (the oldest go first).
    mqtt_dropped => counter "historian_mqtt_dropped_total",
    /// MQTT messages handed to the connection but lost when it broke, unconfirmed.
    mqtt_lost => counter "historian_mqtt_lost_messages_total",
    /// 1 while a session with the MQTT broker is up, else 0.
    mqtt_connected => gauge "historian_mqtt_connected",
    /// Sessions with the MQTT broker begun after the first one.
    mqtt_reconnects => counter "historian_mqtt_reconnects_total",
}

/// Help of `historian_readings_lost_total`, the sum of [`Losses`].
const LOST_HELP: &str = "Readings that will never reach the store: dropped with the spool full \
    (when_full = drop_newest), set aside from a damaged spool, or neither stored nor spooled \
    at shutdown.";

/// Readings that will never reach the store, by cause: the one meaning of "lost" shared by
/// the closing line, the exit code, the benchmark report and `historian_readings_lost_total`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Losses {
    /// Dropped by policy: the spool was full with `when_full = "drop_newest"`.
    pub dropped: u64,
    /// Set aside because the spool holding them was damaged.
    pub set_aside: u64,
    /// Neither stored nor spooled when the shutdown budget ran out.
    pub at_shutdown: u64,
}

impl Losses {
    /// All of them.
    pub fn total(&self) -> u64 {
        self.dropped + self.set_aside + self.at_shutdown
    }
}

impl std::fmt::Display for Losses {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} dropped with the spool full, {} set aside from a damaged spool, {} not stored at shutdown",
            self.dropped, self.set_aside, self.at_shutdown
        )
    }
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

    /// Readings lost so far, by cause.
    pub fn losses(&self) -> Losses {
        Losses {
            dropped: Stats::get(&self.readings_dropped),
            set_aside: Stats::get(&self.spool_readings_set_aside),
            at_shutdown: Stats::get(&self.readings_lost_at_shutdown),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_exported_total_is_rendered_with_its_help() {
        let handle = crate::telemetry::handle().expect("recorder");
        let stats = Stats::default();
        Stats::add(&stats.readings_lost_at_shutdown, 3);
        Stats::add(&stats.readings_dropped, 4);
        Stats::add(&stats.spool_readings_set_aside, 5);
        Stats::set(&stats.spool_bytes, 4096);
        stats.export();
        let text = handle.render();
        for line in [
            "# HELP historian_readings_lost_total Readings that will never reach the store",
            "historian_readings_lost_total 12",
            "historian_readings_dropped_total 4",
            "# HELP historian_spool_bytes Bytes in spool segment files.",
            "historian_spool_bytes 4096",
        ] {
            assert!(text.contains(line), "{line:?} missing from:\n{text}");
        }
        assert!(
            !text.contains("polls_ok"),
            "totals kept per device are not exported as process totals"
        );
    }
}
