//! The MQTT delivery guarantees the historian uses, apart from the formats so that the
//! configuration can name them without depending on the formats.

/// MQTT delivery guarantee for one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Qos {
    /// At most once.
    AtMostOnce,
    /// At least once.
    AtLeastOnce,
}
