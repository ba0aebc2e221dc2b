//! The device list (`GET /api/devices`) tells where each device stands with a real
//! Mosquitto broker: the link state in JSON mode (following a broker outage and its end),
//! and in Sparkplug B mode also whether the device's DBIRTH stands or a DDEATH went out.
//! Without an MQTT sink the field is absent.

mod common;

use common::{TestHistorian, device};
use historian_sim::fleet::reference_map;
use historian_testkit::{
    PATIENCE, ThrowawayMosquitto, eventually, mqtt_broker, require, unique_name,
};
use modbus_historian::config::{JsonOptions, MqttConfig, MqttFormat, SparkplugOptions};
use modbus_historian::ingest::mqtt::topic::Template;
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use serde_json::Value;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const INTERVAL: Duration = Duration::from_millis(200);

async fn devices(base: &str) -> Result<Vec<Value>, String> {
    reqwest::get(format!("{base}/api/devices"))
        .await
        .map_err(|e| e.to_string())?
        .json::<Vec<Value>>()
        .await
        .map_err(|e| e.to_string())
}

/// Waits until every listed device's `mqtt` object satisfies `ok`; returns the list.
async fn until_every(base: &str, what: &str, ok: impl Fn(&Value) -> bool) -> Vec<Value> {
    let mut last = Vec::new();
    eventually(what, PATIENCE, async || {
        let list = devices(base).await?;
        if !list.is_empty() && list.iter().all(|d| ok(&d["mqtt"])) {
            last = list;
            Ok(())
        } else {
            Err(serde_json::to_string(&list).unwrap_or_default())
        }
    })
    .await;
    last
}

fn mqtt(url: &str, format: MqttFormat) -> MqttConfig {
    let mut cfg = MqttConfig::new(url).expect("url");
    cfg.client_id = unique_name("historian");
    cfg.format = format;
    cfg
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_device_list_follows_the_json_link_through_a_broker_outage() {
    let test = "the_device_list_follows_the_json_link_through_a_broker_outage";
    let Some(broker) = require(test, ThrowawayMosquitto::start()) else {
        return;
    };
    let prefix = unique_name("mh_devlist");
    let json = JsonOptions {
        topic: Some(Template::parse("{prefix}/{device}/{register}", &prefix).expect("template")),
        ..JsonOptions::default()
    };
    let cfg = mqtt(&broker.url(), MqttFormat::Json(json));
    let h = TestHistorian::new("mqtt_devlist_json")
        .fleet(2, 3)
        .interval(INTERVAL)
        .configure(move |c| c.mqtt = Some(cfg))
        .start()
        .await;
    let list = until_every(&h.base, "every device connected", |m| {
        m["state"] == "connected"
    })
    .await;
    for d in &list {
        assert!(
            d["mqtt"].get("birth").is_none(),
            "JSON mode has no births: {d}"
        );
    }
    broker.stop().expect("stop the broker");
    until_every(&h.base, "every device's link down", |m| {
        m["state"] == "down"
    })
    .await;
    broker.restart().expect("restart the broker");
    until_every(&h.base, "every device connected again", |m| {
        m["state"] == "connected"
    })
    .await;
    h.stop().await;

    let plain = TestHistorian::new("mqtt_devlist_none")
        .fleet(1, 1)
        .start()
        .await;
    let list = devices(&plain.base).await.expect("device list");
    assert_eq!(list.len(), 1);
    assert!(
        list[0].get("mqtt").is_none(),
        "no sink, no field: {}",
        list[0]
    );
    plain.stop().await;
}

/// The device names seen on DDEATH topics under `group`.
async fn ddeaths(host: &str, port: u16, group: &str) -> (AsyncClient, Arc<Mutex<Vec<String>>>) {
    let (client, mut events) =
        AsyncClient::new(MqttOptions::new(unique_name("sub"), host, port), 64);
    client
        .subscribe(format!("spBv1.0/{group}/DDEATH/#"), QoS::AtLeastOnce)
        .await
        .expect("subscribe");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let into = Arc::clone(&seen);
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let mut ready = Some(ready_tx);
        while let Ok(event) = events.poll().await {
            match event {
                Event::Incoming(Packet::SubAck(_)) => {
                    if let Some(tx) = ready.take() {
                        let _ = tx.send(());
                    }
                }
                Event::Incoming(Packet::Publish(p)) => {
                    let device = p.topic.rsplit('/').next().unwrap_or_default().to_string();
                    into.lock().expect("lock").push(device);
                }
                _ => {}
            }
        }
    });
    tokio::time::timeout(PATIENCE, ready_rx)
        .await
        .expect("subscription confirmed in time")
        .expect("subscriber running");
    (client, seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_device_list_shows_which_sparkplug_devices_are_born_and_which_dead() {
    let test = "the_device_list_shows_which_sparkplug_devices_are_born_and_which_dead";
    let Some(addr) = require(test, mqtt_broker()) else {
        return;
    };
    let (host, port) = addr.rsplit_once(':').expect("HOST:PORT");
    let port: u16 = port.parse().expect("port");
    let group = unique_name("mh_devlist");
    let (sub, seen) = ddeaths(host, port, &group).await;
    // Nothing listens on this port: the device is born unpolled, then dies at its first
    // failed poll.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let unreachable = device("unreachable", closed, &reference_map(2), INTERVAL, INTERVAL);
    let format = MqttFormat::SparkplugB(SparkplugOptions {
        group_id: group.clone(),
        edge_node_id: "edge".into(),
    });
    let cfg = mqtt(&format!("mqtt://{addr}"), format);
    let h = TestHistorian::new("mqtt_devlist_spb")
        .fleet(2, 3)
        .interval(INTERVAL)
        .device(unreachable)
        .configure(move |c| c.mqtt = Some(cfg))
        .start()
        .await;
    let mut list = Vec::new();
    eventually("births as expected", PATIENCE, async || {
        let now = devices(&h.base).await?;
        let birth = |name: &str| {
            now.iter()
                .find(|d| d["name"] == name)
                .map(|d| d["mqtt"]["birth"].clone())
        };
        let (a, b, c) = (birth("sim-000"), birth("sim-001"), birth("unreachable"));
        if a == Some("born".into()) && b == Some("born".into()) && c == Some("dead".into()) {
            list = now;
            Ok(())
        } else {
            Err(serde_json::to_string(&now).unwrap_or_default())
        }
    })
    .await;
    assert!(
        list.iter().all(|d| d["mqtt"]["state"] == "connected"),
        "{list:?}"
    );
    eventually("the DDEATH on the broker", PATIENCE, || async {
        let got = seen.lock().expect("lock").clone();
        if got.iter().any(|d| d == "unreachable") {
            Ok(())
        } else {
            Err(format!("{got:?}"))
        }
    })
    .await;
    assert!(
        !seen
            .lock()
            .expect("lock")
            .iter()
            .any(|d| d.starts_with("sim-")),
        "the reachable devices stayed born"
    );
    let _ = sub.disconnect().await;
    h.stop().await;
}
