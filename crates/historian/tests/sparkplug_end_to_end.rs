//! The whole historian as a Sparkplug B edge node: the real binary runs as a child with
//! `[mqtt] format = "sparkplug_b"`, polls a simulated fleet of two devices and publishes
//! to a real broker, where a host application subscribed to the group sees the births,
//! the data, the rebirth on request and, once the process is killed with SIGKILL, the
//! NDEATH the broker delivers as its will. Without a broker the tests report themselves
//! skipped by name (and fail under `CI=true`).

mod common;
#[path = "common/sparkplug_host.rs"]
mod sparkplug_host;

use common::fleet_simulator;
use historian_sim::fleet::reference_map;
use historian_testkit::{mqtt_broker, require, unique_name};
use sparkplug_host::{SparkplugHost, bd_seq};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};

const DEVICES: usize = 2;
const POINTS: usize = 4;
const EDGE: &str = "edge";

/// The historian child; killed with SIGKILL when a test ends early.
struct Historian(Child);

impl Drop for Historian {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn write_config(path: &Path, db: &Path, broker: &str, group: &str, sim: &[SocketAddr]) {
    let mut text = format!(
        "[storage]\nurl = \"sqlite://{}\"\n\n[api]\nbind = \"127.0.0.1:0\"\n\n\
         [mqtt]\nurl = \"mqtt://{broker}\"\nformat = \"sparkplug_b\"\n\
         group_id = \"{group}\"\nedge_node_id = \"{EDGE}\"\nclient_id = \"{}\"\nkeep_alive = \"2s\"\n",
        db.display(),
        unique_name("historian"),
    );
    let map = reference_map(POINTS);
    for (i, addr) in sim.iter().enumerate() {
        text.push_str(&format!(
            "\n[[devices]]\nname = \"sim-{i:03}\"\nhost = \"127.0.0.1\"\nport = {}\ninterval = \"200ms\"\n",
            addr.port(),
        ));
        for p in &map {
            text.push_str(&format!(
                "[[devices.registers]]\nname = \"{}\"\ntable = \"{}\"\naddress = {}\ndata_type = \"{}\"\nbyte_order = \"{}\"\n",
                p.name, p.register.table, p.register.address, p.data_type, p.word_order
            ));
        }
    }
    std::fs::write(path, text).expect("write config");
}

/// Starts the binary on `config` and waits for its banner, so the MQTT link is starting.
fn start_historian(config: &Path, log: &Path) -> Historian {
    let mut child = Command::new(env!("CARGO_BIN_EXE_modbus-historian"))
        .args(["run", "--config"])
        .arg(config)
        .env("HISTORIAN_LOG", "warn")
        .env_remove("HISTORIAN_DATABASE_URL")
        .env_remove("HISTORIAN_API_BIND")
        .env_remove("HISTORIAN_MQTT_PASSWORD")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(log).expect("log file"))
        .spawn()
        .expect("start historian");
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    let mut banner = String::new();
    out.read_line(&mut banner).expect("read banner");
    assert!(
        banner.starts_with("modbus-historian running: "),
        "no banner: {banner:?}\n{}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
    // Keeps stdout drained, so the child never blocks on a full pipe.
    std::thread::spawn(move || {
        let mut sink = String::new();
        while out.read_line(&mut sink).unwrap_or(0) > 0 {
            sink.clear();
        }
    });
    Historian(child)
}

fn device_names() -> Vec<String> {
    (0..DEVICES).map(|i| format!("sim-{i:03}")).collect()
}

/// The births of one session: NBIRTH (seq 0) then a DBIRTH per device. Returns the bdSeq.
async fn births(host: &mut SparkplugHost) -> u64 {
    let birth = host.until("NBIRTH").await;
    assert_eq!(birth.payload.seq, Some(0), "NBIRTH opens the sequence");
    let b = bd_seq(&birth.payload);
    let mut born = Vec::new();
    for _ in 0..DEVICES {
        let m = host.next().await;
        assert_eq!(m.verb, "DBIRTH", "births come before data");
        assert!(
            !m.payload.metrics.is_empty(),
            "the DBIRTH of {:?} declares its metrics",
            m.device
        );
        born.push(m.device.expect("a device id"));
    }
    born.sort();
    assert_eq!(born, device_names(), "a DBIRTH per device");
    b
}

struct Setup {
    group: String,
    host: SparkplugHost,
    historian: Historian,
    _sim: historian_sim::Simulator,
    _dir: tempfile::TempDir,
}

async fn setup(test: &str) -> Option<Setup> {
    let broker = require(test, mqtt_broker())?;
    let group = unique_name("plant");
    let (address, port) = broker.rsplit_once(':').expect("HOST:PORT");
    let port = port.parse().expect("port");
    let host = SparkplugHost::subscribe(address, port, &group, EDGE).await;
    let sim = fleet_simulator(DEVICES, POINTS).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("historian.toml");
    write_config(
        &config,
        &dir.path().join("h.db"),
        &broker,
        &group,
        sim.addrs(),
    );
    let historian = start_historian(&config, &dir.path().join("historian.log"));
    Some(Setup {
        group,
        host,
        historian,
        _sim: sim,
        _dir: dir,
    })
}

/// NBIRTH with bdSeq b, a DBIRTH per device, DDATA; after `kill -9` the broker delivers
/// the will, an NDEATH carrying the same bdSeq b.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_historian_leaves_an_ndeath_with_its_births_bdseq() {
    let test = "sparkplug_end_to_end::a_killed_historian_leaves_an_ndeath_with_its_births_bdseq";
    let Some(mut s) = setup(test).await else {
        return;
    };
    let b = births(&mut s.host).await;
    let data = s.host.until("DDATA").await;
    assert!(
        device_names().contains(&data.device.clone().expect("a device id")),
        "{:?}",
        data.device
    );
    assert!(!data.payload.metrics.is_empty(), "DDATA carries readings");

    // SIGKILL: no DISCONNECT, the kernel closes the socket and the broker sends the will.
    s.historian.0.kill().expect("kill -9 the historian");
    s.historian.0.wait().expect("reap the historian");
    let death = s.host.until("NDEATH").await;
    assert_eq!(death.device, None);
    assert_eq!(bd_seq(&death.payload), b, "the will pairs with the NBIRTH");
}

/// An NCMD `Node Control/Rebirth` sent through the broker makes the running historian
/// repeat its NBIRTH (same bdSeq, seq 0) and a DBIRTH per device.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rebirth_request_makes_the_running_historian_repeat_its_births() {
    let test =
        "sparkplug_end_to_end::a_rebirth_request_makes_the_running_historian_repeat_its_births";
    let Some(mut s) = setup(test).await else {
        return;
    };
    let b = births(&mut s.host).await;
    s.host.until("DDATA").await;

    s.host.request_rebirth(&s.group).await;
    let again = births(&mut s.host).await;
    assert_eq!(again, b, "the same connection keeps its bdSeq");
    s.host.until("DDATA").await;
}
