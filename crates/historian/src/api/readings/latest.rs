//! Latest values of a device, from the in-memory cache (from the store for a device
//! another node of the cluster polls).

use super::response::RegisterReadingResponse;
use crate::api::error::{ApiError, PROBLEM_JSON, Problem};
use crate::api::state::AppState;
use crate::api::stored::find_device;
use axum::Json;
use axum::extract::{Path, State};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Latest readings of every register of one device.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DeviceLatestResponse {
    /// Device id.
    pub device_id: i64,
    /// Device name.
    pub device_name: String,
    /// One reading per register that has been read; empty for a device not polled now.
    pub readings: Vec<RegisterReadingResponse>,
}

/// The latest reading of every register of a device, from memory; in cluster mode, for a
/// device another node polls, from the database; none for a device not polled now
/// (disabled), whose history the other endpoints serve.
#[utoipa::path(get, path = "/api/register_readings/latest/{device_id}", tag = "readings",
    params(("device_id" = String, Path, description = "Device id, or device name")),
    responses(
        (status = 200, description = "Latest readings, in register order", body = DeviceLatestResponse),
        (status = 404, description = "No such device", body = Problem, content_type = PROBLEM_JSON),
        (status = 500, description = "The store failed (a device polled by another node)", body = Problem, content_type = PROBLEM_JSON)))]
pub async fn device_latest(
    State(s): State<AppState>,
    Path(device): Path<String>,
) -> Result<Json<DeviceLatestResponse>, ApiError> {
    let dev = find_device(&s.registry, &*s.store, &device).await?;
    let now = Utc::now();
    // Values kept from before a device was disabled are not live: only polled devices
    // have latest values. A device polled by another node of the cluster: its latest
    // values are the store's.
    let elsewhere = s.cluster.as_ref().is_some_and(|c| c.gate(dev.id).is_none());
    let held = match s.registry.get(dev.id) {
        None => Vec::new(),
        Some(_) if elsewhere => s.store.get_device_readings_latest(dev.id).await?,
        Some(_) => s.latest.device(dev.id),
    };
    let readings = held
        .iter()
        .map(|r| RegisterReadingResponse::from_reading(r, Some(now)))
        .collect();
    Ok(Json(DeviceLatestResponse {
        device_id: dev.id,
        device_name: dev.spec.name.clone(),
        readings,
    }))
}
