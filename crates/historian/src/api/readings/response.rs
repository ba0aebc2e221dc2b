//! One reading as the readings and stream endpoints answer it: a JSON object, or a CSV
//! row.

use chrono::{DateTime, SecondsFormat, Utc};
use historian_model::{Number, Reading};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// One reading of one register.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RegisterReadingResponse {
    /// When the poll began (RFC 3339, UTC).
    pub timestamp: DateTime<Utc>,
    /// Device id.
    pub device_id: i64,
    /// Six-digit register reference (400001 = holding register 0).
    pub register_address: u32,
    /// Name from the register map.
    pub register_name: String,
    /// Engineering value; null when the read failed, and for string registers. An unscaled
    /// `int64`/`uint64` register's value is an exact JSON integer.
    #[schema(value_type = Option<f64>)]
    pub value: Option<Number>,
    /// The text of a string register (absent for every other type).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// good, bad or uncertain.
    #[schema(example = "good")]
    pub quality: String,
    /// Data type from the register map.
    pub data_type: String,
    /// Unit from the register map.
    pub unit: String,
    /// Milliseconds between the reading and this answer (latest values only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub age_ms: Option<i64>,
}

impl RegisterReadingResponse {
    /// The API form of `r`; `now` adds its age.
    pub fn from_reading(r: &Reading, now: Option<DateTime<Utc>>) -> Self {
        Self {
            timestamp: r.timestamp,
            device_id: r.device_id,
            register_address: r.register_address.reference(),
            register_name: r.register_name.to_string(),
            value: r.number(),
            text: r.string_text().map(str::to_string),
            quality: r.quality.to_string(),
            data_type: r.data_type.to_string(),
            unit: r.unit.to_string(),
            age_ms: now.map(|n| (n - r.timestamp).num_milliseconds()),
        }
    }
}

/// One reading as a CSV row.
#[derive(Debug, Serialize)]
pub struct CsvReading<'a> {
    timestamp: String,
    device_id: i64,
    register_address: u32,
    register_name: &'a str,
    value: Option<Number>,
    text: Option<&'a str>,
    quality: &'static str,
    data_type: &'static str,
    unit: &'a str,
}

/// Column names of [`CsvReading`].
pub const CSV_READING_COLUMNS: &[&str] = &[
    "timestamp",
    "device_id",
    "register_address",
    "register_name",
    "value",
    "text",
    "quality",
    "data_type",
    "unit",
];

impl<'a> CsvReading<'a> {
    /// The CSV row of `r`.
    pub fn of(r: &'a Reading) -> Self {
        Self {
            timestamp: r.timestamp.to_rfc3339_opts(SecondsFormat::Micros, true),
            device_id: r.device_id,
            register_address: r.register_address.reference(),
            register_name: &r.register_name,
            value: r.number(),
            text: r.string_text(),
            quality: r.quality.as_str(),
            data_type: r.data_type.as_str(),
            unit: &r.unit,
        }
    }
}
