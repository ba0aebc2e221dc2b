//! One device as written, by an operator in a config file or by a client of the API, into a
//! checked [`DeviceSpec`]: one set of rules and messages for every way a device arrives.

use super::duration::{self, Bounds};
use super::host::check_host;
use super::register::RegisterInput;
use super::serial::check_serial_port;
use super::text::check_name;
use crate::device::{
    Access, DeviceSpec, Link, MAX_REGISTERS_PER_READ, PlanOptions, SerialSettings,
};
use crate::point::{Addressing, MapError, RegisterPoint, check_map, duplicate_names};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::Duration;

/// The poll interval of a device when neither it nor the historian's config names one.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(5);
/// The TCP port a device that names none listens on.
pub const DEFAULT_PORT: u16 = 502;
/// The unit id of a device that names none.
pub const DEFAULT_UNIT_ID: u8 = 1;

/// A device exactly as written: every field optional and loosely typed, so every mistake
/// can be reported at once. Durations are text such as `"5s"` or a number of milliseconds;
/// the API's older `*_ms` names are accepted as aliases.
#[derive(Debug, Default, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default)]
pub struct DeviceInput {
    /// Unique name; on replace through the API it must be the device's current name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Host name or IP address (not given for transport `rtu`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// TCP port (default 502).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<i64>,
    /// Modbus unit id, 0-255 (default 1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unit_id: Option<i64>,
    /// Poll interval, e.g. `"5s"`, or milliseconds (default: the historian's
    /// `polling.interval`).
    #[serde(alias = "interval_ms", skip_serializing_if = "Option::is_none")]
    pub interval: Option<Period>,
    /// Per-request time-out, e.g. `"1s"`, or milliseconds (default: the historian's
    /// `polling.timeout`).
    #[serde(alias = "timeout_ms", skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Period>,
    /// Whether the device is polled (default true; false keeps it and its history).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// How `registers[].address` is written: `wire` (0-based, default), `one_based` or
    /// `modicon` (40001/400001 style).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub addressing: Option<String>,
    /// Unmapped registers one read may bridge, 0-124 (default 0).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_gap: Option<i64>,
    /// Most registers in one read request, 1-125 (default 125).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_registers_per_read: Option<i64>,
    /// Wait between two requests of one poll, e.g. `"20ms"`, or milliseconds (default 0).
    #[serde(
        alias = "pause_between_requests_ms",
        skip_serializing_if = "Option::is_none"
    )]
    pub pause_between_requests: Option<Period>,
    /// A CSV or TOML map file holding the registers (config files only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub register_map: Option<String>,
    /// `tcp` (Modbus TCP, default), `rtu_over_tcp` (a serial gateway in transparent mode)
    /// or `rtu` (a local serial port).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transport: Option<String>,
    /// For `rtu`: the serial port, e.g. `/dev/ttyUSB0`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub serial_port: Option<String>,
    /// For `rtu`: bits per second (default 19200).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub baud_rate: Option<i64>,
    /// For `rtu`: `none`, `even` (default) or `odd`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parity: Option<String>,
    /// For `rtu`: 1 (default) or 2.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_bits: Option<i64>,
    /// For `rtu`: 7 or 8 (default).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_bits: Option<i64>,
    /// The register map, one entry per register.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub registers: Vec<RegisterInput>,
}

/// A duration as written: text such as `"500ms"`, `"5s"` or `"1m"`, or whole milliseconds.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum Period {
    /// Whole milliseconds.
    Millis(i64),
    /// A duration in words, e.g. `"5s"`.
    Text(String),
}

impl Period {
    /// The duration, if within `bounds`.
    pub fn duration(&self, bounds: Bounds) -> Result<Duration, String> {
        match self {
            Period::Millis(n) => bounds.millis(*n),
            Period::Text(t) => bounds.text(t),
        }
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Period::Millis(n) => write!(f, "{n}"),
            Period::Text(t) => write!(f, "{t:?}"),
        }
    }
}

impl From<Duration> for Period {
    fn from(d: Duration) -> Self {
        Period::Text(duration::format_millis(
            u64::try_from(d.as_millis()).unwrap_or(u64::MAX),
        ))
    }
}

/// Parses a positive duration written in words, with a message that shows how to write one.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    match humantime::parse_duration(text) {
        Ok(d) if d.is_zero() => Err(format!("{text:?} is zero; give a positive duration")),
        Ok(d) => Ok(d),
        Err(e) => Err(format!(
            "{text:?} is not a duration ({e}); write e.g. \"500ms\", \"5s\" or \"1m\""
        )),
    }
}

/// One wrong field of a device: the register it belongs to, if any, and the field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputError {
    /// Index into `registers` when the mistake is in one register.
    pub register: Option<usize>,
    /// The field as written (`host`, `data_type`, ...); empty for a register as a whole.
    pub field: &'static str,
    /// What is wrong.
    pub message: String,
}

impl InputError {
    fn device(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            register: None,
            field,
            message: message.into(),
        }
    }

    /// The field's path inside the device: `host`, `registers[2].data_type`, `registers[2]`.
    pub fn path(&self) -> String {
        match (self.register, self.field) {
            (Some(i), "") => format!("registers[{i}]"),
            (Some(i), f) => format!("registers[{i}].{f}"),
            (None, f) => f.to_string(),
        }
    }
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path(), self.message)
    }
}

/// Reads a device's `register_map` file; `None` when it failed and said why itself.
pub type MapLoader<'a> = dyn FnMut(&str, Addressing) -> Option<Vec<RegisterPoint>> + 'a;

/// What checking a device needs to know about where it comes from.
pub struct InputSource<'a> {
    /// The poll interval of a device that names none.
    pub default_interval: Duration,
    /// Device paths a serial port may name beyond the serial adapters every source
    /// accepts: the operator's own (`polling.allowed_serial_ports` of a config file);
    /// empty where input comes from the network.
    pub extra_serial_ports: &'a [String],
    /// Reads `register_map` files; `None` where no file may be named.
    pub map_files: Option<&'a mut MapLoader<'a>>,
}

impl fmt::Debug for InputSource<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InputSource")
            .field("default_interval", &self.default_interval)
            .field("extra_serial_ports", &self.extra_serial_ports)
            .field("map_files", &self.map_files.is_some())
            .finish()
    }
}

/// How a device is reached, by the words `transport` accepts (after trimming,
/// lower-casing, and reading `-` as `_`).
pub const TRANSPORTS: [&str; 3] = ["tcp", "rtu_over_tcp", "rtu"];

impl DeviceInput {
    /// Checks the device as a whole and builds its spec. On failure: every wrong field, in
    /// the order written; empty when only a map file failed (its loader said why).
    pub fn check(mut self, source: InputSource<'_>) -> Result<DeviceSpec, Vec<InputError>> {
        let mut errors = Vec::new();
        let mut failed = false;
        let mut bad =
            |field: &'static str, message: String| errors.push(InputError::device(field, message));
        let link = self.link(source.extra_serial_ports, &mut bad);
        let name = match self.name.take() {
            Some(n) => {
                if let Err(e) = check_name(&n) {
                    bad("name", e);
                }
                n
            }
            None => {
                bad("name", "is required".into());
                String::new()
            }
        };
        let host = match (&link, self.host) {
            // A serial device has no host: the store keeps the port's path in its place.
            (Link::Serial(s), None) => s.path.clone(),
            (Link::Serial(_), Some(_)) => {
                bad(
                    "host",
                    "does not apply to transport = \"rtu\" (give serial_port)".into(),
                );
                String::new()
            }
            (_, Some(h)) => {
                if let Err(e) = check_host(&h) {
                    bad("host", e);
                }
                h
            }
            (_, None) => {
                bad("host", "is required (host name or IP address)".into());
                String::new()
            }
        };
        let port = match self.port {
            None => DEFAULT_PORT,
            Some(p) => u16::try_from(p).ok().filter(|&p| p > 0).unwrap_or_else(|| {
                bad("port", format!("{p} is out of range 1-65535"));
                DEFAULT_PORT
            }),
        };
        let unit_id = match self.unit_id {
            None => DEFAULT_UNIT_ID,
            Some(u) => u8::try_from(u).unwrap_or_else(|_| {
                bad("unit_id", format!("{u} is out of range 0-255"));
                DEFAULT_UNIT_ID
            }),
        };
        let interval = period("interval", self.interval, duration::INTERVAL, &mut bad)
            .unwrap_or(source.default_interval);
        let timeout = period("timeout", self.timeout, duration::TIMEOUT, &mut bad);
        let addressing = match self.addressing.as_deref() {
            None => Addressing::Wire,
            Some(a) => a.parse().unwrap_or_else(|e| {
                bad("addressing", e);
                Addressing::Wire
            }),
        };
        let plan = plan_options(self.max_gap, self.max_registers_per_read, &mut bad);
        let pause = period(
            "pause_between_requests",
            self.pause_between_requests,
            duration::PAUSE,
            &mut bad,
        )
        .unwrap_or(Duration::ZERO);

        let mut registers = Vec::new();
        if let Some(file) = &self.register_map {
            match source.map_files {
                _ if !self.registers.is_empty() => bad(
                    "register_map",
                    "give registers or register_map, not both".into(),
                ),
                None => bad(
                    "register_map",
                    "names a file, which only a config file may do; send the registers \
                     (or PUT a CSV map to the device's register_map)"
                        .into(),
                ),
                // A map file is checked as a whole, with its own lines, when it is read.
                Some(load) => match load(file, addressing) {
                    Some(points) => registers = points,
                    None => failed = true,
                },
            }
        }
        let duplicates = duplicate_names(self.registers.iter().map(|r| r.name.as_deref()));
        let mut indexes = Vec::new();
        let mut inputs = self.registers;
        super::register::resolve_factor_addresses(&mut inputs, addressing);
        for (j, r) in inputs.into_iter().enumerate() {
            match r.check(addressing) {
                Ok(p) => {
                    registers.push(p);
                    indexes.push(j);
                }
                Err(field_errors) => errors.extend(field_errors.into_iter().map(|e| InputError {
                    register: Some(j),
                    field: e.field,
                    message: e.message,
                })),
            }
        }
        if !indexes.is_empty() {
            // Duplicates among the registers written here are reported below, once.
            let reported = |k: usize| {
                indexes
                    .get(k)
                    .is_some_and(|j| duplicates.iter().any(|(d, _)| d == j))
            };
            for (k, e) in check_map(&registers)
                .into_iter()
                .filter(|(k, e)| !(matches!(e, MapError::DuplicateName(_)) && reported(*k)))
            {
                errors.push(InputError {
                    register: Some(indexes[k]),
                    field: "",
                    message: e.to_string(),
                });
            }
        }
        for (j, e) in duplicates {
            errors.push(InputError {
                register: Some(j),
                field: "",
                message: e.to_string(),
            });
        }
        if failed || !errors.is_empty() {
            return Err(errors);
        }
        Ok(DeviceSpec {
            name,
            host,
            port,
            unit_id,
            poll_interval_ms: u64::try_from(interval.as_millis())
                .unwrap_or(u64::MAX)
                .max(1),
            enabled: self.enabled.unwrap_or(true),
            registers,
            access: Access {
                link,
                timeout,
                plan,
                pause,
            },
        })
    }

    /// The device's transport and, for a serial port, its line settings; `extra`: the
    /// device paths allowed as serial ports beyond the adapters.
    fn link(&self, extra: &[String], problem: &mut dyn FnMut(&'static str, String)) -> Link {
        let kind = self
            .transport
            .as_deref()
            .map(|t| t.trim().to_ascii_lowercase().replace('-', "_"));
        let serial_fields = [
            ("serial_port", self.serial_port.is_some()),
            ("baud_rate", self.baud_rate.is_some()),
            ("parity", self.parity.is_some()),
            ("stop_bits", self.stop_bits.is_some()),
            ("data_bits", self.data_bits.is_some()),
        ];
        match kind.as_deref() {
            None | Some("tcp") | Some("rtu_over_tcp") => {
                for (field, given) in serial_fields {
                    if given {
                        problem(
                            field,
                            "applies to transport = \"rtu\" (a serial port) only".into(),
                        );
                    }
                }
                if kind.as_deref() == Some("rtu_over_tcp") {
                    Link::RtuOverTcp
                } else {
                    Link::Tcp
                }
            }
            Some("rtu") => Link::Serial(self.serial(extra, problem)),
            Some(other) => {
                problem(
                    "transport",
                    format!("unknown transport {other:?} (expected tcp, rtu_over_tcp or rtu)"),
                );
                Link::Tcp
            }
        }
    }

    fn serial(
        &self,
        extra: &[String],
        problem: &mut dyn FnMut(&'static str, String),
    ) -> SerialSettings {
        let mut s = SerialSettings::new(self.serial_port.as_deref().unwrap_or_default());
        match self.serial_port.as_deref() {
            None | Some("") => problem(
                "serial_port",
                "is required with transport = \"rtu\" (e.g. \"/dev/ttyUSB0\")".into(),
            ),
            Some(p) => {
                if let Err(e) = check_serial_port(p, extra) {
                    problem("serial_port", e);
                }
            }
        }
        if let Some(b) = self.baud_rate {
            match u32::try_from(b) {
                Ok(b @ 300..=4_000_000) => s.baud_rate = b,
                _ => problem("baud_rate", format!("{b} is out of range 300-4000000")),
            }
        }
        if let Some(p) = &self.parity {
            match p.parse() {
                Ok(p) => s.parity = p,
                Err(e) => problem("parity", e),
            }
        }
        match self.stop_bits {
            None => {}
            Some(b @ (1 | 2)) => s.stop_bits = b as u8,
            Some(b) => problem("stop_bits", format!("{b} is not 1 or 2")),
        }
        match self.data_bits {
            None => {}
            Some(b @ (7 | 8)) => s.data_bits = b as u8,
            Some(b) => problem("data_bits", format!("{b} is not 7 or 8")),
        }
        s
    }
}

/// The duration `p` gives, if any; a mistake goes to `problem(field, what)`.
fn period(
    field: &'static str,
    p: Option<Period>,
    bounds: Bounds,
    problem: &mut dyn FnMut(&'static str, String),
) -> Option<Duration> {
    p.and_then(|p| p.duration(bounds).map_err(|e| problem(field, e)).ok())
}

/// Read-planning limits from a device's `max_gap` and `max_registers_per_read`; each
/// mistake goes to `problem(field, what)`.
fn plan_options(
    max_gap: Option<i64>,
    max_registers_per_read: Option<i64>,
    problem: &mut dyn FnMut(&'static str, String),
) -> PlanOptions {
    let mut plan = PlanOptions::default();
    if let Some(g) = max_gap {
        match u16::try_from(g) {
            Ok(g) if g < MAX_REGISTERS_PER_READ => plan.max_gap = g,
            _ => problem("max_gap", format!("{g} is out of range 0-124")),
        }
    }
    if let Some(m) = max_registers_per_read {
        match u16::try_from(m) {
            Ok(m @ 1..=MAX_REGISTERS_PER_READ) => plan.max_registers = m,
            _ => problem(
                "max_registers_per_read",
                format!("{m} is out of range 1-125"),
            ),
        }
    }
    plan
}
