//! The status endpoints and one register's time series: answers, paging, buckets, CSV,
//! and problem details for bad requests.

use crate::fixture::{STEPS, call, get_accept, state};
use axum::http::StatusCode;

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
    assert!(
        body[0].get("owner").is_none(),
        "no owner when running alone"
    );
    let (status, _, body) = call(&s, "/api/cluster").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["enabled"], false);
    assert_eq!(body["nodes"].as_array().map(Vec::len), Some(0));
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
    let want: Vec<f64> = (0..STEPS).map(|s| s as f64).collect();
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
    let p = &body["projection"];
    assert!(
        p["readings_per_second"].as_f64().expect("rate") > 0.0,
        "{body}"
    );
    assert!(
        p["projected_bytes"].as_u64().expect("projected") > 0,
        "{body}"
    );
    assert_eq!(p["measured"], false, "nothing compacted yet: {body}");
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
            "bucket=\"soon\" is not a bucket width; write a whole number and s, m, h or d",
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
        (
            "/api/register_readings/1/300001?bucket=1h&aggregates=avg,median",
            400,
            "aggregates=\"median\" is not an aggregate; choose from avg, min, max",
        ),
        (
            "/api/register_readings/1/300001?bucket=15min",
            400,
            "bucket=\"15min\" is not a bucket width",
        ),
        (
            "/api/register_readings/1/300001?bucket=0s",
            400,
            "bucket=\"0s\" is not a bucket width",
        ),
        (
            "/api/register_readings/1/300001?aggregates=avg",
            400,
            "aggregates needs bucket",
        ),
        (
            "/api/register_readings/1/300001?bucket=1.5s",
            400,
            "bucket=\"1.5s\" is not a bucket width",
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

#[tokio::test]
async fn chosen_aggregates_only() {
    let (_d, s) = state().await;
    let (status, _, body) = call(
        &s,
        "/api/register_readings/relay/300001?bucket=1d&aggregates=max,count",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["source"], "daily");
    assert_eq!(body["aggregates"], serde_json::json!(["max", "count"]));
    let buckets = body["buckets"].as_array().expect("buckets");
    let max = buckets
        .iter()
        .filter_map(|b| b["max"].as_f64())
        .fold(f64::MIN, f64::max);
    assert_eq!(max, (STEPS - 1) as f64);
    for b in buckets {
        assert!(b.get("avg").is_none() && b.get("first").is_none(), "{b}");
    }
}

#[tokio::test]
async fn csv_when_asked_for() {
    let (_d, s) = state().await;
    let a = get_accept(&s, "/api/register_readings/1/300001?limit=3", "text/csv").await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    assert_eq!(a.content_type(), "text/csv; charset=utf-8");
    let lines: Vec<&str> = a.text.lines().collect();
    assert_eq!(
        lines[0],
        "timestamp,device_id,register_address,register_name,value,text,quality,data_type,unit"
    );
    assert_eq!(lines.len(), 4, "{}", a.text);
    assert!(
        lines[1].ends_with(",1,300001,current_000,0.0,,good,float32,A"),
        "{}",
        lines[1]
    );
    let cursor = a.headers["x-next-cursor"].to_str().expect("cursor");
    let next = get_accept(
        &s,
        &format!("/api/register_readings/1/300001?limit=3&cursor={cursor}"),
        "text/csv;q=1.0, application/json;q=0.5",
    )
    .await;
    assert!(
        next.text
            .lines()
            .nth(1)
            .expect("row")
            .contains(",3.0,,good,"),
        "{}",
        next.text
    );
    // Buckets as CSV: one column per asked figure; JSON stays the default.
    let b = get_accept(
        &s,
        "/api/register_readings/1/300001?bucket=1h&aggregates=min,count",
        "text/csv",
    )
    .await;
    assert_eq!(
        b.text.lines().next(),
        Some("bucket,min,count"),
        "{}",
        b.text
    );
    let j = get_accept(&s, "/api/register_readings/1/300001", "*/*").await;
    assert_eq!(j.content_type(), "application/json");
    // An empty answer still has its header row.
    let e = get_accept(
        &s,
        "/api/register_readings/1/300001?start=2000-01-01T00:00:00Z&end=2000-01-02T00:00:00Z",
        "text/csv",
    )
    .await;
    assert_eq!(e.text.lines().count(), 1, "{}", e.text);
}
