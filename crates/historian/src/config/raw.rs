//! The configuration file exactly as written: every field optional and loosely typed, so
//! that validation can report every problem at once instead of stopping at the first.

use historian_model::DeviceInput;
use serde::Deserialize;
use serde::de::IgnoredAny;
use std::ops::Range;
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
    pub mqtt: Option<Spanned<RawMqtt>>,
    pub cluster: Option<RawCluster>,
    #[serde(default)]
    pub devices: Vec<Spanned<DeviceInput>>,
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
    pub read_url: Option<String>,
    pub read_max_lag: Option<String>,
    pub wal_compression: Option<String>,
}

/// `[cluster]`
#[derive(Debug, Default, Deserialize)]
pub struct RawCluster {
    pub enabled: Option<bool>,
    pub node: Option<String>,
    pub lease_ttl: Option<String>,
    pub heartbeat: Option<String>,
}

/// `[api]`
#[derive(Debug, Default, Deserialize)]
pub struct RawApi {
    pub bind: Option<String>,
    pub token: Option<String>,
    pub read_token: Option<String>,
    pub cors_origins: Option<Vec<String>>,
    pub max_body_bytes: Option<i64>,
    pub request_timeout: Option<String>,
    pub header_timeout: Option<String>,
    pub idle_timeout: Option<String>,
    pub max_connections: Option<i64>,
    pub max_streams: Option<i64>,
    pub tls_cert: Option<String>,
    pub tls_key: Option<String>,
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
    pub ca_file: Option<Spanned<String>>,
}

/// `[mqtt]`: every value spanned, so that each problem names its line.
#[derive(Debug, Default, Deserialize)]
pub struct RawMqtt {
    pub url: Option<Spanned<String>>,
    pub format: Option<Spanned<String>>,
    pub client_id: Option<Spanned<String>>,
    pub username: Option<Spanned<String>>,
    pub password: Option<Spanned<String>>,
    pub ca_file: Option<Spanned<String>>,
    pub client_cert: Option<Spanned<String>>,
    pub client_key: Option<Spanned<String>>,
    pub qos: Option<Spanned<i64>>,
    pub keep_alive: Option<Spanned<String>>,
    pub queue: Option<Spanned<i64>>,
    pub topic_prefix: Option<Spanned<String>>,
    pub topic: Option<Spanned<String>>,
    pub batch_topic: Option<Spanned<String>>,
    pub retain: Option<Spanned<bool>>,
    pub on_change: Option<Spanned<bool>>,
    pub deadband: Option<Spanned<toml::Value>>,
    pub deadbands: Option<Spanned<std::collections::BTreeMap<String, Spanned<toml::Value>>>>,
    pub max_silence: Option<Spanned<String>>,
    pub group_id: Option<Spanned<String>>,
    pub edge_node_id: Option<Spanned<String>>,
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
    pub allowed_serial_ports: Option<Vec<String>>,
}

/// Where each `[[devices]]` table, its registers and its map file were written: read in
/// a second pass, since the device itself is read as the one [`DeviceInput`] every reader
/// shares.
#[derive(Debug, Default, Clone)]
pub struct DevicePositions {
    /// The device's table.
    pub device: Range<usize>,
    /// Each `[[devices.registers]]` table, in order.
    pub registers: Vec<Range<usize>>,
    /// The `register_map` value.
    pub register_map: Option<Range<usize>>,
}

#[derive(Default, Deserialize)]
struct Spans {
    #[serde(default)]
    devices: Vec<DeviceSpans>,
}

#[derive(Default, Deserialize)]
struct DeviceSpans {
    #[serde(default)]
    registers: Vec<Spanned<IgnoredAny>>,
    register_map: Option<Spanned<IgnoredAny>>,
}

impl DevicePositions {
    /// The positions in `text` of `devices`, as parsed from it.
    pub fn of(text: &str, devices: &[Spanned<DeviceInput>]) -> Vec<DevicePositions> {
        let spans: Spans = toml::from_str(text).unwrap_or_default();
        let mut inner = spans.devices.into_iter();
        devices
            .iter()
            .map(|d| {
                let s = inner.next().unwrap_or_default();
                DevicePositions {
                    device: d.span(),
                    registers: s.registers.iter().map(Spanned::span).collect(),
                    register_map: s.register_map.as_ref().map(Spanned::span),
                }
            })
            .collect()
    }
}
