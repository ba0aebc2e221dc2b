//! Store benchmark: batch-write throughput per backend and batch size, then the latency of
//! each query of the Store API on a generated dataset.
//!
//!     cargo bench -p historian-store --bench store -- [--backend sqlite|postgres|timescaledb|all]
//!         [--write-rows N] [--rows N] [--iterations N]
//!
//! PostgreSQL comes from DATABASE_URL or the local server (a database of its own, dropped
//! at the end). Prints Markdown rows for BENCHMARKS.md. Without `--bench` (as `cargo test
//! --all-targets` runs it) it makes a small smoke run instead. TimescaleDB is skipped,
//! by name, where the server cannot create the extension.

use chrono::{DateTime, Duration, Utc};
use historian_model::{DeviceSpec, Reading};
use historian_model::{Quality, RegisterPoint};
use historian_sim::fleet::{device_name, reference_map};
use historian_store::postgres::PostgresStore;
use historian_store::sqlite::SqliteStore;
use historian_store::{SeriesKey, Store, StoreOptions, TimeRange, TimescaleMode};
use historian_testkit::PgTestDb;
use std::sync::Arc;
use std::time::Instant;

const DEVICES: usize = 30;
const POINTS: usize = 100;
/// Seconds between two readings of one register in the query dataset.
const SPACING_S: i64 = 30;

struct Args {
    backends: Vec<String>,
    write_rows: usize,
    rows: usize,
    iterations: usize,
}

fn args() -> Args {
    let mut a = Args {
        backends: vec!["sqlite".into(), "postgres".into(), "timescaledb".into()],
        write_rows: 1_000_000,
        rows: 50_000_000,
        iterations: 200,
    };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    if !argv.iter().any(|a| a == "--bench") {
        // Run by `cargo test --all-targets`: a quick smoke run that proves the benchmark
        // works, not a measurement.
        a.write_rows = 6_000;
        a.rows = 30_000;
        a.iterations = 3;
    }
    let mut i = 0;
    while i < argv.len() {
        let value = argv.get(i + 1).cloned().unwrap_or_default();
        match argv[i].as_str() {
            "--backend" if value != "all" => a.backends = vec![value],
            "--backend" => {}
            "--write-rows" => a.write_rows = value.parse().unwrap_or(a.write_rows),
            "--rows" => a.rows = value.parse().unwrap_or(a.rows),
            "--iterations" => a.iterations = value.parse().unwrap_or(a.iterations),
            _ => {
                i += 1;
                continue; // cargo bench passes --bench; ignore what is not ours
            }
        }
        i += 2;
    }
    a
}

fn fleet() -> Vec<DeviceSpec> {
    let map = reference_map(POINTS);
    (0..DEVICES)
        .map(|i| DeviceSpec {
            name: device_name(i),
            host: "127.0.0.1".into(),
            port: 502,
            unit_id: 1,
            poll_interval_ms: 5000,
            enabled: true,
            registers: map.clone(),
            access: Default::default(),
        })
        .collect()
}

/// One poll's readings of every register of every device at `at`.
fn poll_rows(ids: &[i64], points: &[RegisterPoint], at: DateTime<Utc>, k: i64) -> Vec<Reading> {
    let names: Vec<Arc<str>> = points.iter().map(|p| Arc::from(p.name.as_str())).collect();
    let units: Vec<Arc<str>> = points.iter().map(|p| Arc::from(p.unit.as_str())).collect();
    let mut out = Vec::with_capacity(ids.len() * points.len());
    for &id in ids {
        for (j, p) in points.iter().enumerate() {
            out.push(Reading {
                timestamp: at,
                device_id: id,
                register_address: p.register,
                value: Some(((k + j as i64 + id) % 1000) as f64 * 0.5),
                quality: Quality::Good,
                register_name: Arc::clone(&names[j]),
                data_type: p.data_type,
                unit: Arc::clone(&units[j]),
                text: None,
            });
        }
    }
    out
}

async fn open(backend: &str, dir: &std::path::Path) -> (Arc<dyn Store>, Option<PgTestDb>) {
    match backend {
        "sqlite" => {
            let path = dir.join(format!("bench-{}.db", historian_testkit::unique_name("s")));
            let s = SqliteStore::open(&path, &StoreOptions::default())
                .await
                .expect("sqlite");
            (Arc::new(s), None)
        }
        _ => {
            let db = PgTestDb::create()
                .await
                .expect("PostgreSQL for the benchmark");
            let mode = if backend == "timescaledb" {
                TimescaleMode::Required
            } else {
                TimescaleMode::Off
            };
            let opts = StoreOptions {
                timescaledb: mode,
                ..StoreOptions::default()
            };
            let s = PostgresStore::open(&db.url, &opts).await.expect("postgres");
            (Arc::new(s), Some(db))
        }
    }
}

async fn timescale_available() -> bool {
    let Ok(db) = PgTestDb::create().await else {
        return false;
    };
    match db.client().await {
        Ok(c) => c
            .batch_execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
            .await
            .is_ok(),
        Err(_) => false,
    }
}

/// Writes `rows` readings in batches of `batch` and returns rows per second.
async fn write_rate(store: &dyn Store, rows: usize, batch: usize, start: DateTime<Utc>) -> f64 {
    let recs = store.sync_devices(&fleet()).await.expect("sync");
    let ids: Vec<i64> = recs.iter().map(|r| r.id).collect();
    let points = &recs[0].spec.registers;
    let per_poll = ids.len() * points.len();
    let mut pending: Vec<Reading> = Vec::with_capacity(batch + per_poll);
    let mut written = 0;
    let mut elapsed = std::time::Duration::ZERO;
    let mut k = 0;
    while written < rows {
        pending.extend(poll_rows(&ids, points, start + Duration::seconds(5 * k), k));
        k += 1;
        while pending.len() >= batch || (written + pending.len() >= rows && !pending.is_empty()) {
            let n = batch.min(pending.len());
            let chunk: Vec<Reading> = pending.drain(..n).collect();
            let t = Instant::now();
            let out = store
                .insert_register_readings_batch(&chunk)
                .await
                .expect("write");
            elapsed += t.elapsed();
            assert_eq!(out.inserted, n);
            written += n;
            if written >= rows {
                break;
            }
        }
    }
    written as f64 / elapsed.as_secs_f64()
}

fn percentile(mut v: Vec<f64>, p: f64) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v.get(i).copied().unwrap_or(f64::NAN)
}

async fn time_query<F, Fut>(iterations: usize, mut f: F) -> (f64, f64)
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = usize>,
{
    let mut ms = Vec::with_capacity(iterations);
    for i in 0..iterations {
        let t = Instant::now();
        let n = f(i).await;
        ms.push(t.elapsed().as_secs_f64() * 1000.0);
        assert!(n > 0, "query returned nothing");
    }
    (percentile(ms.clone(), 0.5), percentile(ms, 0.95))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let a = args();
    let dir = tempfile::tempdir().expect("temp dir");
    let now = DateTime::from_timestamp(Utc::now().timestamp() / 3600 * 3600, 0).expect("now");
    println!("| backend | batch size | rows written | rows/s |");
    println!("| --- | ---: | ---: | ---: |");
    let mut backends = Vec::new();
    for b in &a.backends {
        if b != "sqlite"
            && historian_testkit::require("bench store postgres", PgTestDb::create().await)
                .is_none()
        {
            continue;
        }
        if b == "timescaledb" && !timescale_available().await {
            historian_testkit::report_skip(
                "bench store timescaledb",
                "TimescaleDB is not available on this server",
            );
            continue;
        }
        backends.push(b.clone());
    }
    for backend in backends.iter().filter(|_| a.write_rows > 0) {
        for batch in [500, 5_000, 50_000] {
            let (store, _db) = open(backend, dir.path()).await;
            let rate = write_rate(&*store, a.write_rows, batch, now - Duration::days(2)).await;
            println!("| {backend} | {batch} | {} | {rate:.0} |", a.write_rows);
        }
    }
    if a.rows == 0 {
        return;
    }
    println!();
    println!("| backend | dataset rows | query | p50 ms | p95 ms |");
    println!("| --- | ---: | --- | ---: | ---: |");
    for backend in &backends {
        let (store, _db) = open(backend, dir.path()).await;
        let polls = (a.rows / (DEVICES * POINTS)) as i64;
        let start = now - Duration::seconds(polls * SPACING_S);
        let recs = store.sync_devices(&fleet()).await.expect("sync");
        let ids: Vec<i64> = recs.iter().map(|r| r.id).collect();
        let points = recs[0].spec.registers.clone();
        let t = Instant::now();
        let mut pending = Vec::new();
        for k in 0..polls {
            pending.extend(poll_rows(
                &ids,
                &points,
                start + Duration::seconds(k * SPACING_S),
                k,
            ));
            if pending.len() >= 50_000 || k == polls - 1 {
                store
                    .insert_register_readings_batch(&pending)
                    .await
                    .expect("load");
                pending.clear();
            }
        }
        let load_s = t.elapsed().as_secs_f64();
        let t = Instant::now();
        store
            .run_maintenance(Utc::now())
            .await
            .expect("maintenance");
        if let (true, Some(db)) = (backend == "timescaledb", &_db) {
            // What the refresh policies do in production (every 30 minutes), done now so
            // aggregates are measured as a running system serves them.
            let c = db.client().await.expect("client");
            // The policies' first runs start when they are made and may still be running
            // over a large load: wait them out.
            for view in ["register_readings_hourly", "register_readings_daily"] {
                historian_testkit::refresh_continuous_aggregate(
                    &c,
                    view,
                    std::time::Duration::from_secs(1800),
                )
                .await
                .expect("refresh");
            }
        }
        let maint_s = t.elapsed().as_secs_f64();
        let figures = store.storage_figures().await.expect("figures");
        eprintln!(
            "{backend}: loaded {} rows in {load_s:.0} s ({:.0} rows/s), maintenance {maint_s:.1} s, {figures:?}",
            polls as usize * DEVICES * POINTS,
            (polls as usize * DEVICES * POINTS) as f64 / load_s
        );
        let n = polls as usize * DEVICES * POINTS;
        let reg = |i: usize| points[i % POINTS].register;
        let dev = |i: usize| ids[i % ids.len()];
        let st = &store;
        let report = |name: &str, (p50, p95): (f64, f64)| {
            println!("| {backend} | {n} | {name} | {p50:.2} | {p95:.2} |");
        };
        report(
            "latest reading of one register",
            time_query(a.iterations, |i| async move {
                usize::from(
                    st.get_latest_reading(dev(i), reg(i))
                        .await
                        .expect("q")
                        .is_some(),
                )
            })
            .await,
        );
        report(
            "latest readings of one device (100 registers)",
            time_query(a.iterations, |i| async move {
                st.get_device_readings_latest(dev(i))
                    .await
                    .expect("q")
                    .len()
            })
            .await,
        );
        report(
            "24 h of raw readings of one register",
            time_query(a.iterations, |i| async move {
                st.get_readings_time_range(
                    SeriesKey::new(dev(i), reg(i)),
                    TimeRange::new(now - Duration::hours(24), now),
                    100_000,
                )
                .await
                .expect("q")
                .len()
            })
            .await,
        );
        report(
            "1 h buckets over the whole dataset, one register",
            time_query(a.iterations, |i| async move {
                st.get_aggregates(
                    dev(i),
                    &[reg(i)],
                    TimeRange::new(now - Duration::days(30), now),
                    3600,
                )
                .await
                .expect("q")
                .len()
            })
            .await,
        );
        report(
            "1 d buckets over the whole dataset, one register",
            time_query(a.iterations, |i| async move {
                st.get_aggregates(
                    dev(i),
                    &[reg(i)],
                    TimeRange::new(now - Duration::days(30), now),
                    86_400,
                )
                .await
                .expect("q")
                .len()
            })
            .await,
        );
        report(
            "5 min buckets over 24 h, one register (raw)",
            time_query(a.iterations, |i| async move {
                st.get_aggregates(
                    dev(i),
                    &[reg(i)],
                    TimeRange::new(now - Duration::hours(24), now),
                    300,
                )
                .await
                .expect("q")
                .len()
            })
            .await,
        );
    }
}
