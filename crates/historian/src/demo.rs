//! The `demo` subcommand: simulator, collector, SQLite and API in one process, with a live
//! status line.

use crate::app::{Historian, shutdown_signal};
use crate::config::{Config, ENV_DATABASE_URL};
use crate::simulate::{device_configs, fleet_endpoints};
use crate::stats::Stats;
use anyhow::Context;
use historian_sim::fleet::reference_map;
use historian_sim::{DEFAULT_STEP_MS, Simulator};
use historian_store::StorageUrl;
use std::io::{IsTerminal, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// What the demo runs.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Simulated devices.
    pub devices: usize,
    /// Points per device.
    pub registers: usize,
    /// Poll interval.
    pub interval: Duration,
    /// Folder for the SQLite file.
    pub data_dir: PathBuf,
    /// API address.
    pub bind: SocketAddr,
    /// Stop by itself after this long (None: until Ctrl-C).
    pub duration: Option<Duration>,
    /// Values the simulated devices serve.
    pub signals: crate::simulate::SignalsArg,
}

/// Runs the demo until Ctrl-C (or `duration`), then stores every polled reading and exits.
pub async fn run(opts: DemoOptions) -> anyhow::Result<()> {
    let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let endpoints = fleet_endpoints(
        opts.devices,
        opts.registers,
        0,
        DEFAULT_STEP_MS,
        opts.signals.into(),
    )?;
    let sim = Simulator::start(ip, endpoints)
        .await
        .context("starting the simulator")?;
    let map = reference_map(opts.registers);
    let devices = device_configs(sim.addrs(), &map, opts.interval, Duration::from_secs(1));
    let env = |k: &str| std::env::var(k).ok();
    let mut config = Config::built_in("demo", devices, &env)?;
    if env(ENV_DATABASE_URL).is_none() {
        config.storage = StorageUrl::Sqlite(opts.data_dir.join("demo.db"));
    }
    config.api_bind = opts.bind;
    config.spool.dir = opts.data_dir.join("spool");

    let historian = Historian::start(&config).await?;
    let base = historian.api_url.clone();
    let first = historian
        .registry
        .devices()
        .first()
        .map(|d| d.id)
        .unwrap_or(1);
    println!(
        "modbus-historian demo: {} simulated devices x {} registers, polled every {} ({} signals)",
        opts.devices,
        map.len(),
        humantime::format_duration(opts.interval),
        opts.signals
    );
    println!("  storage   {}", config.storage);
    println!("  dashboard {base}/");
    println!("  API docs  {base}/api/docs/");
    println!("  metrics   {base}/metrics");
    println!("  health    {base}/api/health");
    println!("  devices   {base}/api/devices");
    println!("  latest    {base}/api/register_readings/latest/{first}");
    println!("  history   {base}/api/register_readings/{first}/300001");
    println!("Ctrl-C stops polling, stores every polled reading and exits.");

    let started = Instant::now();
    let stop = async {
        match opts.duration {
            Some(d) => tokio::time::sleep(d).await,
            None => shutdown_signal().await,
        }
    };
    tokio::pin!(stop);
    let tty = std::io::stderr().is_terminal();
    let every = if tty {
        Duration::from_secs(1)
    } else {
        Duration::from_secs(10)
    };
    let mut tick = tokio::time::interval(every);
    tick.tick().await;
    let mut last = (Instant::now(), 0u64);
    loop {
        tokio::select! {
            () = &mut stop => break,
            _ = tick.tick() => {
                let stored = Stats::get(&historian.stats.readings_stored);
                let rate = (stored - last.1) as f64 / last.0.elapsed().as_secs_f64().max(1e-3);
                last = (Instant::now(), stored);
                let line = format!(
                    "devices up {}/{} | readings stored {} | {:.0} readings/s | failed polls {} | up {}s",
                    historian.registry.up_count(),
                    historian.registry.devices().len(),
                    stored,
                    rate,
                    Stats::get(&historian.stats.polls_failed),
                    started.elapsed().as_secs(),
                );
                let mut err = std::io::stderr();
                if tty {
                    let _ = write!(err, "\r\x1b[2K{line}");
                } else {
                    let _ = writeln!(err, "{line}");
                }
                let _ = err.flush();
            }
        }
    }
    if tty {
        eprintln!();
    }
    eprintln!("stopping: polling stopped, writing the readings already polled...");
    let summary = historian.shutdown().await;
    sim.shutdown();
    Ok(summary.report()?)
}
