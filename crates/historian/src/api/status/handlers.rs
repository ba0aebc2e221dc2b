//! Status endpoints: health, the device list with live status, and store figures.

use super::include::{DeviceListQuery, Include};
use crate::api::audit::Peer;
use crate::api::auth::WriteAccess;
use crate::api::error::{ApiError, PROBLEM_JSON, Problem};
use crate::api::extract::Query;
use crate::api::state::AppState;
use crate::audit::{self, action};
use crate::stats::Stats;
use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::sync::atomic::Ordering;
use utoipa::ToSchema;

/// Liveness and totals.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct HealthResponse {
    /// Always `ok` while the process answers.
    pub status: String,
    /// `sqlite`, `postgres` or `timescaledb`.
    pub storage: String,
    /// Devices polled.
    pub devices: usize,
    /// Devices whose last poll reached them.
    pub devices_up: usize,
    /// Readings polled since start.
    pub readings_polled: u64,
    /// Readings stored since start.
    pub readings_stored: u64,
    /// Seconds since start.
    pub uptime_seconds: u64,
    /// The MQTT broker link; absent when none is configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mqtt: Option<MqttHealth>,
}

/// The MQTT broker link.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MqttHealth {
    /// `mqtt://HOST:PORT` or `mqtts://HOST:PORT`.
    pub broker: String,
    /// `json` or `sparkplug_b`.
    pub format: String,
    /// `connected`, or `down` while the broker cannot be reached (readings queue up).
    pub state: String,
    /// Messages the broker took since start.
    pub published: u64,
    /// Readings waiting for the broker.
    pub queued: u64,
    /// Readings dropped because the queue was full.
    pub dropped: u64,
    /// Sessions begun after the first.
    pub reconnects: u64,
}

/// `connected`, or `down` while the broker cannot be reached.
fn link_state(stats: &Stats) -> &'static str {
    if Stats::get(&stats.mqtt_connected) == 1 {
        "connected"
    } else {
        "down"
    }
}

/// Liveness and totals since start.
#[utoipa::path(get, path = "/api/health", tag = "status",
    responses((status = 200, description = "The historian is running", body = HealthResponse)))]
pub async fn health(State(s): State<AppState>) -> Json<HealthResponse> {
    Json(HealthResponse {
        status: "ok".into(),
        storage: s.store.backend().into(),
        devices: s.registry.devices().len(),
        devices_up: s.registry.up_count(),
        readings_polled: Stats::get(&s.stats.readings_polled),
        readings_stored: Stats::get(&s.stats.readings_stored),
        uptime_seconds: s.started.elapsed().as_secs(),
        mqtt: s.mqtt.as_ref().map(|m| MqttHealth {
            broker: m.broker.clone(),
            format: m.format.into(),
            state: link_state(&s.stats).into(),
            published: Stats::get(&s.stats.mqtt_published),
            queued: Stats::get(&s.stats.mqtt_queued),
            dropped: Stats::get(&s.stats.mqtt_dropped),
            reconnects: Stats::get(&s.stats.mqtt_reconnects),
        }),
    })
}

/// Store figures for monitoring.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct StorageResponse {
    /// `sqlite`, `postgres` or `timescaledb`.
    pub backend: String,
    /// Bytes on disk of the whole database (SQLite: file + WAL).
    pub database_bytes: u64,
    /// Bytes of the readings table and its indexes.
    pub readings_bytes: u64,
    /// Chunks (TimescaleDB) or partitions (PostgreSQL).
    pub chunks: u64,
    /// Compressed chunks (TimescaleDB).
    pub compressed_chunks: u64,
    /// Bytes before / after compression of the compressed chunks (TimescaleDB).
    pub compression_ratio: Option<f64>,
    /// Background jobs (TimescaleDB policies) and their last run.
    pub jobs: Vec<JobResponse>,
    /// Bytes per reading of the compacted history (SQLite), once an hour is compacted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes_per_reading: Option<f64>,
    /// The disk the configured fleet and retention will need (SQLite).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub projection: Option<ProjectionResponse>,
    /// How the historian's sessions compress full-page images in the WAL (PostgreSQL):
    /// `off`, `pglz`, `lz4` or `zstd`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wal_compression: Option<String>,
}

/// What the configured fleet writes over the retention period, against the free space of
/// the data folder.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ProjectionResponse {
    /// Readings per second of the enabled devices' mapped registers.
    pub readings_per_second: f64,
    /// Raw retention in seconds.
    pub retention_secs: u64,
    /// Bytes per reading used: measured on this database, or an estimate.
    pub bytes_per_reading: f64,
    /// Whether `bytes_per_reading` was measured on this database.
    pub measured: bool,
    /// Readings per second x retention x bytes per reading.
    pub projected_bytes: u64,
    /// Bytes the database occupies now.
    pub used_bytes: u64,
    /// Free bytes of the data folder's file system, when known.
    pub free_bytes: Option<u64>,
    /// Whether what is still to be written exceeds the free space.
    pub exceeds_free_space: bool,
}

impl From<historian_store::DiskProjection> for ProjectionResponse {
    fn from(p: historian_store::DiskProjection) -> Self {
        ProjectionResponse {
            readings_per_second: p.readings_per_second,
            retention_secs: p.retention_secs,
            bytes_per_reading: p.bytes_per_reading,
            measured: p.measured,
            projected_bytes: p.projected_bytes,
            used_bytes: p.used_bytes,
            free_bytes: p.free_bytes,
            exceeds_free_space: p.exceeds_free_space(),
        }
    }
}

/// One background job.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct JobResponse {
    /// Job id.
    pub id: i64,
    /// e.g. `policy_compression`.
    pub name: String,
    /// Table or aggregate it works on.
    pub relation: String,
    /// `Success`, `Failed`, or null before its first run.
    pub last_run_status: Option<String>,
    /// When it last finished successfully.
    pub last_successful_finish: Option<DateTime<Utc>>,
    /// Failed runs in total.
    pub total_failures: i64,
}

/// Store size, chunks, compression, background jobs, bytes per reading and the disk
/// projection.
#[utoipa::path(get, path = "/api/storage", tag = "status",
    responses(
        (status = 200, description = "Store figures", body = StorageResponse),
        (status = 500, description = "The store failed", body = Problem, content_type = PROBLEM_JSON)))]
pub async fn storage(State(s): State<AppState>) -> Result<Json<StorageResponse>, ApiError> {
    let f = s.store.storage_figures().await?;
    Ok(Json(StorageResponse {
        backend: s.store.backend().to_string(),
        database_bytes: f.database_bytes,
        readings_bytes: f.readings_bytes,
        chunks: f.chunks,
        compressed_chunks: f.compressed_chunks,
        compression_ratio: f.compression_ratio,
        jobs: f
            .jobs
            .into_iter()
            .map(|j| JobResponse {
                id: j.id,
                name: j.name,
                relation: j.relation,
                last_run_status: j.last_run_status,
                last_successful_finish: j.last_successful_finish,
                total_failures: j.total_failures,
            })
            .collect(),
        bytes_per_reading: f.bytes_per_reading,
        projection: f.projection.map(Into::into),
        wal_compression: f.wal_compression,
    }))
}

/// One device as the API lists it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DeviceResponse {
    /// Database id.
    pub id: i64,
    /// Unique name.
    pub name: String,
    /// Host name or IP.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// Modbus unit id.
    pub unit_id: u8,
    /// Poll interval in milliseconds.
    pub poll_interval_ms: u64,
    /// Whether it is polled.
    pub enabled: bool,
    /// Mapped registers.
    pub register_count: usize,
    /// `up`, `down`, `pending` (not polled yet), `disabled` or `removed`.
    pub status: String,
    /// Start of the last poll.
    pub last_poll: Option<DateTime<Utc>>,
    /// Polls that read everything.
    pub polls_ok: u64,
    /// Polls with a failed request.
    pub polls_failed: u64,
    /// Grid slots that passed while the poller was still busy with an earlier poll.
    pub polls_missed: u64,
    /// Where this device's readings stand with the MQTT broker; absent when no MQTT sink
    /// is configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mqtt: Option<DeviceMqtt>,
    /// In cluster mode: the node holding the device's lease (its poller); absent when
    /// the historian runs alone or no node holds it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// Registers taken out of the map since, whose history is still asked for by address,
    /// or by name while no current register has it; absent when there are none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub removed_registers: Vec<RemovedRegisterResponse>,
    /// When the device was removed (deleted while it had readings); absent for a device
    /// of the catalogue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub removed_at: Option<DateTime<Utc>>,
}

/// A register no longer in its device's map.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RemovedRegisterResponse {
    /// Six-digit reference (eight digits for a bit of a register).
    pub register_address: u32,
    /// Its name when it left the map.
    pub name: String,
    /// When it left the map.
    pub removed_at: DateTime<Utc>,
}

/// One device's readings and the MQTT broker.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DeviceMqtt {
    /// The broker link every device shares: `connected`, or `down` while the broker
    /// cannot be reached (readings queue up).
    pub state: String,
    /// Sparkplug B only: `born` while a DBIRTH for the device stands in this session (sent
    /// to the link, no DDEATH since); `dead` otherwise (DDEATH sent; the device down or
    /// disabled; or no session with the broker yet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, pattern = "^(born|dead)$")]
    pub birth: Option<String>,
}

/// Stored devices with their live polling status and the registers removed from each
/// map: enabled and disabled devices (their history stays queryable) unless `include`
/// says otherwise; removed devices (deleted while they had readings, history by id) with
/// `include=removed`.
#[utoipa::path(get, path = "/api/devices", tag = "devices",
    params(DeviceListQuery),
    responses(
        (status = 200, description = "Devices, ordered by id", body = Vec<DeviceResponse>),
        (status = 400, description = "Malformed parameter", body = Problem, content_type = PROBLEM_JSON),
        (status = 500, description = "The store failed", body = Problem, content_type = PROBLEM_JSON)))]
pub async fn devices(
    State(s): State<AppState>,
    Query(q): Query<DeviceListQuery>,
) -> Result<Json<Vec<DeviceResponse>>, ApiError> {
    let include = Include::parse(q.include.as_deref())?;
    let records = match include.removed {
        true => s.store.list_devices_including_removed().await?,
        false => s.store.list_devices().await?,
    };
    let link = s
        .mqtt
        .as_ref()
        .map(|m| (link_state(&s.stats), m.births.as_deref()));
    let owners = match &s.cluster {
        Some(c) => c.view().await?.owners,
        None => Default::default(),
    };
    let out = records
        .into_iter()
        .filter(|r| include.shows(r))
        .map(|r| {
            let live = s.registry.get(r.id);
            let st = live.as_ref().map(|d| &d.status);
            let load = |f: fn(&crate::registry::DeviceStatus) -> u64| st.map(f).unwrap_or(0);
            let status = match &live {
                _ if r.removed_at.is_some() => "removed",
                _ if !r.spec.enabled => "disabled",
                Some(d) if !d.polled() => "pending",
                Some(d) if d.status.up.load(Ordering::Relaxed) => "up",
                Some(_) => "down",
                None => "disabled",
            };
            DeviceResponse {
                owner: owners.get(&r.id).cloned(),
                id: r.id,
                register_count: r.spec.registers.len(),
                removed_registers: r
                    .removed_registers
                    .iter()
                    .map(|x| RemovedRegisterResponse {
                        register_address: x.point.register.reference(),
                        name: x.point.name.clone(),
                        removed_at: x.removed_at,
                    })
                    .collect(),
                status: status.to_string(),
                last_poll: st
                    .map(|s| s.last_poll_us.load(Ordering::Relaxed))
                    .filter(|&us| us != 0)
                    .and_then(DateTime::from_timestamp_micros),
                polls_ok: load(|s| s.polls_ok.load(Ordering::Relaxed)),
                polls_failed: load(|s| s.polls_failed.load(Ordering::Relaxed)),
                polls_missed: load(|s| s.polls_missed.load(Ordering::Relaxed)),
                mqtt: link.map(|(state, births)| DeviceMqtt {
                    state: state.into(),
                    birth: births.map(|b| if b.is_born(r.id) { "born" } else { "dead" }.into()),
                }),
                name: r.spec.name,
                host: r.spec.host,
                port: r.spec.port,
                unit_id: r.spec.unit_id,
                poll_interval_ms: r.spec.poll_interval_ms,
                enabled: r.spec.enabled,
                removed_at: r.removed_at,
            }
        })
        .collect();
    Ok(Json(out))
}

/// What one maintenance run did.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MaintenanceResponse {
    /// Whole partitions dropped for retention.
    pub partitions_dropped: Vec<String>,
    /// Rows deleted one by one for retention.
    pub rows_deleted: u64,
    /// Ids of devices with readings of the last two days but no device record (deleted
    /// while a batch of their readings was written); their readings are kept.
    pub orphaned_devices: Vec<i64>,
}

/// Runs the store's upkeep now (partitions ahead, retention) instead of at the next hourly
/// round. Needs the bearer token when one is configured. The run is recorded in the audit
/// trail right after it; if that fails the answer is 500 (the run happened, unrecorded).
#[utoipa::path(post, path = "/api/storage/maintenance", tag = "status",
    security((), ("bearer" = [])),
    responses(
        (status = 200, description = "What the run did", body = MaintenanceResponse),
        (status = 401, description = "Token missing or wrong", body = Problem, content_type = PROBLEM_JSON),
        (status = 500, description = "The store failed", body = Problem, content_type = PROBLEM_JSON)))]
pub async fn run_maintenance(
    WriteAccess(caller): WriteAccess,
    peer: Peer,
    State(s): State<AppState>,
) -> Result<Json<MaintenanceResponse>, ApiError> {
    let report = s.store.run_maintenance(Utc::now()).await?;
    let answer = MaintenanceResponse {
        partitions_dropped: report.partitions_dropped,
        rows_deleted: report.rows_deleted,
        orphaned_devices: report.orphaned_devices,
    };
    let entry = peer.actor(caller).entry(
        action::STORAGE_MAINTENANCE,
        "storage",
        None,
        Some(audit::json(&answer)),
    );
    let kept = s.store.append_audit(&entry).await.inspect_err(|e| {
        tracing::error!(target: audit::TARGET, error = %e, ?entry,
            "store maintenance ran but could not be recorded in the audit trail");
    })?;
    audit::log(&kept);
    Ok(Json(answer))
}
