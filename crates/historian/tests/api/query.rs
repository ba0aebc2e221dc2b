//! Readings of many registers: one device's, or chosen devices' and registers'; filters,
//! cursor pages that visit every reading once, CSV, and the error answers.

use crate::fixture::{REGISTERS, STEPS, call, expected, get_accept, state, state_with};
use axum::http::StatusCode;
use modbus_historian::api::AppState;
use serde_json::Value;

/// Follows `next_cursor` from `uri` to the end; returns every reading and the page count.
async fn walk(s: &AppState, uri: &str) -> (Vec<Value>, usize) {
    let mut all = Vec::new();
    let mut pages = 0;
    let mut next = uri.to_string();
    loop {
        let (status, _, body) = call(s, &next).await;
        assert_eq!(status, StatusCode::OK, "{next}: {body}");
        pages += 1;
        let rows = body["readings"].as_array().expect("readings");
        assert_eq!(body["count"].as_u64(), Some(rows.len() as u64));
        all.extend(rows.iter().cloned());
        match body["next_cursor"].as_str() {
            Some(c) => {
                assert_eq!(body["truncated"], true);
                next = format!("{uri}&cursor={c}");
            }
            None => {
                assert_eq!(body["truncated"], false);
                return (all, pages);
            }
        }
        assert!(pages < 1000, "pages never end");
    }
}

fn key(r: &Value) -> (String, i64, u64) {
    (
        r["timestamp"].as_str().expect("ts").to_string(),
        r["device_id"].as_i64().expect("device"),
        r["register_address"].as_u64().expect("register"),
    )
}

fn assert_ordered_unique(rows: &[Value]) {
    let keys: Vec<_> = rows.iter().map(key).collect();
    for w in keys.windows(2) {
        assert!(
            w[0] < w[1],
            "out of order or repeated: {:?} then {:?}",
            w[0],
            w[1]
        );
    }
}

#[tokio::test]
async fn one_device_every_register_in_time_order() {
    let (_d, s) = state().await;
    let (status, _, body) = call(&s, "/api/register_readings/relay").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let rows = body["readings"].as_array().expect("readings");
    assert_eq!(rows.len(), REGISTERS * STEPS as usize);
    assert_eq!(body["truncated"], false);
    assert_eq!(body["next_cursor"], Value::Null);
    assert_ordered_unique(rows);
    assert!(rows.iter().all(|r| r["device_id"] == 1));
    // First instant: every register in reference order.
    let first: Vec<u64> = rows[..REGISTERS]
        .iter()
        .map(|r| r["register_address"].as_u64().expect("ref"))
        .collect();
    assert_eq!(first, [300001, 300003, 400001, 400003, 400004]);
    let (v, q) = expected(0, 2, 0);
    assert_eq!(rows[2]["value"].as_f64(), v);
    assert_eq!(rows[2]["quality"], q.as_str());
}

#[tokio::test]
async fn register_and_quality_filters() {
    let (_d, s) = state().await;
    let (status, _, body) = call(
        &s,
        "/api/register_readings/1?registers=400001,temperature_003&quality=bad,uncertain",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let rows = body["readings"].as_array().expect("readings");
    let bad = (0..STEPS).filter(|s| s % 4 == 0).count();
    let uncertain = (0..STEPS).filter(|s| s % 5 == 0).count();
    assert_eq!(rows.len(), bad + uncertain);
    for r in rows {
        match r["register_address"].as_u64() {
            Some(400001) => assert!(r["quality"] == "bad" && r["value"].is_null(), "{r}"),
            Some(400003) => assert_eq!(r["quality"], "uncertain", "{r}"),
            other => panic!("register {other:?} was not asked for"),
        }
    }
}

#[tokio::test]
async fn cursor_pages_visit_every_reading_once() {
    let (_d, s) = state().await;
    let (whole, _) = walk(&s, "/api/register_readings/relay?limit=100000").await;
    assert_eq!(whole.len(), REGISTERS * STEPS as usize);
    for limit in [1, 3, 7, 50] {
        let (paged, pages) = walk(&s, &format!("/api/register_readings/relay?limit={limit}")).await;
        assert_eq!(paged, whole, "limit {limit}");
        assert!(pages >= whole.len() / limit, "limit {limit}: {pages} pages");
    }
    // With a filter that keeps few rows, pages may be short but nothing is lost.
    let (bad, _) = walk(&s, "/api/register_readings/relay?quality=bad&limit=4").await;
    assert_eq!(bad.len(), (0..STEPS).filter(|s| s % 4 == 0).count());
    assert!(bad.iter().all(|r| r["quality"] == "bad"));
}

#[tokio::test]
async fn range_over_devices_and_registers() {
    let (_d, s) = state().await;
    let uri = "/api/register_readings/range?devices=relay,2&registers=current_000,400001";
    let (all, _) = walk(&s, uri).await;
    assert_eq!(all.len(), 2 * 2 * STEPS as usize);
    assert_ordered_unique(&all);
    let (paged, _) = walk(&s, &format!("{uri}&limit=3")).await;
    assert_eq!(paged, all);
    let meter: Vec<&Value> = all.iter().filter(|r| r["device_id"] == 2).collect();
    assert_eq!(meter[0]["value"].as_f64(), expected(1, 0, 0).0);
    // No device list: every device.
    let (status, _, body) = call(&s, "/api/register_readings/range?registers=voltage_004").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["count"].as_u64(), Some(2 * STEPS as u64));
}

#[tokio::test]
async fn static_segments_win_over_the_device_parameter() {
    let (_d, s) = state().await;
    // `range` is its own endpoint (a page of every device), not a device named "range".
    let (status, _, body) = call(&s, "/api/register_readings/range?limit=1").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["readings"].is_array());
    let (status, _, body) = call(&s, "/api/register_readings/2?limit=1").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["readings"][0]["device_id"], 2);
    let (status, _, body) = call(&s, "/api/register_readings/latest/2").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["device_name"], "meter");
}

#[tokio::test]
async fn csv_pages_carry_the_cursor_in_a_header() {
    let (_d, s) = state().await;
    let a = get_accept(
        &s,
        "/api/register_readings/range?devices=1&limit=6",
        "text/csv",
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    assert_eq!(a.content_type(), "text/csv; charset=utf-8");
    // Six rows: each of the 5 registers is read for 2 and the page cut at 6.
    assert_eq!(a.text.lines().count(), 7, "{}", a.text);
    let cursor = a.headers["x-next-cursor"]
        .to_str()
        .expect("cursor")
        .to_string();
    let b = get_accept(
        &s,
        &format!("/api/register_readings/range?devices=1&limit=6&cursor={cursor}"),
        "text/csv",
    )
    .await;
    let first_a: Vec<&str> = a.text.lines().skip(1).collect();
    let first_b: Vec<&str> = b.text.lines().skip(1).collect();
    assert!(
        first_b.iter().all(|l| !first_a.contains(l)),
        "pages overlap"
    );
}

#[tokio::test]
async fn bad_parameters_are_problem_details() {
    let (_d, s) = state().await;
    let cases = [
        (
            "/api/register_readings/1?quality=perfect",
            400,
            "quality=\"perfect\" is not a quality",
        ),
        (
            "/api/register_readings/1?registers=900001",
            400,
            "register \"900001\"",
        ),
        (
            "/api/register_readings/1?registers=nope",
            404,
            "has no register \"nope\"",
        ),
        (
            "/api/register_readings/nope",
            404,
            "no device with id or name \"nope\"",
        ),
        (
            "/api/register_readings/1?cursor=yesterday",
            400,
            "cursor=\"yesterday\" is not a cursor",
        ),
        (
            "/api/register_readings/1?start=2026-01-02T00:00:00Z&end=2026-01-01T00:00:00Z",
            400,
            "must be after start",
        ),
        (
            "/api/register_readings/1?end=noon",
            400,
            "end=\"noon\" is not an RFC 3339 timestamp",
        ),
        (
            "/api/register_readings/1?limit=100001",
            400,
            "limit=\"100001\" must be a whole number",
        ),
        (
            "/api/register_readings/1?bucket=1h",
            400,
            "unknown field `bucket`",
        ),
        (
            "/api/register_readings/range?devices=1,nope",
            404,
            "no device with id or name \"nope\"",
        ),
        (
            "/api/register_readings/range?registers=nope",
            404,
            "no chosen device has register \"nope\"",
        ),
        (
            "/api/register_readings/range?device=1",
            400,
            "unknown field `device`",
        ),
        (
            "/api/register_readings/range?quality=ok",
            400,
            "quality=\"ok\" is not a quality",
        ),
    ];
    for (uri, code, detail) in cases {
        let (status, ctype, body) = call(&s, uri).await;
        assert_eq!(status.as_u16(), code, "{uri}: {body}");
        assert_eq!(ctype, "application/problem+json", "{uri}");
        let got = body["detail"].as_str().unwrap_or("");
        assert!(got.contains(detail), "{uri}: {got:?} lacks {detail:?}");
    }
}

#[tokio::test]
async fn a_query_over_more_registers_than_a_page_holds_pages_through_all_of_them() {
    // 1,200 registers, 5 of each device with readings: more registers than rows per page.
    let (_d, s) = state_with(600).await;
    let mut seen = Vec::new();
    let mut uri = "/api/register_readings/range?limit=30".to_string();
    for page in 0.. {
        assert!(
            page < 100,
            "paging does not end: {} readings so far",
            seen.len()
        );
        let (status, _, body) = call(&s, &uri).await;
        assert_eq!(status, StatusCode::OK, "{uri}: {body}");
        let rows = body["readings"].as_array().expect("readings");
        assert!(rows.len() <= 30, "page {page} holds {} rows", rows.len());
        for r in rows {
            seen.push((
                r["timestamp"].as_str().expect("timestamp").to_string(),
                r["device_id"].as_i64().expect("device"),
                r["register_address"].as_u64().expect("register"),
            ));
        }
        match body["next_cursor"].as_str() {
            Some(c) => uri = format!("/api/register_readings/range?limit=30&cursor={c}"),
            None => break,
        }
    }
    let expected = 2 * REGISTERS * STEPS as usize;
    assert_eq!(seen.len(), expected, "every reading once");
    let mut ordered = seen.clone();
    ordered.sort();
    ordered.dedup();
    // The fixture's timestamps share one fraction, so their text sorts as they do.
    assert_eq!(
        seen, ordered,
        "each reading once, in (time, device, register) order"
    );
}
