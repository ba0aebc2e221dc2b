//! The Sparkplug B format's session semantics at a real broker (Mosquitto on
//! 127.0.0.1:1883, else a throwaway one started here): the NDEATH registered as the will
//! arrives when the edge node's connection drops without a goodbye, with the `bdSeq` of
//! that connection's NBIRTH; an NCMD rebirth request repeats the births; a reconnect is a
//! new session with the next `bdSeq`. A small rumqttc client drives the format the way the
//! MQTT link does; without a broker the tests report themselves skipped by name (and fail
//! under `CI=true`).

#[path = "common/sparkplug_host.rs"]
mod sparkplug_host;

use chrono::Utc;
use historian_model::{DataType, DeviceSpec, Quality, Reading, RegisterPoint, RegisterRef, Table};
use historian_testkit::{PATIENCE, TestkitError, require};
use modbus_historian::config::DeviceConfig;
use modbus_historian::ingest::mqtt::format::{Format, Happening, Outgoing, Qos};
use modbus_historian::ingest::mqtt::sparkplug::SparkplugB;
use modbus_historian::ingest::mqtt::sparkplug::proto::metric;
use modbus_historian::registry::DeviceRuntime;
use rumqttc::{AsyncClient, Event, LastWill, MqttOptions, Packet, QoS};
use sparkplug_host::{SparkplugHost, bd_seq, value_of};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Kills a broker this test started when the test ends.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

struct Broker {
    port: u16,
    _own: Option<KillOnDrop>,
}

async fn listening(port: u16) -> bool {
    tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_ok()
}

/// The machine's broker, or a throwaway Mosquitto on a free port.
async fn broker() -> Result<Broker, TestkitError> {
    if listening(1883).await {
        return Ok(Broker {
            port: 1883,
            _own: None,
        });
    }
    let port = historian_testkit::free_port()?;
    let child = Command::new("mosquitto")
        .args(["-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| {
            TestkitError::Unavailable(format!(
                "no MQTT broker on 127.0.0.1:1883 and mosquitto cannot start ({e}); \
                 apt-get install mosquitto"
            ))
        })?;
    let own = KillOnDrop(child);
    historian_testkit::eventually("the throwaway mosquitto listens", PATIENCE, async || {
        if listening(port).await {
            Ok(())
        } else {
            Err(format!("nothing on port {port} yet"))
        }
    })
    .await;
    Ok(Broker {
        port,
        _own: Some(own),
    })
}

fn runtime(id: i64, name: &str) -> Arc<DeviceRuntime> {
    let registers = vec![
        RegisterPoint {
            name: "pressure".into(),
            register: RegisterRef::new(Table::InputRegister, 0),
            data_type: DataType::Int16,
            unit: "bar".into(),
            ..RegisterPoint::default()
        },
        RegisterPoint {
            name: "running".into(),
            register: RegisterRef::new(Table::Coil, 0),
            data_type: DataType::Bool,
            ..RegisterPoint::default()
        },
    ];
    let spec = DeviceSpec {
        name: name.into(),
        host: "127.0.0.1".into(),
        port: 502,
        unit_id: 1,
        poll_interval_ms: 1000,
        enabled: true,
        registers,
        access: Default::default(),
    };
    Arc::new(DeviceRuntime {
        id,
        names: spec
            .registers
            .iter()
            .map(|p| Arc::from(p.name.as_str()))
            .collect(),
        units: spec
            .registers
            .iter()
            .map(|p| Arc::from(p.unit.as_str()))
            .collect(),
        config: DeviceConfig::new(spec, Duration::from_secs(1)),
        status: Default::default(),
    })
}

fn pressure(device: &DeviceRuntime, value: f64) -> Reading {
    Reading {
        timestamp: Utc::now(),
        device_id: device.id,
        register_address: device.config.spec.registers[0].register,
        value: Some(value),
        text: None,
        quality: Quality::Good,
        register_name: Arc::clone(&device.names[0]),
        data_type: DataType::Int16,
        unit: Arc::clone(&device.units[0]),
    }
}

fn qos(q: Qos) -> QoS {
    match q {
        Qos::AtMostOnce => QoS::AtMostOnce,
        Qos::AtLeastOnce => QoS::AtLeastOnce,
    }
}

/// Runs `happening` through the shared node and returns what it asks to publish.
fn step(node: &Mutex<SparkplugB>, happening: Happening<'_>) -> Vec<Outgoing> {
    let mut out = Vec::new();
    node.lock().expect("node").handle(happening, &mut out);
    out
}

fn send(client: &AsyncClient, out: Vec<Outgoing>) {
    for o in out {
        client
            .try_publish(o.topic, qos(o.qos), o.retain, o.payload)
            .expect("queue a publish");
    }
}

/// One connection of the edge node, as the MQTT link runs it: the will from the format,
/// the format's subscriptions at QoS 1 after CONNACK, then the session's births; polls
/// and commands as they come. Aborting the task drops the socket without a DISCONNECT,
/// as a killed process does.
fn edge_session(
    port: u16,
    client_id: String,
    node: Arc<Mutex<SparkplugB>>,
    devices: Vec<Arc<DeviceRuntime>>,
    mut polls: mpsc::UnboundedReceiver<Vec<Reading>>,
) -> JoinHandle<()> {
    let will = node.lock().expect("node").will().expect("a will");
    let mut opts = MqttOptions::new(client_id, "127.0.0.1", port);
    opts.set_keep_alive(Duration::from_secs(5));
    opts.set_clean_session(true);
    opts.set_last_will(LastWill::new(
        will.topic,
        will.payload,
        qos(will.qos),
        will.retain,
    ));
    let (client, mut events) = AsyncClient::new(opts, 1000);
    tokio::spawn(async move {
        loop {
            tokio::select! {
                event = events.poll() => match event {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => {
                        let topics = node.lock().expect("node").subscriptions();
                        for t in topics {
                            client.try_subscribe(t, QoS::AtLeastOnce).expect("subscribe");
                        }
                        send(&client, step(&node, Happening::Connected { devices: &devices }));
                    }
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        let happening = Happening::Command { topic: &p.topic, payload: &p.payload };
                        send(&client, step(&node, happening));
                    }
                    Ok(_) => {}
                    Err(e) => panic!("edge node connection failed: {e}"),
                },
                Some(readings) = polls.recv() => {
                    let happening = Happening::Poll { device: &devices[0], readings: &readings };
                    send(&client, step(&node, happening));
                }
            }
        }
    })
}

struct Setup {
    _broker: Broker,
    port: u16,
    group: String,
    node: Arc<Mutex<SparkplugB>>,
    device: Arc<DeviceRuntime>,
    host: SparkplugHost,
}

async fn setup(test: &str) -> Option<Setup> {
    let broker = require(test, broker().await)?;
    let port = broker.port;
    let group = historian_testkit::unique_name("plant");
    let host = SparkplugHost::subscribe("127.0.0.1", port, &group, "edge").await;
    let node = SparkplugB::new(group.clone(), "edge".into(), Qos::AtMostOnce).expect("node");
    Some(Setup {
        _broker: broker,
        port,
        group,
        node: Arc::new(Mutex::new(node)),
        device: runtime(1, "press"),
        host,
    })
}

#[tokio::test]
async fn the_will_delivers_an_ndeath_with_the_births_bdseq_when_the_node_drops() {
    let test =
        "sparkplug_broker::the_will_delivers_an_ndeath_with_the_births_bdseq_when_the_node_drops";
    let Some(mut s) = setup(test).await else {
        return;
    };
    let (_polls, rx) = mpsc::unbounded_channel();
    let first = edge_session(
        s.port,
        historian_testkit::unique_name("edge"),
        s.node.clone(),
        vec![s.device.clone()],
        rx,
    );
    let birth = s.host.expect("NBIRTH", None).await;
    assert_eq!((birth.seq, bd_seq(&birth)), (Some(0), 0));
    assert_eq!(s.host.expect("DBIRTH", Some("press")).await.seq, Some(1));

    first.abort();
    let death = s.host.expect("NDEATH", None).await;
    assert_eq!(bd_seq(&death), 0, "the will pairs with the NBIRTH");
    assert_eq!(death.seq, None);

    // The next connection is a new session with the next bdSeq, births from seq 0.
    let (_polls, rx) = mpsc::unbounded_channel();
    let second = edge_session(
        s.port,
        historian_testkit::unique_name("edge"),
        s.node.clone(),
        vec![s.device.clone()],
        rx,
    );
    let birth = s.host.expect("NBIRTH", None).await;
    assert_eq!((birth.seq, bd_seq(&birth)), (Some(0), 1));
    assert_eq!(s.host.expect("DBIRTH", Some("press")).await.seq, Some(1));
    second.abort();
    let death = s.host.expect("NDEATH", None).await;
    assert_eq!(bd_seq(&death), 1);
}

#[tokio::test]
async fn a_rebirth_request_over_the_broker_repeats_every_birth() {
    let test = "sparkplug_broker::a_rebirth_request_over_the_broker_repeats_every_birth";
    let Some(mut s) = setup(test).await else {
        return;
    };
    let (polls, rx) = mpsc::unbounded_channel();
    let session = edge_session(
        s.port,
        historian_testkit::unique_name("edge"),
        s.node.clone(),
        vec![s.device.clone()],
        rx,
    );
    s.host.expect("NBIRTH", None).await;
    s.host.expect("DBIRTH", Some("press")).await;
    s.device.status.last_poll_us.store(1, Ordering::Relaxed);
    s.device.status.up.store(true, Ordering::Relaxed);
    polls
        .send(vec![pressure(&s.device, 42.0)])
        .expect("edge session alive");
    let data = s.host.expect("DDATA", Some("press")).await;
    assert_eq!(data.seq, Some(2));
    assert_eq!(data.metrics[0].value, Some(metric::Value::IntValue(42)));

    s.host.request_rebirth(&s.group).await;
    let birth = s.host.expect("NBIRTH", None).await;
    assert_eq!(
        (birth.seq, bd_seq(&birth)),
        (Some(0), 0),
        "same connection, same bdSeq"
    );
    let device = s.host.expect("DBIRTH", Some("press")).await;
    assert_eq!(device.seq, Some(1));
    assert_eq!(
        value_of(&device, "pressure"),
        Some(metric::Value::IntValue(42)),
        "the rebirth carries the last value"
    );
    polls
        .send(vec![pressure(&s.device, 43.0)])
        .expect("edge session alive");
    assert_eq!(s.host.expect("DDATA", Some("press")).await.seq, Some(2));
    session.abort();
}
