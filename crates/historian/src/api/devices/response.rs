//! What the devices resource answers: a stored device with its register map, in the
//! units and spellings a client writes (milliseconds, wire addressing).

use chrono::{DateTime, Utc};
use historian_model::Link;
use historian_model::input::RegisterInput;
use historian_store::DeviceRecord;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A stored device with its register map (wire addressing).
#[derive(Debug, Deserialize, Serialize, ToSchema)]
pub struct DeviceDetailResponse {
    /// Database id.
    pub id: i64,
    /// Unique name.
    pub name: String,
    /// Host name or IP address; for transport `rtu` the serial port.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// Modbus unit id.
    pub unit_id: u8,
    /// Poll interval in milliseconds.
    pub interval_ms: u64,
    /// Whether the device is polled.
    pub enabled: bool,
    /// `tcp`, `rtu_over_tcp` or `rtu`.
    pub transport: String,
    /// For `rtu`: the serial port and its line settings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub serial: Option<SerialLine>,
    /// Per-request time-out in milliseconds; absent: the historian's default.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// Most registers in one read request.
    pub max_registers_per_read: u16,
    /// Unmapped registers one read may bridge.
    pub max_gap: u16,
    /// Wait between two requests of one poll, milliseconds.
    pub pause_between_requests_ms: u64,
    /// The register map, with the reference each register's readings are stored under.
    pub registers: Vec<RegisterMapEntry>,
    /// When the device was removed (deleted while it had readings); absent for a device
    /// of the catalogue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub removed_at: Option<DateTime<Utc>>,
}

/// A serial port and its line settings.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
pub struct SerialLine {
    /// Device path, e.g. `/dev/ttyUSB0`.
    pub serial_port: String,
    /// Bits per second.
    pub baud_rate: u32,
    /// `none`, `even` or `odd`.
    pub parity: String,
    /// 1 or 2.
    pub stop_bits: u8,
    /// 7 or 8.
    pub data_bits: u8,
}

/// One register of a stored map.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
pub struct RegisterMapEntry {
    /// The six-digit reference readings use (400001 = holding register 0; eight digits
    /// for a bit of a register).
    pub register_address: u32,
    /// The register as a map file writes it (wire addressing, table named).
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub definition: RegisterInput,
}

impl From<DeviceRecord> for DeviceDetailResponse {
    fn from(r: DeviceRecord) -> Self {
        let access = &r.spec.access;
        let millis = |d: std::time::Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        DeviceDetailResponse {
            transport: access.link.kind().to_string(),
            serial: match &access.link {
                Link::Serial(s) => Some(SerialLine {
                    serial_port: s.path.clone(),
                    baud_rate: s.baud_rate,
                    parity: s.parity.as_str().to_string(),
                    stop_bits: s.stop_bits,
                    data_bits: s.data_bits,
                }),
                _ => None,
            },
            timeout_ms: access.timeout.map(millis),
            max_registers_per_read: access.plan.max_registers,
            max_gap: access.plan.max_gap,
            pause_between_requests_ms: millis(access.pause),
            id: r.id,
            removed_at: r.removed_at,
            name: r.spec.name,
            host: r.spec.host,
            port: r.spec.port,
            unit_id: r.spec.unit_id,
            interval_ms: r.spec.poll_interval_ms,
            enabled: r.spec.enabled,
            registers: r
                .spec
                .registers
                .iter()
                .map(|p| RegisterMapEntry {
                    register_address: p.register.reference(),
                    definition: RegisterInput::of(p),
                })
                .collect(),
        }
    }
}
