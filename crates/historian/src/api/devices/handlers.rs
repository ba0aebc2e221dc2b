//! Devices and register maps: get one, create, replace, delete, and replace a map from a
//! CSV file. Writes go to the store; the running historian picks them up through its
//! device watch (within a second) and polls the new definition from the next grid slot.
//! When a config file lists the devices, that file is the source and writes are refused.
//! Each write keeps its audit entry in the store's transaction: a change that cannot be
//! recorded is not made.

use super::response::DeviceDetailResponse;
use crate::api::audit::Peer;
use crate::api::auth::WriteAccess;
use crate::api::error::{ApiError, InvalidField, PROBLEM_JSON, Problem};
use crate::api::extract::Body;
use crate::api::state::AppState;
use crate::api::stored::{pick_device, stored_devices};
use crate::audit::{self, action};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use historian_modbus::mapfile::{self, MapFormat};
use historian_model::input::{DeviceInput, InputSource};
use historian_model::{Addressing, DeviceSpec};
use historian_store::{AuditEntry, DeleteOutcome, DeviceRecord};

/// Refuses writes when a config file is the source of the devices.
fn writable(s: &AppState) -> Result<(), ApiError> {
    match &s.devices_managed_by {
        Some(source) => Err(ApiError::Conflict(format!(
            "devices are defined by {source}; change them there (edits apply while running)"
        ))),
        None => Ok(()),
    }
}

fn logged(entry: Option<AuditEntry>) {
    if let Some(e) = entry {
        audit::log(&e);
    }
}

/// The device of the catalogue (not removed) with id or name `key`: what writes change.
async fn find(s: &AppState, key: &str) -> Result<DeviceRecord, ApiError> {
    let records = s.store.list_devices().await?;
    let by_id = key.parse::<i64>().ok();
    records
        .into_iter()
        .find(|r| Some(r.id) == by_id || r.spec.name == key)
        .ok_or_else(|| ApiError::NotFound(format!("no device with id or name {key:?}")))
}

/// Checks a device as sent through the one device validator; on failure every bad field
/// with its path, spelled as the client spelled it (`interval_ms` or `interval`).
fn spec_of(s: &AppState, body: Body<DeviceInput>) -> Result<DeviceSpec, ApiError> {
    let source = InputSource {
        default_interval: s.default_interval,
        // Only the operator's config file may allow device paths beyond serial adapters.
        extra_serial_ports: &[],
        map_files: None,
    };
    body.value.check(source).map_err(|errors| {
        ApiError::Unprocessable(
            errors
                .into_iter()
                .map(|e| {
                    let path = e.path();
                    let written = format!("{path}_ms");
                    InvalidField {
                        path: if body.keys.contains(&written) {
                            written
                        } else {
                            path
                        },
                        detail: e.message,
                    }
                })
                .collect(),
        )
    })
}

/// One device with its register map; a removed device too, by its id (or by its name
/// while no device of the catalogue has taken it), with `removed_at`.
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
    let devices = stored_devices(&*s.store).await?;
    Ok(Json(pick_device(&devices, &device_id)?.clone().into()))
}

/// Creates a device with its register map; it is polled within a second.
#[utoipa::path(post, path = "/api/devices", tag = "devices",
    security((), ("bearer" = [])),
    request_body = DeviceInput,
    responses(
        (status = 201, description = "Created", body = DeviceDetailResponse),
        (status = 400, description = "Not JSON", body = Problem, content_type = PROBLEM_JSON),
        (status = 401, description = "Token missing or wrong", body = Problem, content_type = PROBLEM_JSON),
        (status = 409, description = "The name is taken, or a config file defines the devices", body = Problem, content_type = PROBLEM_JSON),
        (status = 422, description = "Invalid fields, each with its path", body = Problem, content_type = PROBLEM_JSON),
        (status = 500, description = "The store failed", body = Problem, content_type = PROBLEM_JSON)))]
pub async fn create_device(
    WriteAccess(caller): WriteAccess,
    peer: Peer,
    State(s): State<AppState>,
    request: Result<Body<DeviceInput>, ApiError>,
) -> Result<(StatusCode, Json<DeviceDetailResponse>), ApiError> {
    writable(&s)?;
    let spec = spec_of(&s, request?)?;
    if find(&s, &spec.name).await.is_ok() {
        return Err(ApiError::Conflict(format!(
            "a device named {:?} exists; PUT /api/devices/{} replaces it",
            spec.name, spec.name
        )));
    }
    let written = s
        .store
        .upsert_device_audited(
            &spec,
            audit::device_change(peer.actor(caller), &spec.name, None),
        )
        .await?;
    logged(written.entry);
    Ok((StatusCode::CREATED, Json(written.value.into())))
}

/// Replaces a device and its whole register map (set `enabled` false to stop polling it
/// and keep its history).
#[utoipa::path(put, path = "/api/devices/{device_id}", tag = "devices",
    security((), ("bearer" = [])),
    params(("device_id" = String, Path, description = "Device id or name")),
    request_body = DeviceInput,
    responses(
        (status = 200, description = "Replaced", body = DeviceDetailResponse),
        (status = 400, description = "Not JSON", body = Problem, content_type = PROBLEM_JSON),
        (status = 401, description = "Token missing or wrong", body = Problem, content_type = PROBLEM_JSON),
        (status = 404, description = "No such device", body = Problem, content_type = PROBLEM_JSON),
        (status = 409, description = "The body names another device, or a config file defines the devices", body = Problem, content_type = PROBLEM_JSON),
        (status = 422, description = "Invalid fields, each with its path", body = Problem, content_type = PROBLEM_JSON),
        (status = 500, description = "The store failed", body = Problem, content_type = PROBLEM_JSON)))]
pub async fn replace_device(
    WriteAccess(caller): WriteAccess,
    peer: Peer,
    State(s): State<AppState>,
    Path(device_id): Path<String>,
    request: Result<Body<DeviceInput>, ApiError>,
) -> Result<Json<DeviceDetailResponse>, ApiError> {
    writable(&s)?;
    let existing = find(&s, &device_id).await?;
    let spec = spec_of(&s, request?)?;
    // The body is valid on its own; it conflicts with the device it would replace, which
    // is why this is a 409 and not a 422.
    if spec.name != existing.spec.name {
        return Err(ApiError::Conflict(format!(
            "name {:?} is not this device's name {:?}; rename by deleting and creating",
            spec.name, existing.spec.name
        )));
    }
    let written = s
        .store
        .upsert_device_audited(
            &spec,
            audit::device_change(peer.actor(caller), &spec.name, None),
        )
        .await?;
    logged(written.entry);
    Ok(Json(written.value.into()))
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
    WriteAccess(caller): WriteAccess,
    peer: Peer,
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
    let change = audit::device_change(
        peer.actor(caller),
        &record.spec.name,
        Some(action::DEVICE_REGISTER_MAP),
    );
    let written = s.store.upsert_device_audited(&record.spec, change).await?;
    logged(written.entry);
    Ok(Json(written.value.into()))
}

/// Deletes a device: it is no longer polled or listed and its name is free for a new
/// device. One with readings is kept with them, marked removed (its history is never
/// deleted): it stays queryable by its id, and by its name until a new device takes it;
/// `GET /api/devices?include=removed` lists it. To stop polling a device and keep its
/// name, PUT it with `"enabled": false` instead.
#[utoipa::path(delete, path = "/api/devices/{device_id}", tag = "devices",
    security((), ("bearer" = [])),
    params(("device_id" = String, Path, description = "Device id or name")),
    responses(
        (status = 204, description = "Deleted, or removed and kept with its history"),
        (status = 401, description = "Token missing or wrong", body = Problem, content_type = PROBLEM_JSON),
        (status = 404, description = "No such device", body = Problem, content_type = PROBLEM_JSON),
        (status = 409, description = "A config file defines the devices", body = Problem, content_type = PROBLEM_JSON),
        (status = 500, description = "The store failed", body = Problem, content_type = PROBLEM_JSON)))]
pub async fn delete_device(
    WriteAccess(caller): WriteAccess,
    peer: Peer,
    State(s): State<AppState>,
    Path(device_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    writable(&s)?;
    let record = find(&s, &device_id).await?;
    let change = audit::device_change(
        peer.actor(caller),
        &record.spec.name,
        Some(action::DEVICE_DELETE),
    );
    let deleted = s
        .store
        .delete_device_audited(&record.spec.name, change)
        .await?;
    match deleted.value {
        DeleteOutcome::Deleted | DeleteOutcome::Removed => {
            logged(deleted.entry);
            Ok(StatusCode::NO_CONTENT)
        }
        DeleteOutcome::NotFound => Err(ApiError::NotFound(format!(
            "no device with id or name {device_id:?}"
        ))),
    }
}
