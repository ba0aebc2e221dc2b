//! A device as the historian knows it: where it is, how it is reached and read, how often,
//! and its register map.

use crate::point::RegisterPoint;
use std::time::Duration;

/// Protocol ceiling on registers per read request (function codes 3 and 4).
pub const MAX_REGISTERS_PER_READ: u16 = 125;
/// Protocol ceiling on bits per read request (function codes 1 and 2).
pub const MAX_BITS_PER_READ: u16 = 2000;

/// A device as configured: where it is, how often to poll it, and its register map.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceSpec {
    /// Unique name (the user's handle for the device, e.g. `main-sel-751`).
    pub name: String,
    /// Host name or IP address; for a serial link, the port's path.
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
    /// How the device is reached and read.
    pub access: Access,
}

/// How a device is reached; the host and port (for TCP links) are in its [`DeviceSpec`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Link {
    /// Modbus TCP to host:port.
    #[default]
    Tcp,
    /// RTU frames over TCP to host:port (a serial-to-Ethernet gateway).
    RtuOverTcp,
    /// RTU on a local serial port; its path is also kept as the device's `host`.
    Serial(SerialSettings),
}

impl Link {
    /// The name a config file, the API and the `devices.transport` column use.
    pub fn kind(&self) -> &'static str {
        match self {
            Link::Tcp => "tcp",
            Link::RtuOverTcp => "rtu_over_tcp",
            Link::Serial(_) => "rtu",
        }
    }
}

/// How a device is read besides its map: link, request time-out and read planning.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Access {
    /// Modbus TCP, RTU over TCP or RTU on a serial port.
    pub link: Link,
    /// Per-request time-out; `None` follows the historian's default.
    pub timeout: Option<Duration>,
    /// Read-planning limits (registers per read, bridged gap).
    pub plan: PlanOptions,
    /// Wait between two requests of one poll (zero: none).
    pub pause: Duration,
}

/// How far the read planner may go when it coalesces a device's registers into requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PlanOptions {
    /// Most registers in one FC3/FC4 request (the protocol allows 125).
    pub max_registers: u16,
    /// Most bits in one FC1/FC2 request (the protocol allows 2000).
    pub max_bits: u16,
    /// Unmapped registers a read may bridge to join two mapped ones.
    pub max_gap: u16,
}

impl Default for PlanOptions {
    fn default() -> Self {
        Self {
            max_registers: MAX_REGISTERS_PER_READ,
            max_bits: MAX_BITS_PER_READ,
            max_gap: 0,
        }
    }
}

/// Parity of a serial line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Parity {
    /// No parity bit.
    #[default]
    None,
    /// Even parity.
    Even,
    /// Odd parity.
    Odd,
}

impl Parity {
    /// The name config files, the API and the store use: `none`, `even` or `odd`.
    pub fn as_str(self) -> &'static str {
        match self {
            Parity::None => "none",
            Parity::Even => "even",
            Parity::Odd => "odd",
        }
    }
}

impl Parity {
    /// Every spelling `FromStr` accepts (after trimming and lower-casing).
    pub const WORDS: [(&'static str, Parity); 6] = [
        ("none", Parity::None),
        ("n", Parity::None),
        ("even", Parity::Even),
        ("e", Parity::Even),
        ("odd", Parity::Odd),
        ("o", Parity::Odd),
    ];
}

impl std::str::FromStr for Parity {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let word = s.trim().to_ascii_lowercase();
        Parity::WORDS
            .iter()
            .find(|(w, _)| *w == word)
            .map(|(_, p)| *p)
            .ok_or_else(|| format!("unknown parity {s:?} (expected none, even or odd)"))
    }
}

/// How to open a serial port for Modbus RTU.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SerialSettings {
    /// Device path, e.g. `/dev/ttyUSB0`.
    pub path: String,
    /// Bits per second.
    pub baud_rate: u32,
    /// Parity bit.
    pub parity: Parity,
    /// Stop bits: 1 or 2.
    pub stop_bits: u8,
    /// Data bits: 7 or 8.
    pub data_bits: u8,
}

impl SerialSettings {
    /// The port at `path` with the Modbus RTU default line settings: 19200 8E1.
    pub fn new(path: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            baud_rate: 19_200,
            parity: Parity::Even,
            stop_bits: 1,
            data_bits: 8,
        }
    }
}
