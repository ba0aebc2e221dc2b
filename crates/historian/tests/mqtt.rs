//! Readings published to a real MQTT broker (Mosquitto) in the JSON format: payloads equal
//! the stored readings; retained, on-change, deadband and heartbeat behave as configured;
//! a broker outage leaves polling and storage alone and the link comes back by itself; and
//! `mqtts://` trusts the configured CA only.
//!
//! Tests share the machine's broker (or a throwaway one) and keep apart by topic prefix;
//! the outage and TLS tests start a broker of their own.

mod common;

use common::{Running, TestHistorian};
use historian_model::RegisterRef;
use historian_store::{SeriesKey, Store, TimeRange};
use historian_testkit::{
    PATIENCE, TestPki, ThrowawayMosquitto, eventually, mqtt_broker, require, unique_name,
};
use modbus_historian::config::{JsonOptions, MqttConfig, MqttFormat, OnChange};
use modbus_historian::ingest::mqtt::format::Qos;
use modbus_historian::ingest::mqtt::topic::Template;
use modbus_historian::stats::Stats;
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS, TlsConfiguration, Transport};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One message as a subscriber saw it.
#[derive(Debug, Clone)]
struct Seen {
    topic: String,
    payload: Vec<u8>,
    retain: bool,
}

impl Seen {
    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.payload)
            .unwrap_or_else(|e| panic!("{}: not JSON ({e}): {:?}", self.topic, self.payload))
    }
}

/// A test-side MQTT client subscribed to one filter, collecting what arrives.
struct Subscriber {
    client: AsyncClient,
    seen: Arc<Mutex<Vec<Seen>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Subscriber {
    /// Connects to `host:port` (over TLS with `tls`) and subscribes to `filter`; returns
    /// once the broker has confirmed the subscription.
    async fn start(
        host: &str,
        port: u16,
        filter: &str,
        tls: Option<Arc<rustls::ClientConfig>>,
    ) -> Subscriber {
        let mut o = MqttOptions::new(unique_name("sub"), host, port);
        o.set_max_packet_size(1 << 20, 1 << 20);
        if let Some(tls) = tls {
            o.set_transport(Transport::Tls(TlsConfiguration::Rustls(tls)));
        }
        let (client, mut events) = AsyncClient::new(o, 64);
        client
            .subscribe(filter, QoS::AtLeastOnce)
            .await
            .expect("subscribe request");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        let into = Arc::clone(&seen);
        let task = tokio::spawn(async move {
            let mut ready = Some(ready_tx);
            loop {
                match events.poll().await {
                    Ok(Event::Incoming(Packet::SubAck(_))) => {
                        if let Some(tx) = ready.take() {
                            let _ = tx.send(());
                        }
                    }
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        into.lock().expect("lock").push(Seen {
                            topic: p.topic,
                            payload: p.payload.to_vec(),
                            retain: p.retain,
                        });
                    }
                    Ok(_) => {}
                    Err(e) => panic!("test subscriber lost its broker: {e}"),
                }
            }
        });
        tokio::time::timeout(PATIENCE, ready_rx)
            .await
            .expect("subscribed in time")
            .expect("subscriber task alive");
        Subscriber { client, seen, task }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("lock").clone()
    }

    fn count(&self) -> usize {
        self.seen.lock().expect("lock").len()
    }

    async fn stop(self) {
        let _ = self.client.disconnect().await;
        self.task.abort();
    }
}

/// The shared broker as host and port, or `None` (test reported skipped).
fn shared_broker(test: &str) -> Option<(String, u16)> {
    let addr = require(test, mqtt_broker())?;
    let (host, port) = addr.rsplit_once(':').expect("HOST:PORT");
    Some((host.to_string(), port.parse().expect("port")))
}

/// JSON options publishing under `prefix` with the default topic layout.
fn json_under(prefix: &str) -> JsonOptions {
    JsonOptions {
        topic: Some(Template::parse("{prefix}/{device}/{register}", prefix).expect("template")),
        ..JsonOptions::default()
    }
}

fn mqtt_config(url: &str, json: JsonOptions) -> MqttConfig {
    let mut cfg = MqttConfig::new(url).expect("url");
    cfg.client_id = unique_name("historian");
    cfg.format = MqttFormat::Json(json);
    cfg
}

async fn historian(name: &str, devices: usize, registers: usize, mqtt: MqttConfig) -> Running {
    TestHistorian::new(name)
        .fleet(devices, registers)
        .interval(Duration::from_millis(200))
        .configure(move |c| c.mqtt = Some(mqtt))
        .start()
        .await
}

/// Empties what the broker retains under `topics`, so the shared broker keeps nothing of
/// a test.
async fn clear_retained(host: &str, port: u16, topics: &HashSet<String>) {
    let (client, mut events) = AsyncClient::new(
        MqttOptions::new(unique_name("cleaner"), host, port),
        topics.len() + 8,
    );
    for t in topics {
        client
            .publish(t, QoS::AtLeastOnce, true, Vec::new())
            .await
            .expect("clear request");
    }
    client.disconnect().await.expect("disconnect request");
    // Until the broker closes the connection: closing it here with its acknowledgements
    // unread would reset it, and the broker could drop what it had not read yet.
    while events.poll().await.is_ok() {}
}

/// Every stored reading of every device, as (device, register, time) → (value, text, quality).
type Key = (i64, u32, i64);
type Val = (Option<f64>, Option<String>, String);

async fn stored(store: &dyn Store) -> BTreeMap<Key, Val> {
    let mut out = BTreeMap::new();
    let range = TimeRange::new(
        chrono::Utc::now() - chrono::Duration::hours(1),
        chrono::Utc::now() + chrono::Duration::hours(1),
    );
    for d in store.list_devices().await.expect("devices") {
        for p in &d.spec.registers {
            let rows = store
                .get_readings_time_range(SeriesKey::new(d.id, p.register), range, 1_000_000)
                .await
                .expect("range");
            for r in rows {
                out.insert(
                    (
                        d.id,
                        r.register_address.reference(),
                        r.timestamp.timestamp_micros(),
                    ),
                    (
                        r.value,
                        r.text.as_deref().map(str::to_string),
                        r.quality.as_str().to_string(),
                    ),
                );
            }
        }
    }
    out
}

/// The device ids by name.
async fn ids(store: &dyn Store) -> HashMap<String, i64> {
    store
        .list_devices()
        .await
        .expect("devices")
        .into_iter()
        .map(|d| (d.spec.name, d.id))
        .collect()
}

fn micros(v: &serde_json::Value) -> i64 {
    chrono::DateTime::parse_from_rfc3339(v.as_str().expect("timestamp text"))
        .expect("RFC 3339")
        .timestamp_micros()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_messages_carry_exactly_the_stored_readings() {
    let test = "json_messages_carry_exactly_the_stored_readings";
    let Some((host, port)) = shared_broker(test) else {
        return;
    };
    let prefix = unique_name("mh_json");
    let sub = Subscriber::start(&host, port, &format!("{prefix}/#"), None).await;
    let mut json = json_under(&prefix);
    json.batch_topic = Some(Template::parse("{prefix}/polls/{device_id}", &prefix).expect("t"));
    let mut cfg = mqtt_config(&format!("mqtt://{host}:{port}"), json);
    cfg.qos = Qos::AtLeastOnce;
    let h = historian("mqtt_json", 2, 5, cfg).await;
    let stats = Arc::clone(&h.historian.stats);
    let store = Arc::clone(&h.historian.store);
    eventually("three polls of each device published", PATIENCE, || async {
        let n = sub.count();
        if n >= 2 * 3 * (5 + 1) {
            Ok(())
        } else {
            Err(format!("{n} messages"))
        }
    })
    .await;
    let summary = h.stop().await.summary;
    assert_eq!(summary.lost, 0);
    let rows = stored(&*store).await;
    assert_eq!(rows.len() as u64, summary.stored);
    let polls = Stats::get(&stats.polls_ok);
    // The link publishes what was queued before it says goodbye: every poll arrives.
    eventually("every stored reading published", PATIENCE, || async {
        let n = sub.count() as u64;
        if n == summary.stored + polls {
            Ok(())
        } else {
            Err(format!(
                "{n} messages for {} readings in {polls} polls",
                summary.stored
            ))
        }
    })
    .await;
    let seen = sub.seen();
    sub.stop().await;
    let ids = ids(&*store).await;
    let mut per_register: BTreeMap<Key, Val> = BTreeMap::new();
    let mut from_batches: BTreeMap<Key, Val> = BTreeMap::new();
    for m in &seen {
        let v = m.json();
        assert!(!m.retain, "{}: retained without retain = true", m.topic);
        if m.topic.starts_with(&format!("{prefix}/polls/")) {
            let id = v["device_id"].as_i64().expect("device_id");
            assert_eq!(m.topic, format!("{prefix}/polls/{id}"));
            assert_eq!(Some(&id), ids.get(v["device"].as_str().expect("device")));
            for r in v["readings"].as_array().expect("readings") {
                from_batches.insert(
                    (
                        id,
                        r["address"].as_u64().expect("address") as u32,
                        micros(&r["timestamp"]),
                    ),
                    (
                        r["value"].as_f64(),
                        None,
                        r["quality"].as_str().expect("q").to_string(),
                    ),
                );
            }
            continue;
        }
        let device = v["device"].as_str().expect("device");
        let register = v["register"].as_str().expect("register");
        assert_eq!(m.topic, format!("{prefix}/{device}/{register}"));
        let address = v["address"].as_u64().expect("address") as u32;
        assert!(RegisterRef::from_reference(address).is_ok(), "{address}");
        assert!(v["unit"].is_string(), "{v}");
        per_register.insert(
            (ids[device], address, micros(&v["timestamp"])),
            (
                v["value"].as_f64(),
                v["text"].as_str().map(str::to_string),
                v["quality"].as_str().expect("quality").to_string(),
            ),
        );
    }
    assert_eq!(
        per_register, rows,
        "per-register messages = stored readings"
    );
    assert_eq!(from_batches, rows, "batch messages = stored readings");
    assert_eq!(Stats::get(&stats.mqtt_dropped), 0);
    assert_eq!(
        Stats::get(&stats.mqtt_published),
        seen.len() as u64,
        "QoS 1: every message acknowledged"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retained_on_change_messages_honour_deadbands_and_max_silence() {
    let test = "retained_on_change_messages_honour_deadbands_and_max_silence";
    let Some((host, port)) = shared_broker(test) else {
        return;
    };
    let prefix = unique_name("mh_change");
    let sub = Subscriber::start(&host, port, &format!("{prefix}/#"), None).await;
    let silence = Duration::from_secs(2);
    let mut on_change = OnChange {
        deadband: 0.0,
        max_silence: Some(silence),
        ..OnChange::default()
    };
    // Never "changes" beyond this: only the heartbeat publishes it.
    on_change
        .deadbands
        .insert("sim-000/temperature_003".into(), 1e12);
    let json = JsonOptions {
        retain: true,
        on_change: Some(on_change),
        ..json_under(&prefix)
    };
    let h = historian(
        "mqtt_change",
        1,
        5,
        mqtt_config(&format!("mqtt://{host}:{port}"), json),
    )
    .await;
    let stats = Arc::clone(&h.historian.stats);
    let store = Arc::clone(&h.historian.store);
    let quiet = format!("{prefix}/sim-000/temperature_003");
    eventually(
        "a heartbeat of the register in its deadband",
        PATIENCE,
        || async {
            let n = sub.seen().iter().filter(|m| m.topic == quiet).count();
            if n >= 2 {
                Ok(())
            } else {
                Err(format!("{n} messages on {quiet}"))
            }
        },
    )
    .await;
    let polls = Stats::get(&stats.polls_ok);
    let summary = h.stop().await.summary;
    assert_eq!(summary.lost, 0);
    let rows = stored(&*store).await;
    assert_eq!(
        rows.len() as u64,
        summary.stored,
        "the store keeps every poll"
    );
    let seen = sub.seen();
    sub.stop().await;

    let mut by_topic: BTreeMap<&str, Vec<serde_json::Value>> = BTreeMap::new();
    for m in &seen {
        by_topic.entry(m.topic.as_str()).or_default().push(m.json());
    }
    assert_eq!(
        by_topic.len(),
        5,
        "every register published: {:?}",
        by_topic.keys()
    );
    for (topic, msgs) in &by_topic {
        let deadband = if *topic == quiet { 1e12 } else { 0.0 };
        for pair in msgs.windows(2) {
            let (a, b) = (&pair[0], &pair[1]);
            let gap = micros(&b["timestamp"]) - micros(&a["timestamp"]);
            let moved = match (a["value"].as_f64(), b["value"].as_f64()) {
                (Some(x), Some(y)) => (x - y).abs() > deadband,
                _ => true,
            };
            assert!(
                moved || a["quality"] != b["quality"] || gap >= silence.as_micros() as i64,
                "{topic}: {b} published {gap} µs after {a} without a change"
            );
        }
    }
    let quiet_address = by_topic[quiet.as_str()][0]["address"]
        .as_u64()
        .expect("address") as u32;
    let quiet_stored = rows.keys().filter(|(_, a, _)| *a == quiet_address).count();
    assert!(
        quiet_stored as u64 >= polls,
        "every poll of it stored: {quiet_stored} of {polls}"
    );
    assert!(
        seen.len() < rows.len(),
        "on-change published less than was polled"
    );

    // A subscriber arriving later gets the latest value of each register from the broker.
    let late = Subscriber::start(&host, port, &format!("{prefix}/#"), None).await;
    eventually(
        "retained values for a late subscriber",
        PATIENCE,
        || async {
            let n = late.seen().iter().filter(|m| m.retain).count();
            if n == 5 {
                Ok(())
            } else {
                Err(format!("{n} retained"))
            }
        },
    )
    .await;
    for m in late.seen() {
        let last = by_topic[m.topic.as_str()].last().expect("one");
        assert_eq!(&m.json(), last, "the retained one is the last published");
    }
    late.stop().await;
    clear_retained(
        &host,
        port,
        &by_topic.keys().map(|t| t.to_string()).collect(),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_outage_leaves_polling_and_storing_alone_and_the_link_comes_back() {
    let test = "a_broker_outage_leaves_polling_and_storing_alone_and_the_link_comes_back";
    let Some(broker) = require(test, ThrowawayMosquitto::start()) else {
        return;
    };
    let prefix = unique_name("mh_outage");
    let mut cfg = mqtt_config(&broker.url(), json_under(&prefix));
    const QUEUE: usize = 300;
    cfg.queue = QUEUE;
    // 3 devices x 10 registers every 200 ms: 150 readings a second.
    let h = historian("mqtt_outage", 3, 10, cfg).await;
    let stats = Arc::clone(&h.historian.stats);
    let http = reqwest::Client::new();
    let health = |base: String| {
        let http = http.clone();
        async move {
            let v: serde_json::Value = http
                .get(format!("{base}/api/health"))
                .send()
                .await
                .map_err(|e| e.to_string())?
                .json()
                .await
                .map_err(|e| e.to_string())?;
            Ok::<_, String>(v["mqtt"].clone())
        }
    };
    eventually("the link up and publishing", PATIENCE, || async {
        let m = health(h.base.clone()).await?;
        if m["state"] == "connected" && m["published"].as_u64() > Some(0) {
            Ok(())
        } else {
            Err(m.to_string())
        }
    })
    .await;

    broker.stop().expect("stop the broker");
    let polled_at_stop = Stats::get(&stats.readings_polled);
    eventually(
        "the outage noticed and the queue overflowing",
        PATIENCE,
        || async {
            let polled = Stats::get(&stats.readings_polled) - polled_at_stop;
            let dropped = Stats::get(&stats.mqtt_dropped);
            let connected = Stats::get(&stats.mqtt_connected);
            if connected == 0 && dropped > 0 && polled >= 3 * QUEUE as u64 {
                Ok(())
            } else {
                Err(format!(
                    "connected {connected}, {polled} polled, {dropped} dropped"
                ))
            }
        },
    )
    .await;
    let m = health(h.base.clone()).await.expect("health");
    assert_eq!(m["state"], "down", "{m}");
    let queued = m["queued"].as_u64().expect("queued");
    assert!(
        queued > 0 && queued <= QUEUE as u64,
        "queued {queued} of at most {QUEUE}"
    );
    let dropped_in_outage = Stats::get(&stats.mqtt_dropped);

    broker.restart().expect("restart the broker");
    let sub = Subscriber::start("127.0.0.1", broker.port, &format!("{prefix}/#"), None).await;
    eventually(
        "the link back by itself and publishing",
        PATIENCE,
        || async {
            let reconnects = Stats::get(&stats.mqtt_reconnects);
            let connected = Stats::get(&stats.mqtt_connected);
            let n = sub.count();
            if connected == 1 && reconnects >= 1 && n >= 30 {
                Ok(())
            } else {
                Err(format!(
                    "connected {connected}, {reconnects} reconnects, {n} messages"
                ))
            }
        },
    )
    .await;
    let text = http
        .get(format!("{}/metrics", h.base))
        .send()
        .await
        .expect("scrape")
        .text()
        .await
        .expect("text");
    for name in [
        "historian_mqtt_published_total",
        "historian_mqtt_queued",
        "historian_mqtt_dropped_total",
        "historian_mqtt_connected",
        "historian_mqtt_reconnects_total",
    ] {
        assert!(
            text.contains(&format!("\n{name} ")),
            "{name} missing from /metrics"
        );
    }
    sub.stop().await;
    let summary = h.stop().await.summary;
    assert_eq!(
        Stats::get(&stats.polls_missed),
        0,
        "polling waited on the broker"
    );
    assert_eq!(summary.lost, 0);
    assert_eq!(
        summary.stored, summary.polled,
        "every polled reading stored"
    );
    assert!(Stats::get(&stats.mqtt_dropped) >= dropped_in_outage);
}

/// A client configuration trusting `ca` (PEM file), presenting `client` (cert, key) if given.
fn tls_client(
    ca: &std::path::Path,
    client: Option<(&std::path::Path, &std::path::Path)>,
) -> Arc<rustls::ClientConfig> {
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(ca).expect("ca file") {
        roots.add(c.expect("ca")).expect("add ca");
    }
    #[allow(deprecated)] // ring is the workspace's one crypto backend
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let b = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots);
    Arc::new(match client {
        None => b.with_no_client_auth(),
        Some((cert, key)) => b
            .with_client_auth_cert(
                CertificateDer::pem_file_iter(cert)
                    .expect("cert")
                    .collect::<Result<Vec<_>, _>>()
                    .expect("certs"),
                PrivateKeyDer::from_pem_file(key).expect("key"),
            )
            .expect("client auth"),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mqtts_trusts_the_configured_ca_and_a_client_without_it_is_refused() {
    let test = "mqtts_trusts_the_configured_ca_and_a_client_without_it_is_refused";
    let pki = TestPki::new(&["localhost", "127.0.0.1"]).expect("pki");
    let Some(broker) = require(test, ThrowawayMosquitto::start_tls(&pki, true)) else {
        return;
    };
    let prefix = unique_name("mh_tls");
    let client_pair = (pki.cert_path(), pki.key_path());
    let sub = Subscriber::start(
        "localhost",
        broker.port,
        &format!("{prefix}/#"),
        Some(tls_client(
            &pki.ca_path(),
            Some((&client_pair.0, &client_pair.1)),
        )),
    )
    .await;
    let mut cfg = mqtt_config(&broker.url(), json_under(&prefix));
    cfg.ca_file = Some(pki.ca_path());
    cfg.client_cert = Some(modbus_historian::config::TlsFiles {
        cert: pki.cert_path(),
        key: pki.key_path(),
    });
    let h = historian("mqtt_tls", 1, 5, cfg.clone()).await;
    eventually("messages over TLS", PATIENCE, || async {
        let n = sub.count();
        if n >= 10 {
            Ok(())
        } else {
            Err(format!("{n} messages"))
        }
    })
    .await;
    assert!(sub.seen().iter().all(|m| m.topic.starts_with(&prefix)));
    sub.stop().await;
    h.stop().await;

    // Trusting another CA, or presenting no certificate, the link never comes up: readings
    // queue, nothing is published, storing goes on.
    let mut other_ca = cfg.clone();
    other_ca.ca_file = Some(pki.other_ca_path());
    let mut no_cert = cfg;
    no_cert.client_cert = None;
    for (what, cfg) in [("another CA", other_ca), ("no client certificate", no_cert)] {
        let h = historian("mqtt_tls_refused", 1, 5, cfg).await;
        let stats = Arc::clone(&h.historian.stats);
        eventually(&format!("{what}: 50 readings polled"), PATIENCE, || async {
            assert_eq!(
                Stats::get(&stats.mqtt_connected),
                0,
                "{what}: the link came up"
            );
            let n = Stats::get(&stats.readings_polled);
            if n >= 50 {
                Ok(())
            } else {
                Err(format!("{n} polled"))
            }
        })
        .await;
        let summary = h.stop().await.summary;
        assert_eq!(Stats::get(&stats.mqtt_published), 0, "{what}");
        assert_eq!(Stats::get(&stats.mqtt_connected), 0, "{what}");
        assert_eq!(summary.stored, summary.polled, "{what}");
    }
}

/// A payload format that records what the link tells it and answers in plain text: the
/// link's side of the contract every format (Sparkplug B too) relies on.
#[derive(Debug)]
struct Recorder {
    prefix: String,
    wills: u32,
    log: Arc<Mutex<Vec<String>>>,
}

impl modbus_historian::ingest::mqtt::format::Format for Recorder {
    fn will(&mut self) -> Option<modbus_historian::ingest::mqtt::format::Outgoing> {
        self.wills += 1;
        Some(self.text("will", format!("dead {}", self.wills)))
    }

    fn subscriptions(&self) -> Vec<String> {
        vec![format!("{}/cmd", self.prefix)]
    }

    fn handle(
        &mut self,
        happening: modbus_historian::ingest::mqtt::format::Happening<'_>,
        out: &mut Vec<modbus_historian::ingest::mqtt::format::Outgoing>,
    ) {
        use modbus_historian::ingest::mqtt::format::Happening as H;
        let entry = match happening {
            H::Connected { devices } => {
                out.push(self.text("born", format!("born {}", self.wills)));
                format!("connected {}", devices.len())
            }
            H::Poll { device, readings } => format!("poll {} {}", device.name(), readings.len()),
            H::Fleet { devices } => format!("fleet {}", devices.len()),
            H::Command { topic, payload } => {
                let text = String::from_utf8_lossy(payload).to_string();
                out.push(self.text("echo", text.clone()));
                format!("command {topic} {text}")
            }
        };
        self.log.lock().expect("lock").push(entry);
    }
}

impl Recorder {
    fn text(&self, leaf: &str, text: String) -> modbus_historian::ingest::mqtt::format::Outgoing {
        modbus_historian::ingest::mqtt::format::Outgoing {
            topic: format!("{}/{leaf}", self.prefix),
            payload: text.into_bytes(),
            qos: Qos::AtLeastOnce,
            retain: false,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_link_renews_the_will_resubscribes_and_says_goodbye_with_it() {
    use modbus_historian::ingest::PollSink;
    use modbus_historian::registry::Registry;
    let test = "the_link_renews_the_will_resubscribes_and_says_goodbye_with_it";
    let Some(broker) = require(test, ThrowawayMosquitto::start()) else {
        return;
    };
    let prefix = unique_name("mh_link");
    let map = historian_sim::fleet::reference_map(3);
    let config = common::device(
        "dev",
        1,
        &map,
        Duration::from_secs(1),
        Duration::from_secs(1),
    );
    let record = historian_store::DeviceRecord::new(42, config.spec.clone());
    let registry = Arc::new(Registry::build(
        std::slice::from_ref(&config),
        std::slice::from_ref(&record),
    ));
    let stats = Arc::new(Stats::default());
    let log = Arc::new(Mutex::new(Vec::new()));
    let format = Recorder {
        prefix: prefix.clone(),
        wills: 0,
        log: Arc::clone(&log),
    };
    let sub = Subscriber::start("127.0.0.1", broker.port, &format!("{prefix}/#"), None).await;
    let texts = |sub: &Subscriber, leaf: &str| -> Vec<String> {
        sub.seen()
            .iter()
            .filter(|m| m.topic == format!("{prefix}/{leaf}"))
            .map(|m| String::from_utf8_lossy(&m.payload).to_string())
            .collect()
    };
    let cfg = mqtt_config(&broker.url(), JsonOptions::default());
    let (sink, task) = modbus_historian::ingest::mqtt::link::spawn(
        cfg,
        Box::new(format),
        Arc::clone(&registry),
        Arc::clone(&stats),
    )
    .expect("link");
    eventually("the first session's announcement", PATIENCE, || async {
        let born = texts(&sub, "born");
        if born == ["born 1"] {
            Ok(())
        } else {
            Err(format!("{born:?}"))
        }
    })
    .await;

    let poll: Vec<historian_model::Reading> = map
        .iter()
        .map(|p| historian_model::Reading {
            timestamp: chrono::Utc::now(),
            device_id: 42,
            register_address: p.register,
            value: Some(1.0),
            text: None,
            quality: historian_model::Quality::Good,
            register_name: Arc::from(p.name.as_str()),
            data_type: p.data_type,
            unit: Arc::from(p.unit.as_str()),
        })
        .collect();
    sink.offer(&poll);
    eventually("the poll handed to the format", PATIENCE, || async {
        let log = log.lock().expect("lock").clone();
        if log.iter().any(|l| l == "poll dev 3") {
            Ok(())
        } else {
            Err(format!("{log:?}"))
        }
    })
    .await;
    registry.replace(&[], &[]);
    let commander = Subscriber::start("127.0.0.1", broker.port, "unused/none", None).await;
    commander
        .client
        .publish(format!("{prefix}/cmd"), QoS::AtLeastOnce, false, "hello")
        .await
        .expect("publish");
    eventually(
        "poll, reload and command handed to the format",
        PATIENCE,
        || async {
            let log = log.lock().expect("lock").clone();
            let want = [
                "connected 1",
                "poll dev 3",
                "fleet 0",
                &format!("command {prefix}/cmd hello"),
            ];
            if want.iter().all(|w| log.iter().any(|l| l == w)) && texts(&sub, "echo") == ["hello"] {
                Ok(())
            } else {
                Err(format!("{log:?}"))
            }
        },
    )
    .await;

    // A new session: a new will before it, the subscriptions made again, the announcement.
    commander.stop().await;
    sub.stop().await;
    broker.restart().expect("restart");
    let sub = Subscriber::start("127.0.0.1", broker.port, &format!("{prefix}/#"), None).await;
    let commander = Subscriber::start("127.0.0.1", broker.port, "unused/none", None).await;
    eventually("the second session", PATIENCE, || async {
        if Stats::get(&stats.mqtt_reconnects) >= 1 && Stats::get(&stats.mqtt_connected) == 1 {
            Ok(())
        } else {
            Err(format!("{:?}", log.lock().expect("lock")))
        }
    })
    .await;
    eventually("a command in the second session", PATIENCE, || async {
        commander
            .client
            .publish(format!("{prefix}/cmd"), QoS::AtLeastOnce, false, "again")
            .await
            .map_err(|e| e.to_string())?;
        let echo = texts(&sub, "echo");
        if echo.iter().any(|e| e == "again") {
            Ok(())
        } else {
            Err(format!("{echo:?}"))
        }
    })
    .await;
    let sessions = {
        let log = log.lock().expect("lock");
        log.iter().filter(|l| l.starts_with("connected")).count()
    };
    assert!(sessions >= 2, "one Connected per session");

    // Dropping the sink is a clean stop: the will goes out as a message of its own.
    drop(sink);
    tokio::time::timeout(PATIENCE, task)
        .await
        .expect("the link ends after the sink is dropped")
        .expect("link task");
    eventually("the will published at the clean stop", PATIENCE, || async {
        let will = texts(&sub, "will");
        match will.as_slice() {
            [one] if one.starts_with("dead ") && one != "dead 1" => Ok(()),
            _ => Err(format!("{will:?}")),
        }
    })
    .await;
    assert_eq!(Stats::get(&stats.mqtt_connected), 0);
    commander.stop().await;
    sub.stop().await;
}
