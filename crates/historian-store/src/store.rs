//! The storage interface the rest of the product uses: [`Store`], its errors and outcomes.

use crate::audit::{AuditEntry, AuditQuery, Audited, DeviceAudit, NewAuditEntry};
use crate::model::{
    AggregateBucket, DeviceRecord, SeriesKey, SeriesPoint, StorageFigures, TimeRange,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use historian_model::RegisterRef;
use historian_model::{DeviceSpec, Reading};
use thiserror::Error;

/// The error behind a [`StoreError`], kept so a log line can print the whole chain.
pub type ErrorSource = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why a store operation failed. The text of each variant reads as it did before causes
/// were kept (it already names the cause), so callers that show it see no change.
#[derive(Debug, Error)]
pub enum StoreError {
    /// The storage URL cannot be used.
    #[error("invalid storage URL {url:?}: {reason}")]
    BadUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
        /// The parser's error, if any.
        #[source]
        source: Option<ErrorSource>,
    },
    /// Opening the database failed.
    #[error("cannot open {what}: {reason}")]
    Open {
        /// What was being opened.
        what: String,
        /// The cause, in words.
        reason: String,
        /// The cause, if an error raised it.
        #[source]
        source: Option<ErrorSource>,
    },
    /// Applying migrations failed.
    #[error("migration failed: {message}")]
    Migration {
        /// What went wrong.
        message: String,
        /// The migration runner's or the driver's error.
        #[source]
        source: Option<ErrorSource>,
    },
    /// The database failed an operation (connection, time-out, server trouble): worth
    /// retrying.
    #[error("database error: {message}")]
    Database {
        /// What went wrong.
        message: String,
        /// The driver's error, if any.
        #[source]
        source: Option<ErrorSource>,
    },
    /// The database refused the data itself (a constraint or a value it cannot hold):
    /// retrying the same rows fails again.
    #[error("database refused the data: {message}")]
    Refused {
        /// What the database said.
        message: String,
        /// The driver's error.
        #[source]
        source: Option<ErrorSource>,
    },
    /// A row read back from the database holds a value this version cannot interpret.
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// The blocking worker running a query died.
    #[error("store worker failed: {message}")]
    Worker {
        /// What went wrong.
        message: String,
        /// The task's or thread's error, if any.
        #[source]
        source: Option<ErrorSource>,
    },
}

impl StoreError {
    /// True when the same operation may succeed later; false when the data is at fault.
    pub fn is_transient(&self) -> bool {
        !matches!(self, StoreError::Refused { .. } | StoreError::Corrupt(_))
    }

    /// A database failure described by `message` alone (no error of the driver behind it),
    /// e.g. a time-out the caller measured.
    pub fn database(message: impl Into<String>) -> Self {
        StoreError::Database {
            message: message.into(),
            source: None,
        }
    }

    /// Opening `what` failed because of `e`.
    pub(crate) fn open(
        what: impl Into<String>,
        e: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        StoreError::Open {
            what: what.into(),
            reason: e.to_string(),
            source: Some(Box::new(e)),
        }
    }

    /// The blocking worker failed because of `e`; `message` says what it was doing.
    pub(crate) fn worker(
        message: String,
        e: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        StoreError::Worker {
            message,
            source: Some(Box::new(e)),
        }
    }
}

/// A reading the store refused, and why; the rest of its batch was stored.
#[derive(Debug, Clone, PartialEq)]
pub struct RejectedReading {
    /// The refused reading.
    pub reading: Reading,
    /// Why it was refused (e.g. its device id is unknown).
    pub reason: String,
}

/// What one batch write did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WriteOutcome {
    /// Rows newly stored.
    pub inserted: usize,
    /// Rows already stored (a replay), skipped without error.
    pub duplicates: usize,
    /// Rows refused for a reason that retrying cannot fix.
    pub rejected: Vec<RejectedReading>,
}

/// What [`Store::delete_device`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeleteOutcome {
    /// The device and its map are gone.
    Deleted,
    /// No device has that name.
    NotFound,
    /// The device has readings, so it was kept with them, marked removed: no longer
    /// polled or listed, its name free for a new device, its history reachable by its id.
    Removed,
}

/// What one round of maintenance did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MaintenanceReport {
    /// Whole partitions dropped for retention.
    pub partitions_dropped: Vec<String>,
    /// Rows deleted one by one for retention.
    pub rows_deleted: u64,
    /// Ids of devices that have readings of the last two days but no longer exist: a
    /// device deleted while a batch of its readings was on its way (the database does not
    /// check every reading against the device table). Their readings are kept; restore
    /// the device or delete them by hand.
    pub orphaned_devices: Vec<i64>,
    /// Page ranges of recent chunks or partitions whose BRIN summary of time was brought
    /// up to date (PostgreSQL).
    pub time_ranges_summarized: u64,
}

/// A place readings are kept and queried. One implementation per backend; all of them pass
/// the same conformance tests.
#[async_trait]
pub trait Store: Send + Sync + std::fmt::Debug {
    /// Short backend name for logs and `/api/health` (`sqlite`, `postgres`, `timescaledb`).
    fn backend(&self) -> &'static str;

    /// Writes the configured devices and maps (matched by name), marks devices missing from
    /// `devices` as disabled, and returns every device with its id.
    async fn sync_devices(&self, devices: &[DeviceSpec]) -> Result<Vec<DeviceRecord>, StoreError> {
        self.write_devices(devices, true).await
    }

    /// Creates or replaces `devices` and their maps (matched by name) in one transaction;
    /// when `disable_others`, every device not listed is disabled. Returns every device.
    async fn write_devices(
        &self,
        devices: &[DeviceSpec],
        disable_others: bool,
    ) -> Result<Vec<DeviceRecord>, StoreError>;

    /// Deletes a device without readings and its map. A device that has readings keeps
    /// them and its map and is marked removed instead (its name becomes free).
    async fn delete_device(&self, name: &str) -> Result<DeleteOutcome, StoreError>;

    /// A signal each time the devices or register maps change in the database, by this
    /// process or another (PostgreSQL: `LISTEN/NOTIFY`; SQLite: a change counter kept by
    /// triggers, polled). It also signals once as soon as it watches, so that a reload then
    /// covers changes made before the watch began. The channel closes when the store is
    /// dropped.
    async fn watch_devices(&self) -> Result<tokio::sync::mpsc::Receiver<()>, StoreError>;

    /// Writes one device and its map (matched by name), leaving every other device as it
    /// is, and returns it with its id.
    async fn upsert_device(&self, device: &DeviceSpec) -> Result<DeviceRecord, StoreError> {
        self.write_devices(std::slice::from_ref(device), false)
            .await?
            .into_iter()
            .find(|r| r.spec.name == device.name)
            .ok_or_else(|| {
                StoreError::Corrupt(format!("device {:?} vanished after writing", device.name))
            })
    }

    /// [`Store::write_devices`], and in the same transaction the entry `audit` makes of
    /// the devices it touched (every device when `disable_others`, else those named),
    /// as they were and as they are. Either both are kept or neither.
    async fn write_devices_audited(
        &self,
        devices: &[DeviceSpec],
        disable_others: bool,
        audit: DeviceAudit,
    ) -> Result<Audited<Vec<DeviceRecord>>, StoreError>;

    /// [`Store::upsert_device`] with its audit entry kept in the same transaction.
    async fn upsert_device_audited(
        &self,
        device: &DeviceSpec,
        audit: DeviceAudit,
    ) -> Result<Audited<DeviceRecord>, StoreError> {
        let written = self
            .write_devices_audited(std::slice::from_ref(device), false, audit)
            .await?;
        let record = written
            .value
            .into_iter()
            .find(|r| r.spec.name == device.name)
            .ok_or_else(|| {
                StoreError::Corrupt(format!("device {:?} vanished after writing", device.name))
            })?;
        Ok(Audited {
            value: record,
            entry: written.entry,
        })
    }

    /// [`Store::delete_device`], and in the same transaction the entry `audit` makes of
    /// the device as it was (and no device after); a deletion or removal is audited.
    async fn delete_device_audited(
        &self,
        name: &str,
        audit: DeviceAudit,
    ) -> Result<Audited<DeleteOutcome>, StoreError>;

    /// Appends one entry to the audit trail, for changes the store does not make itself.
    async fn append_audit(&self, entry: &NewAuditEntry) -> Result<AuditEntry, StoreError>;

    /// Entries of the audit trail matching `query`, newest (highest id) first.
    async fn audit_entries(&self, query: &AuditQuery) -> Result<Vec<AuditEntry>, StoreError>;

    /// Every device of the catalogue (not removed), ordered by id.
    async fn list_devices(&self) -> Result<Vec<DeviceRecord>, StoreError>;

    /// Every stored device, removed ones included (what history is asked by), ordered by id.
    async fn list_devices_including_removed(&self) -> Result<Vec<DeviceRecord>, StoreError>;

    /// Stores one reading; a reading already stored is ignored.
    async fn insert_register_reading(&self, reading: &Reading) -> Result<WriteOutcome, StoreError> {
        self.insert_register_readings_batch(std::slice::from_ref(reading))
            .await
    }

    /// Stores a batch atomically. Rows already stored (same timestamp, device and register)
    /// are skipped, so replays are harmless; rows for an unknown device are refused and
    /// reported while the rest is stored. An `Err` means nothing was stored and the whole
    /// batch may be retried.
    async fn insert_register_readings_batch(
        &self,
        batch: &[Reading],
    ) -> Result<WriteOutcome, StoreError>;

    /// The newest reading of one register.
    async fn get_latest_reading(
        &self,
        device_id: i64,
        register: RegisterRef,
    ) -> Result<Option<Reading>, StoreError>;

    /// The newest reading of every mapped register of a device, in register order.
    async fn get_device_readings_latest(&self, device_id: i64) -> Result<Vec<Reading>, StoreError>;

    /// Readings of one series within `range`, oldest first, at most `limit`.
    async fn get_readings_time_range(
        &self,
        series: SeriesKey,
        range: TimeRange,
        limit: usize,
    ) -> Result<Vec<Reading>, StoreError>;

    /// [`Store::get_readings_time_range`] for many series at once, at most `limit_each`
    /// readings each, answers in the order of `requests`. Backends that can read them in
    /// one round trip override it: a page of a query over a large fleet probes every series.
    async fn get_readings_time_ranges(
        &self,
        requests: &[(SeriesKey, TimeRange)],
        limit_each: usize,
    ) -> Result<Vec<Vec<Reading>>, StoreError> {
        futures_util::future::try_join_all(
            requests
                .iter()
                .map(|&(series, range)| self.get_readings_time_range(series, range, limit_each)),
        )
        .await
    }

    /// The same range as [`Store::get_readings_time_range`], but only time, value, text and
    /// quality of each reading: for callers that know the register (a series answer), and
    /// cheaper where names and units are stored per row.
    async fn get_series(
        &self,
        series: SeriesKey,
        range: TimeRange,
        limit: usize,
    ) -> Result<Vec<SeriesPoint>, StoreError> {
        Ok(self
            .get_readings_time_range(series, range, limit)
            .await?
            .into_iter()
            .map(SeriesPoint::from)
            .collect())
    }

    /// Bucketed aggregates (avg, min, max, count, first, last) of `registers` of one device
    /// with buckets starting within `range`, `width_secs` wide and aligned to the Unix epoch,
    /// ordered by register then bucket. Whole-day widths read daily roll-ups, whole-hour
    /// widths hourly roll-ups, other widths raw readings; roll-ups include the readings
    /// not yet rolled up, so the newest bucket is never stale. The range's ends should be
    /// bucket-aligned: a roll-up bucket is counted whole when it starts inside the range.
    async fn get_aggregates(
        &self,
        device_id: i64,
        registers: &[RegisterRef],
        range: TimeRange,
        width_secs: u64,
    ) -> Result<Vec<AggregateBucket>, StoreError>;

    /// Upkeep the database does not do by itself (partitions ahead, retention). Safe to
    /// call at any time; the historian calls it at start-up and every hour.
    async fn run_maintenance(&self, now: DateTime<Utc>) -> Result<MaintenanceReport, StoreError>;

    /// Size, chunks, compression and job status, for monitoring.
    async fn storage_figures(&self) -> Result<StorageFigures, StoreError>;

    /// Total readings stored.
    async fn count_readings(&self) -> Result<u64, StoreError>;

    /// The read replica's lag and whether reads go to it; `None` without a replica.
    fn read_replica(&self) -> Option<crate::model::ReplicaStatus> {
        None
    }
}

/// An error and its causes on one line: tokio-postgres shows only "db error" or "error
/// performing TLS handshake" at the top and keeps the server's or rustls's reason in the
/// source.
pub(crate) fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let part = c.to_string().replace('\n', " ");
        // Some wrappers print their cause themselves; do not say it twice.
        if !text.ends_with(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        cause = c.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    #[test]
    fn a_store_error_keeps_its_cause_and_its_text() {
        let e = StoreError::open("x.db", std::io::Error::other("disk gone"));
        assert_eq!(e.to_string(), "cannot open x.db: disk gone");
        assert_eq!(
            e.source().map(|s| s.to_string()).as_deref(),
            Some("disk gone")
        );
        let timed_out = StoreError::database("write timed out");
        assert_eq!(timed_out.to_string(), "database error: write timed out");
        assert!(timed_out.source().is_none());
    }

    #[test]
    fn only_refused_and_corrupt_are_not_transient() {
        let refused = StoreError::Refused {
            message: "constraint".into(),
            source: None,
        };
        assert!(!refused.is_transient());
        assert!(!StoreError::Corrupt("row".into()).is_transient());
        assert!(StoreError::database("down").is_transient());
        let worker = StoreError::Worker {
            message: "panicked".into(),
            source: None,
        };
        assert!(worker.is_transient());
    }
}
