//! The rows the store moves: devices with their maps, and readings.

use chrono::{DateTime, Utc};
use historian_modbus::{DataType, Quality, RegisterPoint, RegisterRef};
use std::sync::Arc;

/// A device as configured: where it is, how often to poll it, and its register map.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceSpec {
    /// Unique name (the user's handle for the device, e.g. `main-sel-751`).
    pub name: String,
    /// Host name or IP address.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// Modbus unit id (slave id).
    pub unit_id: u8,
    /// Poll interval in milliseconds.
    pub poll_interval_ms: u64,
    /// Whether the device is polled.
    pub enabled: bool,
    /// The register map.
    pub registers: Vec<RegisterPoint>,
}

/// A stored device: its id and its spec.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceRecord {
    /// Database id; readings refer to it.
    pub id: i64,
    /// Everything else.
    pub spec: DeviceSpec,
}

/// One reading of one register at one instant.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    /// When the poll that produced it began (UTC, microsecond precision).
    pub timestamp: DateTime<Utc>,
    /// The device's database id.
    pub device_id: i64,
    /// The six-digit register reference (e.g. 400001).
    pub register_address: RegisterRef,
    /// Engineering value; null when the read failed, and for strings.
    pub value: Option<f64>,
    /// The text of a string register (`value_text` column); `None` for every other type.
    pub text: Option<Arc<str>>,
    /// good, bad or uncertain.
    pub quality: Quality,
    /// Name from the register map at the time of the reading.
    pub register_name: Arc<str>,
    /// Data type from the register map.
    pub data_type: DataType,
    /// Unit from the register map.
    pub unit: Arc<str>,
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
            limits: historian_modbus::ValueLimits {
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
        })
    }
}
