//! Configuration: a TOML file, overridden by `HISTORIAN_*` environment variables, validated
//! as a whole so that every mistake is reported at once with its file, line and field path.

mod api;
mod checker;
mod cluster;
mod mqtt;
mod raw;
mod settings;
mod validate;

use std::path::Path;

pub use crate::spool::{FsyncPolicy, SpoolConfig, WhenFull};
pub use api::{
    ApiConfig, DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_STREAMS, ENV_API_READ_TOKEN, ENV_API_TOKEN,
    MIN_TOKEN_LEN, TlsFiles, exposure_problem,
};
pub(crate) use checker::path_of as unknown_field_path;
pub use checker::{ConfigError, Problem};
pub use cluster::{ClusterConfig, DEFAULT_HEARTBEAT, DEFAULT_LEASE_TTL};
pub use historian_model::Link;
pub use mqtt::{
    DEFAULT_QUEUE as DEFAULT_MQTT_QUEUE, DEFAULT_TOPIC, DEFAULT_TOPIC_PREFIX, ENV_MQTT_PASSWORD,
    JsonOptions, MqttConfig, MqttFormat, OnChange, SparkplugOptions,
};
pub use settings::{
    Config, DeviceConfig, ENV_API_BIND, ENV_BATCH_SIZE, ENV_DATABASE_URL, ENV_REDIS_URL,
    IngestConfig, RedisConfig,
};
pub use validate::{
    DEFAULT_API_BIND, DEFAULT_POLL_TIMEOUT, DEFAULT_SPOOL_DIR, DEFAULT_STORAGE_URL,
};

impl Config {
    /// Reads, parses and validates `path`, with overrides from the process environment.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        Self::load_text(path, &text)
    }

    /// Parses and validates `text`, read from `path`, with overrides from the process
    /// environment (for a caller that has read the file itself).
    pub fn load_text(path: &Path, text: &str) -> Result<Config, ConfigError> {
        let mut config = Self::parse(text, &path.display().to_string(), &|k| {
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

    /// Relative SQLite and spool paths are taken from the working directory (as every
    /// command-line tool does), not from the config file's folder: when there are any,
    /// this says where each one lands, for the start-up log and `run --check`.
    pub fn relative_paths_note(&self) -> Option<String> {
        let mut relative = Vec::new();
        if let historian_store::StorageUrl::Sqlite(p) = &self.storage
            && p.is_relative()
        {
            relative.push(("SQLite file", p));
        }
        if self.spool.dir.is_relative() {
            relative.push(("spool", &self.spool.dir));
        }
        if relative.is_empty() {
            return None;
        }
        let cwd = std::env::current_dir().ok()?;
        let list: Vec<String> = relative
            .iter()
            .map(|(what, p)| format!("{what} {}", cwd.join(p).display()))
            .collect();
        Some(format!(
            "relative paths are taken from the working directory {}: {}",
            cwd.display(),
            list.join(", ")
        ))
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
