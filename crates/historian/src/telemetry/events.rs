//! One type per thing that happens in the data path. Emitting an event writes its log
//! line and moves its counters together, so the two never disagree and each is written
//! in one place.

use super::catalog::{BATCH_ROWS, BATCH_WRITE_SECONDS};
use super::poll::PollMetrics;
use crate::registry::DeviceStatus;
use crate::spool::SpoolFigures;
use crate::stats::Stats;
use historian_model::Reading;
use historian_store::{RejectedReading, StoreError};
use std::time::Duration;

/// Something that happened, told once.
pub trait Event {
    /// Logs it and counts it.
    fn emit(self, stats: &Stats);
}

/// A batch (or part of one) went into the store.
#[derive(Debug)]
pub struct BatchStored<'a> {
    /// Readings in the part written.
    pub rows: usize,
    /// New rows.
    pub inserted: usize,
    /// Rows the store already held.
    pub duplicates: usize,
    /// Rows the store refused for good; the rest is stored.
    pub rejected: &'a [RejectedReading],
    /// How long the write took.
    pub took: Duration,
}

impl Event for BatchStored<'_> {
    fn emit(self, s: &Stats) {
        Stats::add(&s.readings_stored, self.inserted as u64);
        Stats::add(&s.readings_duplicate, self.duplicates as u64);
        Stats::add(&s.readings_rejected, self.rejected.len() as u64);
        Stats::add(&s.batches_written, 1);
        tracing::trace!(rows = self.rows, took = ?self.took, "batch written");
        if let Some(first) = self.rejected.first() {
            tracing::error!(
                rejected = self.rejected.len(),
                first_reason = %first.reason,
                device_id = first.reading.device_id,
                register = %first.reading.register_address,
                "the store refused readings; the rest of the batch is stored"
            );
        }
    }
}

/// The store refused one reading for good; it is not stored.
#[derive(Debug)]
pub struct ReadingRefused<'a> {
    /// The reading.
    pub reading: &'a Reading,
    /// Why.
    pub reason: &'a StoreError,
}

impl Event for ReadingRefused<'_> {
    fn emit(self, s: &Stats) {
        Stats::add(&s.readings_rejected, 1);
        tracing::error!(
            reason = %self.reason,
            device_id = self.reading.device_id,
            register = %self.reading.register_address,
            timestamp = %self.reading.timestamp,
            "the store refused a reading; it is not stored"
        );
    }
}

/// A live batch reached the store: how long its write took and how old its oldest
/// reading was by then (poll-to-durable).
#[derive(Debug)]
pub struct LiveBatchDurable<'a> {
    /// The batch.
    pub batch: &'a [Reading],
    /// Duration of its write.
    pub took: Duration,
}

impl Event for LiveBatchDurable<'_> {
    fn emit(self, s: &Stats) {
        s.timings.write.record(self.took);
        metrics::histogram!(BATCH_WRITE_SECONDS).record(self.took.as_secs_f64());
        metrics::histogram!(BATCH_ROWS).record(self.batch.len() as f64);
        if let Some(oldest) = self.batch.iter().map(|r| r.timestamp).min() {
            let age = chrono::Utc::now() - oldest;
            s.timings.durable.record(age.to_std().unwrap_or_default());
        }
    }
}

/// A write to the store failed; the batch goes to the spool.
#[derive(Debug)]
pub struct StoreWriteFailed<'a> {
    /// Why.
    pub error: &'a StoreError,
    /// Whether this failure took the store from up to down (logged once per outage).
    pub went_down: bool,
    /// The retry that will follow, for a replay.
    pub retry_in: Option<Duration>,
}

impl Event for StoreWriteFailed<'_> {
    fn emit(self, s: &Stats) {
        Stats::add(&s.write_errors, 1);
        Stats::set(&s.store_up, 0);
        if self.went_down {
            tracing::warn!(error = %self.error, "store write failed; spooling until it recovers");
        } else if let Some(retry_in) = self.retry_in {
            tracing::debug!(error = %self.error, ?retry_in, "spool replay failed");
        }
    }
}

/// The store took a write again after failing.
#[derive(Debug)]
pub struct StoreRecovered {
    /// Whether it had been marked down (logged only then).
    pub was_down: bool,
}

impl Event for StoreRecovered {
    fn emit(self, s: &Stats) {
        Stats::set(&s.store_up, 1);
        if self.was_down {
            tracing::info!("store takes writes again; replaying the spool");
        }
    }
}

/// A batch was appended to the spool.
#[derive(Debug)]
pub struct BatchSpooled {
    /// Readings in it.
    pub readings: u64,
    /// Whether the spool had been full until now.
    pub was_full: bool,
}

impl Event for BatchSpooled {
    fn emit(self, s: &Stats) {
        Stats::add(&s.readings_spooled, self.readings);
        if self.was_full {
            tracing::info!("spool has room again; polling resumes");
        }
    }
}

/// The spool's contents changed (appended, replayed, opened).
#[derive(Debug)]
pub struct SpoolChanged<'a>(pub &'a SpoolFigures);

impl Event for SpoolChanged<'_> {
    fn emit(self, s: &Stats) {
        let f = self.0;
        Stats::set(&s.spool_bytes, f.bytes);
        Stats::set(&s.spool_batches, f.batches);
        Stats::set(&s.spool_readings, f.readings);
        let oldest = f
            .oldest
            .map_or(0, |t| u64::try_from(t.timestamp_micros()).unwrap_or(0));
        Stats::set(&s.spool_oldest_us, oldest);
    }
}

/// The spool is at its size cap.
#[derive(Debug)]
pub struct SpoolFull {
    /// Readings of the batch that did not fit.
    pub readings: u64,
    /// Bytes in the spool.
    pub bytes: u64,
    /// The cap.
    pub max_bytes: u64,
    /// True with `when_full = "drop_newest"`: the batch is dropped; else it is held.
    pub dropped: bool,
}

impl Event for SpoolFull {
    fn emit(self, s: &Stats) {
        let (bytes, max_bytes) = (self.bytes, self.max_bytes);
        if self.dropped {
            Stats::add(&s.readings_dropped, self.readings);
            tracing::error!(
                readings = self.readings,
                bytes,
                max_bytes,
                "spool full (when_full = drop_newest): dropping the newest batch"
            );
        } else {
            tracing::error!(
                bytes,
                max_bytes,
                "spool full (when_full = block): holding readings; pollers wait and count missed polls"
            );
        }
    }
}

/// An append to the spool failed (disk full, I/O error); the store is tried instead.
#[derive(Debug)]
pub struct SpoolFailed<'a> {
    /// Why.
    pub error: &'a crate::spool::SpoolError,
    /// Readings of the batch.
    pub readings: u64,
}

impl Event for SpoolFailed<'_> {
    fn emit(self, s: &Stats) {
        Stats::add(&s.spool_errors, 1);
        tracing::error!(error = %self.error, readings = self.readings, "cannot spool a batch; trying the store instead");
    }
}

/// Damaged spool bytes were set aside: copied to a `.corrupt` file and not replayed; the
/// records after them are.
#[derive(Debug)]
pub struct SpoolDamageSetAside<'a>(pub &'a crate::spool::SetAside);

impl Event for SpoolDamageSetAside<'_> {
    fn emit(self, s: &Stats) {
        let a = self.0;
        Stats::add(&s.spool_readings_set_aside, a.readings);
        Stats::add(&s.spool_bytes_set_aside, a.bytes);
        tracing::warn!(
            segment = %a.segment.display(),
            offset = a.offset,
            bytes = a.bytes,
            readings = a.readings,
            copy = %a.copy.display(),
            "damaged spool bytes set aside, not replayed; the records after them are replayed"
        );
    }
}

/// Readings neither stored nor spooled before the shutdown budget ran out.
#[derive(Debug)]
pub struct ReadingsLost {
    /// How many.
    pub readings: u64,
}

impl Event for ReadingsLost {
    fn emit(self, s: &Stats) {
        Stats::add(&s.readings_lost_at_shutdown, self.readings);
        tracing::error!(
            readings = self.readings,
            "shutdown budget spent with neither the store nor the spool taking a batch: these readings are lost"
        );
    }
}

/// A spooled batch reached the store.
#[derive(Debug)]
pub struct BatchReplayed {
    /// Readings in it.
    pub readings: u64,
}

impl Event for BatchReplayed {
    fn emit(self, s: &Stats) {
        Stats::add(&s.readings_replayed, self.readings);
    }
}

/// One poll of one device finished.
#[derive(Debug)]
pub struct PollDone<'a> {
    /// The device's name.
    pub device: &'a str,
    /// Where it is reached (host:port or serial port).
    pub endpoint: &'a str,
    /// Its Modbus unit id.
    pub unit: u8,
    /// True when this poll reached the device after polls that could not.
    pub reconnected: bool,
    /// Its live status.
    pub status: &'a DeviceStatus,
    /// Its metric handles.
    pub metrics: &'a PollMetrics,
    /// The readings it produced.
    pub readings: &'a [Reading],
    /// Requests that failed.
    pub errors: &'a [historian_modbus::poll::FailedRead],
    /// How long it took.
    pub took: Duration,
}

impl Event for PollDone<'_> {
    fn emit(self, s: &Stats) {
        let status = self.status;
        let ok = self.errors.is_empty();
        if ok {
            Stats::add(&s.polls_ok, 1);
            Stats::add(&status.polls_ok, 1);
        } else {
            Stats::add(&s.polls_failed, 1);
            Stats::add(&status.polls_failed, 1);
            for e in self.errors {
                tracing::warn!(
                    device = self.device,
                    endpoint = self.endpoint,
                    unit = self.unit,
                    table = %e.table,
                    address = e.start,
                    count = e.count,
                    "poll request failed: {e}"
                );
            }
        }
        if self.reconnected {
            tracing::info!(
                device = self.device,
                endpoint = self.endpoint,
                unit = self.unit,
                "reconnected: the device answers again"
            );
        }
        Stats::add(&s.readings_polled, self.readings.len() as u64);
        self.metrics.poll_done(ok, self.took, self.readings);
    }
}

/// Grid slots that passed while the device's poller was still busy with an earlier one.
#[derive(Debug)]
pub struct PollsMissed<'a> {
    /// The device's name.
    pub device: &'a str,
    /// The device's live status.
    pub status: &'a DeviceStatus,
    /// Its poller's metric handles; `None` when counted by the slot watcher, which
    /// looks the device's series up instead.
    pub metrics: Option<&'a PollMetrics>,
    /// Slots skipped.
    pub slots: u64,
}

impl Event for PollsMissed<'_> {
    fn emit(self, s: &Stats) {
        Stats::add(&s.polls_missed, self.slots);
        Stats::add(&self.status.polls_missed, self.slots);
        match self.metrics {
            Some(m) => m.missed(self.slots),
            None => PollMetrics::missed_of(self.device, self.slots),
        }
    }
}

/// A poll's latest values reached Redis.
#[derive(Debug)]
pub struct RedisUpdated {
    /// Whether Redis had been failing until now (logged only then).
    pub recovered: bool,
}

impl Event for RedisUpdated {
    fn emit(self, s: &Stats) {
        Stats::add(&s.redis_updates, 1);
        if self.recovered {
            tracing::info!("redis takes latest values again");
        }
    }
}

/// A poll's latest values were not written to Redis.
#[derive(Debug)]
pub enum RedisSkipped<'a> {
    /// The queue to the Redis writer was full.
    Behind,
    /// The write failed; `first` when Redis had been healthy until now.
    Failed {
        /// Why.
        error: &'a redis::RedisError,
        /// Logged only for the first failure of an outage.
        first: bool,
    },
    /// The write took longer than the time-out.
    TimedOut {
        /// The time-out.
        timeout: Duration,
        /// Logged only for the first failure of an outage.
        first: bool,
    },
}

impl Event for RedisSkipped<'_> {
    fn emit(self, s: &Stats) {
        Stats::add(&s.redis_updates_skipped, 1);
        match self {
            RedisSkipped::Behind => {}
            RedisSkipped::Failed { error, first } => {
                if first {
                    tracing::warn!(error = %error, "redis write failed; skipping latest-value updates until it answers");
                }
            }
            RedisSkipped::TimedOut { timeout, first } => {
                if first {
                    tracing::warn!(
                        ?timeout,
                        "redis write timed out; skipping latest-value updates until it answers"
                    );
                }
            }
        }
    }
}

/// A session with the MQTT broker began.
#[derive(Debug)]
pub struct MqttUp<'a> {
    /// The broker, as configured (no credentials).
    pub broker: &'a str,
    /// Whether an earlier session had been up.
    pub reconnect: bool,
}

impl Event for MqttUp<'_> {
    fn emit(self, s: &Stats) {
        Stats::set(&s.mqtt_connected, 1);
        if self.reconnect {
            Stats::add(&s.mqtt_reconnects, 1);
            tracing::info!(broker = self.broker, "mqtt broker connected again");
        } else {
            tracing::info!(broker = self.broker, "mqtt broker connected");
        }
    }
}

/// The MQTT broker could not be reached, or the session with it ended.
#[derive(Debug)]
pub struct MqttDown<'a> {
    /// The broker, as configured (no credentials).
    pub broker: &'a str,
    /// Why.
    pub error: &'a str,
    /// Whether this is the first failure of an outage, or of the start (logged as a
    /// warning only then).
    pub first: bool,
    /// Messages handed to the connection that it never confirmed.
    pub lost: u64,
    /// When the next attempt is made.
    pub retry_in: Duration,
}

impl Event for MqttDown<'_> {
    fn emit(self, s: &Stats) {
        Stats::set(&s.mqtt_connected, 0);
        Stats::add(&s.mqtt_lost, self.lost);
        if self.first || self.lost > 0 {
            tracing::warn!(
                broker = self.broker,
                error = self.error,
                lost_messages = self.lost,
                retry_in = ?self.retry_in,
                "mqtt broker unreachable; readings queue up (storage goes on) until it answers"
            );
        } else {
            tracing::debug!(broker = self.broker, error = self.error, retry_in = ?self.retry_in, "mqtt broker still unreachable");
        }
    }
}

/// Readings left the MQTT queue without being published.
#[derive(Debug)]
pub struct MqttDropped {
    /// How many.
    pub readings: u64,
    /// Whether the queue had been dropping nothing until now (logged only then).
    pub first: bool,
    /// Why.
    pub why: &'static str,
}

impl Event for MqttDropped {
    fn emit(self, s: &Stats) {
        Stats::add(&s.mqtt_dropped, self.readings);
        if self.first {
            tracing::warn!(
                readings = self.readings,
                why = self.why,
                "mqtt: dropping readings (they are stored all the same); counted in historian_mqtt_dropped_total"
            );
        }
    }
}
