//! Command-line interface.

use crate::arg_values::{duration, map_format};
pub use crate::discover::args::{DiscoverArgs, Tables, UnitIds};
use crate::simulate::SimFaultArgs;
use clap::{Args, Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// The version `--version` prints: the package's, and the commit it was built from.
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (",
    env!("HISTORIAN_BUILD_COMMIT"),
    ")"
);

/// Polls Modbus devices and keeps every reading as a queryable time series.
#[derive(Debug, Parser)]
#[command(name = "modbus-historian", version = VERSION, about, long_about = None)]
pub struct Cli {
    /// Log filter (error, warn, info, debug, trace, or a tracing directive). Without it:
    /// -v, else RUST_LOG, else info for run/demo/simulate/bench and warn for the others.
    #[arg(long, global = true, env = "HISTORIAN_LOG")]
    pub log: Option<String>,
    /// More log lines: -v info, -vv debug, -vvv trace (when --log is not given).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// How log lines are written: text (coloured only on a terminal) or json (one object a
    /// line).
    #[arg(
        long,
        global = true,
        env = "HISTORIAN_LOG_FORMAT",
        value_enum,
        default_value = "text"
    )]
    pub log_format: crate::logs::LogFormat,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a self-contained demo: a simulated fleet, the collector, SQLite and the API.
    Demo(DemoArgs),
    /// Run the historian as configured in a TOML file.
    Run(RunArgs),
    /// Serve simulated Modbus TCP devices (one device per port, any unit id).
    Simulate(SimulateArgs),
    /// Create or upgrade the database schema, then exit.
    Migrate(MigrateArgs),
    /// Inspect configured devices.
    #[command(subcommand)]
    Devices(DevicesCommand),
    /// Read a spool folder: list what it holds, or recover what a damaged one still holds.
    #[command(subcommand)]
    Spool(SpoolCommand),
    /// Scan a device (read-only) and propose its register map: which unit ids answer,
    /// which addresses read, and what type each register seems to hold.
    Discover(Box<DiscoverArgs>),
    /// Measure: poll a simulated fleet into a fresh store and report rates, latencies,
    /// CPU and memory (printed and written as JSON).
    Bench(BenchArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions(CompletionsArgs),
    /// Print the manual page (roff; view with `man -l -`), or write one page per command
    /// into a folder.
    Man(ManArgs),
}

/// `man` options.
#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write `modbus-historian.1` and a page per subcommand (`modbus-historian-run.1`, ...)
    /// into this folder instead of printing the main page.
    #[arg(long)]
    pub dir: Option<PathBuf>,
}

/// `completions` options.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete in.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// Writes the completion script of `shell` for the whole command line.
pub fn write_completions(shell: clap_complete::Shell, out: &mut dyn std::io::Write) {
    let mut cmd = <Cli as clap::CommandFactory>::command();
    clap_complete::generate(shell, &mut cmd, "modbus-historian", out);
}

/// Writes the main manual page (roff): synopsis, global options, the subcommands.
pub fn write_man_page(out: &mut dyn std::io::Write) -> std::io::Result<()> {
    clap_mangen::Man::new(<Cli as clap::CommandFactory>::command()).render(out)
}

/// Writes the main page and one page per subcommand, at any depth, into `dir`.
pub fn write_man_pages(dir: &std::path::Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    clap_mangen::generate_to(<Cli as clap::CommandFactory>::command(), dir)
}

impl Command {
    /// True for commands that keep running until stopped or for a set time, whose log is
    /// their progress report; one-shot commands print their answer and log only problems.
    pub fn is_long_running(&self) -> bool {
        matches!(
            self,
            Command::Demo(_) | Command::Run(_) | Command::Simulate(_) | Command::Bench(_)
        )
    }
}

/// `bench` options.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Simulated devices.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u16).range(1..=5000))]
    pub devices: u16,
    /// Registers per device.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u16).range(1..=10000))]
    pub registers: u16,
    /// Poll interval of every device.
    #[arg(long, default_value = "5s", value_parser = duration)]
    pub interval: Duration,
    /// How long to poll.
    #[arg(long, default_value = "60s", value_parser = duration)]
    pub duration: Duration,
    /// A PostgreSQL server (postgres://USER@HOST:PORT/DB) to create a fresh benchmark
    /// database on; without it, a fresh SQLite file in --data-dir.
    #[arg(long, env = "HISTORIAN_DATABASE_URL")]
    pub database_url: Option<String>,
    /// Folder for the SQLite file and the spool.
    #[arg(long, default_value = "data/bench")]
    pub data_dir: PathBuf,
    /// Where to write the JSON report.
    #[arg(long, default_value = "bench-report.json")]
    pub json: PathBuf,
    /// Run the simulator as a separate process (CPU figures are the historian's alone) or
    /// inside this one.
    #[arg(long, value_enum, default_value = "process")]
    pub sim: crate::bench::SimMode,
    /// First simulator port (process mode); device i listens on base_port + i.
    #[arg(long, default_value_t = 21000)]
    pub base_port: u16,
    /// Keep the benchmark database instead of dropping it.
    #[arg(long)]
    pub keep_database: bool,
    /// Values the simulated devices serve: realistic (drifts, counters, rare status changes)
    /// or worst-case (every value jumps every step, for stress runs).
    #[arg(long, value_enum, default_value_t = crate::simulate::SignalsArg::Realistic)]
    pub signals: crate::simulate::SignalsArg,
    /// Skip the PostgreSQL COPY comparison (e.g. when profiling the historian alone).
    #[arg(long)]
    pub skip_copy_baseline: bool,
    /// Also publish every poll to this MQTT broker (mqtt://HOST:PORT), to measure the sink.
    #[arg(long)]
    pub mqtt: Option<String>,
    /// The payload format of --mqtt.
    #[arg(long, value_enum, default_value = "json", requires = "mqtt")]
    pub mqtt_format: crate::bench::BenchMqttFormat,
    /// Batches written at the same time (ingest.writers; its default when left out).
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub writers: Option<u16>,
    /// The PostgreSQL server's `postmaster.pid` (in its data folder), when the server runs
    /// on this machine for this run alone: its CPU over the run (every process of the
    /// server) is reported beside the historian's.
    #[arg(long, requires = "database_url")]
    pub postgres_pid_file: Option<PathBuf>,
    /// storage.timescaledb of the run: auto, off (plain PostgreSQL where TimescaleDB is
    /// available) or required.
    #[arg(long, default_value = "auto", requires = "database_url")]
    pub timescaledb: historian_store::TimescaleMode,
    /// storage.wal_compression of the run: auto, server (the server's own setting), lz4,
    /// zstd or pglz.
    #[arg(long, default_value = "auto", requires = "database_url")]
    pub wal_compression: historian_store::WalCompression,
}

/// `spool` subcommands.
#[derive(Debug, Subcommand)]
pub enum SpoolCommand {
    /// List the segments and `.corrupt` files of a spool folder: records, readings, and
    /// damaged spans with their offsets. Changes nothing.
    Inspect(SpoolInspectArgs),
    /// Copy every record that verifies (from segments and `.corrupt` files) into a clean
    /// spool folder that a historian replays as usual. The folder read is not changed.
    Salvage(SpoolSalvageArgs),
}

/// `spool inspect` options.
#[derive(Debug, Args)]
pub struct SpoolInspectArgs {
    /// The spool folder (`spool.dir`).
    pub dir: PathBuf,
}

/// `spool salvage` options.
#[derive(Debug, Args)]
pub struct SpoolSalvageArgs {
    /// The damaged spool folder.
    pub dir: PathBuf,
    /// The spool folder to write (created if missing; may be the spool folder of a stopped
    /// historian). Default: DIR.salvaged beside DIR.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// `devices` subcommands.
#[derive(Debug, Subcommand)]
pub enum DevicesCommand {
    /// Print the Modbus requests one poll of a device sends.
    Plan(PlanArgs),
    /// Check a register map file (CSV or TOML) and store it as a device's map.
    Import(ImportArgs),
    /// Print a device's register map as CSV or TOML.
    Export(ExportArgs),
}

/// `devices import` options.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The map file: `.csv` (header row: address, table, name, data_type, ...) or `.toml`.
    pub file: PathBuf,
    /// The device whose map it is (stored already, or defined in --config).
    #[arg(long)]
    pub device: String,
    /// How the file writes addresses: wire (0-based), one_based or modicon. Default: the
    /// device's `addressing` in --config, else wire. A TOML map may set its own.
    #[arg(long, value_parser = addressing)]
    pub addressing: Option<historian_model::Addressing>,
    /// Take the storage URL (and the device, if not stored yet) from this config file.
    #[arg(long, short)]
    pub config: Option<PathBuf>,
    /// The storage URL (overrides the config file).
    #[arg(long, env = "HISTORIAN_DATABASE_URL")]
    pub database_url: Option<String>,
}

/// `devices export` options.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The device's name.
    pub name: String,
    /// csv or toml.
    #[arg(long, default_value = "csv", value_parser = map_format)]
    pub format: historian_modbus::mapfile::MapFormat,
    /// Take the storage URL (and the device, if not stored) from this config file.
    #[arg(long, short)]
    pub config: Option<PathBuf>,
    /// The storage URL (overrides the config file).
    #[arg(long, env = "HISTORIAN_DATABASE_URL")]
    pub database_url: Option<String>,
}

fn addressing(s: &str) -> Result<historian_model::Addressing, String> {
    s.parse()
}

/// `devices plan` options.
#[derive(Debug, Args)]
pub struct PlanArgs {
    /// The device's name.
    pub name: String,
    /// The configuration file that defines it (or names the database that stores it).
    #[arg(long, short)]
    pub config: Option<PathBuf>,
    /// The storage URL of a database that stores the device (overrides the config file).
    #[arg(long, env = "HISTORIAN_DATABASE_URL")]
    pub database_url: Option<String>,
}

/// `demo` options.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Poll interval of every device.
    #[arg(long, default_value = "5s", value_parser = duration)]
    pub interval: Duration,
    /// Number of simulated devices.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u16).range(1..=5000))]
    pub devices: u16,
    /// Registers (points) per device.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u16).range(1..=10000))]
    pub registers: u16,
    /// Folder holding the SQLite file (demo.db); ignored when HISTORIAN_DATABASE_URL is set.
    #[arg(long, default_value = "data")]
    pub data_dir: PathBuf,
    /// Address the API listens on.
    #[arg(long, env = "HISTORIAN_API_BIND", default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,
    /// Stop by itself after this long instead of waiting for Ctrl-C.
    #[arg(long, value_parser = duration)]
    pub duration: Option<Duration>,
    /// Values the simulated devices serve: realistic (drifts, counters, rare status changes)
    /// or worst-case (every value jumps every step, for stress runs).
    #[arg(long, value_enum, default_value_t = crate::simulate::SignalsArg::Realistic)]
    pub signals: crate::simulate::SignalsArg,
}

/// `run` options.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The configuration file (see examples/historian.toml).
    #[arg(long, short)]
    pub config: PathBuf,
    /// Validate the configuration and exit without polling.
    #[arg(long)]
    pub check: bool,
}

/// `simulate` options.
#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// Serve the devices of this config file, each on its configured port.
    #[arg(long, short, conflicts_with_all = ["devices", "registers", "base_port"])]
    pub config: Option<PathBuf>,
    /// Number of reference devices (without --config).
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u16).range(1..=5000))]
    pub devices: u16,
    /// Registers (points) per reference device (without --config).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u16).range(1..=10000))]
    pub registers: u16,
    /// Port of the first reference device; device i listens on base_port + i.
    #[arg(long, default_value_t = 15020)]
    pub base_port: u16,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: std::net::IpAddr,
    /// How long each value holds before it changes, in milliseconds.
    #[arg(long, default_value_t = historian_sim::DEFAULT_STEP_MS)]
    pub step_ms: u64,
    /// Values the simulated devices serve: realistic (drifts, counters, rare status changes)
    /// or worst-case (every value jumps every step, for stress runs).
    #[arg(long, value_enum, default_value_t = crate::simulate::SignalsArg::Realistic)]
    pub signals: crate::simulate::SignalsArg,
    /// Faults every device shows.
    #[command(flatten)]
    pub faults: SimFaultArgs,
}

/// `migrate` options.
#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// Take the storage URL from this config file.
    #[arg(long, short)]
    pub config: Option<PathBuf>,
    /// The storage URL (overrides the config file).
    #[arg(long, env = "HISTORIAN_DATABASE_URL")]
    pub database_url: Option<String>,
}
