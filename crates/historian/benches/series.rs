//! Micro-benchmark of the API's series answer: one day of one register (2,880 points, 30 s
//! apart) written as the JSON body `GET /api/register_readings/{device}/{register}` sends.
//! Run: `cargo bench -p modbus-historian --bench series`.

use chrono::{DateTime, Duration, Utc};
use modbus_historian::api::readings::{RegisterReadingsTimeSeriesResponse, TimeSeriesPoint};
use std::borrow::Cow;

fn main() {
    divan::main();
}

fn day(points: usize) -> RegisterReadingsTimeSeriesResponse {
    let start = DateTime::<Utc>::from_timestamp_micros(1_764_547_200_451_219).unwrap_or_default();
    RegisterReadingsTimeSeriesResponse {
        device_id: 6,
        device_name: "sim-005".into(),
        register_address: 300_001,
        register_name: "current_000".into(),
        data_type: "float32".into(),
        unit: "A".into(),
        start,
        end: start + Duration::days(1),
        count: points,
        truncated: false,
        next_cursor: None,
        readings: (0..points)
            .map(|i| TimeSeriesPoint {
                timestamp: start + Duration::seconds(30 * i as i64),
                value: Some(historian_model::Number::Float(
                    100.0 + (i % 1000) as f64 * 0.013,
                )),
                text: None,
                quality: Cow::Borrowed("good"),
            })
            .collect(),
    }
}

#[divan::bench(args = [2_880])]
fn series_json(bencher: divan::Bencher, points: usize) {
    let answer = day(points);
    bencher
        .counter(divan::counter::ItemsCount::new(points))
        .bench(|| serde_json::to_vec(divan::black_box(&answer)).map(|v| v.len()));
}
