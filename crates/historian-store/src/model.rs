//! The rows the store moves: devices with their maps, and readings.

use chrono::{DateTime, Utc};
use historian_modbus::{DataType, Quality, RegisterPoint, RegisterRef};
use std::sync::Arc;

/// A device as configured: where it is, how often to poll it, and its register map.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceSpec {
    /// Unique name (the user's handle for the device, e.g. `main-sel-751`).
    pub name: String,
    /// Host name or IP address.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// Modbus unit id (slave id).
    pub unit_id: u8,
    /// Poll interval in milliseconds.
    pub poll_interval_ms: u64,
    /// Whether the device is polled.
    pub enabled: bool,
    /// The register map.
    pub registers: Vec<RegisterPoint>,
}

/// A stored device: its id and its spec.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceRecord {
    /// Database id; readings refer to it.
    pub id: i64,
    /// Everything else.
    pub spec: DeviceSpec,
}

/// One reading of one register at one instant.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    /// When the poll that produced it began (UTC, microsecond precision).
    pub timestamp: DateTime<Utc>,
    /// The device's database id.
    pub device_id: i64,
    /// The six-digit register reference (e.g. 400001).
    pub register_address: RegisterRef,
    /// Engineering value; null when the read failed.
    pub value: Option<f64>,
    /// good, bad or uncertain.
    pub quality: Quality,
    /// Name from the register map at the time of the reading.
    pub register_name: Arc<str>,
    /// Data type from the register map.
    pub data_type: DataType,
    /// Unit from the register map.
    pub unit: Arc<str>,
}
