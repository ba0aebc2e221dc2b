//! What `POST /api/discover` takes: the `discover` command's options as JSON, turned into
//! the command's own arguments so that both run the same scan. Every bound is in the
//! schema; the target itself is checked as a device by the one device validator.

use crate::api::error::InvalidField;
use crate::discover::args::{DiscoverArgs, Tables, UnitIds};
use historian_modbus::mapfile::MapFormat;
use historian_model::Table;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use utoipa::ToSchema;

/// A table to scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ScanTable {
    /// Coils (FC 1).
    Coil,
    /// Discrete inputs (FC 2).
    DiscreteInput,
    /// Input registers (FC 4).
    InputRegister,
    /// Holding registers (FC 3).
    HoldingRegister,
}

impl From<ScanTable> for Table {
    fn from(t: ScanTable) -> Table {
        match t {
            ScanTable::Coil => Table::Coil,
            ScanTable::DiscreteInput => Table::DiscreteInput,
            ScanTable::InputRegister => Table::InputRegister,
            ScanTable::HoldingRegister => Table::HoldingRegister,
        }
    }
}

/// How the device is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ScanTransport {
    /// Modbus TCP.
    Tcp,
    /// RTU frames over TCP (a serial gateway in transparent mode).
    RtuOverTcp,
    /// A local serial port.
    Rtu,
}

impl ScanTransport {
    fn name(self) -> &'static str {
        match self {
            ScanTransport::Tcp => "tcp",
            ScanTransport::RtuOverTcp => "rtu_over_tcp",
            ScanTransport::Rtu => "rtu",
        }
    }
}

/// The schema of `units`: a list of unit ids, 0-255 each. Written as JSON Schema because
/// the derived one would not bound the items.
fn unit_ids() -> utoipa::openapi::schema::Object {
    use utoipa::openapi::extensions::Extensions;
    use utoipa::openapi::schema::{Object, SchemaType};
    let schema = serde_json::json!({
        "type": ["array", "null"],
        "items": { "type": "integer", "minimum": 0, "maximum": 255 },
        "minItems": 1,
        "maxItems": 256,
        "description": "Unit ids to probe (default `[1]`); several: those that answer are scanned."
    });
    let mut object = Object::new();
    object.schema_type = SchemaType::AnyValue;
    if let serde_json::Value::Object(keywords) = schema {
        object.extensions = Some(Extensions::from_iter(keywords));
    }
    object
}

/// A discovery to start: where the device is and how gently to scan it; the options of
/// `modbus-historian discover`, with its defaults. The serial fields and transport `rtu`
/// go with a serial port as `target` only.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DiscoverRequest {
    /// `host[:port]` (port 502 by default), or a serial port such as `/dev/ttyUSB0`.
    #[schema(example = "127.0.0.1:502", min_length = 1)]
    pub target: String,
    /// Default: `rtu` for a serial port, else `tcp`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transport: Option<ScanTransport>,
    /// Unit ids to probe (default `[1]`); several: those that answer are scanned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = unit_ids)]
    pub units: Option<Vec<u8>>,
    /// Tables to scan (default all four).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(min_items = 1)]
    pub tables: Option<Vec<ScanTable>>,
    /// First wire address to scan in each table (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(maximum = 65_535)]
    pub first_address: Option<u16>,
    /// Last wire address to scan in each table (default 65535).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(maximum = 65_535)]
    pub last_address: Option<u16>,
    /// Wait after every request, in milliseconds (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(maximum = 60_000)]
    pub pause_ms: Option<u32>,
    /// Per-request time-out in milliseconds (default 1000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, maximum = 3_600_000)]
    pub timeout_ms: Option<u32>,
    /// At most this many requests a second (default: no ceiling).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, maximum = 1_000_000)]
    pub max_requests_per_second: Option<u32>,
    /// Samples of each readable register for type inference (default 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, maximum = 100)]
    pub samples: Option<u16>,
    /// Time between two samples in milliseconds (default 1000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(maximum = 60_000)]
    pub sample_interval_ms: Option<u32>,
    /// Connections at once while probing unit ids (default 8; a serial line takes one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, maximum = 64)]
    pub concurrency: Option<u16>,
    /// Serial line: bits per second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(maximum = 4_000_000)]
    pub baud_rate: Option<u32>,
    /// Serial line: `none`, `even` or `odd`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parity: Option<String>,
    /// Serial line: 1 or 2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(maximum = 255)]
    pub stop_bits: Option<u8>,
    /// Serial line: 7 or 8.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(maximum = 255)]
    pub data_bits: Option<u8>,
    /// Poll interval of the device the proposed map describes, in milliseconds (default
    /// 5000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, maximum = 604_800_000)]
    pub interval_ms: Option<u32>,
}

fn bounded(
    problems: &mut Vec<InvalidField>,
    path: &str,
    value: Option<u32>,
    (lo, hi): (u32, u32),
    default: u32,
) -> Duration {
    let v = value.unwrap_or(default);
    if !(lo..=hi).contains(&v) {
        problems.push(InvalidField {
            path: path.into(),
            detail: format!("{v} is outside {lo}-{hi}"),
        });
    }
    Duration::from_millis(u64::from(v))
}

impl DiscoverRequest {
    /// The command's arguments this request stands for, or every problem with its field.
    pub fn args(&self) -> Result<DiscoverArgs, Vec<InvalidField>> {
        let mut problems = Vec::new();
        let mut bad = |path: &str, detail: &str| {
            problems.push(InvalidField {
                path: path.into(),
                detail: detail.into(),
            })
        };
        if self.target.trim().is_empty() {
            bad("target", "give host[:port] or a serial port");
        }
        let units = self.units.as_ref().map(|u| {
            let mut u = u.clone();
            u.sort_unstable();
            u.dedup();
            u
        });
        if units.as_ref().is_some_and(Vec::is_empty) {
            bad("units", "give at least one unit id");
        }
        let mut tables: Vec<Table> = Vec::new();
        for t in self.tables.iter().flatten() {
            if !tables.contains(&(*t).into()) {
                tables.push((*t).into());
            }
        }
        if self.tables.is_some() && tables.is_empty() {
            bad("tables", "give at least one table");
        }
        let samples = self.samples.unwrap_or(3);
        if !(1..=100).contains(&samples) {
            bad("samples", "give 1 to 100 samples");
        }
        let concurrency = self.concurrency.unwrap_or(8);
        if !(1..=64).contains(&concurrency) {
            bad("concurrency", "give 1 to 64 connections");
        }
        if self
            .max_requests_per_second
            .is_some_and(|n| !(1..=1_000_000).contains(&n))
        {
            bad("max_requests_per_second", "give 1 to 1000000");
        }
        if self.baud_rate.is_some_and(|b| b > 4_000_000) {
            bad("baud_rate", "give at most 4000000 bits per second");
        }
        let pause = bounded(&mut problems, "pause_ms", self.pause_ms, (0, 60_000), 0);
        let timeout = bounded(
            &mut problems,
            "timeout_ms",
            self.timeout_ms,
            (1, 3_600_000),
            1000,
        );
        let sample_interval = bounded(
            &mut problems,
            "sample_interval_ms",
            self.sample_interval_ms,
            (0, 60_000),
            1000,
        );
        let interval = bounded(
            &mut problems,
            "interval_ms",
            self.interval_ms,
            (1, 604_800_000),
            5000,
        );
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(DiscoverArgs {
            target: self.target.trim().to_string(),
            transport: self.transport.map(|t| t.name().to_string()),
            unit: None,
            units: units.map(UnitIds),
            tables: (!tables.is_empty()).then_some(Tables(tables)),
            range: (
                self.first_address.unwrap_or(0),
                self.last_address.unwrap_or(u16::MAX),
            ),
            pause,
            timeout,
            max_requests_per_second: self.max_requests_per_second,
            samples,
            sample_interval,
            concurrency,
            baud_rate: self.baud_rate,
            parity: self.parity.clone(),
            stop_bits: self.stop_bits,
            data_bits: self.data_bits,
            format: MapFormat::Csv,
            output: None,
            apply: None,
            config: None,
            database_url: None,
            interval,
        })
    }
}
