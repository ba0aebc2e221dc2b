//! Devices and register maps: get one, create, replace, delete, and replace a map from a
//! CSV file. Writes go to the store; the running historian picks them up through its
//! device watch (within a second) and polls the new definition from the next grid slot.
//! When a config file lists the devices, that file is the source and writes are refused.

use super::AppState;
use super::auth::WriteAccess;
use super::error::{ApiError, InvalidField, PROBLEM_JSON, Problem};
use crate::config::access::{LinkFields, plan_options};
use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use historian_modbus::map::{Addressing, RegisterPoint, check_map};
use historian_modbus::mapfile::{self, MapFormat, RawPoint, build_point, raw_of};
use historian_store::{Access, DeleteOutcome, DeviceRecord, DeviceSpec, Link};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use utoipa::ToSchema;

/// A device to create or replace, with its whole register map.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeviceRequest {
    /// Unique name; on replace it must be the device's current name (renaming is a delete
    /// and a create, so history stays with the old name).
    pub name: String,
    /// Host name or IP address (not given for transport `rtu`).
    #[serde(default)]
    pub host: String,
    /// TCP port.
    #[serde(default = "default_port")]
    pub port: u16,
    /// Modbus unit id.
    #[serde(default = "default_unit")]
    pub unit_id: u8,
    /// Poll interval in milliseconds.
    pub interval_ms: u64,
    /// Whether the device is polled (false keeps it and its history, unpolled).
    #[serde(default = "default_enabled")]
    pub enabled: bool,
    /// `tcp` (Modbus TCP, default), `rtu_over_tcp` (a serial gateway in transparent mode)
    /// or `rtu` (a local serial port).
    #[serde(default)]
    pub transport: Option<String>,
    /// For `rtu`: the serial port, e.g. `/dev/ttyUSB0` (under `/dev/tty*`, `/dev/serial/`
    /// or `/dev/pts/`, or `COMn`).
    #[serde(default)]
    pub serial_port: Option<String>,
    /// For `rtu`: bits per second (default 19200).
    #[serde(default)]
    pub baud_rate: Option<i64>,
    /// For `rtu`: `none`, `even` (default) or `odd`.
    #[serde(default)]
    pub parity: Option<String>,
    /// For `rtu`: 1 (default) or 2.
    #[serde(default)]
    pub stop_bits: Option<i64>,
    /// For `rtu`: 7 or 8 (default).
    #[serde(default)]
    pub data_bits: Option<i64>,
    /// Per-request time-out in milliseconds (default: the historian's `polling.timeout`).
    #[serde(default)]
    pub timeout_ms: Option<u64>,
    /// Most registers in one read request, 1-125 (default 125).
    #[serde(default)]
    pub max_registers_per_read: Option<i64>,
    /// Unmapped registers one read may bridge, 0-124 (default 0).
    #[serde(default)]
    pub max_gap: Option<i64>,
    /// Wait between two requests of one poll, milliseconds (default 0).
    #[serde(default)]
    pub pause_between_requests_ms: Option<u64>,
    /// How `registers[].address` is written: `wire` (0-based, default), `one_based` or
    /// `modicon` (40001/400001 style).
    #[serde(default)]
    pub addressing: Option<String>,
    /// The register map.
    #[serde(default)]
    pub registers: Vec<RegisterRequest>,
}

fn default_port() -> u16 {
    502
}
fn default_unit() -> u8 {
    1
}
fn default_enabled() -> bool {
    true
}

/// One register of a map, as in a map file.
#[derive(Debug, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    /// Register name, unique within the device.
    pub name: Option<String>,
    /// `coil`, `discrete_input`, `input_register` or `holding_register` (aliases accepted).
    pub table: Option<String>,
    /// Address in the request's addressing.
    pub address: Option<i64>,
    /// `bool`, `int16`, `uint16`, `int32`, `uint32`, `int64`, `uint64`, `float32`,
    /// `float64` or `string`.
    pub data_type: Option<String>,
    /// `ABCD` (default), `CDAB`, `BADC` or `DCBA`.
    pub byte_order: Option<String>,
    /// Multiplier (default 1).
    pub scale: Option<f64>,
    /// Added after scaling (default 0).
    pub offset: Option<f64>,
    /// Engineering unit.
    pub unit: Option<String>,
    /// Lowest expected value; below it a reading is `uncertain`.
    pub min: Option<f64>,
    /// Highest expected value; above it a reading is `uncertain`.
    pub max: Option<f64>,
    /// Raw "no measurement" marker; that raw value is stored `bad`.
    pub not_available: Option<i64>,
    /// For a bool kept in one bit of a register: the bit (0-15).
    pub bit: Option<i64>,
    /// For a string: registers it spans.
    pub length: Option<i64>,
    /// A slower interval for this register, e.g. `"1m"`.
    pub interval: Option<String>,
}

impl From<RegisterRequest> for RawPoint {
    fn from(r: RegisterRequest) -> Self {
        RawPoint {
            name: r.name,
            table: r.table,
            address: r.address,
            data_type: r.data_type,
            byte_order: r.byte_order,
            scale: r.scale,
            offset: r.offset,
            unit: r.unit,
            min: r.min,
            max: r.max,
            not_available: r.not_available,
            bit: r.bit,
            length: r.length,
            interval: r.interval,
        }
    }
}

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
    pub definition: RawPoint,
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
                    definition: raw_of(p),
                })
                .collect(),
        }
    }
}

const SERIAL_PORTS: &str = "must be a serial device: /dev/tty*, /dev/serial/*, /dev/pts/* or COMn";

/// Whether the API may have the historian open `path` as a serial port. A token holder
/// must not make it open any other file (a watchdog device, a disk) by calling it a port.
fn serial_port_allowed(path: &str) -> bool {
    let unix = ["/dev/tty", "/dev/serial/", "/dev/pts/"]
        .iter()
        .any(|p| path.starts_with(p))
        && !path.contains("..");
    let windows = path
        .strip_prefix("COM")
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
    unix || windows
}

/// Refuses writes when a config file is the source of the devices.
fn writable(s: &AppState) -> Result<(), ApiError> {
    match &s.devices_managed_by {
        Some(source) => Err(ApiError::Conflict(format!(
            "devices are defined by {source}; change them there (edits apply while running)"
        ))),
        None => Ok(()),
    }
}

async fn find(s: &AppState, key: &str) -> Result<DeviceRecord, ApiError> {
    let records = s.store.list_devices().await?;
    let by_id = key.parse::<i64>().ok();
    records
        .into_iter()
        .find(|r| Some(r.id) == by_id || r.spec.name == key)
        .ok_or_else(|| ApiError::NotFound(format!("no device with id or name {key:?}")))
}

/// The JSON body, or 422 with the path of the field serde stopped at.
fn body(b: Result<Json<DeviceRequest>, JsonRejection>) -> Result<DeviceRequest, ApiError> {
    b.map(|Json(d)| d).map_err(|e| match e {
        JsonRejection::JsonDataError(d) => ApiError::Unprocessable(vec![InvalidField {
            path: String::new(),
            detail: d.body_text(),
        }]),
        other => ApiError::BadRequest(other.body_text()),
    })
}

/// Checks a request as a whole and builds the device; on failure every bad field with
/// its path (`registers[2].data_type`).
fn spec_of(d: DeviceRequest) -> Result<DeviceSpec, ApiError> {
    let mut bad = Vec::new();
    let mut field = |path: String, detail: String| bad.push(InvalidField { path, detail });
    if d.name.trim().is_empty() {
        field("name".into(), "must not be empty".into());
    }
    let link = LinkFields {
        transport: d.transport.as_deref(),
        serial_port: d.serial_port.as_deref(),
        baud_rate: d.baud_rate,
        parity: d.parity.as_deref(),
        stop_bits: d.stop_bits,
        data_bits: d.data_bits,
    }
    .check(&mut |f, what| field(f.into(), what));
    if let Link::Serial(s) = &link
        && !s.path.is_empty()
        && !serial_port_allowed(&s.path)
    {
        field("serial_port".into(), SERIAL_PORTS.into());
    }
    let host = match &link {
        // The store keeps a serial device's port in its host column.
        Link::Serial(s) if d.host.is_empty() => s.path.clone(),
        Link::Serial(_) => {
            field(
                "host".into(),
                "does not apply to transport \"rtu\" (give serial_port)".into(),
            );
            String::new()
        }
        _ if d.host.trim().is_empty() => {
            field("host".into(), "must not be empty".into());
            String::new()
        }
        _ => d.host.clone(),
    };
    let plan = plan_options(d.max_gap, d.max_registers_per_read, &mut |f, what| {
        field(f.into(), what)
    });
    if d.timeout_ms == Some(0) {
        field("timeout_ms".into(), "must be greater than zero".into());
    }
    if d.port == 0 {
        field("port".into(), "must be 1-65535".into());
    }
    if d.interval_ms == 0 {
        field("interval_ms".into(), "must be greater than zero".into());
    }
    let addressing = match d.addressing.as_deref() {
        None => Addressing::Wire,
        Some(a) => a.parse().unwrap_or_else(|e: String| {
            field("addressing".into(), e);
            Addressing::Wire
        }),
    };
    let mut points: Vec<RegisterPoint> = Vec::new();
    let mut indexes = Vec::new();
    for (i, r) in d.registers.into_iter().enumerate() {
        match build_point(r.into(), addressing) {
            Ok(p) => {
                points.push(p);
                indexes.push(i);
            }
            Err(errors) => {
                for e in errors {
                    let path = if e.field.is_empty() {
                        format!("registers[{i}]")
                    } else {
                        format!("registers[{i}].{}", e.field)
                    };
                    field(path, e.message);
                }
            }
        }
    }
    for (k, e) in check_map(&points) {
        field(format!("registers[{}]", indexes[k]), e.to_string());
    }
    if !bad.is_empty() {
        return Err(ApiError::Unprocessable(bad));
    }
    Ok(DeviceSpec {
        name: d.name,
        host,
        port: d.port,
        unit_id: d.unit_id,
        poll_interval_ms: d.interval_ms,
        enabled: d.enabled,
        registers: points,
        access: Access {
            link,
            timeout: d.timeout_ms.map(Duration::from_millis),
            plan,
            pause: Duration::from_millis(d.pause_between_requests_ms.unwrap_or(0)),
        },
    })
}

/// One device with its register map.
#[utoipa::path(get, path = "/api/devices/{device_id}", tag = "devices",
    params(("device_id" = String, Path, description = "Device id or name")),
    responses(
        (status = 200, description = "The device", body = DeviceDetailResponse),
        (status = 404, description = "No such device", body = Problem, content_type = PROBLEM_JSON),
        (status = 500, description = "The store failed", body = Problem, content_type = PROBLEM_JSON)))]
pub async fn get_device(
    State(s): State<AppState>,
    Path(device_id): Path<String>,
) -> Result<Json<DeviceDetailResponse>, ApiError> {
    Ok(Json(find(&s, &device_id).await?.into()))
}

/// Creates a device with its register map; it is polled within a second.
#[utoipa::path(post, path = "/api/devices", tag = "devices",
    security((), ("bearer" = [])),
    request_body = DeviceRequest,
    responses(
        (status = 201, description = "Created", body = DeviceDetailResponse),
        (status = 400, description = "Not JSON", body = Problem, content_type = PROBLEM_JSON),
        (status = 401, description = "Token missing or wrong", body = Problem, content_type = PROBLEM_JSON),
        (status = 409, description = "The name is taken, or a config file defines the devices", body = Problem, content_type = PROBLEM_JSON),
        (status = 422, description = "Invalid fields, each with its path", body = Problem, content_type = PROBLEM_JSON),
        (status = 500, description = "The store failed", body = Problem, content_type = PROBLEM_JSON)))]
pub async fn create_device(
    _: WriteAccess,
    State(s): State<AppState>,
    request: Result<Json<DeviceRequest>, JsonRejection>,
) -> Result<(StatusCode, Json<DeviceDetailResponse>), ApiError> {
    writable(&s)?;
    let spec = spec_of(body(request)?)?;
    if find(&s, &spec.name).await.is_ok() {
        return Err(ApiError::Conflict(format!(
            "a device named {:?} exists; PUT /api/devices/{} replaces it",
            spec.name, spec.name
        )));
    }
    let record = s.store.upsert_device(&spec).await?;
    tracing::info!(device = %record.spec.name, id = record.id, "device created through the API");
    Ok((StatusCode::CREATED, Json(record.into())))
}

/// Replaces a device and its whole register map (set `enabled` false to stop polling it
/// and keep its history).
#[utoipa::path(put, path = "/api/devices/{device_id}", tag = "devices",
    security((), ("bearer" = [])),
    params(("device_id" = String, Path, description = "Device id or name")),
    request_body = DeviceRequest,
    responses(
        (status = 200, description = "Replaced", body = DeviceDetailResponse),
        (status = 400, description = "Not JSON", body = Problem, content_type = PROBLEM_JSON),
        (status = 401, description = "Token missing or wrong", body = Problem, content_type = PROBLEM_JSON),
        (status = 404, description = "No such device", body = Problem, content_type = PROBLEM_JSON),
        (status = 409, description = "A config file defines the devices", body = Problem, content_type = PROBLEM_JSON),
        (status = 422, description = "Invalid fields, each with its path", body = Problem, content_type = PROBLEM_JSON),
        (status = 500, description = "The store failed", body = Problem, content_type = PROBLEM_JSON)))]
pub async fn replace_device(
    _: WriteAccess,
    State(s): State<AppState>,
    Path(device_id): Path<String>,
    request: Result<Json<DeviceRequest>, JsonRejection>,
) -> Result<Json<DeviceDetailResponse>, ApiError> {
    writable(&s)?;
    let existing = find(&s, &device_id).await?;
    let spec = spec_of(body(request)?)?;
    if spec.name != existing.spec.name {
        return Err(ApiError::Unprocessable(vec![InvalidField {
            path: "name".into(),
            detail: format!(
                "{:?} is not this device's name {:?}; rename by deleting and creating",
                spec.name, existing.spec.name
            ),
        }]));
    }
    let record = s.store.upsert_device(&spec).await?;
    tracing::info!(device = %record.spec.name, "device replaced through the API");
    Ok(Json(record.into()))
}

/// Replaces a device's register map from a CSV map file (header row: address, table,
/// name, data_type, byte_order, scale, offset, unit, min, max, not_available, bit, length;
/// wire addresses). Every mistake is reported with its line and column.
#[utoipa::path(put, path = "/api/devices/{device_id}/register_map", tag = "devices",
    security((), ("bearer" = [])),
    params(("device_id" = String, Path, description = "Device id or name")),
    request_body(content = String, content_type = "text/csv", description = "A CSV register map"),
    responses(
        (status = 200, description = "Map replaced", body = DeviceDetailResponse),
        (status = 401, description = "Token missing or wrong", body = Problem, content_type = PROBLEM_JSON),
        (status = 404, description = "No such device", body = Problem, content_type = PROBLEM_JSON),
        (status = 409, description = "A config file defines the devices", body = Problem, content_type = PROBLEM_JSON),
        (status = 422, description = "Mistakes, each at LINE:COL", body = Problem, content_type = PROBLEM_JSON),
        (status = 500, description = "The store failed", body = Problem, content_type = PROBLEM_JSON)))]
pub async fn import_register_map(
    _: WriteAccess,
    State(s): State<AppState>,
    Path(device_id): Path<String>,
    csv: String,
) -> Result<Json<DeviceDetailResponse>, ApiError> {
    writable(&s)?;
    let mut record = find(&s, &device_id).await?;
    let points = mapfile::parse(&csv, MapFormat::Csv, Addressing::Wire).map_err(|errors| {
        ApiError::Unprocessable(
            errors
                .into_iter()
                .map(|e| InvalidField {
                    path: format!("{}:{}", e.line, e.column),
                    detail: e.message,
                })
                .collect(),
        )
    })?;
    record.spec.registers = points;
    let record = s.store.upsert_device(&record.spec).await?;
    tracing::info!(device = %record.spec.name, registers = record.spec.registers.len(),
        "register map imported through the API");
    Ok(Json(record.into()))
}

/// Deletes a device that has no readings. One with readings is kept (its history is
/// never deleted with it): disable it with PUT instead.
#[utoipa::path(delete, path = "/api/devices/{device_id}", tag = "devices",
    security((), ("bearer" = [])),
    params(("device_id" = String, Path, description = "Device id or name")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Token missing or wrong", body = Problem, content_type = PROBLEM_JSON),
        (status = 404, description = "No such device", body = Problem, content_type = PROBLEM_JSON),
        (status = 409, description = "The device has readings, or a config file defines the devices", body = Problem, content_type = PROBLEM_JSON),
        (status = 500, description = "The store failed", body = Problem, content_type = PROBLEM_JSON)))]
pub async fn delete_device(
    _: WriteAccess,
    State(s): State<AppState>,
    Path(device_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    writable(&s)?;
    let record = find(&s, &device_id).await?;
    match s.store.delete_device(&record.spec.name).await? {
        DeleteOutcome::Deleted => {
            tracing::info!(device = %record.spec.name, "device deleted through the API");
            Ok(StatusCode::NO_CONTENT)
        }
        DeleteOutcome::NotFound => Err(ApiError::NotFound(format!(
            "no device with id or name {device_id:?}"
        ))),
        DeleteOutcome::HasReadings => Err(ApiError::Conflict(format!(
            "device {:?} has readings and is kept with its history; PUT it with \"enabled\": false to stop polling it",
            record.spec.name
        ))),
    }
}
