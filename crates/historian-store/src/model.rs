//! The rows the store moves and how they map to columns: devices with their maps,
//! series points, aggregates and storage figures.

use chrono::{DateTime, Utc};
use historian_model::{
    Access, DeviceSpec, Link, MAX_REGISTERS_PER_READ, PlanOptions, Quality, Reading, RegisterPoint,
    RegisterRef, SerialSettings,
};
use std::sync::Arc;
use std::time::Duration;

/// The `devices` columns a write sets, in parameter order; reads select `id` and these.
pub(crate) const DEVICE_COLUMNS: [&str; 15] = [
    "name",
    "host",
    "port",
    "unit_id",
    "poll_interval_ms",
    "enabled",
    "transport",
    "serial_baud_rate",
    "serial_parity",
    "serial_stop_bits",
    "serial_data_bits",
    "request_timeout_ms",
    "max_registers_per_read",
    "max_gap",
    "pause_between_requests_ms",
];

/// Inserts a device or, when a device not removed has its name, updates it; returns its id.
/// `param(i)` spells the backend's i-th placeholder (1-based), `now` its current time.
pub(crate) fn upsert_device_sql(param: impl Fn(usize) -> String, now: &str) -> String {
    let params: Vec<String> = (1..=DEVICE_COLUMNS.len()).map(param).collect();
    let updates: Vec<String> = DEVICE_COLUMNS[1..]
        .iter()
        .map(|c| format!("{c} = excluded.{c}"))
        .collect();
    format!(
        "INSERT INTO devices ({}) VALUES ({}) ON CONFLICT (name) WHERE removed_at IS NULL \
         DO UPDATE SET {}, \
         updated_at = {now} RETURNING id",
        DEVICE_COLUMNS.join(", "),
        params.join(", "),
        updates.join(", ")
    )
}

/// The catalogue `before` a write that only added the devices `created`, ordered by id.
pub(crate) fn with_created(
    before: &[DeviceRecord],
    created: Vec<DeviceRecord>,
) -> Vec<DeviceRecord> {
    let mut after = before.to_vec();
    after.extend(created);
    after.sort_by_key(|r| r.id);
    after
}

/// What writing a map row over a stored one (same device and register) does, on both
/// backends: every column from the new row, and the register is current again.
pub(crate) const MAP_UPSERT: &str = " ON CONFLICT (device_id, register_address) DO UPDATE SET \
     position = excluded.position, register_name = excluded.register_name, \
     data_type = excluded.data_type, word_order = excluded.word_order, \
     scale = excluded.scale, \"offset\" = excluded.\"offset\", \
     unit = excluded.unit, min_value = excluded.min_value, \
     max_value = excluded.max_value, not_available = excluded.not_available, \
     string_length = excluded.string_length, \
     poll_interval_ms = excluded.poll_interval_ms, \
     scale_factor = excluded.scale_factor, removed_at = NULL";

/// Column of `removed_at` in what [`select_devices_where_sql`] selects.
pub(crate) const REMOVED_AT_COLUMN: usize = DEVICE_COLUMNS.len() + 1;

/// Selects `id`, [`DEVICE_COLUMNS`] and `removed_at` of the devices matching `condition`,
/// oldest first.
pub(crate) fn select_devices_where_sql(condition: &str) -> String {
    format!(
        "SELECT id, {}, removed_at FROM devices WHERE {condition} ORDER BY id",
        DEVICE_COLUMNS.join(", ")
    )
}

/// The `devices` columns that hold a device's [`Access`], as both stores keep them.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct AccessColumns {
    pub transport: String,
    pub baud_rate: Option<i64>,
    pub parity: Option<String>,
    pub stop_bits: Option<i64>,
    pub data_bits: Option<i64>,
    pub timeout_ms: Option<i64>,
    pub max_registers_per_read: i64,
    pub max_gap: i64,
    pub pause_ms: i64,
}

impl AccessColumns {
    /// The columns of `access`.
    pub fn of(access: &Access) -> Self {
        let serial = match &access.link {
            Link::Serial(s) => Some(s),
            _ => None,
        };
        let millis = |d: Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        AccessColumns {
            transport: access.link.kind().to_string(),
            baud_rate: serial.map(|s| i64::from(s.baud_rate)),
            parity: serial.map(|s| s.parity.as_str().to_string()),
            stop_bits: serial.map(|s| i64::from(s.stop_bits)),
            data_bits: serial.map(|s| i64::from(s.data_bits)),
            timeout_ms: access.timeout.map(millis),
            max_registers_per_read: i64::from(access.plan.max_registers),
            max_gap: i64::from(access.plan.max_gap),
            pause_ms: millis(access.pause),
        }
    }

    /// The access these columns describe; `host` is the serial port's path for `rtu`.
    pub fn into_access(self, device: i64, host: &str) -> Result<Access, String> {
        let bad = |what: &str, v: &dyn std::fmt::Debug| format!("device {device} {what} {v:?}");
        let link = match self.transport.as_str() {
            "tcp" => Link::Tcp,
            "rtu_over_tcp" => Link::RtuOverTcp,
            "rtu" => {
                let mut s = SerialSettings::new(host);
                if let Some(b) = self.baud_rate {
                    s.baud_rate = u32::try_from(b).map_err(|_| bad("baud_rate", &b))?;
                }
                if let Some(p) = &self.parity {
                    s.parity = p.parse().map_err(|_| bad("parity", p))?;
                }
                if let Some(b) = self.stop_bits {
                    s.stop_bits = u8::try_from(b).map_err(|_| bad("stop_bits", &b))?;
                }
                if let Some(b) = self.data_bits {
                    s.data_bits = u8::try_from(b).map_err(|_| bad("data_bits", &b))?;
                }
                Link::Serial(s)
            }
            other => return Err(bad("transport", &other)),
        };
        let ms = |what: &str, v: i64| {
            u64::try_from(v)
                .map(Duration::from_millis)
                .map_err(|_| bad(what, &v))
        };
        let max_registers = u16::try_from(self.max_registers_per_read)
            .ok()
            .filter(|m| (1..=MAX_REGISTERS_PER_READ).contains(m))
            .ok_or_else(|| bad("max_registers_per_read", &self.max_registers_per_read))?;
        let max_gap = u16::try_from(self.max_gap)
            .ok()
            .filter(|g| *g < MAX_REGISTERS_PER_READ)
            .ok_or_else(|| bad("max_gap", &self.max_gap))?;
        Ok(Access {
            link,
            timeout: self.timeout_ms.map(|t| ms("timeout_ms", t)).transpose()?,
            plan: PlanOptions {
                max_registers,
                max_gap,
                ..PlanOptions::default()
            },
            pause: ms("pause_ms", self.pause_ms)?,
        })
    }
}

/// One register of one device: what a time series is read by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SeriesKey {
    /// The device's database id.
    pub device_id: i64,
    /// The register.
    pub register: RegisterRef,
}

impl SeriesKey {
    /// The series of `register` of device `device_id`.
    pub fn new(device_id: i64, register: RegisterRef) -> Self {
        Self {
            device_id,
            register,
        }
    }
}

/// The instants `start <= t < end`. Never inverted: an `end` before `start` is taken as
/// `start`, the empty range, which is what a query over the inverted one answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TimeRange {
    start: DateTime<Utc>,
    end: DateTime<Utc>,
}

impl TimeRange {
    /// The range from `start` (included) to `end` (excluded); empty when `end <= start`.
    pub fn new(start: DateTime<Utc>, end: DateTime<Utc>) -> Self {
        Self {
            start,
            end: end.max(start),
        }
    }

    /// The first instant included.
    pub fn start(&self) -> DateTime<Utc> {
        self.start
    }

    /// The first instant after the range.
    pub fn end(&self) -> DateTime<Utc> {
        self.end
    }

    /// True when no instant is included.
    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }
}

/// One point of one register's time series: what a series answer needs of a reading.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesPoint {
    /// When the poll began.
    pub timestamp: DateTime<Utc>,
    /// Engineering value; null when the read failed, and for strings.
    pub value: Option<f64>,
    /// The text of a string register.
    pub text: Option<Arc<str>>,
    /// good, bad or uncertain.
    pub quality: Quality,
}

impl From<Reading> for SeriesPoint {
    fn from(r: Reading) -> Self {
        Self {
            timestamp: r.timestamp,
            value: r.value,
            text: r.text,
            quality: r.quality,
        }
    }
}

/// A stored device: its id and its spec.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceRecord {
    /// Database id; readings refer to it.
    pub id: i64,
    /// Everything else.
    pub spec: DeviceSpec,
    /// Registers taken out of the map since, kept so their history stays addressable.
    pub removed_registers: Vec<RemovedRegister>,
    /// When the device was removed (deleted while it had readings): it is no longer
    /// polled, its name may be taken by a new device, and its history stays addressable
    /// by its id. `None` for a device in the catalogue.
    pub removed_at: Option<DateTime<Utc>>,
}

impl DeviceRecord {
    /// The record of `spec` stored as `id`, with no removed registers.
    pub fn new(id: i64, spec: DeviceSpec) -> Self {
        Self {
            id,
            spec,
            removed_registers: Vec::new(),
            removed_at: None,
        }
    }

    /// The register named by `wanted` (true for the one asked for): a current one first,
    /// else the most recently removed one.
    pub fn find_register(&self, wanted: impl Fn(&RegisterPoint) -> bool) -> Option<&RegisterPoint> {
        self.spec.registers.iter().find(|p| wanted(p)).or_else(|| {
            self.removed_registers
                .iter()
                .filter(|r| wanted(&r.point))
                .max_by_key(|r| r.removed_at)
                .map(|r| &r.point)
        })
    }
}

/// A register no longer in its device's map, as it was when it left.
#[derive(Debug, Clone, PartialEq)]
pub struct RemovedRegister {
    /// The register as last mapped.
    pub point: RegisterPoint,
    /// When it left the map.
    pub removed_at: DateTime<Utc>,
}

/// Aggregates of one register over one time bucket. Only readings with a value (good or
/// uncertain) count; a bucket whose readings all failed has `count` 0 and null figures.
#[derive(Debug, Clone, PartialEq)]
pub struct AggregateBucket {
    /// Start of the bucket (buckets are aligned to the Unix epoch).
    pub bucket: DateTime<Utc>,
    /// The register.
    pub register_address: RegisterRef,
    /// Mean of the values.
    pub avg: Option<f64>,
    /// Smallest value.
    pub min: Option<f64>,
    /// Largest value.
    pub max: Option<f64>,
    /// Number of values.
    pub count: i64,
    /// Earliest value.
    pub first: Option<f64>,
    /// Latest value.
    pub last: Option<f64>,
}

/// Which data an aggregate query reads, chosen from the bucket width.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AggregateSource {
    /// Raw readings (widths that are not whole hours).
    Raw,
    /// Hourly roll-ups (whole hours).
    Hourly,
    /// Daily roll-ups (whole days).
    Daily,
}

impl AggregateSource {
    /// The cheapest source that can answer buckets of `width_secs` seconds exactly.
    pub fn for_width(width_secs: u64) -> Self {
        if width_secs > 0 && width_secs.is_multiple_of(86_400) {
            AggregateSource::Daily
        } else if width_secs > 0 && width_secs.is_multiple_of(3_600) {
            AggregateSource::Hourly
        } else {
            AggregateSource::Raw
        }
    }

    /// The roll-up table (or continuous aggregate) name, if any.
    pub fn table(self) -> Option<&'static str> {
        match self {
            AggregateSource::Raw => None,
            AggregateSource::Hourly => Some("register_readings_hourly"),
            AggregateSource::Daily => Some("register_readings_daily"),
        }
    }
}

/// Figures for monitoring the store.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StorageFigures {
    /// Bytes the database (or SQLite file with its WAL) occupies on disk.
    pub database_bytes: u64,
    /// Bytes of the readings table with its indexes (compressed chunks included).
    pub readings_bytes: u64,
    /// Chunks or partitions of the readings table (0 for SQLite).
    pub chunks: u64,
    /// Chunks that are compressed (TimescaleDB).
    pub compressed_chunks: u64,
    /// Uncompressed bytes / compressed bytes of the compressed chunks (TimescaleDB).
    pub compression_ratio: Option<f64>,
    /// Background jobs and how their last run ended (TimescaleDB).
    pub jobs: Vec<JobStatus>,
    /// Bytes per reading of the compacted history (SQLite blocks), once there is some.
    pub bytes_per_reading: Option<f64>,
    /// The disk the configured fleet and retention will need (SQLite).
    pub projection: Option<DiskProjection>,
    /// How the historian's sessions compress full-page images in the WAL (PostgreSQL).
    pub wal_compression: Option<String>,
}

/// What the configured fleet will write over the retention period, against the free space
/// of the data folder.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DiskProjection {
    /// Readings per second of the enabled devices' mapped registers.
    pub readings_per_second: f64,
    /// Raw retention in seconds.
    pub retention_secs: u64,
    /// Bytes per reading used: measured on the compacted history, or the estimate below.
    pub bytes_per_reading: f64,
    /// Whether `bytes_per_reading` was measured on this database.
    pub measured: bool,
    /// readings per second x retention x bytes per reading.
    pub projected_bytes: u64,
    /// Free bytes of the data folder's file system, when it can be asked.
    pub free_bytes: Option<u64>,
    /// Bytes the database occupies now (part of the projection is already on disk).
    pub used_bytes: u64,
}

impl DiskProjection {
    /// Bytes per reading assumed before any history is compacted: the benchmark's figure
    /// for realistic signals, rounded up.
    pub const ESTIMATED_BYTES_PER_READING: f64 = 4.0;

    /// The projection of `readings_per_second` kept `retention_secs` at `bytes_per_reading`
    /// (the estimate when `None`).
    pub fn new(
        readings_per_second: f64,
        retention_secs: u64,
        bytes_per_reading: Option<f64>,
        free_bytes: Option<u64>,
        used_bytes: u64,
    ) -> Self {
        let bpr = bytes_per_reading.unwrap_or(Self::ESTIMATED_BYTES_PER_READING);
        let projected = readings_per_second.max(0.0) * retention_secs as f64 * bpr;
        DiskProjection {
            readings_per_second,
            retention_secs,
            bytes_per_reading: bpr,
            measured: bytes_per_reading.is_some(),
            projected_bytes: if projected.is_finite() {
                projected as u64
            } else {
                u64::MAX
            },
            free_bytes,
            used_bytes,
        }
    }

    /// Whether what is still to be written exceeds the free space.
    pub fn exceeds_free_space(&self) -> bool {
        self.free_bytes
            .is_some_and(|free| self.projected_bytes.saturating_sub(self.used_bytes) > free)
    }
}

/// One background job of the database.
#[derive(Debug, Clone, PartialEq)]
pub struct JobStatus {
    /// Job id.
    pub id: i64,
    /// What it does, e.g. `policy_compression`.
    pub name: String,
    /// The table or aggregate it works on.
    pub relation: String,
    /// `Success`, `Failed`, or none before its first run.
    pub last_run_status: Option<String>,
    /// When it last finished successfully.
    pub last_successful_finish: Option<DateTime<Utc>>,
    /// Runs that failed, in total.
    pub total_failures: i64,
}

/// The columns of one `device_register_map` row, as both backends read them.
#[derive(Debug)]
pub(crate) struct MapRow {
    pub reference: i64,
    pub name: String,
    pub data_type: String,
    pub word_order: String,
    pub scale: f64,
    pub offset: f64,
    pub unit: String,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub not_available: Option<i64>,
    pub length: Option<i64>,
    pub interval_ms: Option<i64>,
    pub scale_factor: Option<String>,
}

impl MapRow {
    /// The register point the row describes; a value this version cannot read is `Corrupt`.
    pub fn into_point(self) -> Result<RegisterPoint, crate::StoreError> {
        use crate::StoreError::Corrupt;
        let reference = u32::try_from(self.reference)
            .map_err(|_| Corrupt(format!("register_address {}", self.reference)))?;
        Ok(RegisterPoint {
            name: self.name,
            register: RegisterRef::from_reference(reference).map_err(Corrupt)?,
            data_type: self.data_type.parse().map_err(Corrupt)?,
            word_order: self.word_order.parse().map_err(Corrupt)?,
            scale: self.scale,
            offset: self.offset,
            unit: self.unit,
            limits: historian_model::ValueLimits {
                min: self.min,
                max: self.max,
                not_available: self.not_available.map(|v| v as u64),
            },
            length: self
                .length
                .map(|n| u16::try_from(n).map_err(|_| Corrupt(format!("string_length {n}"))))
                .transpose()?,
            interval_ms: self
                .interval_ms
                .map(|n| u64::try_from(n).map_err(|_| Corrupt(format!("poll_interval_ms {n}"))))
                .transpose()?,
            scale_factor: self.scale_factor,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_time_range_is_never_inverted() {
        let t = |s: i64| DateTime::from_timestamp(s, 0).unwrap_or_default();
        let forward = TimeRange::new(t(10), t(20));
        assert_eq!((forward.start(), forward.end()), (t(10), t(20)));
        assert!(!forward.is_empty());
        let inverted = TimeRange::new(t(20), t(10));
        assert_eq!((inverted.start(), inverted.end()), (t(20), t(20)));
        assert!(inverted.is_empty());
    }
}

/// Where history and aggregate reads go, for stores with a read replica.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReplicaStatus {
    /// The replica's last measured replay lag in seconds; `None` when it did not answer.
    pub lag_seconds: Option<f64>,
    /// True while reads go to the replica, false while they go to the primary.
    pub in_use: bool,
}
