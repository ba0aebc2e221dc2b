//! The HTTP JSON API. Latest values come from the in-memory cache, history from the store,
//! devices from the registry. Errors are RFC 9457 problem details.

use crate::latest::LatestCache;
use crate::registry::{DeviceRuntime, Registry};
use crate::stats::Stats;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Duration as ChronoDuration, Utc};
use historian_modbus::RegisterRef;
use historian_store::{AggregateSource, Reading, Store, StoreError};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

/// Readings returned by one time-range query when the client sets no limit.
pub const DEFAULT_LIMIT: usize = 10_000;
/// The most readings one time-range query may return.
pub const MAX_LIMIT: usize = 100_000;
/// Time range used when the client gives no `start`.
const DEFAULT_RANGE_HOURS: i64 = 1;

/// Everything the handlers read.
#[derive(Debug, Clone)]
pub struct AppState {
    /// Devices and their live status.
    pub registry: Arc<Registry>,
    /// History.
    pub store: Arc<dyn Store>,
    /// Latest values.
    pub latest: Arc<LatestCache>,
    /// Counters.
    pub stats: Arc<Stats>,
    /// When the process started.
    pub started: Instant,
}

/// The API's routes.
pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/api/health", get(health))
        .route("/api/devices", get(devices))
        .route("/api/storage", get(storage))
        .route("/api/register_readings/latest/{device}", get(device_latest))
        .route(
            "/api/register_readings/{device}/{register}",
            get(register_time_series),
        )
        .fallback(not_found)
        .with_state(state)
}

/// An error answered as `application/problem+json`.
#[derive(Debug)]
pub enum ApiError {
    /// A malformed or impossible request parameter.
    BadRequest(String),
    /// No such device or register.
    NotFound(String),
    /// The store failed; details are logged, not sent.
    Internal(StoreError),
}

#[derive(Serialize)]
struct Problem {
    r#type: &'static str,
    title: &'static str,
    status: u16,
    detail: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, title, detail) = match self {
            ApiError::BadRequest(d) => (StatusCode::BAD_REQUEST, "Bad Request", d),
            ApiError::NotFound(d) => (StatusCode::NOT_FOUND, "Not Found", d),
            ApiError::Internal(e) => {
                tracing::error!(error = %e, "store query failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Internal Server Error",
                    "the store could not answer; see the historian's log".to_string(),
                )
            }
        };
        let body = Problem {
            r#type: "about:blank",
            title,
            status: status.as_u16(),
            detail,
        };
        (
            status,
            [(header::CONTENT_TYPE, "application/problem+json")],
            serde_json::to_string(&body).unwrap_or_default(),
        )
            .into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ApiError::Internal(e)
    }
}

async fn not_found() -> ApiError {
    ApiError::NotFound("no such endpoint".into())
}

#[derive(Serialize)]
struct Health {
    status: &'static str,
    storage: &'static str,
    devices: usize,
    devices_up: usize,
    readings_polled: u64,
    readings_stored: u64,
    uptime_seconds: u64,
}

async fn health(State(s): State<AppState>) -> Json<Health> {
    Json(Health {
        status: "ok",
        storage: s.store.backend(),
        devices: s.registry.devices().len(),
        devices_up: s.registry.up_count(),
        readings_polled: Stats::get(&s.stats.readings_polled),
        readings_stored: Stats::get(&s.stats.readings_stored),
        uptime_seconds: s.started.elapsed().as_secs(),
    })
}

/// Store figures for monitoring.
#[derive(Debug, Serialize, Deserialize)]
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
}

/// One background job.
#[derive(Debug, Serialize, Deserialize)]
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

async fn storage(State(s): State<AppState>) -> Result<Json<StorageResponse>, ApiError> {
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
    }))
}

/// One device as the API lists it.
#[derive(Debug, Serialize, Deserialize)]
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
    /// `up`, `down`, `pending` (not polled yet) or `disabled`.
    pub status: String,
    /// Start of the last poll.
    pub last_poll: Option<DateTime<Utc>>,
    /// Polls that read everything.
    pub polls_ok: u64,
    /// Polls with a failed request.
    pub polls_failed: u64,
    /// Grid slots skipped because a poll overran.
    pub polls_missed: u64,
}

async fn devices(State(s): State<AppState>) -> Result<Json<Vec<DeviceResponse>>, ApiError> {
    let records = s.store.list_devices().await?;
    let out = records
        .into_iter()
        .map(|r| {
            let live = s.registry.get(r.id);
            let st = live.map(|d| &d.status);
            let load = |f: fn(&crate::registry::DeviceStatus) -> u64| st.map(f).unwrap_or(0);
            let status = match live {
                _ if !r.spec.enabled => "disabled",
                Some(d) if !d.polled() => "pending",
                Some(d) if d.status.up.load(Ordering::Relaxed) => "up",
                Some(_) => "down",
                None => "disabled",
            };
            DeviceResponse {
                id: r.id,
                register_count: r.spec.registers.len(),
                status: status.to_string(),
                last_poll: st
                    .map(|s| s.last_poll_us.load(Ordering::Relaxed))
                    .filter(|&us| us != 0)
                    .and_then(DateTime::from_timestamp_micros),
                polls_ok: load(|s| s.polls_ok.load(Ordering::Relaxed)),
                polls_failed: load(|s| s.polls_failed.load(Ordering::Relaxed)),
                polls_missed: load(|s| s.polls_missed.load(Ordering::Relaxed)),
                name: r.spec.name,
                host: r.spec.host,
                port: r.spec.port,
                unit_id: r.spec.unit_id,
                poll_interval_ms: r.spec.poll_interval_ms,
                enabled: r.spec.enabled,
            }
        })
        .collect();
    Ok(Json(out))
}

/// One reading, as in the user's plan.
#[derive(Debug, Serialize, Deserialize)]
pub struct RegisterReadingResponse {
    /// When the poll began (RFC 3339, UTC).
    pub timestamp: DateTime<Utc>,
    /// Device id.
    pub device_id: i64,
    /// Six-digit register reference (400001 = holding register 0).
    pub register_address: u32,
    /// Name from the register map.
    pub register_name: String,
    /// Engineering value; null when the read failed.
    pub value: Option<f64>,
    /// good, bad or uncertain.
    pub quality: String,
    /// Data type from the register map.
    pub data_type: String,
    /// Unit from the register map.
    pub unit: String,
    /// Milliseconds between the reading and this answer (latest values only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub age_ms: Option<i64>,
}

impl RegisterReadingResponse {
    fn from_reading(r: &Reading, now: Option<DateTime<Utc>>) -> Self {
        Self {
            timestamp: r.timestamp,
            device_id: r.device_id,
            register_address: r.register_address.reference(),
            register_name: r.register_name.to_string(),
            value: r.value,
            quality: r.quality.to_string(),
            data_type: r.data_type.to_string(),
            unit: r.unit.to_string(),
            age_ms: now.map(|n| (n - r.timestamp).num_milliseconds()),
        }
    }
}

/// Latest readings of every register of one device.
#[derive(Debug, Serialize, Deserialize)]
pub struct DeviceLatestResponse {
    /// Device id.
    pub device_id: i64,
    /// Device name.
    pub device_name: String,
    /// One reading per register that has been read.
    pub readings: Vec<RegisterReadingResponse>,
}

fn find_device<'a>(reg: &'a Registry, key: &str) -> Result<&'a Arc<DeviceRuntime>, ApiError> {
    let found = match key.parse::<i64>() {
        Ok(id) => reg.get(id),
        Err(_) => reg.by_name(key),
    };
    found.ok_or_else(|| ApiError::NotFound(format!("no device with id or name {key:?}")))
}

async fn device_latest(
    State(s): State<AppState>,
    Path(device): Path<String>,
) -> Result<Json<DeviceLatestResponse>, ApiError> {
    let dev = find_device(&s.registry, &device)?;
    let now = Utc::now();
    let readings = s
        .latest
        .device(dev.id)
        .iter()
        .map(|r| RegisterReadingResponse::from_reading(r, Some(now)))
        .collect();
    Ok(Json(DeviceLatestResponse {
        device_id: dev.id,
        device_name: dev.name().to_string(),
        readings,
    }))
}

/// Query parameters of a time-series request.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterReadingsQueryRequest {
    /// Inclusive start, RFC 3339 (default: one hour before `end`).
    pub start: Option<String>,
    /// Exclusive end, RFC 3339 (default: now).
    pub end: Option<String>,
    /// Most readings to return (default 10000, at most 100000).
    pub limit: Option<String>,
    /// Continue after this reading (the `next_cursor` of the previous page).
    pub cursor: Option<String>,
    /// Aggregate into buckets this wide (e.g. `15m`, `1h`, `1d`) instead of raw readings.
    pub bucket: Option<String>,
}

/// One point of a time series.
#[derive(Debug, Serialize, Deserialize)]
pub struct TimeSeriesPoint {
    /// When the poll began.
    pub timestamp: DateTime<Utc>,
    /// Engineering value; null when the read failed.
    pub value: Option<f64>,
    /// good, bad or uncertain.
    pub quality: String,
}

/// Readings of one register over a time range.
#[derive(Debug, Serialize, Deserialize)]
pub struct RegisterReadingsTimeSeriesResponse {
    /// Device id.
    pub device_id: i64,
    /// Device name.
    pub device_name: String,
    /// Six-digit register reference.
    pub register_address: u32,
    /// Name from the register map.
    pub register_name: String,
    /// Data type from the register map.
    pub data_type: String,
    /// Unit from the register map.
    pub unit: String,
    /// Inclusive start of the range.
    pub start: DateTime<Utc>,
    /// Exclusive end of the range.
    pub end: DateTime<Utc>,
    /// Readings returned.
    pub count: usize,
    /// True when `limit` cut the answer short.
    pub truncated: bool,
    /// Pass as `cursor` to get the next page (present when `truncated`).
    pub next_cursor: Option<DateTime<Utc>>,
    /// Oldest first.
    pub readings: Vec<TimeSeriesPoint>,
}

/// Aggregated readings of one register: one entry per bucket.
#[derive(Debug, Serialize, Deserialize)]
pub struct RegisterReadingsAggregateResponse {
    /// Device id.
    pub device_id: i64,
    /// Six-digit register reference.
    pub register_address: u32,
    /// Name from the register map.
    pub register_name: String,
    /// Unit from the register map.
    pub unit: String,
    /// Bucket width in seconds.
    pub bucket_seconds: u64,
    /// `raw`, `hourly` or `daily`: the data the buckets were computed from.
    pub source: String,
    /// Inclusive start of the range.
    pub start: DateTime<Utc>,
    /// Exclusive end of the range.
    pub end: DateTime<Utc>,
    /// Oldest first.
    pub buckets: Vec<BucketResponse>,
}

/// One bucket: figures over the readings that had a value.
#[derive(Debug, Serialize, Deserialize)]
pub struct BucketResponse {
    /// Start of the bucket (aligned to the Unix epoch).
    pub bucket: DateTime<Utc>,
    /// Mean.
    pub avg: Option<f64>,
    /// Minimum.
    pub min: Option<f64>,
    /// Maximum.
    pub max: Option<f64>,
    /// Readings with a value.
    pub count: i64,
    /// Earliest value.
    pub first: Option<f64>,
    /// Latest value.
    pub last: Option<f64>,
}

/// Most buckets one aggregate query may return.
pub const MAX_BUCKETS: i64 = 100_000;

fn parse_time(name: &str, text: &str) -> Result<DateTime<Utc>, ApiError> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| {
            ApiError::BadRequest(format!(
                "{name}={text:?} is not an RFC 3339 timestamp ({e}); \
                 write e.g. 2026-11-29T12:00:00Z"
            ))
        })
}

async fn register_time_series(
    State(s): State<AppState>,
    Path((device, register)): Path<(String, String)>,
    query: Result<Query<RegisterReadingsQueryRequest>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let dev = find_device(&s.registry, &device)?;
    let points = &dev.config.spec.registers;
    let index = match register.parse::<u32>() {
        Ok(n) => {
            let r = RegisterRef::from_reference(n).map_err(ApiError::BadRequest)?;
            points.iter().position(|p| p.register == r)
        }
        Err(_) => points.iter().position(|p| p.name == register),
    }
    .ok_or_else(|| {
        ApiError::NotFound(format!(
            "device {:?} has no register {register:?} (give a six-digit reference such as \
             400001, or a register name)",
            dev.name()
        ))
    })?;
    let point = &points[index];
    let end = match &q.end {
        Some(t) => parse_time("end", t)?,
        None => Utc::now(),
    };
    let start = match &q.start {
        Some(t) => parse_time("start", t)?,
        None => end - ChronoDuration::hours(DEFAULT_RANGE_HOURS),
    };
    if end <= start {
        return Err(ApiError::BadRequest(format!(
            "end ({end}) must be after start ({start})"
        )));
    }
    if let Some(width) = &q.bucket {
        let width = humantime::parse_duration(width)
            .ok()
            .map(|d| d.as_secs())
            .filter(|&w| w > 0)
            .ok_or_else(|| {
                ApiError::BadRequest(format!(
                    "bucket={width:?} is not a whole number of seconds; write e.g. 30s, 15m, 1h, 1d"
                ))
            })?;
        let buckets = (end - start).num_seconds() / i64::try_from(width).unwrap_or(i64::MAX);
        if buckets > MAX_BUCKETS {
            return Err(ApiError::BadRequest(format!(
                "{buckets} buckets requested, at most {MAX_BUCKETS}: widen the bucket or \
                 shorten the range"
            )));
        }
        let rows = s
            .store
            .get_aggregates(dev.id, &[point.register], start, end, width)
            .await?;
        let source = match AggregateSource::for_width(width) {
            AggregateSource::Raw => "raw",
            AggregateSource::Hourly => "hourly",
            AggregateSource::Daily => "daily",
        };
        return Ok(Json(RegisterReadingsAggregateResponse {
            device_id: dev.id,
            register_address: point.register.reference(),
            register_name: point.name.clone(),
            unit: point.unit.clone(),
            bucket_seconds: width,
            source: source.to_string(),
            start,
            end,
            buckets: rows
                .into_iter()
                .map(|b| BucketResponse {
                    bucket: b.bucket,
                    avg: b.avg,
                    min: b.min,
                    max: b.max,
                    count: b.count,
                    first: b.first,
                    last: b.last,
                })
                .collect(),
        })
        .into_response());
    }
    let limit = match &q.limit {
        None => DEFAULT_LIMIT,
        Some(l) => match l.parse::<usize>() {
            Ok(n @ 1..=MAX_LIMIT) => n,
            _ => {
                return Err(ApiError::BadRequest(format!(
                    "limit={l:?} must be a whole number from 1 to {MAX_LIMIT}"
                )));
            }
        },
    };
    // The cursor is the timestamp of the last reading already returned.
    let from = match &q.cursor {
        Some(c) => (parse_time("cursor", c)? + ChronoDuration::microseconds(1)).max(start),
        None => start,
    };
    // One extra row tells whether the answer was cut short.
    let mut rows = s
        .store
        .get_readings_time_range(dev.id, point.register, from, end, limit + 1)
        .await?;
    let truncated = rows.len() > limit;
    rows.truncate(limit);
    Ok(Json(RegisterReadingsTimeSeriesResponse {
        device_id: dev.id,
        device_name: dev.name().to_string(),
        register_address: point.register.reference(),
        register_name: point.name.clone(),
        data_type: point.data_type.to_string(),
        unit: point.unit.clone(),
        start,
        end,
        count: rows.len(),
        truncated,
        next_cursor: truncated
            .then(|| rows.last().map(|r| r.timestamp))
            .flatten(),
        readings: rows
            .into_iter()
            .map(|r| TimeSeriesPoint {
                timestamp: r.timestamp,
                value: r.value,
                quality: r.quality.to_string(),
            })
            .collect(),
    })
    .into_response())
}
