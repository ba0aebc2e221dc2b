//! The `bench` subcommand: a simulated fleet polled into a fresh store for a fixed time,
//! measured end to end. The simulator runs as a separate process by default, so the CPU
//! time and peak memory reported are the historian's alone.

use crate::app::{Historian, LostReadings};
use crate::config::Config;
use crate::simulate::device_configs;
use crate::stats::{Latency, Losses, Stats};
use anyhow::{Context, bail};
use historian_model::Reading;
use historian_sim::fleet::reference_map;
use historian_sim::{DEFAULT_STEP_MS, Simulator};
use historian_store::{StorageUrl, StoreOptions};
use serde::Serialize;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

mod server;
pub use server::ServerFigures;

/// How the simulator runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SimMode {
    /// A child process (`modbus-historian simulate`): CPU figures are the historian's alone.
    Process,
    /// Inside this process: CPU figures include the simulator.
    InProcess,
}

/// The payload format of the benchmark's MQTT sink.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "snake_case")]
#[clap(rename_all = "snake_case")]
pub enum BenchMqttFormat {
    /// One JSON message per reading.
    Json,
    /// Sparkplug B: one DDATA per poll of a device.
    SparkplugB,
}

/// What to run.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// Simulated devices.
    pub devices: usize,
    /// Registers per device.
    pub registers: usize,
    /// Poll interval.
    pub interval: Duration,
    /// How long to poll.
    pub duration: Duration,
    /// `postgres://...` server to create a fresh database on; SQLite when `None`.
    pub database_url: Option<String>,
    /// Folder for the SQLite file, the spool and the report.
    pub data_dir: PathBuf,
    /// Where the JSON report goes.
    pub json: PathBuf,
    /// Simulator placement.
    pub sim: SimMode,
    /// First simulator port (process mode).
    pub base_port: u16,
    /// Keep the benchmark database afterwards.
    pub keep_database: bool,
    /// Values the simulated devices serve.
    pub signals: crate::simulate::SignalsArg,
    /// Measure PostgreSQL's own COPY rate after the run (PostgreSQL only).
    pub copy_baseline: bool,
    /// Also publish to this MQTT broker (`mqtt://HOST:PORT`).
    pub mqtt: Option<String>,
    /// The payload format of `mqtt`.
    pub mqtt_format: BenchMqttFormat,
    /// Batches written at the same time (the configured default when `None`).
    pub writers: Option<usize>,
    /// The PostgreSQL server's `postmaster.pid`, to report the server's share of the run.
    pub postgres_pid_file: Option<PathBuf>,
    /// Whether the run uses TimescaleDB (PostgreSQL only).
    pub timescaledb: historian_store::TimescaleMode,
    /// How the run's sessions compress WAL images (PostgreSQL only).
    pub wal_compression: historian_store::WalCompression,
}

/// What the MQTT sink did during the run.
#[derive(Debug, Serialize)]
pub struct MqttFigures {
    /// The broker.
    pub broker: String,
    /// The payload format.
    pub format: BenchMqttFormat,
    /// Messages the broker took.
    pub published: u64,
    /// Messages per second of polling.
    pub published_per_s: f64,
    /// Readings dropped because the queue in front of the broker was full.
    pub dropped_readings: u64,
    /// Messages lost with a broken connection.
    pub lost_messages: u64,
    /// Times the link connected again.
    pub reconnects: u64,
}

/// Two quantiles of a latency, in milliseconds.
#[derive(Debug, Serialize)]
pub struct Quantiles {
    /// Median.
    pub p50: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Observations.
    pub count: u64,
}

impl From<&Latency> for Quantiles {
    fn from(l: &Latency) -> Self {
        Quantiles {
            p50: l.quantile_ms(0.5),
            p99: l.quantile_ms(0.99),
            count: l.count(),
        }
    }
}

/// PostgreSQL's own COPY of the same rows, for comparison.
#[derive(Debug, Serialize)]
pub struct CopyBaseline {
    /// Rows copied.
    pub rows: u64,
    /// Rows per batch.
    pub batch: usize,
    /// Seconds the copies took.
    pub seconds: f64,
    /// Rows per second.
    pub rows_per_s: f64,
}

/// The benchmark's findings.
#[derive(Debug, Serialize)]
pub struct BenchReport {
    /// When it ran (UTC, RFC 3339).
    pub date: String,
    /// CPU cores the machine offers.
    pub cpus: usize,
    /// Devices simulated.
    pub devices: usize,
    /// Registers per device.
    pub registers: usize,
    /// Poll interval in milliseconds.
    pub interval_ms: u64,
    /// Seconds polled.
    pub duration_s: f64,
    /// Seconds from start-up to the first poll (schema, device catalogue, cache warm-up).
    pub startup_s: f64,
    /// `sqlite`, `postgres` or `timescaledb`.
    pub storage: String,
    /// Readings per batch (ingest.batch_size).
    pub batch_size: usize,
    /// Batches written at the same time (ingest.writers).
    pub writers: usize,
    /// Simulator placement.
    pub simulator: SimMode,
    /// Values the simulated devices served (`realistic` or `worst-case`).
    pub signals: crate::simulate::SignalsArg,
    /// Readings per second the schedule asks for.
    pub scheduled_readings_per_s: f64,
    /// Readings stored per second of polling.
    pub achieved_readings_per_s: f64,
    /// Readings polled.
    pub readings_polled: u64,
    /// Rows in the store at the end (a fresh store).
    pub rows_in_store: u64,
    /// Readings that will never reach the store (dropped, set aside, not stored at
    /// shutdown): must be 0; the same figure as the closing line's "lost".
    pub readings_lost: u64,
    /// `readings_lost` by cause.
    pub lost_by_cause: Losses,
    /// Polled, yet neither in the store, in the spool nor counted as lost: must be 0
    /// (a reading gone without being counted).
    pub readings_unaccounted: u64,
    /// Readings that went through the spool.
    pub readings_spooled: u64,
    /// Readings still waiting in the spool at the end (durable on disk, replayed at the
    /// next start; not lost): the store fell behind and had not caught up yet.
    pub readings_left_in_spool: u64,
    /// Polls that read everything.
    pub polls_ok: u64,
    /// Polls with a failed request.
    pub polls_failed: u64,
    /// Grid slots skipped because a poll or ingest overran.
    pub polls_missed: u64,
    /// Duration of one device's poll.
    pub poll_latency_ms: Quantiles,
    /// Poll start minus its grid instant.
    pub schedule_jitter_ms: Quantiles,
    /// One live batch write.
    pub batch_write_ms: Quantiles,
    /// Oldest poll of a batch to the end of its write.
    pub poll_to_durable_ms: Quantiles,
    /// CPU seconds (user + system) of this process from the first poll to the final flush.
    pub cpu_seconds: f64,
    /// CPU seconds per million readings stored.
    pub cpu_seconds_per_million_readings: f64,
    /// Share of one core used on average (0.01 = 1 %).
    pub cpu_share_of_one_core: f64,
    /// Peak resident memory of this process, MiB.
    pub peak_rss_mib: f64,
    /// The PostgreSQL server's share over the same span as `cpu_seconds` (with
    /// `--postgres-pid-file`).
    pub postgres: Option<ServerFigures>,
    /// `cpu_seconds_per_million_readings` plus the server's.
    pub total_cpu_seconds_per_million_readings: Option<f64>,
    /// PostgreSQL's own COPY rate on this machine (PostgreSQL only).
    pub copy_baseline: Option<CopyBaseline>,
    /// Achieved rate as a fraction of `copy_baseline.rows_per_s`.
    pub fraction_of_copy_rate: Option<f64>,
    /// The MQTT sink, when the run published too (`--mqtt`).
    pub mqtt: Option<MqttFigures>,
}

fn cpu_and_rss() -> (f64, f64) {
    use nix::sys::resource::{UsageWho, getrusage};
    match getrusage(UsageWho::RUSAGE_SELF) {
        Ok(u) => {
            let secs = |t: nix::sys::time::TimeVal| t.tv_sec() as f64 + t.tv_usec() as f64 / 1e6;
            // Linux reports ru_maxrss in KiB.
            (
                secs(u.user_time()) + secs(u.system_time()),
                u.max_rss() as f64 / 1024.0,
            )
        }
        Err(_) => (0.0, 0.0),
    }
}

/// Replaces the database name of a `postgres://` URL.
fn with_database(url: &str, db: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let host_start = base.find("://").map_or(0, |i| i + 3);
    let base = base[host_start..]
        .find('/')
        .map_or(base, |slash| &base[..host_start + slash]);
    match query {
        Some(q) => format!("{base}/{db}?{q}"),
        None => format!("{base}/{db}"),
    }
}

async fn admin(url: &str) -> anyhow::Result<tokio_postgres::Client> {
    // The error already names the host, database and sslmode.
    Ok(historian_store::postgres::PgLink::new(url)?
        .connect()
        .await?)
}

struct SimHandle {
    addrs: Vec<SocketAddr>,
    _child: Option<tokio::process::Child>,
    inproc: Option<Simulator>,
}

async fn start_simulator(o: &BenchOptions) -> anyhow::Result<SimHandle> {
    let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
    match o.sim {
        SimMode::InProcess => {
            let endpoints = crate::simulate::fleet_endpoints(
                o.devices,
                o.registers,
                0,
                DEFAULT_STEP_MS,
                o.signals.into(),
            )?;
            let sim = Simulator::start(ip, endpoints).await?;
            Ok(SimHandle {
                addrs: sim.addrs().to_vec(),
                _child: None,
                inproc: Some(sim),
            })
        }
        SimMode::Process => {
            let last = usize::from(o.base_port) + o.devices - 1;
            if last > usize::from(u16::MAX) {
                bail!(
                    "{} devices from port {} run past 65535",
                    o.devices,
                    o.base_port
                );
            }
            let exe = std::env::current_exe().context("locating this program")?;
            let mut child = tokio::process::Command::new(exe)
                .args([
                    "simulate",
                    "--devices",
                    &o.devices.to_string(),
                    "--registers",
                    &o.registers.to_string(),
                    "--base-port",
                    &o.base_port.to_string(),
                    "--signals",
                    &o.signals.to_string(),
                ])
                .env("HISTORIAN_LOG", "warn")
                .stdout(std::process::Stdio::null())
                .kill_on_drop(true)
                .spawn()
                .context("starting the simulator process")?;
            let addrs: Vec<SocketAddr> = (0..o.devices)
                .map(|i| SocketAddr::new(ip, o.base_port + i as u16))
                .collect();
            let deadline = Instant::now() + Duration::from_secs(60);
            for a in [addrs[0], addrs[addrs.len() - 1]] {
                while tokio::net::TcpStream::connect(a).await.is_err() {
                    // A simulator that could not bind a port of its range exits at once.
                    if let Ok(Some(status)) = child.try_wait() {
                        bail!(
                            "the simulator exited ({status}) before listening: is a port in \
                             {}-{last} taken? (--base-port picks another range)",
                            o.base_port
                        );
                    }
                    if Instant::now() > deadline {
                        bail!("the simulator did not listen on {a} within 60 s");
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
            Ok(SimHandle {
                addrs,
                _child: Some(child),
                inproc: None,
            })
        }
    }
}

/// Runs the benchmark, prints a summary and writes the JSON report.
pub async fn run(o: BenchOptions) -> anyhow::Result<BenchReport> {
    if o.devices == 0 || o.registers == 0 {
        bail!("devices and registers must be at least 1");
    }
    std::fs::create_dir_all(&o.data_dir)
        .with_context(|| format!("creating {}", o.data_dir.display()))?;
    let run_id = format!(
        "historian_bench_{}_{}",
        std::process::id(),
        chrono::Utc::now().format("%Y%m%d%H%M%S")
    );
    let storage = match &o.database_url {
        Some(url) if url.starts_with("postgres") => {
            admin(url)
                .await?
                .batch_execute(&format!("CREATE DATABASE \"{run_id}\""))
                .await
                .context("creating the benchmark database")?;
            StorageUrl::Postgres(with_database(url, &run_id))
        }
        Some(other) => bail!("--database-url {other:?}: expected postgres://..."),
        None => StorageUrl::Sqlite(o.data_dir.join(format!("{run_id}.db"))),
    };

    let sim = start_simulator(&o).await?;
    let map = reference_map(o.registers);
    let devices = device_configs(&sim.addrs, &map, o.interval, Duration::from_secs(1));
    let env = |k: &str| std::env::var(k).ok();
    let mut config = Config::built_in("bench", devices, &env)?;
    if std::env::var_os(crate::config::ENV_BATCH_SIZE).is_none() {
        config.ingest.batch_size = crate::config::IngestConfig::default_batch_size(&storage);
    }
    config.storage = storage.clone();
    config.spool.dir = o.data_dir.join(format!("{run_id}-spool"));
    config.api_bind = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0);
    if let Some(url) = &o.mqtt {
        config.mqtt = Some(mqtt_config(url, o.mqtt_format, &run_id)?);
    }
    config.storage_options.timescaledb = o.timescaledb;
    config.storage_options.wal_compression = o.wal_compression;
    if let Some(n) = o.writers {
        config.ingest.writers = n;
    }
    let server = match (&o.postgres_pid_file, &o.database_url) {
        (Some(pid_file), Some(url)) => Some((pid_file.clone(), admin(url).await?)),
        _ => None,
    };

    eprintln!(
        "bench: {} devices x {} registers every {:?} for {:?} into {} (simulator: {:?}, {} signals)",
        o.devices, o.registers, o.interval, o.duration, storage, o.sim, o.signals
    );
    let starting = Instant::now();
    let historian = Historian::start(&config).await?;
    // Polling starts now; storing the device catalogue and warming up do not count.
    let startup = starting.elapsed();
    let (cpu0, _) = cpu_and_rss();
    let server0 = match &server {
        Some((pid_file, client)) => Some(server::sample(pid_file, client, &run_id).await?),
        None => None,
    };
    let started = Instant::now();
    let stats = Arc::clone(&historian.stats);
    let store = Arc::clone(&historian.store);
    let backend = store.backend().to_string();
    let mut last = (Instant::now(), 0u64);
    // Ctrl-C or SIGTERM ends the run early but still flushes, reports and stops the
    // simulator child (a plain kill would leave it running).
    let interrupted = crate::app::shutdown_signal();
    tokio::pin!(interrupted);
    while started.elapsed() < o.duration {
        tokio::select! {
            () = &mut interrupted => {
                eprintln!("\nbench: interrupted; stopping and reporting what ran");
                break;
            }
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
        let stored = Stats::get(&stats.readings_stored);
        let rate = (stored - last.1) as f64 / last.0.elapsed().as_secs_f64();
        last = (Instant::now(), stored);
        eprint!(
            "\r  {:>5.0}s  {:>9.0} readings/s  stored {:>11}  missed polls {:>6}  spooled {:>9}   ",
            started.elapsed().as_secs_f64(),
            rate,
            stored,
            Stats::get(&stats.polls_missed),
            Stats::get(&stats.spool_readings),
        );
    }
    eprintln!();
    let polled_for = started.elapsed();
    let summary = historian.shutdown().await;
    let (cpu1, rss) = cpu_and_rss();
    let server1 = match &server {
        Some((pid_file, client)) => Some(server::sample(pid_file, client, &run_id).await?),
        None => None,
    };
    let cpu = cpu1 - cpu0;
    let rows = store.count_readings().await?;
    let postgres = server0.zip(server1).map(|(a, b)| a.until(&b, rows));
    let scheduled = (o.devices * o.registers) as f64 / o.interval.as_secs_f64();
    let achieved = rows as f64 / polled_for.as_secs_f64();

    let copy_baseline = match &storage {
        StorageUrl::Postgres(url) if o.copy_baseline => {
            Some(copy_baseline(url, rows, &config).await?)
        }
        _ => None,
    };
    drop(store);
    if let (Some(url), false) = (&o.database_url, o.keep_database) {
        // Let pooled sessions close before dropping the database.
        tokio::time::sleep(Duration::from_millis(200)).await;
        if let Err(e) = admin(url)
            .await?
            .batch_execute(&format!(
                "DROP DATABASE IF EXISTS \"{run_id}\" WITH (FORCE)"
            ))
            .await
        {
            eprintln!("bench: could not drop database {run_id}: {e}");
        }
    }
    if let StorageUrl::Sqlite(path) = &storage {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
    }
    let left_in_spool = Stats::get(&stats.spool_readings);
    if left_in_spool == 0 {
        let _ = std::fs::remove_dir_all(&config.spool.dir);
    } else {
        eprintln!(
            "bench: {left_in_spool} readings left in the spool at {} (the store fell behind)",
            config.spool.dir.display()
        );
    }
    if let Some(s) = sim.inproc {
        s.shutdown();
    }

    let t = &stats.timings;
    let report = BenchReport {
        date: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
        devices: o.devices,
        registers: o.registers,
        interval_ms: u64::try_from(o.interval.as_millis()).unwrap_or(u64::MAX),
        duration_s: polled_for.as_secs_f64(),
        startup_s: startup.as_secs_f64(),
        storage: backend,
        batch_size: config.ingest.batch_size,
        writers: config.ingest.writers,
        simulator: o.sim,
        signals: o.signals,
        scheduled_readings_per_s: scheduled,
        achieved_readings_per_s: achieved,
        readings_polled: summary.polled,
        rows_in_store: rows,
        readings_lost: summary.lost,
        lost_by_cause: summary.losses,
        readings_unaccounted: summary
            .polled
            .saturating_sub(rows + left_in_spool + summary.lost),
        readings_left_in_spool: left_in_spool,
        readings_spooled: Stats::get(&stats.readings_spooled),
        polls_ok: Stats::get(&stats.polls_ok),
        polls_failed: Stats::get(&stats.polls_failed),
        polls_missed: Stats::get(&stats.polls_missed),
        poll_latency_ms: (&t.poll).into(),
        schedule_jitter_ms: (&t.jitter).into(),
        batch_write_ms: (&t.write).into(),
        poll_to_durable_ms: (&t.durable).into(),
        cpu_seconds: cpu,
        cpu_seconds_per_million_readings: if rows > 0 {
            cpu / (rows as f64 / 1e6)
        } else {
            0.0
        },
        cpu_share_of_one_core: cpu / polled_for.as_secs_f64(),
        peak_rss_mib: rss,
        total_cpu_seconds_per_million_readings: postgres.as_ref().map(|p| {
            p.cpu_seconds_per_million_readings
                + if rows > 0 {
                    cpu / (rows as f64 / 1e6)
                } else {
                    0.0
                }
        }),
        postgres,
        fraction_of_copy_rate: copy_baseline
            .as_ref()
            .map(|c| achieved / c.rows_per_s.max(1.0)),
        copy_baseline,
        mqtt: o.mqtt.as_ref().map(|url| MqttFigures {
            broker: url.clone(),
            format: o.mqtt_format,
            published: Stats::get(&stats.mqtt_published),
            published_per_s: Stats::get(&stats.mqtt_published) as f64 / polled_for.as_secs_f64(),
            dropped_readings: Stats::get(&stats.mqtt_dropped),
            lost_messages: Stats::get(&stats.mqtt_lost),
            reconnects: Stats::get(&stats.mqtt_reconnects),
        }),
    };
    let json = serde_json::to_string_pretty(&report)?;
    std::fs::write(&o.json, format!("{json}\n"))
        .with_context(|| format!("writing {}", o.json.display()))?;
    print_summary(&report);
    println!("report: {}", o.json.display());
    if report.readings_unaccounted > 0 {
        bail!(
            "{} polled readings are neither in the store nor in the spool, and were not counted as lost",
            report.readings_unaccounted
        );
    }
    if report.readings_lost > 0 {
        return Err(LostReadings(report.lost_by_cause).into());
    }
    Ok(report)
}

/// The MQTT sink of a run: its own topic prefix (JSON) or edge node (Sparkplug B), so that
/// runs never mix on a shared broker.
fn mqtt_config(
    url: &str,
    format: BenchMqttFormat,
    run_id: &str,
) -> anyhow::Result<crate::config::MqttConfig> {
    use crate::config::{JsonOptions, MqttConfig, MqttFormat, SparkplugOptions};
    use crate::ingest::mqtt::topic::Template;
    let mut cfg = MqttConfig::new(url).map_err(|e| anyhow::anyhow!("--mqtt {e}"))?;
    cfg.client_id = run_id.to_string();
    cfg.format = match format {
        BenchMqttFormat::Json => MqttFormat::Json(JsonOptions {
            topic: Some(
                Template::parse("{prefix}/{device}/{register}", &format!("bench/{run_id}"))
                    .map_err(|e| anyhow::anyhow!(e))?,
            ),
            ..JsonOptions::default()
        }),
        BenchMqttFormat::SparkplugB => MqttFormat::SparkplugB(SparkplugOptions {
            group_id: "bench".into(),
            edge_node_id: run_id.to_string(),
        }),
    };
    Ok(cfg)
}

/// Copies as many synthetic rows as the run stored (at least 200,000, at most 5 million)
/// into the same table of the same database, dated a year before the run so they never
/// meet the run's rows, in the configured batch size.
async fn copy_baseline(url: &str, rows: u64, config: &Config) -> anyhow::Result<CopyBaseline> {
    let store = historian_store::postgres::PostgresStore::open(url, &StoreOptions::default())
        .await
        .context("opening the store for the COPY baseline")?;
    let devices = store_devices(&store).await?;
    let n = rows.clamp(200_000, 5_000_000) as usize;
    let base = chrono::Utc::now() - chrono::Duration::days(365);
    let mut readings: Vec<Reading> = Vec::with_capacity(n);
    'fill: for step in 0.. {
        let ts = base + chrono::Duration::milliseconds(step * 1000);
        for (id, map) in &devices {
            for p in map {
                if readings.len() == n {
                    break 'fill;
                }
                readings.push(Reading {
                    timestamp: ts,
                    device_id: *id,
                    register_address: p.register,
                    value: Some(step as f64),
                    text: None,
                    quality: historian_model::Quality::Good,
                    register_name: Arc::from(p.name.as_str()),
                    data_type: p.data_type,
                    unit: Arc::from(p.unit.as_str()),
                });
            }
        }
    }
    let batch = config.ingest.batch_size;
    let took = store.copy_baseline(&readings, batch).await?;
    Ok(CopyBaseline {
        rows: n as u64,
        batch,
        seconds: took.as_secs_f64(),
        rows_per_s: n as f64 / took.as_secs_f64().max(1e-9),
    })
}

async fn store_devices(
    store: &historian_store::postgres::PostgresStore,
) -> anyhow::Result<Vec<(i64, Vec<historian_model::RegisterPoint>)>> {
    use historian_store::Store;
    Ok(store
        .list_devices()
        .await?
        .into_iter()
        .map(|r| (r.id, r.spec.registers))
        .collect())
}

fn print_summary(r: &BenchReport) {
    println!(
        "{} devices x {} registers every {} ms for {:.0} s into {} (simulator {:?})",
        r.devices, r.registers, r.interval_ms, r.duration_s, r.storage, r.simulator
    );
    println!(
        "  start-up        {:.2} s before the first poll",
        r.startup_s
    );
    println!(
        "  readings/s      scheduled {:.0}, achieved {:.0}",
        r.scheduled_readings_per_s, r.achieved_readings_per_s
    );
    println!(
        "  readings        polled {}, stored {}, lost {}, spooled {} ({} still in the spool)",
        r.readings_polled,
        r.rows_in_store,
        r.readings_lost,
        r.readings_spooled,
        r.readings_left_in_spool
    );
    if r.readings_lost > 0 {
        println!("  lost            {}", r.lost_by_cause);
    }
    println!(
        "  polls           ok {}, failed {}, missed {}",
        r.polls_ok, r.polls_failed, r.polls_missed
    );
    let q = |name: &str, x: &Quantiles| {
        println!("  {name:<15} p50 {:.3} ms, p99 {:.3} ms", x.p50, x.p99);
    };
    q("poll latency", &r.poll_latency_ms);
    q("schedule jitter", &r.schedule_jitter_ms);
    q("batch write", &r.batch_write_ms);
    q("poll->durable", &r.poll_to_durable_ms);
    println!(
        "  cpu             {:.2} s, {:.3} s per million readings, {:.2} % of one core",
        r.cpu_seconds,
        r.cpu_seconds_per_million_readings,
        r.cpu_share_of_one_core * 100.0
    );
    println!("  peak rss        {:.1} MiB", r.peak_rss_mib);
    println!(
        "  ingest          batches of {}, {} writers",
        r.batch_size, r.writers
    );
    if let Some(p) = &r.postgres {
        println!(
            "  postgres        {:.2} CPU-s, {:.3} per million readings ({:.3} with the historian's); \
             WAL {:.0} B and database growth {:.0} B per reading",
            p.cpu_seconds,
            p.cpu_seconds_per_million_readings,
            r.total_cpu_seconds_per_million_readings.unwrap_or(0.0),
            p.wal_bytes_per_reading,
            p.database_bytes_per_reading
        );
    }
    if let Some(m) = &r.mqtt {
        println!(
            "  mqtt            {:?} to {}: {} messages ({:.0}/s), {} readings dropped, {} messages lost, {} reconnects",
            m.format,
            m.broker,
            m.published,
            m.published_per_s,
            m.dropped_readings,
            m.lost_messages,
            m.reconnects
        );
    }
    if let Some(c) = &r.copy_baseline {
        println!(
            "  postgres COPY   {:.0} rows/s ({} rows, batches of {}); historian at {:.1} % of it",
            c.rows_per_s,
            c.rows,
            c.batch,
            r.fraction_of_copy_rate.unwrap_or(0.0) * 100.0
        );
    }
}
