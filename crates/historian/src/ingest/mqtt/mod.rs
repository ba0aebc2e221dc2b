//! Publishing readings to an MQTT broker, as plain JSON topics or Sparkplug B.
//!
//! The link ([`link`]) owns the connection and a bounded queue the ingest side fills
//! without waiting; a payload format ([`format::Format`]) turns polls, sessions, fleet
//! changes and incoming commands into messages. The store never waits for the broker.

pub mod births;
pub mod format;
pub mod json;
pub mod link;
pub mod qos;
pub mod sparkplug;
pub mod tls;
pub mod topic;

use crate::config::{MqttConfig, MqttFormat};
use crate::registry::Registry;
use crate::stats::Stats;
use births::Births;
use format::Format;
use std::sync::Arc;
use thiserror::Error;
use tokio::task::JoinHandle;

pub use link::MqttSink;

/// The MQTT link could not be set up.
#[derive(Debug, Error)]
pub enum MqttSetupError {
    /// The TLS settings cannot be used.
    #[error(transparent)]
    Tls(#[from] tls::MqttTlsError),
    /// The Sparkplug B settings cannot be used.
    #[error(transparent)]
    Sparkplug(#[from] sparkplug::SparkplugError),
}

/// What the status page and the device list show of the link besides its counters.
#[derive(Debug, Clone)]
pub struct LinkInfo {
    /// `mqtt://HOST:PORT` or `mqtts://HOST:PORT` (never credentials).
    pub broker: String,
    /// `json` or `sparkplug_b`.
    pub format: &'static str,
    /// Sparkplug B: which devices have a standing DBIRTH. `None` for plain JSON.
    pub births: Option<Arc<Births>>,
}

/// A payload format and, for Sparkplug B, the births it keeps current.
pub type FormatWithBirths = (Box<dyn Format>, Option<Arc<Births>>);

/// The payload format `cfg` asks for, and for Sparkplug B the births it keeps current.
pub fn make_format(cfg: &MqttConfig) -> Result<FormatWithBirths, MqttSetupError> {
    Ok(match &cfg.format {
        MqttFormat::Json(o) => (Box::new(json::JsonFormat::new(o.clone(), cfg.qos)), None),
        MqttFormat::SparkplugB(o) => {
            let node =
                sparkplug::SparkplugB::new(o.group_id.clone(), o.edge_node_id.clone(), cfg.qos)?;
            let births = node.births();
            (Box::new(node), Some(births))
        }
    })
}

/// Starts the link for `cfg`: the sink to offer polls to, the task to await at shutdown
/// (it ends once the sink is dropped and the queue is published), and what status shows.
pub fn start(
    cfg: &MqttConfig,
    registry: Arc<Registry>,
    stats: Arc<Stats>,
) -> Result<(MqttSink, JoinHandle<()>, LinkInfo), MqttSetupError> {
    let (format, births) = make_format(cfg)?;
    let info = LinkInfo {
        broker: cfg.broker(),
        format: cfg.format.name(),
        births,
    };
    let (sink, task) = link::spawn(cfg.clone(), format, registry, stats)?;
    Ok((sink, task, info))
}
