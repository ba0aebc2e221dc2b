//! Devices change while the historian runs: by an edit of its config file, or by another
//! process writing the device tables (SQLite and PostgreSQL). Each change must take effect
//! without a restart, and no polled reading may be lost across it.

mod common;

use common::{TestHistorian, fleet_simulator};
use historian_modbus::mapfile::to_csv;
use historian_model::DeviceSpec;
use historian_model::RegisterPoint;
use historian_sim::fleet::reference_map;
use historian_store::{StorageUrl, StoreOptions};
use historian_testkit::{PATIENCE, PgTestDb, require};
use modbus_historian::api::DeviceLatestResponse;
use modbus_historian::app::Historian;
use modbus_historian::config::Config;
use modbus_historian::registry::DeviceRuntime;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

const INTERVAL_MS: u64 = 200;

/// The latest readings of a device through the API, or `None` while it has none.
async fn latest(base: &str, device: &str) -> Option<DeviceLatestResponse> {
    let resp = reqwest::get(format!("{base}/api/register_readings/latest/{device}"))
        .await
        .ok()?;
    if !resp.status().is_success() {
        return None;
    }
    let body: DeviceLatestResponse = resp.json().await.ok()?;
    (!body.readings.is_empty()).then_some(body)
}

/// Waits until the device's latest readings cover exactly `registers` registers, newer
/// than `after`; panics after `limit`.
async fn wait_for_map(base: &str, device: &str, registers: usize, after: Instant, limit: Duration) {
    let since = chrono::Utc::now() - chrono::Duration::from_std(after.elapsed()).expect("span");
    let what = format!("{device}: a fresh poll of {registers} registers");
    let left = limit.saturating_sub(after.elapsed());
    historian_testkit::eventually(&what, left, async || match latest(base, device).await {
        Some(l)
            if l.readings.len() == registers && l.readings.iter().all(|r| r.timestamp >= since) =>
        {
            Ok(())
        }
        got => Err(format!("{got:?}")),
    })
    .await;
}

fn device_toml(name: &str, addr: SocketAddr, map: &[RegisterPoint], enabled: bool) -> String {
    let mut t = format!(
        "\n[[devices]]\nname = \"{name}\"\nhost = \"127.0.0.1\"\nport = {}\ninterval = \"{INTERVAL_MS}ms\"\nenabled = {enabled}\n",
        addr.port()
    );
    for p in map {
        t.push_str(&format!(
            "[[devices.registers]]\nname = \"{}\"\ntable = \"{}\"\naddress = {}\ndata_type = \"{}\"\nbyte_order = \"{}\"\n",
            p.name, p.register.table, p.register.address, p.data_type, p.word_order
        ));
    }
    t
}

fn write_config(path: &Path, dir: &Path, devices: &[String]) {
    write_atomically(path, &config_text(dir, devices));
}

fn config_text(dir: &Path, devices: &[String]) -> String {
    let mut text = format!(
        "[storage]\nurl = \"sqlite://{}\"\n[api]\nbind = \"127.0.0.1:0\"\n[spool]\ndir = \"{}\"\n",
        dir.join("h.db").display(),
        dir.join("spool").display()
    );
    for d in devices {
        text.push_str(d);
    }
    text
}

fn write_atomically(path: &Path, text: &str) {
    // Write-then-rename, as editors and config management do, so no half file is read.
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).expect("write config");
    std::fs::rename(&tmp, path).expect("rename config");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_file_edits_add_change_and_remove_devices_while_running() {
    let sim = fleet_simulator(2, 12).await;
    let map = reference_map(12);
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("historian.toml");
    let a = |n: usize| device_toml("a", sim.addrs()[0], &map[..n], true);
    let b = device_toml("b", sim.addrs()[1], &map[..4], true);
    write_config(&path, dir.path(), &[a(6)]);
    let config = Config::load(&path).expect("config");
    let h = Historian::start(&config).await.expect("start");
    let base = format!("http://{}", h.api_addr);
    let limit = historian_testkit::PATIENCE;
    wait_for_map(&base, "a", 6, Instant::now(), limit).await;

    // Add a device and change the other's map in one edit.
    write_config(&path, dir.path(), &[a(9), b.clone()]);
    let edited = Instant::now();
    wait_for_map(&base, "b", 4, edited, limit).await;
    wait_for_map(&base, "a", 9, edited, limit).await;

    // A broken edit is refused as a whole; the running devices go on.
    let logs = common::captured_logs();
    std::fs::write(&path, "[[devices]]\nname = 12\n").expect("write broken config");
    historian_testkit::eventually("the broken edit refused", limit, async || {
        match logs.contains("config edit not applied") {
            true => Ok(()),
            false => Err("not yet read".to_string()),
        }
    })
    .await;
    let broken = Instant::now();
    wait_for_map(&base, "a", 9, broken, limit).await;
    wait_for_map(&base, "b", 4, broken, limit).await;

    // Remove a: its poller stops, b goes on.
    write_config(&path, dir.path(), &[b]);
    historian_testkit::eventually("a left the registry", limit, || async {
        match h.registry.by_name("a") {
            Some(_) => Err("a still polled".to_string()),
            None => Ok(()),
        }
    })
    .await;
    let removed = Instant::now();
    wait_for_map(&base, "b", 4, removed, limit).await;
    let a_last = latest(&base, "a").await;
    assert!(a_last.is_none(), "a is no longer served as a live device");

    let summary = h.shutdown().await;
    sim.shutdown();
    assert_eq!(summary.lost, 0);
    assert_eq!(
        summary.stored, summary.polled,
        "no reading lost across reloads"
    );
}

async fn database_edits_are_applied(storage: StorageUrl, test: &str) {
    let sim = fleet_simulator(2, 12).await;
    let map = reference_map(12);
    let h = TestHistorian::new(test)
        .storage(storage.clone())
        .simulator(sim)
        .start()
        .await;
    let sim = h.sim.as_ref().expect("simulator");
    let base = h.base.clone();
    // Another process: its own connection to the same database.
    let other = historian_store::open(&storage, &StoreOptions::default())
        .await
        .expect("second store");
    let spec = |name: &str, addr: SocketAddr, n: usize, enabled: bool| DeviceSpec {
        name: name.into(),
        host: "127.0.0.1".into(),
        port: addr.port(),
        unit_id: 1,
        poll_interval_ms: INTERVAL_MS,
        enabled,
        registers: map[..n].to_vec(),
        access: Default::default(),
    };
    // No wait for the historian's watch to begin: once watching, it reloads once.
    let limit = historian_testkit::PATIENCE;

    let t = Instant::now();
    other
        .write_devices(&[spec("x", sim.addrs()[0], 5, true)], false)
        .await
        .expect("add x");
    wait_for_map(&base, "x", 5, t, limit).await;

    let t = Instant::now();
    other
        .write_devices(
            &[
                spec("x", sim.addrs()[0], 8, true),
                spec("y", sim.addrs()[1], 3, true),
            ],
            false,
        )
        .await
        .expect("edit x, add y");
    wait_for_map(&base, "x", 8, t, limit).await;
    wait_for_map(&base, "y", 3, t, limit).await;

    other
        .write_devices(&[spec("x", sim.addrs()[0], 8, false)], false)
        .await
        .expect("disable x");
    historian_testkit::eventually("disabled x left the registry", limit, || async {
        match h.historian.registry.by_name("x") {
            Some(_) => Err("disabled x still polled".to_string()),
            None => Ok(()),
        }
    })
    .await;
    let t = Instant::now();
    wait_for_map(&base, "y", 3, t, limit).await;

    let summary = h.stop().await.summary;
    assert_eq!(summary.lost, 0);
    assert_eq!(
        summary.stored, summary.polled,
        "no reading lost across reloads"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_device_table_edits_by_another_process_are_applied() {
    let dir = tempfile::tempdir().expect("temp dir");
    database_edits_are_applied(
        StorageUrl::Sqlite(dir.path().join("shared.db")),
        "sqlite_device_table_edits_by_another_process_are_applied",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_device_table_edits_announced_by_notify_are_applied() {
    let test = "postgres_device_table_edits_announced_by_notify_are_applied";
    let Some(db) = require(test, PgTestDb::create().await) else {
        return;
    };
    database_edits_are_applied(StorageUrl::Postgres(db.url.clone()), test).await;
}

/// `modbus-historian devices import` run as a separate process against the database of a
/// running historian: the new map is polled without a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn devices_import_by_another_process_is_applied() {
    let sim = fleet_simulator(1, 12).await;
    let map = reference_map(12);
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("shared.db");
    let storage = StorageUrl::Sqlite(db.clone());
    let other = historian_store::open(&storage, &StoreOptions::default())
        .await
        .expect("store");
    other
        .write_devices(
            &[DeviceSpec {
                name: "meter".into(),
                host: "127.0.0.1".into(),
                port: sim.addrs()[0].port(),
                unit_id: 1,
                poll_interval_ms: INTERVAL_MS,
                enabled: true,
                registers: map[..3].to_vec(),
                access: Default::default(),
            }],
            false,
        )
        .await
        .expect("seed device");
    let h = TestHistorian::new("import")
        .storage(storage)
        .simulator(sim)
        .start()
        .await;
    let base = h.base.clone();
    let limit = historian_testkit::PATIENCE;
    wait_for_map(&base, "meter", 3, Instant::now(), limit).await;

    // A CSV map of 7 registers the simulator serves (the reference map's first seven).
    let csv = to_csv(&map[..7]);
    let file = dir.path().join("meter.csv");
    std::fs::write(&file, csv).expect("write map");
    let t = Instant::now();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_modbus-historian"))
        .args(["devices", "import", "--device", "meter", "--database-url"])
        .arg(format!("sqlite://{}", db.display()))
        .arg(&file)
        .env("HISTORIAN_LOG", "warn")
        .output()
        .expect("run import");
    assert!(
        out.status.success(),
        "import failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    wait_for_map(&base, "meter", 7, t, limit).await;

    let summary = h.stop().await.summary;
    assert_eq!(summary.lost, 0);
    assert_eq!(summary.stored, summary.polled);
}

/// Editing a register map file that the config file names reloads that device.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn editing_a_map_file_named_by_the_config_reloads_its_device() {
    let sim = fleet_simulator(1, 12).await;
    let map = reference_map(12);
    let dir = tempfile::tempdir().expect("temp dir");
    let write_map = |n: usize| {
        let csv = to_csv(&map[..n]);
        let tmp = dir.path().join("m.tmp");
        std::fs::write(&tmp, csv).expect("write map");
        std::fs::rename(&tmp, dir.path().join("m.csv")).expect("rename map");
    };
    write_map(4);
    let device = format!(
        "\n[[devices]]\nname = \"m\"\nhost = \"127.0.0.1\"\nport = {}\ninterval = \"{INTERVAL_MS}ms\"\nregister_map = \"m.csv\"\n",
        sim.addrs()[0].port()
    );
    let path = dir.path().join("historian.toml");
    write_config(&path, dir.path(), &[device]);
    let h = Historian::start(&Config::load(&path).expect("config"))
        .await
        .expect("start");
    let base = format!("http://{}", h.api_addr);
    let limit = historian_testkit::PATIENCE;
    wait_for_map(&base, "m", 4, Instant::now(), limit).await;
    let t = Instant::now();
    write_map(10);
    wait_for_map(&base, "m", 10, t, limit).await;
    let summary = h.shutdown().await;
    sim.shutdown();
    assert_eq!(summary.lost, 0);
    assert_eq!(summary.stored, summary.polled);
}

/// Devices the historian polls, by name, with the runtime its poller was started for.
fn pollers(h: &Historian) -> HashMap<String, Arc<DeviceRuntime>> {
    h.registry
        .devices()
        .into_iter()
        .map(|d| (d.name().to_string(), d))
        .collect()
}

/// Each of `before` is still polled by the same poller (not stopped, not restarted).
fn assert_same_pollers(h: &Historian, before: &HashMap<String, Arc<DeviceRuntime>>, when: &str) {
    let now = pollers(h);
    for (name, dev) in before {
        let same = now.get(name).is_some_and(|d| Arc::ptr_eq(d, dev));
        assert!(same, "{when}: the poller of {name} was stopped or replaced");
    }
}

/// The stored devices by name and whether each is enabled.
async fn stored_enabled(h: &Historian) -> HashMap<String, bool> {
    h.store
        .list_devices()
        .await
        .expect("list devices")
        .into_iter()
        .map(|r| (r.spec.name, r.spec.enabled))
        .collect()
}

/// Waits until `logs` holds more than `before` lines with all of `parts`.
async fn wait_for_log(logs: &common::Logs, parts: &[&str], before: usize) {
    let what = format!("a new log line with {parts:?}");
    historian_testkit::eventually(&what, PATIENCE, async || match logs.lines_with(parts) {
        n if n > before => Ok(()),
        n => Err(format!("{n} such lines")),
    })
    .await;
}

/// Waits like [`wait_for_log`], or until the set of pollers differs from `running`
/// (which the caller then reports as the failure it is).
async fn wait_for_log_or_change(
    h: &Historian,
    running: &HashMap<String, Arc<DeviceRuntime>>,
    logs: &common::Logs,
    parts: &[&str],
    before: usize,
) {
    let what = format!("a new log line with {parts:?}, or a poller stopped");
    historian_testkit::eventually(&what, PATIENCE, async || {
        let now = pollers(h);
        let changed = now.len() != running.len()
            || running
                .iter()
                .any(|(n, d)| !now.get(n).is_some_and(|x| Arc::ptr_eq(x, d)));
        match logs.lines_with(parts) {
            _ if changed => Ok(()),
            n if n > before => Ok(()),
            n => Err(format!("{n} such lines")),
        }
    })
    .await;
}

/// A config file emptied by a save in place (or a `>` redirect) and written back stops
/// nothing; one left empty is refused with a warning and the devices go on, enabled in
/// the database; removing some devices stops those; `devices = []` stops them all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_emptied_config_file_stops_nothing_unless_it_says_devices_none() {
    let sim = fleet_simulator(3, 12).await;
    let map = reference_map(12);
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("historian.toml");
    let names = ["a", "b", "c"];
    let devices: Vec<String> = names
        .iter()
        .zip(sim.addrs())
        .map(|(n, addr)| device_toml(n, *addr, &map[..4], true))
        .collect();
    write_config(&path, dir.path(), &devices);
    let full = std::fs::read_to_string(&path).expect("read config");
    let h = Historian::start(&Config::load(&path).expect("config"))
        .await
        .expect("start");
    let base = format!("http://{}", h.api_addr);
    let file = path.display().to_string();
    let logs = common::captured_logs();
    let started = Instant::now();
    for n in names {
        wait_for_map(&base, n, 4, started, PATIENCE).await;
    }
    let before = pollers(&h);
    assert_eq!(before.len(), 3);
    let all_enabled: HashMap<String, bool> = names.iter().map(|n| (n.to_string(), true)).collect();
    let cut_short = ["looks cut short", file.as_str()];
    let back = ["back to the version running", file.as_str()];
    let refused = [
        "now lists no devices; keeping the 3 running; write `devices = []` in it to stop them all",
        "WARN",
        file.as_str(),
    ];

    // Emptied in place, then written back in place once the historian has read it empty.
    let (seen, restored) = (logs.lines_with(&cut_short), logs.lines_with(&back));
    std::fs::File::create(&path).expect("truncate config");
    wait_for_log_or_change(&h, &before, &logs, &cut_short, seen).await;
    assert_same_pollers(&h, &before, "emptied");
    std::fs::write(&path, &full).expect("write the config back");
    wait_for_log(&logs, &back, restored).await;
    assert_same_pollers(&h, &before, "emptied and written back");
    assert_eq!(stored_enabled(&h).await, all_enabled);

    // Left empty: refused, and polling goes on.
    let warned = logs.lines_with(&refused);
    std::fs::File::create(&path).expect("truncate config");
    wait_for_log_or_change(&h, &before, &logs, &refused, warned).await;
    let t = Instant::now();
    for n in names {
        wait_for_map(&base, n, 4, t, PATIENCE).await;
    }
    assert_same_pollers(&h, &before, "left empty");
    assert_eq!(stored_enabled(&h).await, all_enabled);

    // Written back: nothing to change.
    let restored = logs.lines_with(&back);
    std::fs::write(&path, &full).expect("write the config back");
    wait_for_log(&logs, &back, restored).await;
    assert_same_pollers(&h, &before, "written back again");

    // Not TOML (a save caught half-way through a table header, left so): refused with
    // the place of the mistake, and the devices go on.
    let at_line = format!("{file}:2:");
    let told = logs.lines_with(&[&at_line]);
    std::fs::write(&path, "[storage]\n[[devices]\nname = ").expect("write broken config");
    wait_for_log_or_change(&h, &before, &logs, &[&at_line], told).await;
    assert_same_pollers(&h, &before, "not TOML");
    let restored = logs.lines_with(&back);
    std::fs::write(&path, &full).expect("write the config back");
    wait_for_log(&logs, &back, restored).await;

    // Some devices removed: those stop, the others go on as they were.
    write_config(&path, dir.path(), &devices[..2]);
    historian_testkit::eventually("c stopped", PATIENCE, || async {
        match h.registry.by_name("c") {
            Some(_) => Err("c still polled".to_string()),
            None => Ok(()),
        }
    })
    .await;
    let kept: HashMap<_, _> = before
        .iter()
        .filter(|(n, _)| *n != "c")
        .map(|(n, d)| (n.clone(), Arc::clone(d)))
        .collect();
    assert_same_pollers(&h, &kept, "c removed");
    let mut expected = all_enabled.clone();
    expected.insert("c".into(), false);
    assert_eq!(stored_enabled(&h).await, expected);

    // `devices = []`: every device stops, and is disabled in the database.
    write_atomically(
        &path,
        &format!("devices = []\n{}", config_text(dir.path(), &[])),
    );
    historian_testkit::eventually("every device stopped", PATIENCE, || async {
        match pollers(&h).len() {
            0 => Ok(()),
            n => Err(format!("{n} devices still polled")),
        }
    })
    .await;
    let none_enabled: HashMap<String, bool> =
        names.iter().map(|n| (n.to_string(), false)).collect();
    assert_eq!(stored_enabled(&h).await, none_enabled);

    let summary = h.shutdown().await;
    sim.shutdown();
    assert_eq!(summary.lost, 0);
    assert_eq!(
        summary.stored, summary.polled,
        "no reading lost across reloads"
    );
}
