//! Devices and register maps through the API, against a running historian whose devices
//! live in the database: created, replaced, map imported from CSV, disabled and deleted,
//! each applied to polling without a restart; bad bodies answered 422 with field paths.

mod common;

use common::{TestHistorian, fleet_simulator};
use historian_modbus::mapfile::to_csv;
use historian_sim::Simulator;
use historian_sim::fleet::reference_map;
use modbus_historian::api::{DeviceDetailResponse, DeviceLatestResponse, Problem};
use modbus_historian::app::Historian;
use modbus_historian::config::Config;
use serde_json::json;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

/// [`historian_testkit::eventually`] for checks that answer yes or no.
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    historian_testkit::eventually(what, historian_testkit::PATIENCE, || {
        let holds = check();
        async move {
            if holds.await {
                Ok(())
            } else {
                Err("not yet".to_string())
            }
        }
    })
    .await;
}

async fn latest_count(http: &reqwest::Client, base: &str, device: &str) -> usize {
    match http
        .get(format!("{base}/api/register_readings/latest/{device}"))
        .send()
        .await
    {
        Ok(r) if r.status().is_success() => r
            .json::<DeviceLatestResponse>()
            .await
            .map_or(0, |l| l.readings.len()),
        _ => 0,
    }
}

fn registers(n: usize) -> Vec<serde_json::Value> {
    reference_map(n)
        .iter()
        .map(|p| {
            json!({
                "name": p.name, "table": p.register.table.as_str(), "address": p.register.address,
                "data_type": p.data_type.as_str(), "byte_order": p.word_order.as_str(),
                "scale": p.scale, "offset": p.offset, "unit": p.unit
            })
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn devices_are_created_replaced_imported_and_deleted_while_running() {
    let sim = fleet_simulator(1, 12).await;
    let port = sim.addrs()[0].port();
    // No devices in the config: the historian polls those of its database.
    let h = TestHistorian::new("devices-api")
        .simulator(sim)
        .start()
        .await;
    let base = h.base.clone();
    let http = reqwest::Client::new();
    let device = |n: usize, enabled: bool| {
        json!({"name": "pm", "host": "127.0.0.1", "port": port, "interval_ms": 200,
               "enabled": enabled, "registers": registers(n)})
    };

    // Create: stored and polled without a restart.
    let created = create(&http, &base, &device(3, true)).await;
    assert_eq!(created.registers.len(), 3);
    assert_eq!(created.registers[0].register_address, 300001);
    eventually("the new device is polled", || async {
        latest_count(&http, &base, "pm").await == 3
    })
    .await;

    // The same name again is a conflict.
    let resp = http
        .post(format!("{base}/api/devices"))
        .json(&device(3, true))
        .send()
        .await
        .expect("create again");
    assert_eq!(resp.status(), 409);

    // Replace with a longer map: polled as replaced.
    let resp = http
        .put(format!("{base}/api/devices/pm"))
        .json(&device(6, true))
        .send()
        .await
        .expect("replace");
    assert_eq!(resp.status(), 200);
    eventually("the replaced map is polled", || async {
        latest_count(&http, &base, "pm").await == 6
    })
    .await;

    // Import a CSV map of 8 registers.
    let csv = to_csv(&reference_map(8));
    let resp = http
        .put(format!("{base}/api/devices/pm/register_map"))
        .header("content-type", "text/csv")
        .body(csv)
        .send()
        .await
        .expect("import");
    assert_eq!(resp.status(), 200);
    eventually("the imported map is polled", || async {
        latest_count(&http, &base, "pm").await == 8
    })
    .await;

    // A CSV with mistakes: 422, each at its line and column, nothing changed.
    let resp = http
        .put(format!("{base}/api/devices/pm/register_map"))
        .body("address,table,name,data_type\n0,holding_register,a,float128\nx,holding_register,b,uint16\n")
        .send()
        .await
        .expect("bad import");
    assert_eq!(resp.status(), 422);
    let p: Problem = resp.json().await.expect("problem");
    let paths: Vec<&str> = p.errors.iter().map(|e| e.path.as_str()).collect();
    assert!(paths.contains(&"2:22"), "{p:?}");
    assert!(paths.iter().any(|p| p.starts_with("3:")), "{p:?}");

    // A JSON body with bad fields: 422 with every field's path.
    let mut bad = device(2, true);
    bad["interval_ms"] = json!(0);
    bad["registers"][1]["data_type"] = json!("float128");
    bad["registers"][0]["byte_order"] = json!("XYZW");
    assert_eq!(
        refused(http.put(format!("{base}/api/devices/pm")).json(&bad)).await,
        [
            "interval_ms",
            "registers[0].byte_order",
            "registers[1].data_type"
        ]
    );
    let resp = http
        .post(format!("{base}/api/devices"))
        .json(&json!({"name": "x", "host": "h", "port": "five", "interval_ms": 1}))
        .send()
        .await
        .expect("wrong type");
    assert_eq!(resp.status(), 422);
    let p: Problem = resp.json().await.expect("problem");
    assert!(p.detail.contains("port"), "{p:?}");

    // Disabled, a device stops being polled and keeps its name.
    let resp = http
        .put(format!("{base}/api/devices/pm"))
        .json(&device(8, false))
        .send()
        .await
        .expect("disable");
    assert_eq!(resp.status(), 200);
    eventually("the disabled device leaves the pollers", || async {
        h.historian.registry.by_name("pm").is_none()
    })
    .await;

    // A device without readings is deleted.
    let mut fresh = device(2, false);
    fresh["name"] = json!("spare");
    create(&http, &base, &fresh).await;
    let resp = http
        .delete(format!("{base}/api/devices/spare"))
        .send()
        .await
        .expect("delete spare");
    assert_eq!(resp.status(), 204);
    let resp = http
        .get(format!("{base}/api/devices/spare"))
        .send()
        .await
        .expect("get spare");
    assert_eq!(resp.status(), 404);

    let summary = h.stop().await.summary;
    assert_eq!(summary.lost, 0);
    assert_eq!(summary.stored, summary.polled);
}

/// When a config file lists the devices, the API refuses device writes (the file would
/// undo them) and says where to change them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn device_writes_are_refused_when_a_config_file_defines_the_devices() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("h.toml");
    std::fs::write(
        &path,
        format!(
            "[storage]\nurl = \"sqlite://{}\"\n[api]\nbind = \"127.0.0.1:0\"\n[spool]\ndir = \"{}\"\n\
             [[devices]]\nname = \"a\"\nhost = \"127.0.0.1\"\nport = 1\n\
             [[devices.registers]]\nname = \"r\"\ntable = \"holding_register\"\naddress = 0\ndata_type = \"uint16\"\n",
            dir.path().join("h.db").display(),
            dir.path().join("spool").display()
        ),
    )
    .expect("config");
    let h = Historian::start(&Config::load(&path).expect("load"))
        .await
        .expect("start");
    let resp = reqwest::Client::new()
        .delete(format!("http://{}/api/devices/a", h.api_addr))
        .send()
        .await
        .expect("delete");
    assert_eq!(resp.status(), 409);
    let p: Problem = resp.json().await.expect("problem");
    assert!(p.detail.contains("h.toml"), "{p:?}");
    // Refused for where the devices live before anything in the body is looked at.
    let resp = reqwest::Client::new()
        .post(format!("http://{}/api/devices", h.api_addr))
        .json(&json!({"name": "b", "colour": "red"}))
        .send()
        .await
        .expect("create");
    assert_eq!(resp.status(), 409);
    let resp = reqwest::get(format!("http://{}/api/devices/a", h.api_addr))
        .await
        .expect("get");
    assert_eq!(resp.status(), 200, "reading is always allowed");
    h.shutdown().await;
}

/// Good readings of every register of `device`, from the latest-value endpoint.
async fn good_count(http: &reqwest::Client, base: &str, device: &str) -> usize {
    match http
        .get(format!("{base}/api/register_readings/latest/{device}"))
        .send()
        .await
    {
        Ok(r) if r.status().is_success() => r.json::<DeviceLatestResponse>().await.map_or(0, |l| {
            l.readings.iter().filter(|r| r.quality == "good").count()
        }),
        _ => 0,
    }
}

/// POSTs `device`, expects 201 and returns the stored device.
async fn create(
    http: &reqwest::Client,
    base: &str,
    device: &serde_json::Value,
) -> DeviceDetailResponse {
    let resp = http
        .post(format!("{base}/api/devices"))
        .json(device)
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), 201);
    resp.json().await.expect("json")
}

/// Sends `request`, expects 422 and returns the paths of the fields it names, sorted.
async fn refused(request: reqwest::RequestBuilder) -> Vec<String> {
    let resp = request.send().await.expect("send");
    assert_eq!(resp.status(), 422);
    let p: Problem = resp.json().await.expect("problem");
    let mut paths: Vec<String> = p.errors.into_iter().map(|e| e.path).collect();
    paths.sort_unstable();
    paths
}

/// Devices kept in the database carry their link and read-planning settings: one behind an
/// RTU-over-TCP gateway (created through the API) and one on a serial port (a
/// pseudo-terminal, which the API refuses as a port: written to the database the way an
/// operator's tool would) are both read with good quality, which neither would be if
/// polled as Modbus TCP; bad link fields are 422.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn devices_in_the_database_are_read_over_their_own_transport() {
    use historian_sim::{SimDevice, SimEndpoint};
    let map = reference_map(6);
    let gateway = Simulator::start(
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        vec![SimEndpoint::new(0, SimDevice::new(0, map.clone(), 1000)).rtu()],
    )
    .await
    .expect("RTU-over-TCP simulator");
    let gateway_port = gateway.addrs()[0].port();
    let (device_end, collector_end) = tokio_serial::SerialStream::pair().expect("pty pair");
    let tty = tokio_serial::SerialPort::name(&collector_end).expect("pty path");
    let serial = Simulator::start_serial(device_end, SimDevice::new(1, map.clone(), 1000));

    let h = TestHistorian::new("devices-transport").start().await;
    let base = h.base.clone();
    let http = reqwest::Client::new();

    let gw = json!({"name": "behind-gateway", "host": "127.0.0.1", "port": gateway_port,
        "transport": "rtu_over_tcp", "interval_ms": 200, "timeout_ms": 500,
        "max_registers_per_read": 2, "pause_between_requests_ms": 1, "registers": registers(6)});
    let created = create(&http, &base, &gw).await;
    assert_eq!(created.transport, "rtu_over_tcp");
    assert_eq!(created.max_registers_per_read, 2);
    assert_eq!(created.timeout_ms, Some(500));

    let rs485 = json!({"name": "on-serial", "transport": "rtu", "serial_port": tty,
        "baud_rate": 115200, "parity": "none", "interval_ms": 200, "registers": registers(6)});
    assert_eq!(
        refused(http.post(format!("{base}/api/devices")).json(&rs485)).await,
        ["serial_port"],
        "a pseudo-terminal is no serial adapter"
    );
    let input: historian_model::DeviceInput = serde_json::from_value(rs485).expect("input");
    let operator_paths = [tty.clone()];
    let spec = input
        .check(historian_model::InputSource {
            default_interval: h.config.default_interval,
            extra_serial_ports: &operator_paths,
            map_files: None,
        })
        .expect("valid with the operator's path");
    h.historian
        .store
        .upsert_device(&spec)
        .await
        .expect("stored");
    let created: DeviceDetailResponse = http
        .get(format!("{base}/api/devices/on-serial"))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(created.transport, "rtu");
    let line = created.serial.expect("serial line settings");
    assert_eq!(
        (
            line.serial_port.as_str(),
            line.baud_rate,
            line.parity.as_str()
        ),
        (tty.as_str(), 115_200, "none")
    );

    for name in ["behind-gateway", "on-serial"] {
        eventually(&format!("{name} is read with good quality"), || async {
            good_count(&http, &base, name).await == 6
        })
        .await;
    }
    // The planning limit and the time-out reached the poller.
    let runtime = h
        .historian
        .registry
        .by_name("behind-gateway")
        .expect("polled");
    assert_eq!(runtime.config.spec.access.plan.max_registers, 2);
    assert_eq!(runtime.config.timeout, Duration::from_millis(500));

    // Link fields that contradict each other or are out of range: 422, each by name.
    let bad = json!({"name": "x", "host": "h", "transport": "tcp", "baud_rate": 9600,
        "max_gap": 200, "interval_ms": 100});
    assert_eq!(
        refused(http.post(format!("{base}/api/devices")).json(&bad)).await,
        ["baud_rate", "max_gap"]
    );
    let bad = json!({"name": "y", "transport": "rtu", "stop_bits": 3, "interval_ms": 100});
    assert_eq!(
        refused(http.post(format!("{base}/api/devices")).json(&bad)).await,
        ["serial_port", "stop_bits"]
    );
    let bad = json!({"name": "z", "transport": "rtu", "serial_port": "/dev/watchdog",
        "interval_ms": 100});
    assert_eq!(
        refused(http.post(format!("{base}/api/devices")).json(&bad)).await,
        ["serial_port"]
    );

    let summary = h.stop().await.summary;
    gateway.shutdown();
    serial.shutdown();
    drop(collector_end);
    assert_eq!(summary.lost, 0);
    assert_eq!(summary.stored, summary.polled);
}

/// A device body is the config file's `[[devices]]` table: durations in words or
/// milliseconds (the API's `*_ms` names too), the historian's `polling.interval` when none
/// is given, and every unknown field listed by its path, as the client spelled it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_body_is_read_like_a_config_table() {
    let sim = fleet_simulator(1, 2).await;
    let port = sim.addrs()[0].port();
    let h = TestHistorian::new("devices-words")
        .simulator(sim)
        .start()
        .await;
    let base = h.base.clone();
    let http = reqwest::Client::new();
    let post = |body: serde_json::Value| http.post(format!("{base}/api/devices")).json(&body);

    let words = create(
        &http,
        &base,
        &json!({"name": "words", "host": "127.0.0.1", "port": port, "interval": "300ms",
                "timeout": "1s", "pause_between_requests": 0, "registers": registers(2)}),
    )
    .await;
    assert_eq!(words.interval_ms, 300);
    assert_eq!(words.timeout_ms, Some(1000));
    assert_eq!(words.pause_between_requests_ms, 0);

    let defaulted = create(
        &http,
        &base,
        &json!({"name": "defaulted", "host": "127.0.0.1", "port": port,
                "registers": registers(1)}),
    )
    .await;
    assert_eq!(
        defaulted.interval_ms,
        h.config.default_interval.as_millis() as u64
    );

    assert_eq!(
        refused(post(json!({"name": "x", "host": "h", "colour": "red",
            "registers": [{"name": "a", "table": "holding", "address": 0,
                           "data_type": "uint16", "shade": 1}]})))
        .await,
        ["colour", "registers[0].shade"]
    );
    assert_eq!(
        refused(post(
            json!({"name": "x", "host": "h", "interval": "soon", "timeout_ms": 0})
        ))
        .await,
        ["interval", "timeout_ms"]
    );
    assert_eq!(
        refused(post(
            json!({"name": "x", "host": "h", "register_map": "meter.csv"})
        ))
        .await,
        ["register_map"]
    );
    let stopped = h.stop().await;
    assert_eq!(stopped.summary.lost, 0);
}

/// The readings of `uri` as (device id, time, value), each time as the API wrote it; the
/// device id is each reading's, or the series' when one register was asked for.
async fn history(http: &reqwest::Client, uri: &str) -> Vec<(i64, String, f64)> {
    let resp = http.get(uri).send().await.expect("history");
    assert_eq!(resp.status(), 200, "{uri}");
    let body: serde_json::Value = resp.json().await.expect("json");
    body["readings"]
        .as_array()
        .expect("readings")
        .iter()
        .map(|r| {
            (
                r["device_id"]
                    .as_i64()
                    .or(body["device_id"].as_i64())
                    .unwrap_or(-1),
                r["timestamp"].as_str().unwrap_or_default().to_string(),
                r["value"].as_f64().unwrap_or(f64::NAN),
            )
        })
        .collect()
}

/// The ids and names `GET /api/devices{query}` lists, with each one's status.
async fn listed(http: &reqwest::Client, base: &str, query: &str) -> Vec<(i64, String, String)> {
    let resp = http
        .get(format!("{base}/api/devices{query}"))
        .send()
        .await
        .expect("list");
    assert_eq!(resp.status(), 200, "{query}");
    let body: Vec<serde_json::Value> = resp.json().await.expect("json");
    body.iter()
        .map(|d| {
            (
                d["id"].as_i64().unwrap_or(-1),
                d["name"].as_str().unwrap_or_default().to_string(),
                d["status"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// Deleting a device with readings removes it: its poller stops and it leaves the list,
/// its history stays reachable by its id (every history endpoint), a new device takes its
/// name (history by name is then the new one's), and `include=removed` lists both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_device_keeps_its_history_by_id_and_frees_its_name() {
    let sim = fleet_simulator(1, 4).await;
    let port = sim.addrs()[0].port();
    let h = TestHistorian::new("devices-removed")
        .simulator(sim)
        .start()
        .await;
    let base = h.base.clone();
    let http = reqwest::Client::new();
    let device = json!({"name": "pm", "host": "127.0.0.1", "port": port, "interval_ms": 200,
                        "registers": registers(2)});
    let old = create(&http, &base, &device).await;
    let start = chrono::Utc::now() - chrono::Duration::minutes(1);
    let by_old_id = |path: &str| format!("{base}/api/register_readings/{}{path}", old.id);
    eventually("the device's readings are stored", || async {
        history(&http, &by_old_id("/300001")).await.len() >= 3
    })
    .await;

    let resp = http
        .delete(format!("{base}/api/devices/pm"))
        .send()
        .await
        .expect("delete");
    assert_eq!(resp.status(), 204);
    eventually("the removed device leaves the pollers", || async {
        h.historian.registry.by_name("pm").is_none()
    })
    .await;
    // Its last readings may still be on their way to the store; then they stay put.
    let window = |end: chrono::DateTime<chrono::Utc>| {
        format!(
            "?start={}&end={}",
            start.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            end.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
        )
    };
    eventually("every reading polled is stored", || async {
        let Ok(resp) = http.get(format!("{base}/api/health")).send().await else {
            return false;
        };
        let health: serde_json::Value = resp.json().await.unwrap_or_default();
        health["readings_polled"].as_u64().is_some()
            && health["readings_polled"] == health["readings_stored"]
    })
    .await;
    let end = chrono::Utc::now() + chrono::Duration::minutes(1);
    let kept = history(&http, &by_old_id(&format!("/300001{}", window(end)))).await;
    assert!(kept.len() >= 3, "{kept:?}");
    assert!(kept.iter().all(|(id, _, _)| *id == old.id), "{kept:?}");
    assert_eq!(listed(&http, &base, "").await, []);
    let audit: serde_json::Value = http
        .get(format!("{base}/api/audit?action=device.delete&target=pm"))
        .send()
        .await
        .expect("audit")
        .json()
        .await
        .expect("json");
    assert_eq!(
        audit["entries"].as_array().map(Vec::len),
        Some(1),
        "{audit}"
    );

    // A new device takes the name.
    let new = create(&http, &base, &device).await;
    assert_ne!(new.id, old.id);
    assert_eq!(new.removed_at, None);
    let after_removal = chrono::Utc::now();
    eventually("the new device's readings are stored", || async {
        !history(
            &http,
            &format!("{base}/api/register_readings/pm/300001?start={}", {
                after_removal.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
            }),
        )
        .await
        .is_empty()
    })
    .await;
    let end = chrono::Utc::now() + chrono::Duration::minutes(1);
    let by_name = history(
        &http,
        &format!("{base}/api/register_readings/pm/300001{}", window(end)),
    )
    .await;
    assert!(
        !by_name.is_empty() && by_name.iter().all(|(id, _, _)| *id == new.id),
        "by name: the new device's readings only: {by_name:?}"
    );
    assert_eq!(
        history(&http, &by_old_id(&format!("/300001{}", window(end)))).await,
        kept,
        "by the old id: the removed device's readings, unchanged"
    );
    let every_register = history(&http, &by_old_id(&window(end))).await;
    assert_eq!(every_register.len(), 2 * kept.len(), "{every_register:?}");
    let range = history(
        &http,
        &format!(
            "{base}/api/register_readings/range{}&devices={},pm&registers=300001",
            window(end),
            old.id
        ),
    )
    .await;
    assert_eq!(
        range.iter().filter(|(id, _, _)| *id == old.id).count(),
        kept.len()
    );
    assert!(range.iter().any(|(id, _, _)| *id == new.id), "{range:?}");

    // Latest values, buckets, CSV and the device itself answer by the old id as well.
    let latest: serde_json::Value = http
        .get(by_old_id("").replace("register_readings/", "register_readings/latest/"))
        .send()
        .await
        .expect("latest")
        .json()
        .await
        .expect("json");
    assert_eq!(latest["device_id"], old.id, "{latest}");
    let buckets: serde_json::Value = http
        .get(by_old_id(&format!("/300001{}&bucket=1h", window(end))))
        .send()
        .await
        .expect("buckets")
        .json()
        .await
        .expect("json");
    let counted: u64 = buckets["buckets"]
        .as_array()
        .expect("buckets")
        .iter()
        .map(|b| b["count"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(counted, kept.len() as u64, "{buckets}");
    let csv = http
        .get(by_old_id(&format!("/300001{}", window(end))))
        .header("accept", "text/csv")
        .send()
        .await
        .expect("csv")
        .text()
        .await
        .expect("text");
    assert_eq!(
        csv.lines().count(),
        kept.len() + 1,
        "a header and each reading: {csv}"
    );
    let shown: DeviceDetailResponse = http
        .get(format!("{base}/api/devices/{}", old.id))
        .send()
        .await
        .expect("get old")
        .json()
        .await
        .expect("json");
    assert!(shown.removed_at.is_some() && !shown.enabled, "{shown:?}");

    // The list: the new device by default, both with include=removed; a bad word is a 400.
    let pm = |id: i64, status: &str| (id, "pm".to_string(), status.to_string());
    eventually("the new device is up", || async {
        listed(&http, &base, "").await == [pm(new.id, "up")]
    })
    .await;
    assert_eq!(
        listed(&http, &base, "?include=removed").await,
        [pm(old.id, "removed"), pm(new.id, "up")]
    );
    let resp = http
        .get(format!("{base}/api/devices?include=deleted"))
        .send()
        .await
        .expect("bad include");
    assert_eq!(resp.status(), 400);
    let p: Problem = resp.json().await.expect("problem");
    assert!(
        p.detail.contains("include") && p.detail.contains("disabled, removed"),
        "{p:?}"
    );

    let summary = h.stop().await.summary;
    assert_eq!(summary.lost, 0);
}
