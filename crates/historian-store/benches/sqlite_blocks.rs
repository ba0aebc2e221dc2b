//! SQLite's compacted blocks over a long stretch of simulated history: bytes per reading,
//! the compactor's CPU time, and the query latencies on the result.
//!
//!     cargo bench -p historian-store --bench sqlite_blocks -- [--signals realistic|worst]
//!         [--devices N] [--registers N] [--days N] [--iterations N] [--dir PATH]
//!
//! Every 5 s each register of the reference map gets a reading; each simulated hour is
//! written in batches, then compacted as maintenance would (the compactor's CPU time is
//! the process's, measured around it alone). `realistic` signals drift slowly with noise
//! (currents as float32, voltages and temperatures as scaled integers, energy counting up);
//! `worst` jumps to a random value every step. Prints Markdown rows for BENCHMARKS.md.
//! Without `--bench` (as `cargo test --all-targets` runs it) it makes a small smoke run.

use chrono::{DateTime, Duration, Utc};
use historian_model::{DataType, DeviceSpec, Quality, Reading, RegisterPoint};
use historian_sim::fleet::{device_name, reference_map};
use historian_store::sqlite::SqliteStore;
use historian_store::{SeriesKey, Store, StoreOptions, TimeRange};
use std::sync::Arc;
use std::time::Instant;

const STEP_S: i64 = 5;

struct Args {
    signals: String,
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

/// CPU seconds this process has used (user + system), from /proc.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
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

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let a = args();
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
    let options = StoreOptions {
        retention: std::time::Duration::from_secs(400 * 86_400),
        ..StoreOptions::default()
    };
    let store = SqliteStore::open(&path, &options).await.expect("open");
    let map = reference_map(a.registers);
    let recs = store
        .sync_devices(&fleet(a.devices, &map))
        .await
        .expect("sync");
    let ids: Vec<i64> = recs.iter().map(|r| r.id).collect();
    let names: Vec<Arc<str>> = map.iter().map(|p| Arc::from(p.name.as_str())).collect();
    let units: Vec<Arc<str>> = map.iter().map(|p| Arc::from(p.unit.as_str())).collect();

    let now = Utc::now().timestamp();
    let end = now - now.rem_euclid(3_600);
    let start = end - a.days * 86_400;
    let at = |s: i64| DateTime::<Utc>::from_timestamp(s * STEP_S, 0).expect("time");
    let (first_step, last_step) = (start / STEP_S, end / STEP_S);
    let per_hour = 3_600 / STEP_S;
    let (mut write_s, mut compact_cpu, mut compact_wall) = (0.0, 0.0, 0.0);
    let mut written = 0u64;
    let mut hour = first_step;
    while hour < last_step {
        let mut batch = Vec::with_capacity(5_000);
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
            if batch.len() >= 5_000 || s + 1 == hour + per_hour {
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
        let (cpu, t) = (cpu_seconds(), Instant::now());
        store.compact_before(at(hour)).await.expect("compact");
        compact_cpu += cpu_seconds() - cpu;
        compact_wall += t.elapsed().as_secs_f64();
    }
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
        written as f64 / write_s / 1000.0,
        compact_cpu / written.max(1) as f64 * 1e6,
        compact_wall / written.max(1) as f64 * 1e6,
        fleet_share,
    );

    let end_t = at(last_step);
    let series = |i: usize| SeriesKey::new(ids[i % ids.len()], map[(i * 7) % map.len()].register);
    let store = &store;
    let (ids, series) = (&ids, &series);
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
    let hourly = p95(a.iterations, |i| async move {
        let s = series(i);
        store
            .get_aggregates(
                s.device_id,
                &[s.register],
                TimeRange::new(end_t - Duration::days(30), end_t),
                3_600,
            )
            .await
            .expect("30 d hourly")
            .len()
    })
    .await;
    let daily = p95(a.iterations, |i| async move {
        let s = series(i);
        store
            .get_aggregates(
                s.device_id,
                &[s.register],
                TimeRange::new(end_t - Duration::days(365), end_t),
                86_400,
            )
            .await
            .expect("1 y daily")
            .len()
    })
    .await;
    println!();
    println!(
        "| signals | latest (device) p95 ms | 24 h raw p95 ms | 30 d hourly p95 ms | 1 y daily p95 ms |"
    );
    println!("|---|---:|---:|---:|---:|");
    println!(
        "| {} | {latest:.2} | {raw:.2} | {hourly:.2} | {daily:.2} |",
        a.signals
    );
}
