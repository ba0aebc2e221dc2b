//! `/metrics` of a running historian polling a simulated device and a dead one, scraped
//! over real HTTP. Its own test binary: the metrics recorder is process-wide.

mod common;

use common::{TestHistorian, device};
use historian_sim::fleet::reference_map;
use std::time::Duration;

/// The value of the sample `series` (name with labels, as rendered), if present.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
}

/// Series that a few polls of both devices and one batch written make at least 1.
const POLLED: [&str; 12] = [
    r#"historian_polls_total{device="sim-000",result="ok"}"#,
    r#"historian_polls_total{device="dead",result="failed"}"#,
    r#"historian_readings_polled_total{device="sim-000",quality="good"}"#,
    r#"historian_readings_polled_total{device="dead",quality="bad"}"#,
    r#"historian_poll_duration_seconds_count{device="sim-000"}"#,
    r#"historian_poll_duration_seconds_bucket{device="dead",le="+Inf"}"#,
    "historian_readings_stored_total",
    "historian_batches_written_total",
    "historian_batch_write_seconds_count",
    r#"historian_batch_rows_bucket{le="+Inf"}"#,
    "historian_store_database_bytes",
    r#"historian_device_up{device="sim-000"}"#,
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polls_ingest_api_and_store_figures_are_exported() {
    let map = reference_map(10);
    let every = Duration::from_millis(200);
    // A port nobody listens on: every poll of this device fails.
    let dead = historian_testkit::free_port().expect("port");
    let h = TestHistorian::new("metrics")
        .fleet(1, map.len())
        .interval(every)
        .timeout(every)
        .device(device("dead", dead, &map, every, every))
        .start()
        .await;
    let base = h.base.clone();
    let http = reqwest::Client::new();
    historian_testkit::eventually(
        "polls, writes and store figures exported",
        historian_testkit::PATIENCE,
        || async {
            let text = http
                .get(format!("{base}/metrics"))
                .send()
                .await
                .map_err(|e| e.to_string())?
                .text()
                .await
                .map_err(|e| e.to_string())?;
            let missing: Vec<&str> = POLLED
                .iter()
                .copied()
                .filter(|series| sample(&text, series).is_none_or(|v| v < 1.0))
                .collect();
            let dead_down = sample(&text, r#"historian_device_up{device="dead"}"#) == Some(0.0);
            let figures = sample(&text, "historian_store_figures_ok") == Some(1.0);
            if missing.is_empty() && dead_down && figures {
                Ok(())
            } else {
                Err(format!(
                    "missing {missing:?}, dead device down {dead_down}, store figures {figures}"
                ))
            }
        },
    )
    .await;

    for uri in [
        "/api/devices",
        "/api/register_readings/1?limit=5",
        "/api/nope",
    ] {
        http.get(format!("{base}{uri}"))
            .send()
            .await
            .expect("request");
    }
    let resp = http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .expect("scrape");
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let text = resp.text().await.expect("text");
    let at_least_one = POLLED.iter().copied().chain([
        r#"historian_http_request_duration_seconds_count{method="GET",route="/api/devices",status="200"}"#,
        r#"historian_http_request_duration_seconds_count{method="GET",route="/api/register_readings/{device_id}",status="200"}"#,
        r#"historian_http_request_duration_seconds_count{method="GET",route="unmatched",status="404"}"#,
    ]);
    for series in at_least_one {
        let v = sample(&text, series).unwrap_or_else(|| panic!("{series} missing:\n{text}"));
        assert!(v >= 1.0, "{series} = {v}");
    }
    assert_eq!(
        sample(&text, r#"historian_device_up{device="dead"}"#),
        Some(0.0)
    );
    assert_eq!(sample(&text, "historian_devices"), Some(2.0));
    // At least the two pollers and the server's own tasks.
    let tasks = sample(&text, "historian_tasks").expect("historian_tasks");
    assert!(tasks >= 2.0, "historian_tasks = {tasks}");
    assert_eq!(sample(&text, "historian_store_figures_ok"), Some(1.0));
    // Ingest, spool and Redis figures kept in Stats by their owners.
    assert_eq!(sample(&text, "historian_store_writable"), Some(1.0));
    assert_eq!(sample(&text, "historian_spool_batches"), Some(0.0));
    assert_eq!(
        sample(&text, "historian_spool_oldest_age_seconds"),
        Some(0.0)
    );
    assert_eq!(sample(&text, "historian_readings_dropped_total"), Some(0.0));
    assert!(text.contains("# HELP historian_polls_total Polls per device and result"));
    assert!(text.contains("# TYPE historian_poll_duration_seconds histogram"));
    // Route patterns, never raw paths, label the latency histogram.
    assert!(
        !text.contains(r#"route="/api/register_readings/1""#),
        "{text}"
    );

    h.stop().await;
}
