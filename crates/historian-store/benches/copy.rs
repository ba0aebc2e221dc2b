//! Micro-benchmark of the PostgreSQL write path's CPU work: encoding a batch of readings
//! as a binary `COPY` body. Run: `cargo bench -p historian-store --bench copy`.

use chrono::{TimeZone, Utc};
use historian_model::Quality;
use historian_model::Reading;
use historian_sim::fleet::reference_map;
use historian_store::postgres::encode_copy_rows;
use std::sync::Arc;

fn main() {
    divan::main();
}

/// `polls` polls of the 100-register reference map, as the pollers hand them on.
fn batch(polls: usize) -> Vec<Reading> {
    let map = reference_map(100);
    let names: Vec<Arc<str>> = map.iter().map(|p| Arc::from(p.name.as_str())).collect();
    let units: Vec<Arc<str>> = map.iter().map(|p| Arc::from(p.unit.as_str())).collect();
    let t0 = Utc
        .with_ymd_and_hms(2026, 11, 30, 0, 0, 0)
        .single()
        .expect("a valid instant");
    (0..polls)
        .flat_map(|k| {
            let (map, names, units) = (&map, &names, &units);
            map.iter().enumerate().map(move |(i, p)| Reading {
                timestamp: t0 + chrono::Duration::seconds(k as i64),
                device_id: (k % 50) as i64 + 1,
                register_address: p.register,
                value: Some(i as f64 * 1.5),
                text: None,
                quality: Quality::Good,
                register_name: Arc::clone(&names[i]),
                data_type: p.data_type,
                unit: Arc::clone(&units[i]),
            })
        })
        .collect()
}

/// A batch of 5,000 readings (the default `ingest.batch_size`).
#[divan::bench]
fn encode_5000_readings(bencher: divan::Bencher) {
    let rows = batch(50);
    bencher
        .counter(divan::counter::ItemsCount::new(rows.len()))
        .bench(|| encode_copy_rows(divan::black_box(&rows)));
}
