//! The live event stream: filtering, the lag notice, and its end when the server stops.

use crate::fixture::{call, state};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use chrono::Utc;
use futures_util::StreamExt;
use historian_model::Quality;
use historian_model::Reading;
use modbus_historian::api::{AppState, app};
use modbus_historian::latest::LatestCache;
use std::sync::Arc;
use std::time::Duration;
use tower::ServiceExt;

/// An open event stream, read event by event.
struct Events {
    body: axum::body::BodyDataStream,
    buf: String,
}

impl Events {
    async fn open(s: &AppState, uri: &str) -> Events {
        let resp = app(s.clone())
            .oneshot(Request::get(uri).body(Body::empty()).expect("request"))
            .await
            .expect("response");
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(resp.headers()["content-type"], "text/event-stream");
        Events {
            body: resp.into_body().into_data_stream(),
            buf: String::new(),
        }
    }

    /// The next event as (name, data), skipping comments; None when the stream ends.
    async fn next(&mut self) -> Option<(String, String)> {
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let (mut name, mut data) = (String::new(), String::new());
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event: ") {
                        name = v.to_string();
                    } else if let Some(v) = line.strip_prefix("data: ") {
                        data.push_str(v);
                    }
                }
                if !name.is_empty() {
                    return Some((name, data));
                }
                continue;
            }
            let chunk = tokio::time::timeout(Duration::from_secs(5), self.body.next())
                .await
                .expect("an event within 5 s")?;
            self.buf
                .push_str(&String::from_utf8_lossy(&chunk.expect("chunk")));
        }
    }
}

fn batch(s: &AppState, value: f64) -> Vec<Reading> {
    let mut out = Vec::new();
    for dev in s.registry.devices() {
        for (i, p) in dev.config.spec.registers.iter().enumerate() {
            out.push(Reading {
                timestamp: Utc::now(),
                device_id: dev.id,
                register_address: p.register,
                value: Some(value),
                quality: Quality::Good,
                register_name: Arc::clone(&dev.names[i]),
                data_type: p.data_type,
                unit: Arc::clone(&dev.units[i]),
                text: None,
            });
        }
    }
    out
}

#[tokio::test]
async fn only_the_chosen_readings_are_sent() {
    let (_d, s) = state().await;
    let mut events = Events::open(
        &s,
        "/api/register_readings/stream?device=relay&register=current_000,400001",
    )
    .await;
    s.latest.update(&batch(&s, 42.0));
    let (name, data) = events.next().await.expect("event");
    assert_eq!(name, "readings");
    let rows: serde_json::Value = serde_json::from_str(&data).expect("json");
    let got: Vec<(i64, u64)> = rows
        .as_array()
        .expect("array")
        .iter()
        .map(|r| {
            (
                r["device_id"].as_i64().expect("id"),
                r["register_address"].as_u64().expect("ref"),
            )
        })
        .collect();
    assert_eq!(got, [(1, 300001), (1, 400001)]);
    assert_eq!(rows[0]["value"], 42.0);
    // The latest cache took the batch too.
    let (_, _, latest) = call(&s, "/api/register_readings/latest/relay").await;
    assert_eq!(latest["readings"][0]["value"], 42.0);
}

#[tokio::test]
async fn a_slow_client_is_told_what_it_missed_and_ingest_never_waits() {
    let (_d, s) = state().await;
    let s = AppState {
        latest: Arc::new(LatestCache::with_live_capacity(2)),
        ..s
    };
    let mut events = Events::open(&s, "/api/register_readings/stream?device=2").await;
    // Five polls arrive before the client reads: update never blocks on it.
    for v in 0..5 {
        s.latest.update(&batch(&s, f64::from(v)));
    }
    assert_eq!(events.next().await, Some(("lagged".into(), "3".into())));
    let (name, data) = events.next().await.expect("event");
    assert_eq!(name, "readings");
    assert!(data.contains(r#""value":3.0"#), "{data}");
}

#[tokio::test]
async fn the_stream_ends_when_the_server_stops() {
    let (_d, s) = state().await;
    let mut events = Events::open(&s, "/api/register_readings/stream").await;
    s.latest.update(&batch(&s, 1.0));
    assert!(events.next().await.is_some());
    s.shutdown.cancel();
    assert_eq!(events.next().await, None);
}

#[tokio::test]
async fn bad_filters_are_problem_details() {
    let (_d, s) = state().await;
    for (uri, code) in [
        ("/api/register_readings/stream?device=nope", 404),
        ("/api/register_readings/stream?register=nope", 404),
        ("/api/register_readings/stream?register=900001", 400),
        ("/api/register_readings/stream?devices=1", 400),
    ] {
        let (status, ctype, _) = call(&s, uri).await;
        assert_eq!(status.as_u16(), code, "{uri}");
        assert_eq!(ctype, "application/problem+json", "{uri}");
    }
}
