//! Handler tests with `oneshot`: status codes and problem details for bad requests.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use chrono::{Duration, Utc};
use historian_modbus::fleet::reference_map;
use historian_modbus::{PlanOptions, Quality};
use historian_store::sqlite::SqliteStore;
use historian_store::{DeviceSpec, Reading, Store};
use modbus_historian::api::{AppState, app};
use modbus_historian::config::DeviceConfig;
use modbus_historian::latest::LatestCache;
use modbus_historian::registry::Registry;
use modbus_historian::stats::Stats;
use std::sync::Arc;
use tower::ServiceExt;

async fn state() -> (tempfile::TempDir, AppState) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store: Arc<dyn Store> = Arc::new(
        SqliteStore::open(&dir.path().join("api.db"), &Default::default())
            .await
            .expect("store"),
    );
    let cfg = DeviceConfig {
        link: Default::default(),
        spec: DeviceSpec {
            name: "relay".into(),
            host: "127.0.0.1".into(),
            port: 502,
            unit_id: 1,
            poll_interval_ms: 1000,
            enabled: true,
            registers: reference_map(5),
        },
        timeout: std::time::Duration::from_secs(1),
        plan: PlanOptions::default(),
        pause: std::time::Duration::ZERO,
    };
    let records = store
        .sync_devices(std::slice::from_ref(&cfg.spec))
        .await
        .expect("sync");
    let registry = Registry::build(&[cfg], &records);
    let id = records[0].id;
    let p = &records[0].spec.registers[0];
    let now = Utc::now();
    let readings: Vec<Reading> = (0..20)
        .map(|s| Reading {
            timestamp: now - Duration::seconds(20 - s),
            device_id: id,
            register_address: p.register,
            value: Some(s as f64),
            quality: Quality::Good,
            register_name: Arc::from(p.name.as_str()),
            data_type: p.data_type,
            unit: Arc::from(p.unit.as_str()),
            text: None,
        })
        .collect();
    store
        .insert_register_readings_batch(&readings)
        .await
        .expect("insert");
    let latest = Arc::new(LatestCache::default());
    latest.update(&readings);
    let state = AppState {
        registry: Arc::new(registry),
        store,
        latest,
        stats: Arc::new(Stats::default()),
        started: std::time::Instant::now(),
    };
    (dir, state)
}

async fn call(state: &AppState, uri: &str) -> (StatusCode, String, serde_json::Value) {
    let resp = app(state.clone())
        .oneshot(Request::get(uri).body(Body::empty()).expect("request"))
        .await
        .expect("response");
    let status = resp.status();
    let ctype = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .expect("body");
    let json = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
    (status, ctype, json)
}

#[tokio::test]
async fn health_and_devices() {
    let (_d, s) = state().await;
    let (status, _, body) = call(&s, "/api/health").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "ok");
    assert_eq!(body["storage"], "sqlite");
    let (status, _, body) = call(&s, "/api/devices").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body[0]["name"], "relay");
    assert_eq!(body[0]["register_count"], 5);
    assert_eq!(body[0]["status"], "pending");
}

#[tokio::test]
async fn time_series_by_reference_or_name_with_limit() {
    let (_d, s) = state().await;
    let (status, _, body) = call(&s, "/api/register_readings/1/300001?limit=5").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["count"], 5);
    assert_eq!(body["truncated"], true);
    assert_eq!(body["readings"][0]["value"], 0.0);
    let (status, _, body) = call(&s, "/api/register_readings/relay/current_000").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["count"], 20);
    assert_eq!(body["truncated"], false);
    let (_, _, latest) = call(&s, "/api/register_readings/latest/relay").await;
    assert_eq!(latest["readings"][0]["value"], 19.0);
    assert!(latest["readings"][0]["age_ms"].as_i64().is_some());
}

#[tokio::test]
async fn cursor_pages_walk_every_reading_once() {
    let (_d, s) = state().await;
    let mut seen = Vec::new();
    let mut uri = "/api/register_readings/1/300001?limit=7".to_string();
    loop {
        let (status, _, body) = call(&s, &uri).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        for r in body["readings"].as_array().expect("readings") {
            seen.push(r["value"].as_f64().expect("value"));
        }
        match body["next_cursor"].as_str() {
            Some(c) => uri = format!("/api/register_readings/1/300001?limit=7&cursor={c}"),
            None => break,
        }
    }
    let want: Vec<f64> = (0..20).map(f64::from).collect();
    assert_eq!(seen, want);
}

#[tokio::test]
async fn buckets_aggregate_and_storage_reports() {
    let (_d, s) = state().await;
    let (status, _, body) = call(&s, "/api/register_readings/1/300001?bucket=1h").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["source"], "hourly");
    assert_eq!(body["bucket_seconds"], 3600);
    let total: i64 = body["buckets"]
        .as_array()
        .expect("buckets")
        .iter()
        .map(|b| b["count"].as_i64().expect("count"))
        .sum();
    assert_eq!(total, 20);
    let (status, _, body) = call(&s, "/api/register_readings/1/300001?bucket=90s").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["source"], "raw");
    let (status, _, body) = call(&s, "/api/storage").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["backend"], "sqlite");
    assert!(body["database_bytes"].as_u64().expect("bytes") > 0);
}

#[tokio::test]
async fn bad_parameters_are_problem_details() {
    let (_d, s) = state().await;
    let cases = [
        (
            "/api/register_readings/1/300001?start=yesterday",
            400,
            "start=\"yesterday\" is not an RFC 3339 timestamp",
        ),
        (
            "/api/register_readings/1/300001?start=2026-01-02T00:00:00Z&end=2026-01-01T00:00:00Z",
            400,
            "must be after start",
        ),
        (
            "/api/register_readings/1/300001?limit=0",
            400,
            "limit=\"0\" must be a whole number from 1 to 100000",
        ),
        (
            "/api/register_readings/1/300001?strat=x",
            400,
            "unknown field `strat`",
        ),
        (
            "/api/register_readings/1/200001",
            400,
            "has no Modbus table",
        ),
        (
            "/api/register_readings/1/400999",
            404,
            "has no register \"400999\"",
        ),
        (
            "/api/register_readings/42/300001",
            404,
            "no device with id or name \"42\"",
        ),
        (
            "/api/register_readings/latest/nope",
            404,
            "no device with id or name \"nope\"",
        ),
        ("/api/nothing", 404, "no such endpoint"),
        (
            "/api/register_readings/1/300001?bucket=soon",
            400,
            "bucket=\"soon\" is not a whole number of seconds",
        ),
        (
            "/api/register_readings/1/300001?bucket=1s&start=2000-01-01T00:00:00Z",
            400,
            "buckets requested, at most 100000",
        ),
        (
            "/api/register_readings/1/300001?cursor=x",
            400,
            "cursor=\"x\" is not an RFC 3339 timestamp",
        ),
    ];
    for (uri, code, detail) in cases {
        let (status, ctype, body) = call(&s, uri).await;
        assert_eq!(status.as_u16(), code, "{uri}: {body}");
        assert_eq!(ctype, "application/problem+json", "{uri}");
        assert_eq!(body["status"], code, "{uri}");
        let got = body["detail"].as_str().unwrap_or("");
        assert!(got.contains(detail), "{uri}: {got:?} lacks {detail:?}");
    }
}
