//! The configuration file exactly as written: every field optional and loosely typed, so
//! that validation can report every problem at once instead of stopping at the first.

use historian_modbus::mapfile::RawPoint;
use serde::Deserialize;
use toml::Spanned;

/// The whole file.
#[derive(Debug, Default, Deserialize)]
pub struct RawConfig {
    pub storage: Option<RawStorage>,
    pub api: Option<RawApi>,
    pub ingest: Option<RawIngest>,
    pub polling: Option<RawPolling>,
    pub spool: Option<RawSpool>,
    pub redis: Option<RawRedis>,
    #[serde(default)]
    pub devices: Vec<Spanned<RawDevice>>,
}

/// `[storage]`
#[derive(Debug, Default, Deserialize)]
pub struct RawStorage {
    pub url: Option<String>,
    pub timescaledb: Option<String>,
    pub compress_after: Option<String>,
    pub retention: Option<String>,
    pub hourly_retention: Option<String>,
    pub daily_retention: Option<String>,
}

/// `[api]`
#[derive(Debug, Default, Deserialize)]
pub struct RawApi {
    pub bind: Option<String>,
    pub token: Option<String>,
    pub cors_origins: Option<Vec<String>>,
    pub max_body_bytes: Option<i64>,
    pub request_timeout: Option<String>,
}

/// `[ingest]`
#[derive(Debug, Default, Deserialize)]
pub struct RawIngest {
    pub batch_size: Option<i64>,
    pub batch_max_age: Option<String>,
    pub channel_capacity: Option<i64>,
    pub writers: Option<i64>,
    pub write_timeout: Option<String>,
    pub shutdown_timeout: Option<String>,
}

/// `[redis]`
#[derive(Debug, Default, Deserialize)]
pub struct RawRedis {
    pub url: Option<String>,
    pub key_prefix: Option<String>,
    pub timeout: Option<String>,
}

/// `[spool]`
#[derive(Debug, Default, Deserialize)]
pub struct RawSpool {
    pub dir: Option<String>,
    pub max_size: Option<toml::Value>,
    pub segment_size: Option<toml::Value>,
    pub fsync: Option<String>,
    pub when_full: Option<String>,
}

/// `[polling]`: defaults for every device.
#[derive(Debug, Default, Deserialize)]
pub struct RawPolling {
    pub interval: Option<String>,
    pub timeout: Option<String>,
}

/// One `[[devices]]` entry.
#[derive(Debug, Default, Deserialize)]
pub struct RawDevice {
    pub name: Option<String>,
    pub host: Option<String>,
    pub port: Option<i64>,
    pub unit_id: Option<i64>,
    pub interval: Option<String>,
    pub timeout: Option<String>,
    pub enabled: Option<bool>,
    pub addressing: Option<String>,
    pub max_gap: Option<i64>,
    pub max_registers_per_read: Option<i64>,
    pub pause_between_requests: Option<String>,
    pub register_map: Option<Spanned<String>>,
    pub transport: Option<String>,
    pub serial_port: Option<String>,
    pub baud_rate: Option<i64>,
    pub parity: Option<String>,
    pub stop_bits: Option<i64>,
    pub data_bits: Option<i64>,
    #[serde(default)]
    /// `[[devices.registers]]` entries, written as a map file's rows.
    pub registers: Vec<Spanned<RawPoint>>,
}
