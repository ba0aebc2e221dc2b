//! SQLite's compacted blocks over a long stretch of simulated history, and the same
//! readings in TimescaleDB compressed: bytes per reading, the CPU time compaction or
//! compression takes, and the query latencies on the result.
//!
//!     cargo bench -p historian-store --bench sqlite_blocks -- [--signals realistic|worst]
//!         [--backend sqlite|timescaledb|all] [--devices N] [--registers N] [--days N]
//!         [--iterations N] [--dir PATH]
//!
//! Every 5 s each register of the reference map gets a reading; each simulated hour is
//! written in batches. SQLite compacts each hour once written, as maintenance would (the
//! compactor's CPU time is the process's, measured around it alone). TimescaleDB gets the
//! same readings through the PostgreSQL store (a database of its own, dropped at the end),
//! its continuous aggregates are refreshed, then every chunk is compressed as the
//! compression policy would (CPU time: the server process doing it, from /proc), with
//! sizes before and after. TimescaleDB is skipped, by name, where the server cannot create
//! the extension. `realistic` signals drift slowly with noise (currents as float32,
//! voltages and temperatures as scaled integers, energy counting up); `worst` jumps to a
//! random value every step. Prints Markdown rows for BENCHMARKS.md. Without `--bench` (as
//! `cargo test --all-targets` runs it) it makes a small smoke run.

use chrono::{DateTime, Duration, Utc};
use historian_model::{DataType, DeviceSpec, Quality, Reading, RegisterPoint};
use historian_sim::fleet::{device_name, reference_map};
use historian_store::postgres::PostgresStore;
use historian_store::sqlite::SqliteStore;
use historian_store::{SeriesKey, Store, StoreOptions, TimeRange, TimescaleMode};
use historian_testkit::PgTestDb;
use std::sync::Arc;
use std::time::Instant;

const STEP_S: i64 = 5;
/// Readings per write, as the historian's batches.
const BATCH: usize = 5_000;
const DAY_S: u64 = 86_400;

struct Args {
    signals: String,
    backends: Vec<String>,
    devices: usize,
    registers: usize,
    days: i64,
    iterations: usize,
    dir: Option<std::path::PathBuf>,
}

fn args() -> Args {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let smoke = !argv.iter().any(|a| a == "--bench");
    let mut a = Args {
        signals: "realistic".into(),
        backends: vec!["sqlite".into(), "timescaledb".into()],
        devices: 1,
        registers: if smoke { 10 } else { 100 },
        days: if smoke { 1 } else { 30 },
        iterations: if smoke { 3 } else { 100 },
        dir: None,
    };
    let mut i = 0;
    while i < argv.len() {
        let value = argv.get(i + 1).cloned().unwrap_or_default();
        match argv[i].as_str() {
            "--signals" => a.signals = value,
            "--backend" if value != "all" => a.backends = vec![value],
            "--backend" => {}
            "--devices" => a.devices = value.parse().unwrap_or(a.devices),
            "--registers" => a.registers = value.parse().unwrap_or(a.registers),
            "--days" => a.days = value.parse().unwrap_or(a.days),
            "--iterations" => a.iterations = value.parse().unwrap_or(a.iterations),
            "--dir" => a.dir = Some(value.into()),
            _ => {
                i += 1;
                continue; // cargo bench passes --bench; ignore what is not ours
            }
        }
        i += 2;
    }
    a
}

/// A well-mixed 64-bit hash (splitmix64), the source of every pseudo-random number here.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// A number in [-1, 1) for (device, register, step).
fn noise(d: usize, j: usize, s: i64) -> f64 {
    let h = mix((d as u64) << 48 ^ (j as u64) << 32 ^ s as u64);
    (h >> 11) as f64 / (1u64 << 52) as f64 - 1.0
}

/// The value register `j` (of the reference map) of device `d` reads at step `s`, as the
/// decoder would hand it to the store (raw integer times scale, or a float32 widened).
fn value(signals: &str, d: usize, j: usize, p: &RegisterPoint, s: i64) -> f64 {
    let n = noise(d, j, s);
    if signals == "worst" {
        let u = (n + 1.0) / 2.0;
        return match p.data_type {
            DataType::Float32 => f64::from((u * 200.0) as f32),
            DataType::Uint32 => (u * 4_294_967_295.0).floor(),
            DataType::Int16 => ((u * 65_535.0).floor() - 32_768.0) * p.scale,
            _ => (u * 65_535.0).floor() * p.scale,
        };
    }
    let t = (s * STEP_S) as f64;
    let day = t / 86_400.0 * std::f64::consts::TAU;
    let phase = j as f64 + d as f64 * 0.7;
    match p.data_type {
        // A load current following the day, with half an ampere of noise.
        DataType::Float32 => f64::from((40.0 + 25.0 * (day + phase).sin() + 0.5 * n) as f32),
        // An energy counter in Wh at about 10 kW.
        DataType::Uint32 => (1_000_000 + s * 139 / 10 + d as i64 * 7) as f64,
        // A temperature in 0.01 °C steps drifting over the day.
        DataType::Int16 => {
            ((35.0 + 8.0 * (day + phase).sin() + 0.05 * n) / p.scale).round() * p.scale
        }
        // A voltage in 0.1 V steps around 230 V.
        _ => ((230.0 + 2.0 * (day * 3.0 + phase).sin() + 0.2 * n) / p.scale).round() * p.scale,
    }
}

fn fleet(devices: usize, map: &[RegisterPoint]) -> Vec<DeviceSpec> {
    (0..devices)
        .map(|i| DeviceSpec {
            name: device_name(i),
            host: "127.0.0.1".into(),
            port: 502,
            unit_id: 1,
            poll_interval_ms: 5000,
            enabled: true,
            registers: map.to_vec(),
            access: Default::default(),
        })
        .collect()
}

/// CPU seconds process `pid` ("self" for this one) has used (user + system), from /proc.
fn cpu_seconds(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // Fields 14 and 15 of stat (utime, stime) are 11 and 12 after the command name.
    (ticks(11) + ticks(12)) / 100.0
}

fn percentile(mut v: Vec<f64>, p: f64) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v.get(i).copied().unwrap_or(f64::NAN)
}

async fn p95<F, Fut>(iterations: usize, mut f: F) -> f64
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
    percentile(ms, 0.95)
}

/// The simulated stretch: whole hours ending at the last full hour, as steps.
struct Span {
    first_step: i64,
    last_step: i64,
}

impl Span {
    fn of(days: i64) -> Self {
        let now = Utc::now().timestamp();
        let end = now - now.rem_euclid(3_600);
        Span {
            first_step: (end - days * 86_400) / STEP_S,
            last_step: end / STEP_S,
        }
    }
}

fn at(s: i64) -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp(s * STEP_S, 0).expect("time")
}

/// The reference map's devices synced into a store, with their ids there.
struct Loaded {
    ids: Vec<i64>,
    map: Vec<RegisterPoint>,
    written: u64,
    write_s: f64,
}

/// Writes every simulated hour into `store` in batches of [`BATCH`], calling `after_hour`
/// with the end of each hour once it is written.
async fn load(
    store: &dyn Store,
    a: &Args,
    span: &Span,
    mut after_hour: impl AsyncFnMut(DateTime<Utc>),
) -> Loaded {
    let map = reference_map(a.registers);
    let recs = store
        .sync_devices(&fleet(a.devices, &map))
        .await
        .expect("sync");
    let ids: Vec<i64> = recs.iter().map(|r| r.id).collect();
    let names: Vec<Arc<str>> = map.iter().map(|p| Arc::from(p.name.as_str())).collect();
    let units: Vec<Arc<str>> = map.iter().map(|p| Arc::from(p.unit.as_str())).collect();
    let per_hour = 3_600 / STEP_S;
    let (mut write_s, mut written) = (0.0, 0u64);
    let mut hour = span.first_step;
    while hour < span.last_step {
        let mut batch = Vec::with_capacity(BATCH);
        for s in hour..hour + per_hour {
            for (d, &id) in ids.iter().enumerate() {
                for (j, p) in map.iter().enumerate() {
                    batch.push(Reading {
                        timestamp: at(s),
                        device_id: id,
                        register_address: p.register,
                        value: Some(value(&a.signals, d, j, p, s)),
                        quality: Quality::Good,
                        register_name: Arc::clone(&names[j]),
                        data_type: p.data_type,
                        unit: Arc::clone(&units[j]),
                        text: None,
                    });
                }
            }
            if batch.len() >= BATCH || s + 1 == hour + per_hour {
                let t = Instant::now();
                let out = store
                    .insert_register_readings_batch(&batch)
                    .await
                    .expect("write");
                write_s += t.elapsed().as_secs_f64();
                written += out.inserted as u64;
                batch.clear();
            }
        }
        hour += per_hour;
        after_hour(at(hour)).await;
    }
    Loaded {
        ids,
        map,
        written,
        write_s,
    }
}

/// The p95 of latest (device), 24 h raw, 30 d hourly and 1 y daily, one register or
/// device picked round-robin.
async fn query_p95s(store: &dyn Store, a: &Args, span: &Span, l: &Loaded) -> [f64; 4] {
    let end_t = at(span.last_step);
    let (ids, map) = (&l.ids, &l.map);
    let series = |i: usize| SeriesKey::new(ids[i % ids.len()], map[(i * 7) % map.len()].register);
    let series = &series;
    let latest = p95(a.iterations, |i| async move {
        store
            .get_device_readings_latest(ids[i % ids.len()])
            .await
            .expect("latest")
            .len()
    })
    .await;
    let raw = p95(a.iterations, |i| async move {
        store
            .get_readings_time_range(
                series(i),
                TimeRange::new(end_t - Duration::hours(24), end_t),
                100_000,
            )
            .await
            .expect("24 h raw")
            .len()
    })
    .await;
    let mut aggregates = [0.0; 2];
    for (k, (days, width)) in [(30, 3_600), (365, 86_400)].into_iter().enumerate() {
        aggregates[k] = p95(a.iterations, |i| async move {
            let s = series(i);
            store
                .get_aggregates(
                    s.device_id,
                    &[s.register],
                    TimeRange::new(end_t - Duration::days(days), end_t),
                    width,
                )
                .await
                .expect("aggregates")
                .len()
        })
        .await;
    }
    [latest, raw, aggregates[0], aggregates[1]]
}

/// Options for both stores: nothing of the run is old enough for retention, and the
/// compression policy leaves it to the benchmark's own `compress_chunk` calls.
fn options() -> StoreOptions {
    StoreOptions {
        timescaledb: TimescaleMode::Required,
        compress_after: std::time::Duration::from_secs(400 * DAY_S),
        retention: std::time::Duration::from_secs(400 * DAY_S),
        hourly_retention: std::time::Duration::from_secs(800 * DAY_S),
        ..StoreOptions::default()
    }
}

async fn sqlite(a: &Args) -> [f64; 4] {
    let tmp;
    let dir = match &a.dir {
        Some(d) => {
            std::fs::create_dir_all(d).expect("benchmark folder");
            d.clone()
        }
        None => {
            tmp = tempfile::tempdir().expect("temp dir");
            tmp.path().to_path_buf()
        }
    };
    let path = dir.join(format!("blocks-{}.db", a.signals));
    let _ = std::fs::remove_file(&path);
    let store = SqliteStore::open(&path, &options()).await.expect("open");
    let span = Span::of(a.days);
    let (mut compact_cpu, mut compact_wall) = (0.0, 0.0);
    let loaded = load(&store, a, &span, async |hour_end| {
        let (cpu, t) = (cpu_seconds("self"), Instant::now());
        store.compact_before(hour_end).await.expect("compact");
        compact_cpu += cpu_seconds("self") - cpu;
        compact_wall += t.elapsed().as_secs_f64();
    })
    .await;
    let written = loaded.written;
    let figures = store.storage_figures().await.expect("figures");
    assert_eq!(store.count_readings().await.expect("count"), written);
    let per = |b: u64| b as f64 / written.max(1) as f64;
    // The reference fleet writes 600 readings a second: the compactor's share of a core.
    let fleet_share = compact_cpu / written.max(1) as f64 * 600.0 * 100.0;
    println!(
        "| signals | readings | B/reading (blocks) | B/reading (file) | write k/s | compaction CPU-s/M | compaction % of a core at 600/s |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    println!(
        "| {} | {written} | {:.2} | {:.2} | {:.0} | {:.2} (wall {:.2}) | {:.2} |",
        a.signals,
        per(figures.readings_bytes),
        per(figures.database_bytes),
        written as f64 / loaded.write_s / 1000.0,
        compact_cpu / written.max(1) as f64 * 1e6,
        compact_wall / written.max(1) as f64 * 1e6,
        fleet_share,
    );
    query_p95s(&store, a, &span, &loaded).await
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

/// Table, index and TOAST bytes of the readings hypertable (its chunks, compressed or not).
async fn hypertable_bytes(c: &tokio_postgres::Client) -> [i64; 3] {
    let row = c
        .query_one(
            "SELECT coalesce(table_bytes, 0), coalesce(index_bytes, 0), \
               coalesce(toast_bytes, 0) FROM hypertable_detailed_size('readings')",
            &[],
        )
        .await
        .expect("hypertable size");
    [row.get(0), row.get(1), row.get(2)]
}

async fn timescale(a: &Args) -> Option<[f64; 4]> {
    let db =
        historian_testkit::require("bench sqlite_blocks timescaledb", PgTestDb::create().await)?;
    if !timescale_available().await {
        historian_testkit::report_skip(
            "bench sqlite_blocks timescaledb",
            "TimescaleDB is not available on this server",
        );
        return None;
    }
    let store = PostgresStore::open(&db.url, &options())
        .await
        .expect("TimescaleDB store");
    let span = Span::of(a.days);
    let loaded = load(&store, a, &span, async |_| {}).await;
    let written = loaded.written;
    let c = db.client().await.expect("client");
    // What the refresh policies do while the historian runs, done now so aggregates are
    // measured as a running system serves them.
    let t = Instant::now();
    for view in ["register_readings_hourly", "register_readings_daily"] {
        historian_testkit::refresh_continuous_aggregate(
            &c,
            view,
            std::time::Duration::from_secs(3_600),
        )
        .await
        .expect("refresh");
    }
    let refresh_s = t.elapsed().as_secs_f64();
    let before = hypertable_bytes(&c).await;
    let chunks: Vec<String> = c
        .query("SELECT c::text FROM show_chunks('readings') c", &[])
        .await
        .expect("chunks")
        .iter()
        .map(|r| r.get(0))
        .collect();
    let pid: i32 = c
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .expect("pid")
        .get(0);
    let (cpu, t) = (cpu_seconds(&pid.to_string()), Instant::now());
    for chunk in &chunks {
        c.execute("SELECT compress_chunk($1::text::regclass, true)", &[chunk])
            .await
            .expect("compress");
    }
    let compress_cpu = cpu_seconds(&pid.to_string()) - cpu;
    let compress_wall = t.elapsed().as_secs_f64();
    // Autovacuum would analyze the compressed chunks soon after; the planner needs it.
    c.batch_execute("ANALYZE").await.expect("analyze");
    let after = hypertable_bytes(&c).await;
    let stats = c
        .query_one(
            "SELECT coalesce(sum(before_compression_total_bytes), 0)::bigint, \
               coalesce(sum(after_compression_total_bytes), 0)::bigint \
             FROM chunk_compression_stats('readings')",
            &[],
        )
        .await
        .expect("compression stats");
    let (stats_before, stats_after): (i64, i64) = (stats.get(0), stats.get(1));
    let aggregates: i64 = c
        .query_one(
            "SELECT coalesce(sum(hypertable_size(format('%I.%I', \
               materialization_hypertable_schema, materialization_hypertable_name)::regclass)), \
               0)::bigint \
             FROM timescaledb_information.continuous_aggregates",
            &[],
        )
        .await
        .expect("aggregate sizes")
        .get(0);
    let figures = store.storage_figures().await.expect("figures");
    assert_eq!(store.count_readings().await.expect("count"), written);
    let per = |b: i64| b as f64 / written.max(1) as f64;
    let sum = |b: [i64; 3]| b.iter().sum::<i64>();
    eprintln!(
        "timescaledb: {} chunks compressed; table/index/toast bytes before {before:?}, after \
         {after:?}; chunk_compression_stats {stats_before} -> {stats_after}; continuous \
         aggregates {aggregates} B; refresh {refresh_s:.1} s; {figures:?}",
        chunks.len()
    );
    println!();
    println!(
        "| signals | readings | B/reading before compression (heap + index) | B/reading compressed (hypertable) | B/reading (database, aggregates included) | write k/s | compression CPU-s/M (wall) | compression % of a core at 600/s |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    println!(
        "| {} | {written} | {:.2} ({:.2} + {:.2}) | {:.2} | {:.2} | {:.0} | {:.2} ({:.2}) | {:.2} |",
        a.signals,
        per(sum(before)),
        per(before[0] + before[2]),
        per(before[1]),
        per(sum(after)),
        per(i64::try_from(figures.database_bytes).unwrap_or(i64::MAX)),
        written as f64 / loaded.write_s / 1000.0,
        compress_cpu / written.max(1) as f64 * 1e6,
        compress_wall / written.max(1) as f64 * 1e6,
        compress_cpu / written.max(1) as f64 * 600.0 * 100.0,
    );
    Some(query_p95s(&store, a, &span, &loaded).await)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let a = args();
    let mut rows = Vec::new();
    for backend in &a.backends {
        let p95s = match backend.as_str() {
            "sqlite" => Some(sqlite(&a).await),
            "timescaledb" => timescale(&a).await,
            other => panic!("unknown backend {other}: sqlite, timescaledb or all"),
        };
        if let Some(p) = p95s {
            rows.push((backend, p));
        }
    }
    println!();
    println!(
        "| backend | signals | latest (device) p95 ms | 24 h raw p95 ms | 30 d hourly p95 ms | 1 y daily p95 ms |"
    );
    println!("|---|---|---:|---:|---:|---:|");
    for (backend, [latest, raw, hourly, daily]) in rows {
        println!(
            "| {backend} | {} | {latest:.2} | {raw:.2} | {hourly:.2} | {daily:.2} |",
            a.signals
        );
    }
}
