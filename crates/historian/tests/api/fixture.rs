//! A SQLite store with two devices and known readings, and a one-call request helper.

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use chrono::{DateTime, Duration, Utc};
use historian_model::Quality;
use historian_model::{DeviceSpec, Reading};
use historian_sim::fleet::reference_map;
use historian_store::Store;
use historian_store::sqlite::SqliteStore;
use modbus_historian::api::{AppState, app};
use modbus_historian::config::DeviceConfig;
use modbus_historian::latest::LatestCache;
use modbus_historian::registry::Registry;
use modbus_historian::stats::Stats;
use std::sync::Arc;
use tower::ServiceExt;

/// Readings per register.
pub const STEPS: i64 = 20;
/// Registers per device.
pub const REGISTERS: usize = 5;

fn device(name: &str, registers: usize) -> DeviceConfig {
    DeviceConfig {
        spec: DeviceSpec {
            name: name.into(),
            host: "127.0.0.1".into(),
            port: 502,
            unit_id: 1,
            poll_interval_ms: 1000,
            enabled: true,
            registers: reference_map(registers),
            access: Default::default(),
        },
        timeout: std::time::Duration::from_secs(1),
    }
}

/// Value of register `i` at step `s` on device number `d`: register 0 of device 0 counts
/// 0..20; register 2 is bad (null) every 4th step; register 3 uncertain every 5th.
pub fn expected(d: usize, i: usize, s: i64) -> (Option<f64>, Quality) {
    let v = (s as f64) + (i as f64) * 100.0 + (d as f64) * 1000.0;
    match i {
        2 if s % 4 == 0 => (None, Quality::Bad),
        3 if s % 5 == 0 => (Some(v), Quality::Uncertain),
        _ => (Some(v), Quality::Good),
    }
}

/// A store and state holding devices `relay` (id 1) and `meter` (id 2), each with
/// [`REGISTERS`] registers read [`STEPS`] times a second apart, the newest a second ago.
pub async fn state() -> (tempfile::TempDir, AppState) {
    state_with(REGISTERS).await
}

/// As [`state`], with `registers` registers per device (readings for the first
/// [`REGISTERS`] only).
pub async fn state_with(registers: usize) -> (tempfile::TempDir, AppState) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store: Arc<dyn Store> = Arc::new(
        SqliteStore::open(&dir.path().join("api.db"), &Default::default())
            .await
            .expect("store"),
    );
    let cfgs = [device("relay", registers), device("meter", registers)];
    let specs: Vec<DeviceSpec> = cfgs.iter().map(|c| c.spec.clone()).collect();
    let records = store.sync_devices(&specs).await.expect("sync");
    let registry = Registry::build(&cfgs, &records);
    let now = DateTime::from_timestamp_micros(Utc::now().timestamp_micros()).expect("now");
    let mut readings = Vec::new();
    for (d, rec) in records.iter().enumerate() {
        for s in 0..STEPS {
            for (i, p) in rec.spec.registers.iter().take(REGISTERS).enumerate() {
                let (value, quality) = expected(d, i, s);
                readings.push(Reading {
                    timestamp: now - Duration::seconds(STEPS - s),
                    device_id: rec.id,
                    register_address: p.register,
                    value,
                    quality,
                    register_name: Arc::from(p.name.as_str()),
                    data_type: p.data_type,
                    unit: Arc::from(p.unit.as_str()),
                    text: None,
                });
            }
        }
    }
    store
        .insert_register_readings_batch(&readings)
        .await
        .expect("insert");
    let latest = Arc::new(LatestCache::default());
    latest.update(&readings);
    let state = AppState::new(
        Arc::new(registry),
        store,
        latest,
        Arc::new(Stats::default()),
    );
    (dir, state)
}

/// An answer: status, headers, body text and the body as JSON (null if it is not JSON).
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub text: String,
    pub bytes: Vec<u8>,
    pub json: serde_json::Value,
}

impl Answer {
    pub fn content_type(&self) -> &str {
        self.headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

/// Sends `req` through a fresh router over `state`.
pub async fn send(state: &AppState, req: Request<Body>) -> Answer {
    let resp = app(state.clone()).oneshot(req).await.expect("response");
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = axum::body::to_bytes(resp.into_body(), 64 << 20)
        .await
        .expect("body");
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let json = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
    Answer {
        status,
        headers,
        text,
        bytes: bytes.to_vec(),
        json,
    }
}

/// GETs `uri`; returns status, content type and JSON body.
pub async fn call(state: &AppState, uri: &str) -> (StatusCode, String, serde_json::Value) {
    let a = send(
        state,
        Request::get(uri).body(Body::empty()).expect("request"),
    )
    .await;
    (a.status, a.content_type().to_string(), a.json)
}

/// GETs `uri` with an `Accept` header.
pub async fn get_accept(state: &AppState, uri: &str, accept: &str) -> Answer {
    send(
        state,
        Request::get(uri)
            .header("accept", accept)
            .body(Body::empty())
            .expect("request"),
    )
    .await
}
