//! `GET /metrics` in the Prometheus text format, and the middleware that times every
//! request per route (the route pattern, never the raw URI, and the method among the
//! standard ones, so that no client can add series).

use crate::api::error::{ApiError, PROBLEM_JSON, Problem};
use crate::api::state::AppState;
use crate::stats::Stats;
use crate::telemetry::{self as t, handle};
use axum::extract::{MatchedPath, Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics::{gauge, histogram};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// Media type of the Prometheus text format.
pub const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The `route` label of a request that matched no route.
pub const UNMATCHED: &str = "unmatched";

/// Times a request and records it under its route pattern.
pub async fn track(matched: Option<MatchedPath>, req: Request, next: Next) -> Response {
    let route = matched.map_or_else(|| UNMATCHED.to_string(), |m| m.as_str().to_string());
    let method = method_label(req.method());
    let started = Instant::now();
    let resp = next.run(req).await;
    histogram!(
        t::HTTP_SECONDS,
        "method" => method,
        "route" => route,
        "status" => resp.status().as_u16().to_string()
    )
    .record(started.elapsed().as_secs_f64());
    resp
}

/// The `method` label: a standard method's name, or `other` for any other token a client
/// sends.
pub fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// Metrics in the Prometheus text format: poll, ingest, API and store figures. Store
/// figures are read at scrape time.
#[utoipa::path(get, path = "/metrics", tag = "status",
    responses(
        (status = 200, description = "Prometheus text exposition format", content_type = "text/plain", body = String),
        (status = 500, description = "No metrics recorder", body = Problem, content_type = PROBLEM_JSON)))]
pub async fn metrics(State(s): State<AppState>) -> Result<Response, ApiError> {
    let handle = handle().map_err(|e| ApiError::Encode(e.to_string()))?;
    refresh(&s).await;
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, PROMETHEUS_TEXT)],
        handle.render(),
    )
        .into_response())
}

/// Copies the process totals and the store figures into the recorder.
async fn refresh(s: &AppState) {
    let st = &s.stats;
    st.export();
    let oldest_us = Stats::get(&st.spool_oldest_us);
    let age = if oldest_us == 0 {
        0.0
    } else {
        let now_us = u64::try_from(chrono::Utc::now().timestamp_micros()).unwrap_or(0);
        now_us.saturating_sub(oldest_us) as f64 / 1e6
    };
    gauge!(t::SPOOL_OLDEST_AGE).set(age);
    let tasks = tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks();
    gauge!(t::TASKS).set(tasks as f64);
    let devices = s.registry.devices();
    gauge!(t::DEVICES).set(devices.len() as f64);
    for d in devices {
        let up = d.status.up.load(Ordering::Relaxed);
        gauge!(t::DEVICE_UP, "device" => d.name().to_string()).set(if up { 1.0 } else { 0.0 });
    }
    if let Some(r) = s.store.read_replica() {
        gauge!(t::STORE_REPLICA_LAG).set(r.lag_seconds.unwrap_or(f64::NAN));
        gauge!(t::STORE_REPLICA_READS).set(if r.in_use { 1.0 } else { 0.0 });
    }
    match s.store.storage_figures().await {
        Ok(f) => {
            gauge!(t::STORE_BYTES).set(f.database_bytes as f64);
            gauge!(t::STORE_READINGS_BYTES).set(f.readings_bytes as f64);
            gauge!(t::STORE_CHUNKS).set(f.chunks as f64);
            gauge!(t::STORE_COMPRESSED_CHUNKS).set(f.compressed_chunks as f64);
            if let Some(r) = f.compression_ratio {
                gauge!(t::STORE_COMPRESSION_RATIO).set(r);
            }
            gauge!(t::STORE_UP).set(1.0);
            if STORE_FIGURES_FAILING.swap(false, Ordering::Relaxed) {
                tracing::info!("store figures available for /metrics again");
            }
        }
        Err(e) => {
            // Once per outage: a scraper asks every few seconds, and the outage itself is
            // reported by the ingest path and by `historian_store_up`.
            if STORE_FIGURES_FAILING.swap(true, Ordering::Relaxed) {
                tracing::debug!(error = %e, "store figures still unavailable for /metrics");
            } else {
                tracing::warn!(error = %e, "store figures unavailable for /metrics (said once until they are back)");
            }
            gauge!(t::STORE_UP).set(0.0);
        }
    }
}

/// True while the store cannot give its figures, so the warning is logged once per outage.
static STORE_FIGURES_FAILING: AtomicBool = AtomicBool::new(false);
