//! The `modbus-historian` binary: parse the command line, run the subcommand, and turn any
//! failure into one line on stderr and a non-zero exit code (3 when readings were lost,
//! else 1).

use anyhow::Context;
use clap::Parser;
use historian_sim::Simulator;
use historian_store::StorageUrl;
use modbus_historian::app::{EXIT_LOST, Historian, LostReadings, Summary, shutdown_signal};
use modbus_historian::cli::{
    Cli, Command, DevicesCommand, MigrateArgs, RunArgs, SimulateArgs, SpoolCommand,
};
use modbus_historian::config::{Config, DEFAULT_POLL_TIMEOUT, DEFAULT_STORAGE_URL, DeviceConfig};
use modbus_historian::spool::salvage;
use modbus_historian::{bench, demo, discover, logs, maps, simulate};
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let rust_log = std::env::var("RUST_LOG").ok();
    let long_running =
        cli.command.is_long_running() && !matches!(&cli.command, Command::Run(a) if a.check);
    logs::init(
        logs::FilterInputs {
            explicit: cli.log.as_deref(),
            verbose: cli.verbose,
            rust_log: rust_log.as_deref(),
            long_running,
        },
        cli.log_format,
    );
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(dispatch(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            // Its own code, so that a supervisor or script can tell a run that lost
            // readings from one that could not run at all.
            if e.downcast_ref::<LostReadings>().is_some() {
                ExitCode::from(EXIT_LOST)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

async fn dispatch(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Demo(a) => {
            demo::run(demo::DemoOptions {
                devices: usize::from(a.devices),
                registers: usize::from(a.registers),
                interval: a.interval,
                data_dir: a.data_dir,
                bind: a.bind,
                duration: a.duration,
                signals: a.signals,
            })
            .await
        }
        Command::Run(a) => run(a).await,
        Command::Bench(a) => bench::run(bench::BenchOptions {
            devices: usize::from(a.devices),
            registers: usize::from(a.registers),
            interval: a.interval,
            duration: a.duration,
            database_url: a.database_url,
            data_dir: a.data_dir,
            json: a.json,
            sim: a.sim,
            base_port: a.base_port,
            keep_database: a.keep_database,
            signals: a.signals,
            copy_baseline: !a.skip_copy_baseline,
            mqtt: a.mqtt,
            mqtt_format: a.mqtt_format,
            writers: a.writers.map(usize::from),
            postgres_pid_file: a.postgres_pid_file,
            timescaledb: a.timescaledb,
            wal_compression: a.wal_compression,
        })
        .await
        .map(|_| ()),
        Command::Simulate(a) => simulate_cmd(a).await,
        Command::Discover(a) => {
            let (map, summary) = discover::run(*a).await?;
            print!("{map}");
            eprint!("{summary}");
            Ok(())
        }
        Command::Migrate(a) => migrate(a).await,
        Command::Spool(SpoolCommand::Inspect(a)) => {
            print!("{}", salvage::inspect(&a.dir)?);
            Ok(())
        }
        Command::Spool(SpoolCommand::Salvage(a)) => {
            let out = a.out.unwrap_or_else(|| salvage::default_out(&a.dir));
            print!("{}", salvage::salvage(&a.dir, &out)?);
            Ok(())
        }
        Command::Devices(DevicesCommand::Plan(a)) => {
            let config = a.config.as_deref().map(Config::load).transpose()?;
            let in_file = config
                .as_ref()
                .and_then(|c| c.devices.iter().find(|d| d.spec.name == a.name).cloned());
            let device = match in_file {
                // The file's devices need no database: plan them as written.
                Some(d) if a.database_url.is_none() => d,
                _ => {
                    let spec =
                        maps::device(&a.name, config.as_ref(), a.database_url.as_deref()).await?;
                    let timeout = config
                        .as_ref()
                        .map_or(DEFAULT_POLL_TIMEOUT, |c| c.default_timeout);
                    DeviceConfig::new(spec, timeout)
                }
            };
            print!("{}", modbus_historian::registry::describe_plan(&device));
            Ok(())
        }
        Command::Devices(DevicesCommand::Import(a)) => {
            let config = a.config.as_deref().map(Config::load).transpose()?;
            let summary = maps::import(
                &a.file,
                &a.device,
                a.addressing,
                config.as_ref(),
                a.database_url.as_deref(),
            )
            .await?;
            println!("{summary}");
            Ok(())
        }
        Command::Completions(a) => {
            modbus_historian::cli::write_completions(a.shell, &mut std::io::stdout().lock());
            Ok(())
        }
        Command::Man(a) => match a.dir {
            Some(dir) => modbus_historian::cli::write_man_pages(&dir)
                .with_context(|| format!("cannot write manual pages into {}", dir.display())),
            None => modbus_historian::cli::write_man_page(&mut std::io::stdout().lock())
                .context("cannot write the manual page"),
        },
        Command::Devices(DevicesCommand::Export(a)) => {
            let config = a.config.as_deref().map(Config::load).transpose()?;
            let text = maps::export(
                &a.name,
                a.format,
                config.as_ref(),
                a.database_url.as_deref(),
            )
            .await?;
            print!("{text}");
            Ok(())
        }
    }
}

async fn run(args: RunArgs) -> anyhow::Result<()> {
    let config = Config::load(&args.config)?;
    if args.check {
        println!(
            "{}: valid ({} devices, {} registers)",
            config.source,
            config.devices.len(),
            config
                .devices
                .iter()
                .map(|d| d.spec.registers.len())
                .sum::<usize>()
        );
        if let Some(note) = config.relative_paths_note() {
            println!("{note}");
        }
        return Ok(());
    }
    // Listening from before the start, so that a stop asked for while the store and the
    // catalogue load ends the run with its closing line and exit code instead of by the
    // signal's default action.
    let signal = shutdown_signal();
    tokio::pin!(signal);
    let historian = tokio::select! {
        // The signal first: its handler is installed before the start begins.
        biased;
        () = &mut signal => {
            tracing::info!("stopped during start-up, before the first poll");
            return Ok(Summary::default().report()?);
        }
        started = Historian::start(&config) => started?,
    };
    println!("modbus-historian running: API on {}", historian.api_url);
    signal.await;
    tracing::info!("stopping: writing the readings already polled");
    let summary = historian.shutdown().await;
    Ok(summary.report()?)
}

async fn simulate_cmd(args: SimulateArgs) -> anyhow::Result<()> {
    let endpoints = match &args.config {
        Some(path) => {
            simulate::config_endpoints(&Config::load(path)?, args.step_ms, args.signals.into())?
        }
        None => simulate::fleet_endpoints(
            usize::from(args.devices),
            usize::from(args.registers),
            args.base_port,
            args.step_ms,
            args.signals.into(),
        )?,
    };
    simulate::apply_faults(&endpoints, &args.faults);
    // Units behind one port (a gateway) are devices of their own.
    let devices: usize = endpoints.iter().map(|e| e.units.len().max(1)).sum();
    let sim = Simulator::start(args.bind, endpoints).await?;
    let addrs = sim.addrs();
    match (addrs.first(), addrs.last()) {
        (Some(first), Some(last)) if addrs.len() > 1 => println!(
            "simulating {devices} devices on {}..{}; Ctrl-C stops",
            first,
            last.port()
        ),
        (Some(first), _) if devices > 1 => {
            println!("simulating {devices} devices behind {first}; Ctrl-C stops")
        }
        (Some(first), _) => println!("simulating 1 device on {first}; Ctrl-C stops"),
        _ => anyhow::bail!("nothing to simulate: the config has no devices"),
    }
    shutdown_signal().await;
    sim.shutdown();
    Ok(())
}

async fn migrate(args: MigrateArgs) -> anyhow::Result<()> {
    let config = args.config.as_deref().map(Config::load).transpose()?;
    let options = config
        .as_ref()
        .map(|c| c.storage_options.clone())
        .unwrap_or_default();
    let url = match (&args.database_url, config) {
        (Some(url), _) => url.clone(),
        (None, Some(c)) => c.storage.to_string(),
        (None, None) => DEFAULT_STORAGE_URL.to_string(),
    };
    let parsed =
        StorageUrl::parse(&url).map_err(|e| anyhow::anyhow!("invalid storage URL {url:?}: {e}"))?;
    let store = historian_store::open(&parsed, &options)
        .await
        .with_context(|| format!("migrating {parsed}"))?;
    println!("{} schema is up to date ({parsed})", store.backend());
    Ok(())
}
