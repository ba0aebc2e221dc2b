//! Configuration: a TOML file, overridden by `HISTORIAN_*` environment variables, validated
//! as a whole so that every mistake is reported at once with its file, line and field path.

mod api;
mod checker;
mod raw;
mod validate;

use historian_modbus::client::Transport;
use historian_store::{DeviceSpec, StorageUrl, StoreOptions};
use std::fmt;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;
use thiserror::Error;

pub use crate::ingest::redis::RedisConfig;
pub use crate::spool::{FsyncPolicy, SpoolConfig, WhenFull};
pub use api::{ApiConfig, ENV_API_TOKEN, MIN_TOKEN_LEN, exposure_problem};
pub(crate) use checker::path_of as unknown_field_path;
pub use validate::{DEFAULT_API_BIND, DEFAULT_SPOOL_DIR, DEFAULT_STORAGE_URL};

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
    /// Devices to poll, in file order. When empty, the devices stored in the database
    /// are polled instead (managed there, e.g. in production on PostgreSQL).
    pub devices: Vec<DeviceConfig>,
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

pub use historian_store::Link;

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

/// One thing wrong with a configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// `FILE:LINE`, `FILE`, or `environment VAR`.
    pub location: String,
    /// Field path such as `devices[1].registers[0].data_type` (empty for the whole file).
    pub path: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}: {}", self.location, self.message)
        } else {
            write!(f, "{}: {}: {}", self.location, self.path, self.message)
        }
    }
}

/// Why a configuration could not be loaded.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {reason}")]
    Read {
        /// The path given.
        path: String,
        /// The cause.
        reason: String,
    },
    /// The file is not valid TOML, or a value has the wrong TOML type.
    #[error("{0}")]
    Syntax(Problem),
    /// The file parsed but holds mistakes; all of them are listed.
    #[error("{}", render(.0))]
    Invalid(Vec<Problem>),
}

fn render(problems: &[Problem]) -> String {
    let mut out = format!(
        "invalid configuration ({} problem{}):",
        problems.len(),
        if problems.len() == 1 { "" } else { "s" }
    );
    for p in problems {
        out.push_str("\n  ");
        out.push_str(&p.to_string());
    }
    out
}

impl Config {
    /// Reads, parses and validates `path`, with overrides from the process environment.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        let mut config = Self::parse(&text, &path.display().to_string(), &|k| {
            std::env::var(k).ok()
        })?;
        config.file = Some(path.to_path_buf());
        Ok(config)
    }

    /// Parses and validates `text` (named `source` in messages); `env` looks up overrides.
    pub fn parse(
        text: &str,
        source: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        validate::parse(text, source, env)
    }

    /// A configuration with no file: defaults plus environment overrides, and `devices`.
    pub fn built_in(
        source: &str,
        devices: Vec<DeviceConfig>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let mut config = validate::parse("", source, env)?;
        config.devices = devices;
        Ok(config)
    }
}

#[cfg(test)]
mod tests;
