//! What a payload format (plain JSON topics, Sparkplug B) sees and what it asks the MQTT
//! link to publish. A format is pure: it keeps its own sequence numbers and memory of what
//! it has announced, and never touches the network, so it can be tested message by message.

pub use super::qos::Qos;
use crate::registry::DeviceRuntime;
use historian_model::Reading;
use std::sync::Arc;

/// One message for the broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// Topic to publish on.
    pub topic: String,
    /// Encoded payload.
    pub payload: Vec<u8>,
    /// Delivery guarantee.
    pub qos: Qos,
    /// Whether the broker keeps it for later subscribers.
    pub retain: bool,
}

/// Something that happened, offered to the format in the order it happened.
#[derive(Debug)]
pub enum Happening<'a> {
    /// A session with the broker began (first connect or reconnect): whatever the format
    /// announces at the start of a session (births, retained state) is due again.
    Connected {
        /// Every device currently configured.
        devices: &'a [Arc<DeviceRuntime>],
    },
    /// One poll of one device.
    Poll {
        /// The device polled.
        device: &'a DeviceRuntime,
        /// That poll's readings.
        readings: &'a [Reading],
    },
    /// The configured fleet, offered after every reload and periodically: the format
    /// compares it with what it announced to find devices added, removed, changed (a new
    /// register map) or gone down/up.
    Fleet {
        /// Every device currently configured.
        devices: &'a [Arc<DeviceRuntime>],
    },
    /// A message arrived on one of the format's subscriptions.
    Command {
        /// Its topic.
        topic: &'a str,
        /// Its payload.
        payload: &'a [u8],
    },
}

/// A payload format: turns happenings into messages.
pub trait Format: Send + std::fmt::Debug {
    /// The last-will message to register with the next connection, if any. Called once
    /// before each connection attempt (Sparkplug bumps its `bdSeq` here).
    fn will(&mut self) -> Option<Outgoing>;
    /// Topic filters to subscribe to after each connect (e.g. Sparkplug's NCMD topic).
    fn subscriptions(&self) -> Vec<String>;
    /// Appends to `out` the messages `happening` calls for.
    fn handle(&mut self, happening: Happening<'_>, out: &mut Vec<Outgoing>);
}
