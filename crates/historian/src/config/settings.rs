//! The validated configuration: what the historian runs with.

use super::api::ApiConfig;
use crate::spool::SpoolConfig;
use historian_modbus::client::Transport;
use historian_model::{DeviceSpec, Link};
use historian_store::{StorageUrl, StoreOptions};
use std::net::SocketAddr;
use std::time::Duration;

/// Environment variable that overrides `storage.url`.
pub const ENV_DATABASE_URL: &str = "HISTORIAN_DATABASE_URL";
/// Environment variable that overrides `api.bind`.
pub const ENV_API_BIND: &str = "HISTORIAN_API_BIND";
/// Environment variable that sets `redis.url`.
pub const ENV_REDIS_URL: &str = "HISTORIAN_REDIS_URL";
/// Environment variable that overrides `ingest.batch_size`.
pub const ENV_BATCH_SIZE: &str = "HISTORIAN_BATCH_SIZE";

/// A validated configuration, ready to run.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where it came from (a file path, or a description for built-in configs).
    pub source: String,
    /// The file it was loaded from; `None` for built-in configs.
    pub file: Option<std::path::PathBuf>,
    /// Where readings are stored.
    pub storage: StorageUrl,
    /// Schema and upkeep settings (TimescaleDB, compression, retention).
    pub storage_options: StoreOptions,
    /// Address the HTTP API listens on.
    pub api_bind: SocketAddr,
    /// Token, CORS, body limit and time-out of the HTTP API.
    pub api: ApiConfig,
    /// Batching and buffering between pollers and the store.
    pub ingest: IngestConfig,
    /// Where batches wait while the store is down or slow.
    pub spool: SpoolConfig,
    /// Latest values written through to Redis, when configured.
    pub redis: Option<RedisConfig>,
    /// Readings published to an MQTT broker, when configured.
    pub mqtt: Option<super::mqtt::MqttConfig>,
    /// Several historians sharing the fleet, when enabled.
    pub cluster: Option<super::cluster::ClusterConfig>,
    /// Devices to poll, in file order. When empty, the devices stored in the database
    /// are polled instead (managed there, e.g. in production on PostgreSQL).
    pub devices: Vec<DeviceConfig>,
    /// The addressing each device's map is written in, by device name, where the file
    /// sets one (`addressing`); `devices import --config` reads map files with it.
    pub map_addressing: std::collections::BTreeMap<String, historian_model::Addressing>,
    /// Poll interval of a device that names none (`polling.interval`).
    pub default_interval: Duration,
    /// Per-request time-out for devices that come from the database.
    pub default_timeout: Duration,
}

/// Batching between the pollers and the store.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IngestConfig {
    /// A batch is written when it holds this many readings...
    pub batch_size: usize,
    /// ...or when its oldest reading is this old, whichever comes first.
    pub batch_max_age: Duration,
    /// Polls buffered between pollers and the batcher before pollers wait (back-pressure).
    pub channel_capacity: usize,
    /// Batches written to the store at the same time.
    pub writers: usize,
    /// A store write taking longer than this is abandoned and its batch spooled.
    pub write_timeout: Duration,
    /// At shutdown, how long pending batches may keep trying the store before they are
    /// spooled instead.
    pub shutdown_timeout: Duration,
}

impl IngestConfig {
    /// Readings per batch where none is configured, by backend. Measured at 100,000
    /// readings/s into TimescaleDB, 10,000 costs the server 3 % less per reading than 5,000
    /// (fewer statements, commits and trigger runs) for 70 ms more from poll to durable;
    /// SQLite's cost per reading is the same at both, so it keeps the shorter wait.
    pub fn default_batch_size(storage: &StorageUrl) -> usize {
        match storage {
            StorageUrl::Postgres(_) => 10_000,
            StorageUrl::Sqlite(_) => 5_000,
        }
    }

    /// These settings with the batch size the backend takes by default.
    pub fn for_storage(storage: &StorageUrl) -> Self {
        Self {
            batch_size: Self::default_batch_size(storage),
            ..Self::default()
        }
    }
}

impl Default for IngestConfig {
    fn default() -> Self {
        Self {
            batch_size: 5_000,
            batch_max_age: Duration::from_millis(200),
            channel_capacity: 1_024,
            writers: 2,
            write_timeout: Duration::from_secs(30),
            shutdown_timeout: Duration::from_secs(10),
        }
    }
}

/// One device: what the store keeps (name, endpoint, link, map), plus the resolved
/// request time-out.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceConfig {
    /// Name, endpoint, link, interval, planning limits and register map.
    pub spec: DeviceSpec,
    /// Per-request time-out: the device's own, else the configured default.
    pub timeout: Duration,
}

impl DeviceConfig {
    /// A device whose own time-out, if it has none, is `default_timeout`.
    pub fn new(spec: DeviceSpec, default_timeout: Duration) -> Self {
        let timeout = spec.access.timeout.unwrap_or(default_timeout);
        Self { spec, timeout }
    }

    /// Where the collector connects for this device.
    pub fn transport(&self) -> Transport {
        let endpoint = || format!("{}:{}", self.spec.host, self.spec.port);
        match &self.spec.access.link {
            Link::Tcp => Transport::Tcp(endpoint()),
            Link::RtuOverTcp => Transport::RtuOverTcp(endpoint()),
            Link::Serial(s) => Transport::RtuSerial(s.clone()),
        }
    }
}

/// Latest values written through to Redis: Where and how to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisConfig {
    /// `redis://HOST:PORT/DB`, or `rediss://` for TLS.
    pub url: String,
    /// PEM file of the CA that signed the server's certificate, trusted instead of the
    /// system's store (`rediss://` only).
    pub ca_file: Option<std::path::PathBuf>,
    /// Prefix of every key and channel (no trailing colon).
    pub key_prefix: String,
    /// Time-out of each connection attempt and each write.
    pub timeout: Duration,
}
