//! A Sparkplug B host application for tests: subscribes to a group at a real broker and
//! hands over each message of one edge node, decoded, in arrival order.
//!
//! Test files that need it include it with `#[path = "common/sparkplug_host.rs"]`.
#![allow(dead_code)]

use chrono::Utc;
use historian_testkit::{PATIENCE, unique_name};
use modbus_historian::ingest::mqtt::sparkplug::proto::{Metric, Payload, metric};
use modbus_historian::ingest::mqtt::sparkplug::{BD_SEQ, REBIRTH};
use prost::Message;
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// A host application's view: every message of one edge node, in arrival order.
pub struct SparkplugHost {
    client: AsyncClient,
    edge: String,
    messages: mpsc::UnboundedReceiver<(String, Vec<u8>)>,
    task: JoinHandle<()>,
}

impl Drop for SparkplugHost {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// One message from the edge node: verb, device (for D* messages) and decoded payload.
pub struct Seen {
    pub verb: String,
    pub device: Option<String>,
    pub payload: Payload,
}

impl SparkplugHost {
    /// Subscribed to `spBv1.0/{group}/#` at `host:port`, once the broker acknowledged it;
    /// messages of another edge node than `edge` fail the test.
    pub async fn subscribe(host: &str, port: u16, group: &str, edge: &str) -> SparkplugHost {
        let opts = MqttOptions::new(unique_name("sparkplug_host"), host, port);
        let (client, mut events) = AsyncClient::new(opts, 100);
        let (tx, messages) = mpsc::unbounded_channel();
        let (subscribed_tx, subscribed) = tokio::sync::oneshot::channel();
        client
            .subscribe(format!("spBv1.0/{group}/#"), QoS::AtLeastOnce)
            .await
            .expect("subscribe");
        let task = tokio::spawn(async move {
            let mut subscribed_tx = Some(subscribed_tx);
            loop {
                match events.poll().await {
                    Ok(Event::Incoming(Packet::SubAck(_))) => {
                        if let Some(s) = subscribed_tx.take() {
                            let _ = s.send(());
                        }
                    }
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        let _ = tx.send((p.topic.clone(), p.payload.to_vec()));
                    }
                    Ok(_) => {}
                    Err(e) => panic!("host connection failed: {e}"),
                }
            }
        });
        tokio::time::timeout(PATIENCE, subscribed)
            .await
            .expect("the host's subscription is acknowledged in time")
            .expect("host task alive");
        SparkplugHost {
            client,
            edge: edge.to_owned(),
            messages,
            task,
        }
    }

    /// The next message from the edge node; commands, which the host sends, are skipped.
    pub async fn next(&mut self) -> Seen {
        loop {
            let (topic, payload) = tokio::time::timeout(PATIENCE, self.messages.recv())
                .await
                .expect("a message within the patience")
                .expect("host task alive");
            let parts: Vec<&str> = topic.split('/').collect();
            if parts[2] == "NCMD" {
                continue;
            }
            assert_eq!(parts[3], self.edge, "{topic}");
            return Seen {
                verb: parts[2].to_owned(),
                device: parts.get(4).map(|d| (*d).to_owned()),
                payload: Payload::decode(payload.as_slice()).expect("a Sparkplug B payload"),
            };
        }
    }

    /// Skips messages until one with `verb` arrives (the condition of the wait).
    pub async fn until(&mut self, verb: &str) -> Seen {
        loop {
            let m = self.next().await;
            if m.verb == verb {
                return m;
            }
        }
    }

    /// The next message, which must be `verb` of `device` (None: of the node itself).
    pub async fn expect(&mut self, verb: &str, device: Option<&str>) -> Payload {
        let m = self.next().await;
        assert_eq!((m.verb.as_str(), m.device.as_deref()), (verb, device));
        m.payload
    }

    /// Sends the edge node an NCMD asking for a rebirth.
    pub async fn request_rebirth(&self, group: &str) {
        let request = Payload {
            timestamp: Some(u64::try_from(Utc::now().timestamp_millis()).unwrap_or(0)),
            metrics: vec![Metric {
                name: Some(REBIRTH.into()),
                datatype: Some(11),
                value: Some(metric::Value::BooleanValue(true)),
                ..Metric::default()
            }],
            ..Payload::default()
        };
        self.client
            .publish(
                format!("spBv1.0/{group}/NCMD/{}", self.edge),
                QoS::AtMostOnce,
                false,
                request.encode_to_vec(),
            )
            .await
            .expect("publish the rebirth request");
    }
}

/// The `bdSeq` metric of an NBIRTH or NDEATH.
pub fn bd_seq(p: &Payload) -> u64 {
    match value_of(p, BD_SEQ) {
        Some(metric::Value::LongValue(v)) => v,
        other => panic!("bdSeq value {other:?}"),
    }
}

/// The value of metric `name` in `p`, if it is there with a value.
pub fn value_of(p: &Payload, name: &str) -> Option<metric::Value> {
    p.metrics
        .iter()
        .find(|m| m.name.as_deref() == Some(name))
        .and_then(|m| m.value.clone())
}
