//! A historian started the way most end-to-end tests need it: [`TestHistorian`] builds a
//! built-in config around a temp folder of the test's own (SQLite file, spool), the API on
//! port 0, and optionally a simulated fleet to poll; [`Running`] hands back the handles.
//! [`process`] runs a historian as a child process instead, from a config file.
//!
//! Each test file compiles this module on its own and uses part of it.
#![allow(dead_code)]

pub mod process;

use historian_model::DeviceSpec;
use historian_model::RegisterPoint;
use historian_sim::fleet::reference_map;
use historian_sim::{Signals, Simulator};
use historian_store::StorageUrl;
use modbus_historian::app::{Historian, Summary};
use modbus_historian::config::{Config, DeviceConfig};
use modbus_historian::simulate::{device_configs, fleet_endpoints};
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

/// Milliseconds between two values of the simulator's function.
pub const STEP_MS: u64 = 1000;

/// A simulator of `devices` reference devices of `registers` registers each serving the
/// realistic signals (those of `historian_sim::expected_value`), on ports the OS picks, its
/// values changing every [`STEP_MS`].
pub async fn fleet_simulator(devices: usize, registers: usize) -> Simulator {
    let endpoints =
        fleet_endpoints(devices, registers, 0, STEP_MS, Signals::Realistic).expect("endpoints");
    Simulator::start(IpAddr::V4(Ipv4Addr::LOCALHOST), endpoints)
        .await
        .expect("simulator")
}

/// A Modbus TCP device `name` on 127.0.0.1:`port` (unit 1) polling `map`.
pub fn device(
    name: &str,
    port: u16,
    map: &[RegisterPoint],
    interval: Duration,
    timeout: Duration,
) -> DeviceConfig {
    DeviceConfig {
        spec: DeviceSpec {
            name: name.into(),
            host: "127.0.0.1".into(),
            port,
            unit_id: 1,
            poll_interval_ms: u64::try_from(interval.as_millis()).expect("interval"),
            enabled: true,
            registers: map.to_vec(),
            access: Default::default(),
        },
        timeout,
    }
}

type Adjust = Box<dyn FnOnce(&mut Config)>;

/// What to start: see the module's documentation.
pub struct TestHistorian {
    name: String,
    fleet: Option<(usize, usize)>,
    simulator: Option<Simulator>,
    interval: Duration,
    timeout: Duration,
    devices: Vec<DeviceConfig>,
    storage: Option<StorageUrl>,
    adjust: Vec<Adjust>,
}

impl TestHistorian {
    /// A historian named `name` with no devices (so it polls those of its database).
    pub fn new(name: &str) -> Self {
        TestHistorian {
            name: name.into(),
            fleet: None,
            simulator: None,
            interval: Duration::from_millis(500),
            timeout: Duration::from_secs(1),
            devices: Vec::new(),
            storage: None,
            adjust: Vec::new(),
        }
    }

    /// Also starts [`fleet_simulator`]`(devices, registers)` and polls each of its devices
    /// (named `sim-000`, ...) for the reference map of `registers` registers.
    pub fn fleet(mut self, devices: usize, registers: usize) -> Self {
        self.fleet = Some((devices, registers));
        self
    }

    /// Keeps a simulator the test started, to be stopped with the historian.
    pub fn simulator(mut self, sim: Simulator) -> Self {
        self.simulator = Some(sim);
        self
    }

    /// How often the fleet's devices are polled (500 ms unless set).
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }

    /// The time-out of the fleet's devices (1 s unless set).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Polls `device` too.
    pub fn device(mut self, device: DeviceConfig) -> Self {
        self.devices.push(device);
        self
    }

    /// Stores in `storage` instead of a SQLite file in the temp folder.
    pub fn storage(mut self, storage: StorageUrl) -> Self {
        self.storage = Some(storage);
        self
    }

    /// Changes the config before the start.
    pub fn configure(mut self, adjust: impl FnOnce(&mut Config) + 'static) -> Self {
        self.adjust.push(Box::new(adjust));
        self
    }

    /// Starts the simulator (if asked for) and the historian, and waits until its API
    /// listens.
    pub async fn start(self) -> Running {
        let mut devices = Vec::new();
        let mut sim = self.simulator;
        if let Some((n, registers)) = self.fleet {
            let fleet = fleet_simulator(n, registers).await;
            let map = reference_map(registers);
            devices = device_configs(fleet.addrs(), &map, self.interval, self.timeout);
            assert!(sim.is_none(), "one simulator per test historian");
            sim = Some(fleet);
        }
        devices.extend(self.devices);
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = Config::built_in(&self.name, devices, &|_| None).expect("config");
        config.storage = self
            .storage
            .unwrap_or_else(|| StorageUrl::Sqlite(dir.path().join(format!("{}.db", self.name))));
        config.spool.dir = dir.path().join("spool");
        config.api_bind = "127.0.0.1:0".parse().expect("addr");
        for adjust in self.adjust {
            adjust(&mut config);
        }
        let historian = Historian::start(&config).await.expect("start");
        let base = historian.api_url.clone();
        Running {
            historian,
            sim,
            config,
            base,
            dir,
        }
    }
}

/// A started [`TestHistorian`]: move `historian` out to shut it down by hand, or [`stop`]
/// everything at once.
///
/// [`stop`]: Running::stop
pub struct Running {
    /// The historian.
    pub historian: Historian,
    /// The simulator it polls, if one was started or handed over.
    pub sim: Option<Simulator>,
    /// The config it was started with.
    pub config: Config,
    /// `http://` (or `https://`) and the API's address.
    pub base: String,
    /// The temp folder holding the SQLite file and the spool; removed when dropped.
    pub dir: tempfile::TempDir,
}

impl Running {
    /// The simulator's device addresses (panics if there is no simulator).
    pub fn sim_addrs(&self) -> &[std::net::SocketAddr] {
        self.sim.as_ref().expect("a simulator").addrs()
    }

    /// Shuts the historian down, then the simulator; hands back what outlives them.
    pub async fn stop(self) -> Stopped {
        let summary = self.historian.shutdown().await;
        if let Some(sim) = &self.sim {
            sim.shutdown();
        }
        Stopped {
            summary,
            config: self.config,
            dir: self.dir,
        }
    }
}

/// What is left of a [`Running`] test historian once stopped.
pub struct Stopped {
    /// The historian's totals.
    pub summary: Summary,
    /// The config it ran with.
    pub config: Config,
    /// The temp folder holding the SQLite file and the spool; removed when dropped.
    pub dir: tempfile::TempDir,
}

/// The log of this test process, written by a subscriber installed at the first call: for
/// a test that waits for something the historian only logs.
#[derive(Clone)]
pub struct Logs(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl Logs {
    /// True when some line logged since the first call holds `text`.
    pub fn contains(&self, text: &str) -> bool {
        let held = self.0.lock().unwrap_or_else(|e| e.into_inner());
        String::from_utf8_lossy(&held).contains(text)
    }

    /// Lines logged since the first call that hold every one of `parts` (tests running
    /// side by side in one process log into the same place: a part naming the test's own
    /// file or device keeps their lines apart).
    pub fn lines_with(&self, parts: &[&str]) -> usize {
        let held = self.0.lock().unwrap_or_else(|e| e.into_inner());
        String::from_utf8_lossy(&held)
            .lines()
            .filter(|l| parts.iter().all(|p| l.contains(p)))
            .count()
    }
}

impl std::io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut held = self.0.lock().unwrap_or_else(|e| e.into_inner());
        held.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Starts capturing this process's log (info and above) if not yet, and returns it.
pub fn captured_logs() -> Logs {
    static LOGS: std::sync::OnceLock<Logs> = std::sync::OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = Logs(Default::default());
        let writer = logs.clone();
        tracing_subscriber::fmt()
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .try_init()
            .expect("no other log subscriber in this test process");
        logs
    })
    .clone()
}

/// The sum of every series of metric `name` in a Prometheus text page (0 when absent).
pub fn metric_sum(page: &str, name: &str) -> f64 {
    page.lines()
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with(' ') || rest.starts_with('{'))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// `GET {base}/metrics`, or why not.
pub async fn scrape(base: &str) -> Result<String, String> {
    let resp = reqwest::get(format!("{base}/metrics"))
        .await
        .map_err(|e| e.to_string())?;
    if !resp.status().is_success() {
        return Err(format!("/metrics answered {}", resp.status()));
    }
    resp.text().await.map_err(|e| e.to_string())
}
