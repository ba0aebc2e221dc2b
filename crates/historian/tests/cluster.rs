//! Several historians on one PostgreSQL database, as real processes on loopback: they start
//! together on a fresh database without racing; in cluster mode they share 90 simulated
//! devices polled every second, hand them over on SIGTERM and on a join with no slot
//! missed, take over a killed node's devices within the failover bound, and a node cut off
//! from the database stops polling before its leases expire, then replays its own spool
//! when let back in. Missed and doubled slots are
//! counted per device from the stored timestamps; the simulator counts each device's
//! concurrent connections, which must never exceed one.

mod common;

use common::process::{HistorianChild, ProcessConfig, historian_command, terminate};
use common::{fleet_simulator, metric_sum, scrape};
use historian_sim::fleet::reference_map;
use historian_testkit::{PATIENCE, PgTestDb, now_ms, require};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::Duration;

const POINTS: usize = 4;

/// The config of node `name`: the devices of `sim` polled every second, its own spool
/// folder, `extra` sections.
fn write_config(dir: &Path, node: &str, db_url: &str, sim: &[SocketAddr], extra: &str) -> PathBuf {
    ProcessConfig::new(db_url, &dir.join(format!("spool-{node}")))
        .fleet(sim, POINTS, Duration::from_secs(1))
        .section(extra)
        .write(&dir.join(format!("{node}.toml")))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_historians_started_together_on_a_fresh_database_all_come_up() {
    let test = "three_historians_started_together_on_a_fresh_database_all_come_up";
    let Some(db) = require(test, PgTestDb::create().await) else {
        return;
    };
    let sim = fleet_simulator(3, POINTS).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let configs: Vec<PathBuf> = (0..3)
        .map(|i| write_config(dir.path(), &format!("n{i}"), &db.url, sim.addrs(), ""))
        .collect();
    // Spawned back to back, before any of them is waited for: they migrate the same empty
    // database at the same moment.
    let spawned: Vec<Child> = configs
        .iter()
        .map(|c| historian_command(c).spawn().expect("start historian"))
        .collect();
    let children: Vec<HistorianChild> = spawned.into_iter().map(HistorianChild::started).collect();
    let client = db.client().await.expect("client");
    historian_testkit::eventually("every device polled and stored", PATIENCE, async || {
        let row = client
            .query_one(
                "SELECT count(DISTINCT device_id) FROM register_readings",
                &[],
            )
            .await
            .map_err(|e| e.to_string())?;
        match row.get::<_, i64>(0) {
            3 => Ok(()),
            n => Err(format!("{n} devices stored")),
        }
    })
    .await;
    for c in &children {
        terminate(&c.child);
    }
    for c in children {
        let end = c.wait();
        assert!(end.status.success(), "a historian failed: {}", end.stderr);
    }
    sim.shutdown();
}

/// Devices of the cluster test, polled every second.
const FLEET: usize = 90;
/// `lease_ttl` + `heartbeat` + one interval with the defaults, in 1 s slots: the most slots
/// a killed node's device may miss.
const FAILOVER_SLOTS: i64 = 5;

const CLUSTER: &str = "[cluster]\nenabled = true\n";

/// One node: its name and process.
struct Node {
    name: String,
    process: HistorianChild,
}

/// Starts node `name` in cluster mode, polling the devices of `sim` (those of its database
/// when there are none), logging to `<name>.log` in `dir`.
fn start_node(dir: &Path, name: &str, db_url: &str, sim: &[SocketAddr]) -> Node {
    let extra = format!("{CLUSTER}node = \"{name}\"\n");
    let config = write_config(dir, name, db_url, sim, &extra);
    let log = std::fs::File::create(dir.join(format!("{name}.log"))).expect("log file");
    let mut cmd = historian_command(&config);
    cmd.env("HISTORIAN_LOG", "info").stderr(log);
    Node {
        name: name.into(),
        process: HistorianChild::start(cmd),
    }
}

#[derive(Debug, serde::Deserialize)]
struct ClusterNode {
    name: String,
    state: String,
    devices_held: i64,
}

#[derive(Debug, serde::Deserialize)]
struct ClusterAnswer {
    nodes: Vec<ClusterNode>,
    devices_without_owner: i64,
}

#[derive(Debug, serde::Deserialize)]
struct DeviceAnswer {
    id: i64,
    name: String,
    owner: Option<String>,
}

async fn get_json<T: serde::de::DeserializeOwned>(url: String) -> Result<T, String> {
    let resp = reqwest::get(&url).await.map_err(|e| e.to_string())?;
    if !resp.status().is_success() {
        return Err(format!("{url} answered {}", resp.status()));
    }
    let text = resp.text().await.map_err(|e| e.to_string())?;
    serde_json::from_str(&text).map_err(|e| format!("{e}: {text}"))
}

/// Devices held per live node, as `node`'s API reports them.
async fn shares(node: &Node) -> Result<(HashMap<String, i64>, i64), String> {
    let c: ClusterAnswer = get_json(format!("{}/api/cluster", node.process.api)).await?;
    let held = c
        .nodes
        .into_iter()
        .filter(|n| n.state == "active")
        .map(|n| (n.name, n.devices_held))
        .collect();
    Ok((held, c.devices_without_owner))
}

/// Waits until exactly `names` are alive and share the fleet of `fleet` devices fairly,
/// every device owned.
async fn wait_for_shares(via: &Node, names: &[&str], fleet: usize) -> HashMap<String, i64> {
    let mut last = HashMap::new();
    let fleet = fleet as i64;
    let fair = (fleet + names.len() as i64 - 1) / names.len() as i64;
    historian_testkit::eventually("the fleet shared fairly", PATIENCE, async || {
        let (held, unowned) = shares(via).await?;
        last = held.clone();
        let total: i64 = held.values().sum();
        let ok = held.len() == names.len()
            && names.iter().all(|n| {
                held.get(*n)
                    .is_some_and(|&h| (fair - 1..=fair).contains(&h))
            })
            && total == fleet
            && unowned == 0;
        if ok {
            Ok(())
        } else {
            Err(format!("held {held:?}, {unowned} without owner"))
        }
    })
    .await;
    last
}

/// Each device's owner, from `via`'s device list.
async fn owners(via: &Node) -> HashMap<i64, String> {
    let devices: Vec<DeviceAnswer> = get_json(format!("{}/api/devices", via.process.api))
        .await
        .expect("devices");
    devices
        .into_iter()
        .filter_map(|d| Some((d.id, d.owner?)))
        .collect()
}

/// Per device, the slots missed and the slots polled twice between `from` and `to` (Unix
/// milliseconds), from the stored poll timestamps.
async fn slots(client: &tokio_postgres::Client, from: i64, to: i64) -> HashMap<i64, (i64, i64)> {
    let rows = client
        .query(
            "SELECT device_id, (extract(epoch FROM timestamp) * 1000)::bigint AS ms \
             FROM register_readings \
             WHERE timestamp >= to_timestamp($1::float8 / 1000) \
               AND timestamp <= to_timestamp($2::float8 / 1000) \
             GROUP BY 1, 2 ORDER BY 1, 2",
            &[&(from as f64), &(to as f64)],
        )
        .await
        .expect("timestamps");
    let mut by_device: HashMap<i64, Vec<i64>> = HashMap::new();
    for r in &rows {
        by_device.entry(r.get(0)).or_default().push(r.get(1));
    }
    by_device
        .into_iter()
        .map(|(d, ts)| {
            // The window's ends count as polls: up to half a slot of jitter either way.
            let edge = |gap: i64| ((gap + 500) / 1000 - 1).max(0);
            let mut missed = edge(ts[0] - from) + edge(to - ts[ts.len() - 1]);
            let mut doubled = 0;
            for w in ts.windows(2) {
                let gap = w[1] - w[0];
                if gap < 500 {
                    doubled += 1;
                } else {
                    missed += (gap + 500) / 1000 - 1;
                }
            }
            (d, (missed, doubled))
        })
        .collect()
}

/// What the database and the nodes' logs say of `device` (for a failed assertion).
async fn explain(client: &tokio_postgres::Client, dir: &Path, device: i64, t0: i64) -> String {
    let ts: Vec<i64> = client
        .query(
            "SELECT DISTINCT (extract(epoch FROM timestamp) * 1000)::bigint FROM register_readings \
             WHERE device_id = $1 ORDER BY 1",
            &[&device],
        )
        .await
        .map(|rows| rows.iter().map(|r| r.get::<_, i64>(0) - t0).collect())
        .unwrap_or_default();
    let lease = client
        .query_one(
            "SELECT owner, previous_owner, change_kind, \
               (extract(epoch FROM changed_at) * 1000)::bigint - $2, \
               (extract(epoch FROM valid_from) * 1000)::bigint - $2, fencing \
             FROM device_leases WHERE device_id = $1",
            &[&device, &t0],
        )
        .await
        .map(|l| {
            format!(
                "owner {:?} from {:?} kind {:?} changed {:?} valid_from {:?} fencing {:?}",
                l.get::<_, Option<String>>(0),
                l.get::<_, Option<String>>(1),
                l.get::<_, Option<String>>(2),
                l.get::<_, Option<i64>>(3),
                l.get::<_, Option<i64>>(4),
                l.get::<_, i64>(5),
            )
        })
        .unwrap_or_default();
    let needle = format!("device_id={device} ");
    let mut logs = String::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "log") {
            for line in std::fs::read_to_string(&path).unwrap_or_default().lines() {
                if line.contains(&needle)
                    || line.contains("cluster:") && !line.contains("device_id=")
                {
                    logs.push_str(&format!("{}: {line}\n", path.display()));
                }
            }
        }
    }
    format!("device {device}: polls at {ts:?} ms from t0; lease {lease}\n{logs}")
}

/// Waits until every device has a reading stored after `t` (Unix ms).
async fn stored_after(client: &tokio_postgres::Client, t: i64) {
    historian_testkit::eventually("every device stored up to now", PATIENCE, async || {
        let n: i64 = client
            .query_one(
                "SELECT count(DISTINCT device_id) FROM register_readings \
                 WHERE timestamp > to_timestamp($1::float8 / 1000)",
                &[&(t as f64)],
            )
            .await
            .map_err(|e| e.to_string())?
            .get(0);
        if n == FLEET as i64 {
            Ok(())
        } else {
            Err(format!("{n} devices stored after the instant"))
        }
    })
    .await;
}

/// `url` with `role` as its user.
fn as_role(url: &str, role: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("a URL");
    let host = rest.split_once('@').map_or(rest, |(_, h)| h);
    format!("{scheme}://{role}@{host}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_shares_the_fleet_hands_over_and_fails_over_without_two_masters() {
    let test = "a_cluster_shares_the_fleet_hands_over_and_fails_over_without_two_masters";
    let Some(db) = require(test, PgTestDb::create().await) else {
        return;
    };
    let sim = fleet_simulator(FLEET, 2).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let client = db.client().await.expect("client");
    let role = historian_testkit::unique_name("node");
    client
        .batch_execute(&format!("CREATE ROLE \"{role}\" LOGIN SUPERUSER"))
        .await
        .expect("role");

    // Three nodes started together share the fleet 30/30/30.
    let mut nodes: Vec<Node> = ["n0", "n1", "n2"]
        .iter()
        .map(|n| start_node(dir.path(), n, &db.url, sim.addrs()))
        .collect();
    wait_for_shares(&nodes[0], &["n0", "n1", "n2"], FLEET).await;
    // Counted from once every device is polled steadily: a device claimed just now is
    // polled from its next slot on.
    let steady = now_ms() + 1_500;
    stored_after(&client, steady + 1_000).await;

    // kill -9 of n2: its devices are polled again within the bound, the others miss nothing.
    let before = owners(&nodes[0]).await;
    // n0 answers for a device n1 polls: its latest values come from the database.
    let (elsewhere, _) = before
        .iter()
        .find(|(_, o)| o.as_str() == "n1")
        .expect("a device of n1");
    let latest: serde_json::Value = get_json(format!(
        "{}/api/register_readings/latest/{elsewhere}",
        nodes[0].process.api
    ))
    .await
    .expect("latest");
    let readings = latest["readings"].as_array().expect("readings");
    assert_eq!(readings.len(), POINTS, "{latest}");
    assert!(readings[0]["age_ms"].as_i64().is_some(), "{latest}");
    let killed = nodes.remove(2);
    let t_kill = now_ms();
    let mut process = killed.process;
    process.child.kill().expect("SIGKILL");
    let _ = process.wait();
    wait_for_shares(&nodes[0], &["n0", "n1"], FLEET).await;
    let settled = now_ms();
    stored_after(&client, settled + 2_500).await;
    let counted = slots(&client, steady, settled).await;
    for (device, owner) in &before {
        let (missed, doubled) = counted.get(device).copied().unwrap_or((i64::MAX, 0));
        assert_eq!(doubled, 0, "device {device} polled twice in a slot");
        if owner == "n2" {
            assert!(
                missed <= FAILOVER_SLOTS,
                "device {device} of the killed node missed {missed} slots"
            );
        } else {
            if missed != 0 {
                panic!(
                    "device {device} of {owner} missed {missed} slots\n{}",
                    explain(&client, dir.path(), *device, t_kill).await
                );
            }
        }
    }

    // SIGTERM of n1: its devices move with no slot missed.
    let leaving = nodes.remove(1);
    let t_term = now_ms();
    let end = leaving.process.stop();
    assert!(end.status.success(), "n1: {}", end.stderr);
    wait_for_shares(&nodes[0], &["n0"], FLEET).await;
    let t_after = now_ms() + 2_000;
    stored_after(&client, t_after).await;
    for (device, (missed, doubled)) in
        slots(&client, (settled + 1_500).max(t_term - 3_000), t_after).await
    {
        if (missed, doubled) != (0, 0) {
            panic!(
                "device {device} across the SIGTERM handover: {missed} missed, {doubled} doubled\n{}",
                explain(&client, dir.path(), device, t_term).await
            );
        }
    }

    // A node joins: the shares rebalance with no slot missed.
    let extra = format!("{CLUSTER}node = \"n3\"\n");
    let config = write_config(
        dir.path(),
        "n3",
        &as_role(&db.url, &role),
        sim.addrs(),
        &extra,
    );
    let t_join = now_ms();
    let log = std::fs::File::create(dir.path().join("n3.log")).expect("log file");
    let mut cmd = historian_command(&config);
    cmd.env("HISTORIAN_LOG", "info").stderr(log);
    let joined = Node {
        name: "n3".into(),
        process: HistorianChild::start(cmd),
    };
    wait_for_shares(&nodes[0], &["n0", "n3"], FLEET).await;
    let t_after = now_ms() + 2_000;
    stored_after(&client, t_after).await;
    for (device, (missed, doubled)) in slots(&client, t_join - 2_000, t_after).await {
        if (missed, doubled) != (0, 0) {
            panic!(
                "device {device} across the join: {missed} missed, {doubled} doubled\n{}",
                explain(&client, dir.path(), device, t_join).await
            );
        }
    }

    // n3's sessions are killed and its reconnects refused: it stops polling before its
    // leases expire (no device ever sees two connections), says so on /metrics, and n0
    // takes its devices over.
    let t_cut = now_ms();
    client
        .batch_execute(&format!(
            "ALTER ROLE \"{role}\" NOLOGIN; \
             SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{role}'"
        ))
        .await
        .expect("cut n3 off");
    historian_testkit::eventually("n3 reports its leases lost", PATIENCE, async || {
        let page = scrape(&joined.process.api).await?;
        let lost = metric_sum(&page, "historian_cluster_leases_lost_total");
        let held = metric_sum(&page, "historian_cluster_leases_held");
        if lost > 0.0 && held == 0.0 {
            Ok(())
        } else {
            Err(format!("lost {lost}, held {held}"))
        }
    })
    .await;
    wait_for_shares(&nodes[0], &["n0"], FLEET).await;

    // n3 is let back in: it replays what it spooled while cut off, although n0 polls those
    // devices now, and rejoins. No slot was polled twice, none missed beyond the bound.
    client
        .batch_execute(&format!("ALTER ROLE \"{role}\" LOGIN"))
        .await
        .expect("let n3 back in");
    historian_testkit::eventually("n3 replays its spool", PATIENCE, async || {
        let page = scrape(&joined.process.api).await?;
        match metric_sum(&page, "historian_spool_replayed_readings_total") {
            n if n > 0.0 => Ok(()),
            n => Err(format!("{n} readings replayed")),
        }
    })
    .await;
    wait_for_shares(&nodes[0], &["n0", "n3"], FLEET).await;
    let t_back = now_ms() + 2_000;
    stored_after(&client, t_back).await;
    for (device, (missed, doubled)) in slots(&client, t_cut - 2_000, t_back).await {
        if doubled != 0 || missed > FAILOVER_SLOTS {
            panic!(
                "device {device} across n3's outage: {missed} missed, {doubled} doubled\n{}",
                explain(&client, dir.path(), device, t_cut).await
            );
        }
    }
    let peaks: Vec<usize> = sim.connections().iter().map(|c| c.peak()).collect();
    assert!(
        peaks.iter().all(|&p| p <= 1),
        "a device had two masters at once: peaks {peaks:?}"
    );

    let _ = joined.process.stop();
    for n in nodes {
        let end = n.process.stop();
        assert!(end.status.success(), "{}: {}", n.name, end.stderr);
    }
    client
        .batch_execute(&format!("DROP OWNED BY \"{role}\"; DROP ROLE \"{role}\""))
        .await
        .expect("drop role");
    sim.shutdown();
}

/// The API body of device `name` on `port`, polled every 500 ms for the reference map of
/// `registers` registers.
fn device_body(name: &str, port: u16, registers: usize, enabled: bool) -> serde_json::Value {
    let map: Vec<serde_json::Value> = reference_map(registers)
        .iter()
        .map(|p| {
            serde_json::json!({
                "name": p.name, "table": p.register.table.as_str(),
                "address": p.register.address, "data_type": p.data_type.as_str(),
                "byte_order": p.word_order.as_str(), "scale": p.scale, "offset": p.offset,
                "unit": p.unit
            })
        })
        .collect();
    serde_json::json!({"name": name, "host": "127.0.0.1", "port": port, "interval_ms": 500,
                       "enabled": enabled, "registers": map})
}

/// Sends `request` and expects `status`.
async fn expect_status(request: reqwest::RequestBuilder, status: u16) {
    let resp = request.send().await.expect("request");
    let got = resp.status().as_u16();
    let body = resp.text().await.unwrap_or_default();
    assert_eq!(got, status, "{body}");
}

/// Waits until `node` answers the latest values of `device` from its own polls (it holds
/// the lease, so they come from memory) with `registers` registers, all polled from `since`.
async fn wait_polled_map(
    node: &Node,
    device: &str,
    registers: usize,
    since: chrono::DateTime<chrono::Utc>,
) {
    let what = format!("{} polling {registers} registers of {device}", node.name);
    historian_testkit::eventually(&what, PATIENCE, async || {
        let latest: serde_json::Value = get_json(format!(
            "{}/api/register_readings/latest/{device}",
            node.process.api
        ))
        .await?;
        let readings = latest["readings"].as_array().cloned().unwrap_or_default();
        let fresh = readings.iter().all(|r| {
            r["timestamp"]
                .as_str()
                .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                .is_some_and(|t| t >= since)
        });
        if readings.len() == registers && fresh {
            Ok(())
        } else {
            Err(latest.to_string())
        }
    })
    .await;
}

/// The owner and fencing number of `device`'s lease, if it has one.
async fn lease(client: &tokio_postgres::Client, device: i64) -> Option<(Option<String>, i64)> {
    let row = client
        .query_opt(
            "SELECT owner, fencing FROM device_leases WHERE device_id = $1",
            &[&device],
        )
        .await
        .expect("lease");
    row.map(|r| (r.get(0), r.get(1)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn device_edits_through_a_node_that_does_not_poll_the_device_reach_its_owner() {
    let test = "device_edits_through_a_node_that_does_not_poll_the_device_reach_its_owner";
    let Some(db) = require(test, PgTestDb::create().await) else {
        return;
    };
    let sim = fleet_simulator(2, 8).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let client = db.client().await.expect("client");
    // No devices in the config files: the nodes poll those of the database.
    let nodes: Vec<Node> = ["e0", "e1"]
        .iter()
        .map(|n| start_node(dir.path(), n, &db.url, &[]))
        .collect();
    let http = reqwest::Client::new();
    for (name, addr) in ["a", "b"].iter().zip(sim.addrs()) {
        let body = device_body(name, addr.port(), 4, true);
        let request = http
            .post(format!("{}/api/devices", nodes[0].process.api))
            .json(&body);
        expect_status(request, 201).await;
    }
    wait_for_shares(&nodes[0], &["e0", "e1"], 2).await;
    let devices: Vec<DeviceAnswer> = get_json(format!("{}/api/devices", nodes[0].process.api))
        .await
        .expect("devices");
    let a = devices.iter().find(|d| d.name == "a").expect("device a");
    let a_owner = a.owner.clone().expect("a has an owner");
    let owner = nodes
        .iter()
        .find(|n| n.name == a_owner)
        .expect("owner node");
    let other = nodes
        .iter()
        .find(|n| n.name != a_owner)
        .expect("other node");
    let held = lease(&client, a.id).await;
    wait_polled_map(owner, "a", 4, chrono::Utc::now()).await;

    // Replaced through the other node with a longer map: the owner polls it.
    let since = chrono::Utc::now();
    let request = http
        .put(format!("{}/api/devices/a", other.process.api))
        .json(&device_body("a", sim.addrs()[0].port(), 6, true));
    expect_status(request, 200).await;
    wait_polled_map(owner, "a", 6, since).await;

    // Its map imported through the other node as CSV: the owner polls it.
    let since = chrono::Utc::now();
    let request = http
        .put(format!("{}/api/devices/a/register_map", other.process.api))
        .header("content-type", "text/csv")
        .body(historian_modbus::mapfile::to_csv(&reference_map(8)));
    expect_status(request, 200).await;
    wait_polled_map(owner, "a", 8, since).await;
    assert_eq!(
        lease(&client, a.id).await,
        held,
        "the lease of a changed hands: the edits did not reach the node polling it"
    );

    // Disabled through the other node: the owner stops polling it and its lease goes.
    let request = http
        .put(format!("{}/api/devices/a", other.process.api))
        .json(&device_body("a", sim.addrs()[0].port(), 8, false));
    expect_status(request, 200).await;
    historian_testkit::eventually("the owner lets a go", PATIENCE, async || {
        let page = scrape(&owner.process.api).await?;
        let polled = metric_sum(&page, "historian_devices");
        let (held, unowned) = shares(owner).await?;
        let leases: i64 = held.values().sum();
        if polled == 1.0 && leases == 1 && unowned == 0 {
            Ok(())
        } else {
            Err(format!(
                "{polled} devices polled, {leases} leases, {unowned} unowned"
            ))
        }
    })
    .await;
    assert_eq!(
        lease(&client, a.id).await,
        None,
        "a disabled device holds no lease"
    );
    let peaks: Vec<usize> = sim.connections().iter().map(|c| c.peak()).collect();
    assert!(
        peaks.iter().all(|&p| p <= 1),
        "two masters at once: {peaks:?}"
    );

    for n in nodes {
        let end = n.process.stop();
        assert!(end.status.success(), "{}: {}", n.name, end.stderr);
    }
    sim.shutdown();
}
