//! `GET /api/cluster`.

use crate::api::error::{ApiError, PROBLEM_JSON, Problem};
use crate::api::state::AppState;
use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The nodes sharing the fleet and their leases.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ClusterResponse {
    /// False when this historian runs alone (`[cluster]` not enabled); the rest is then empty.
    pub enabled: bool,
    /// This node's name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// Lease length in milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lease_ttl_ms: Option<u64>,
    /// Heartbeat period in milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub heartbeat_ms: Option<u64>,
    /// Every node known, latest heartbeat first.
    pub nodes: Vec<ClusterNodeResponse>,
    /// Devices with a lease (enabled, with registers).
    pub devices: i64,
    /// Devices with a valid owner.
    pub leases_held: i64,
    /// Devices without a valid owner (0 in steady state).
    pub devices_without_owner: i64,
    /// The latest changes of owner, newest first.
    pub last_changes: Vec<OwnerChangeResponse>,
}

/// One node.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ClusterNodeResponse {
    /// Unique name.
    pub name: String,
    /// Where its API listens.
    pub api_address: String,
    /// Its version.
    pub version: String,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// Its last heartbeat.
    pub last_heartbeat: DateTime<Utc>,
    /// `active`, `leaving` (handing its devices over) or `dead` (heartbeat expired).
    pub state: String,
    /// Devices it holds a valid lease on.
    pub devices_held: i64,
}

/// One change of a device's owner.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct OwnerChangeResponse {
    /// The device.
    pub device_id: i64,
    /// The owner before; absent for a first claim.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// The owner after.
    pub to: String,
    /// When.
    pub at: DateTime<Utc>,
    /// `claim`, `handover` (planned) or `failover` (the owner stopped renewing).
    pub kind: String,
    /// The lease's fencing number after the change.
    pub fencing: i64,
}

fn millis(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The nodes sharing the fleet, their lease counts and the latest changes of owner.
#[utoipa::path(get, path = "/api/cluster", tag = "status",
    responses(
        (status = 200, description = "The cluster as the database holds it", body = ClusterResponse),
        (status = 500, description = "The database failed", body = Problem, content_type = PROBLEM_JSON)))]
pub async fn cluster(State(s): State<AppState>) -> Result<Json<ClusterResponse>, ApiError> {
    let Some(cluster) = &s.cluster else {
        return Ok(Json(ClusterResponse {
            enabled: false,
            node: None,
            lease_ttl_ms: None,
            heartbeat_ms: None,
            nodes: Vec::new(),
            devices: 0,
            leases_held: 0,
            devices_without_owner: 0,
            last_changes: Vec::new(),
        }));
    };
    let view = cluster.view().await?;
    Ok(Json(ClusterResponse {
        enabled: true,
        node: Some(cluster.node.name.clone()),
        lease_ttl_ms: Some(millis(cluster.config.lease_ttl)),
        heartbeat_ms: Some(millis(cluster.config.heartbeat)),
        leases_held: i64::try_from(view.owners.len()).unwrap_or(i64::MAX),
        devices: view.devices,
        devices_without_owner: view.unowned,
        nodes: view
            .nodes
            .into_iter()
            .map(|n| ClusterNodeResponse {
                name: n.name,
                api_address: n.api_address,
                version: n.version,
                started_at: n.started_at,
                last_heartbeat: n.heartbeat_at,
                state: n.state,
                devices_held: n.devices_held,
            })
            .collect(),
        last_changes: view
            .last_changes
            .into_iter()
            .map(|c| OwnerChangeResponse {
                device_id: c.device_id,
                from: c.from,
                to: c.to,
                at: c.at,
                kind: c.kind,
                fencing: c.fencing,
            })
            .collect(),
    }))
}
