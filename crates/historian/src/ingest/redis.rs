//! Optional write-through of latest values to Redis, for other consumers: a hash per device
//! (`{prefix}:latest:{device_id}`, one field per register reference holding a JSON value)
//! and one pub/sub message per poll on `{prefix}:readings:{device_id}`.
//!
//! Redis is never a source of truth and never in the way: polls are offered to a small
//! queue without waiting, every Redis call has a short time-out, and whatever does not fit
//! or fails is skipped and counted (`redis_updates_skipped`).

use super::sink::{Backpressure, PollSink};
use crate::config::RedisConfig;
use crate::stats::Stats;
use crate::telemetry::events::{Event, RedisSkipped, RedisUpdated};
use historian_model::{Number, Reading};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use serde::Serialize;
use std::sync::Arc;
use std::time::Duration;
use thiserror::Error;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Polls queued for Redis before further ones are skipped.
const QUEUE: usize = 256;

/// Redis could not be set up.
#[derive(Debug, Error)]
pub enum RedisSetupError {
    /// The client refused the URL or the TLS settings.
    #[error("redis {url}: {source}")]
    Client {
        /// The URL given.
        url: String,
        /// The cause.
        source: redis::RedisError,
    },
    /// The CA file cannot be used.
    #[error("redis.ca_file: {0}")]
    CaFile(String),
}

/// The client for `cfg`: over TLS for `rediss://`, trusting `ca_file` when given and the
/// system's CA store otherwise. Nothing is connected yet.
pub fn client(cfg: &RedisConfig) -> Result<redis::Client, RedisSetupError> {
    let err = |source| RedisSetupError::Client {
        url: cfg.url.clone(),
        source,
    };
    if cfg.url.starts_with("rediss://") {
        install_crypto_provider();
    }
    match &cfg.ca_file {
        None => redis::Client::open(cfg.url.as_str()).map_err(err),
        Some(path) => {
            let root_cert = crate::pem::read_ca_file(path).map_err(RedisSetupError::CaFile)?;
            redis::Client::build_with_tls(
                cfg.url.as_str(),
                redis::TlsCertificates {
                    client_tls: None,
                    root_cert: Some(root_cert),
                },
            )
            .map_err(err)
        }
    }
}

/// Makes ring the process's rustls backend, which the Redis client's TLS set-up looks up:
/// rustls picks one by itself only while exactly one is compiled in, and ring is the one
/// the rest of the build uses.
#[allow(deprecated)] // rustls deprecates ring only for lacking post-quantum key exchange.
fn install_crypto_provider() {
    // An Err means a provider is installed already, which is all that is needed.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The ingest side: offers each poll without ever waiting.
#[derive(Debug, Clone)]
pub struct RedisLatest {
    tx: mpsc::Sender<Vec<Reading>>,
    stats: Arc<Stats>,
}

impl RedisLatest {
    /// Starts the writer task. Connects lazily: Redis being down at start-up is not an error.
    pub fn spawn(
        cfg: RedisConfig,
        stats: Arc<Stats>,
    ) -> Result<(RedisLatest, JoinHandle<()>), RedisSetupError> {
        let err = |source| RedisSetupError::Client {
            url: cfg.url.clone(),
            source,
        };
        let client = client(&cfg)?;
        let manager_cfg = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(cfg.timeout))
            .set_response_timeout(Some(cfg.timeout))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_secs(2));
        let conn = ConnectionManager::new_lazy_with_config(client, manager_cfg).map_err(err)?;
        let (tx, rx) = mpsc::channel(QUEUE);
        let task = tokio::spawn(write(conn, rx, cfg, Arc::clone(&stats)));
        Ok((RedisLatest { tx, stats }, task))
    }
}

impl PollSink for RedisLatest {
    fn name(&self) -> &'static str {
        "redis"
    }

    fn backpressure(&self) -> Backpressure {
        Backpressure::SkipAndCount
    }

    /// Queues one poll's readings; skips (and counts) it when Redis lags behind.
    fn offer(&self, poll: &[Reading]) {
        if poll.is_empty() {
            return;
        }
        if self.tx.try_send(poll.to_vec()).is_err() {
            RedisSkipped::Behind.emit(&self.stats);
        }
    }
}

#[derive(Serialize)]
struct Value<'a> {
    register_address: u32,
    register_name: &'a str,
    value: Option<Number>,
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<&'a str>,
    quality: &'a str,
    unit: &'a str,
    timestamp: String,
}

impl<'a> From<&'a Reading> for Value<'a> {
    fn from(r: &'a Reading) -> Self {
        Value {
            register_address: r.register_address.reference(),
            register_name: &r.register_name,
            value: r.number(),
            text: r.string_text(),
            quality: r.quality.as_str(),
            unit: &r.unit,
            timestamp: r
                .timestamp
                .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        }
    }
}

#[derive(Serialize)]
struct Message<'a> {
    device_id: i64,
    readings: Vec<Value<'a>>,
}

async fn write(
    mut conn: ConnectionManager,
    mut rx: mpsc::Receiver<Vec<Reading>>,
    cfg: RedisConfig,
    stats: Arc<Stats>,
) {
    let mut healthy = true;
    while let Some(poll) = rx.recv().await {
        let Some(device_id) = poll.first().map(|r| r.device_id) else {
            continue;
        };
        let mut fields = Vec::with_capacity(poll.len());
        let mut values = Vec::with_capacity(poll.len());
        for r in &poll {
            let v = Value::from(r);
            fields.push((
                v.register_address,
                serde_json::to_string(&v).unwrap_or_default(),
            ));
            values.push(v);
        }
        let message = serde_json::to_string(&Message {
            device_id,
            readings: values,
        })
        .unwrap_or_default();
        let mut pipe = redis::pipe();
        pipe.hset_multiple(format!("{}:latest:{device_id}", cfg.key_prefix), &fields)
            .ignore()
            .publish(format!("{}:readings:{device_id}", cfg.key_prefix), message)
            .ignore();
        let res = tokio::time::timeout(cfg.timeout, pipe.query_async::<()>(&mut conn)).await;
        match res {
            Ok(Ok(())) => {
                RedisUpdated {
                    recovered: !healthy,
                }
                .emit(&stats);
                healthy = true;
            }
            Ok(Err(e)) => {
                RedisSkipped::Failed {
                    error: &e,
                    first: healthy,
                }
                .emit(&stats);
                healthy = false;
            }
            Err(_) => {
                RedisSkipped::TimedOut {
                    timeout: cfg.timeout,
                    first: healthy,
                }
                .emit(&stats);
                healthy = false;
            }
        }
    }
}
