//! Publishing readings to an MQTT broker, as plain JSON topics or Sparkplug B.

pub mod format;
pub mod sparkplug;
