//! Sparkplug B (specification 3.0): the historian is one edge node, each configured device
//! a Sparkplug device, each register a metric.
//!
//! - The will is an NDEATH carrying `bdSeq` (Int64), one more (0-255, wrapping) for every
//!   connection attempt; the NBIRTH of that connection carries the same value.
//! - A session starts with an NBIRTH (`seq` 0, `bdSeq`, `Node Control/Rebirth` false,
//!   `Properties/Software`), then a DBIRTH per enabled device that is not known to be
//!   down: every register with name, alias, data type, properties (`engUnit`,
//!   `register`, `engLow`/`engHigh` when configured, `Quality`) and its last value.
//! - Each poll becomes a DDATA by alias, each metric with its reading's timestamp and a
//!   `Quality` property (192 good, 0 bad; a doubtful value is 0 with `qualityDetail`
//!   `uncertain`).
//! - A device that goes down, is disabled or removed gets a DDEATH; one that comes back a
//!   DBIRTH; a changed register map a DDEATH and a new DBIRTH.
//! - `seq` counts every message after the NBIRTH, 0-255 and round again.
//! - An NCMD with `Node Control/Rebirth` true repeats the NBIRTH (same `bdSeq`, `seq` 0)
//!   and every DBIRTH.
//!
//! Births, data and deaths go out at QoS 0 without retain, the will at QoS 1 without
//! retain, as the specification requires.

mod map;
pub mod proto;
#[cfg(test)]
mod tests;

pub use map::{QUALITY_BAD, QUALITY_GOOD, alias, device_id};

use super::births::Births;
use super::format::{Format, Happening, Outgoing, Qos};
use crate::registry::DeviceRuntime;
use historian_model::{Quality, Reading};
use map::{DeviceMap, Properties};
use prost::Message;
use proto::{Metric, Payload, data_type, metric};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use thiserror::Error;

/// The topic namespace of Sparkplug B.
pub const NAMESPACE: &str = "spBv1.0";
/// The node metric a host sets to true to ask for every birth again.
pub const REBIRTH: &str = "Node Control/Rebirth";
/// The node metric pairing an NBIRTH with its NDEATH.
pub const BD_SEQ: &str = "bdSeq";
/// The node metric naming the software.
pub const SOFTWARE: &str = "Properties/Software";

/// Aliases of the node's own metrics; device metrics' aliases are all above 2^32 (see
/// [`alias`]). `Node Control/Rebirth` has none: the specification forbids one, so a host
/// can ask for a rebirth without knowing any alias.
const ALIAS_BD_SEQ: u64 = 1;
const ALIAS_SOFTWARE: u64 = 2;

/// Settings Sparkplug cannot work with.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SparkplugError {
    /// An id is empty.
    #[error("{key} is empty: Sparkplug needs a name here")]
    Empty {
        /// The setting (`group_id`, `edge_node_id`).
        key: &'static str,
    },
    /// An id holds a character Sparkplug forbids.
    #[error("{key} {id:?} contains {found:?}: Sparkplug ids may not contain '+', '#' or '/'")]
    Forbidden {
        /// The setting (`group_id`, `edge_node_id`).
        key: &'static str,
        /// The id as given.
        id: String,
        /// The first forbidden character.
        found: char,
    },
    /// QoS 1 asked for: Sparkplug fixes the QoS of every message.
    #[error(
        "qos 1 does not apply to sparkplug_b: Sparkplug 3.0 sends births, data and deaths at \
         QoS 0 and the will at QoS 1; leave qos out or set it to 0"
    )]
    Qos,
}

fn check_id(key: &'static str, id: &str) -> Result<(), SparkplugError> {
    if id.is_empty() {
        return Err(SparkplugError::Empty { key });
    }
    match id.chars().find(|c| matches!(c, '+' | '#' | '/' | '\0')) {
        Some(found) => Err(SparkplugError::Forbidden {
            key,
            id: id.to_owned(),
            found,
        }),
        None => Ok(()),
    }
}

/// The last value of one metric, for the next birth.
#[derive(Debug, Clone)]
struct Sample {
    value: Option<metric::Value>,
    timestamp: u64,
    quality: Quality,
}

/// What the node knows of one device.
#[derive(Debug)]
struct Tracked {
    /// The runtime a fleet listing last gave; `None` for a device seen only in a poll.
    runtime: Option<Arc<DeviceRuntime>>,
    /// The metrics as announced (or to be announced).
    map: DeviceMap,
    /// Last value per metric, parallel to `map.metrics`.
    samples: Vec<Option<Sample>>,
    /// A DBIRTH went out in this session and no DDEATH since.
    born: bool,
}

impl Tracked {
    fn new(map: DeviceMap, runtime: Option<Arc<DeviceRuntime>>) -> Self {
        Tracked {
            samples: vec![None; map.metrics.len()],
            runtime,
            map,
            born: false,
        }
    }

    /// Replaces the map; the old values no longer match it.
    fn remap(&mut self, map: DeviceMap) {
        self.samples = vec![None; map.metrics.len()];
        self.map = map;
    }
}

/// Whether a device should be alive in Sparkplug: enabled, and up or not polled yet (a
/// device is born with null values until its first poll says otherwise).
fn should_live(device: &DeviceRuntime) -> bool {
    device.config.spec.enabled
        && (!device.polled() || device.status.up.load(std::sync::atomic::Ordering::Relaxed))
}

fn now_ms() -> u64 {
    u64::try_from(chrono::Utc::now().timestamp_millis()).unwrap_or(0)
}

fn millis(reading: &Reading) -> u64 {
    u64::try_from(reading.timestamp.timestamp_millis()).unwrap_or(0)
}

/// The Sparkplug B payload format: one edge node and its devices.
pub struct SparkplugB {
    group_id: String,
    edge_node_id: String,
    /// `bdSeq` of the current (or last) connection.
    bd_seq: u8,
    /// `bdSeq` of the next connection attempt.
    next_bd_seq: u8,
    /// `seq` of the next message.
    seq: u8,
    /// An NBIRTH went out in the current session.
    online: bool,
    devices: HashMap<i64, Tracked>,
    /// Device ids in fleet order, for births in a stable order.
    order: Vec<i64>,
    /// Devices a fleet listing dropped: a poll still in flight for one must not bring it
    /// back to life.
    retired: HashSet<i64>,
    /// Which devices are born, for the device list.
    births: Arc<Births>,
}

impl std::fmt::Debug for SparkplugB {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SparkplugB")
            .field("group_id", &self.group_id)
            .field("edge_node_id", &self.edge_node_id)
            .field("bd_seq", &self.bd_seq)
            .field("seq", &self.seq)
            .field("online", &self.online)
            .field("devices", &self.devices.len())
            .finish()
    }
}

impl SparkplugB {
    /// An edge node `edge_node_id` in group `group_id`. Both must be non-empty and free of
    /// `+ # /`; `qos` must be [`Qos::AtMostOnce`] (Sparkplug fixes every message's QoS).
    /// Device names need no such care: see [`device_id`].
    pub fn new(group_id: String, edge_node_id: String, qos: Qos) -> Result<Self, SparkplugError> {
        check_id("group_id", &group_id)?;
        check_id("edge_node_id", &edge_node_id)?;
        if qos != Qos::AtMostOnce {
            return Err(SparkplugError::Qos);
        }
        Ok(SparkplugB {
            group_id,
            edge_node_id,
            bd_seq: 0,
            next_bd_seq: 0,
            seq: 0,
            online: false,
            devices: HashMap::new(),
            order: Vec::new(),
            retired: HashSet::new(),
            births: Arc::default(),
        })
    }

    /// Which devices have a standing DBIRTH, kept current as happenings are handled.
    pub fn births(&self) -> Arc<Births> {
        Arc::clone(&self.births)
    }

    fn report_births(&self) {
        self.births.replace(
            self.devices
                .iter()
                .filter(|(_, t)| t.born)
                .map(|(id, _)| *id),
        );
    }

    /// The topic of a node message (`NBIRTH`, `NDEATH`, `NCMD`, ...).
    pub fn node_topic(&self, verb: &str) -> String {
        format!("{NAMESPACE}/{}/{verb}/{}", self.group_id, self.edge_node_id)
    }

    /// The topic of a device message (`DBIRTH`, `DDATA`, `DDEATH`) for a Sparkplug device id.
    pub fn device_topic(&self, verb: &str, device_id: &str) -> String {
        format!(
            "{NAMESPACE}/{}/{verb}/{}/{device_id}",
            self.group_id, self.edge_node_id
        )
    }

    fn publish(&mut self, out: &mut Vec<Outgoing>, topic: String, mut payload: Payload) {
        payload.seq = Some(u64::from(self.seq));
        self.seq = self.seq.wrapping_add(1);
        out.push(Outgoing {
            topic,
            payload: payload.encode_to_vec(),
            qos: Qos::AtMostOnce,
            retain: false,
        });
    }

    fn nbirth(&mut self, out: &mut Vec<Outgoing>) {
        self.seq = 0;
        let now = now_ms();
        let node_metric = |name: &str, alias, datatype, value| Metric {
            name: Some(name.to_owned()),
            alias,
            timestamp: Some(now),
            datatype: Some(datatype),
            value: Some(value),
            ..Metric::default()
        };
        let payload = Payload {
            timestamp: Some(now),
            metrics: vec![
                node_metric(
                    BD_SEQ,
                    Some(ALIAS_BD_SEQ),
                    data_type::INT64,
                    metric::Value::LongValue(u64::from(self.bd_seq)),
                ),
                node_metric(
                    REBIRTH,
                    None,
                    data_type::BOOLEAN,
                    metric::Value::BooleanValue(false),
                ),
                node_metric(
                    SOFTWARE,
                    Some(ALIAS_SOFTWARE),
                    data_type::STRING,
                    metric::Value::StringValue(format!(
                        "modbus-historian {}",
                        env!("CARGO_PKG_VERSION")
                    )),
                ),
            ],
            ..Payload::default()
        };
        let topic = self.node_topic("NBIRTH");
        self.publish(out, topic, payload);
    }

    fn dbirth(&mut self, out: &mut Vec<Outgoing>, id: i64) {
        let Some(t) = self.devices.get_mut(&id) else {
            return;
        };
        t.born = true;
        let now = now_ms();
        let metrics = t
            .map
            .metrics
            .iter()
            .zip(&t.samples)
            .map(|(def, sample)| {
                let (value, timestamp, quality) = match sample {
                    Some(s) => (s.value.clone(), s.timestamp, s.quality),
                    None => (None, now, Quality::Bad),
                };
                Metric {
                    name: Some(def.name.clone()),
                    alias: Some(def.alias),
                    timestamp: Some(timestamp),
                    datatype: Some(def.kind.code()),
                    is_null: value.is_none().then_some(true),
                    properties: Some(
                        Properties::default()
                            .text("engUnit", &def.unit)
                            .text("register", &def.register)
                            .double("engLow", def.low)
                            .double("engHigh", def.high)
                            .quality(quality)
                            .build(),
                    ),
                    value,
                    ..Metric::default()
                }
            })
            .collect();
        let device_id = t.map.device_id.clone();
        let topic = self.device_topic("DBIRTH", &device_id);
        let payload = Payload {
            timestamp: Some(now),
            metrics,
            ..Payload::default()
        };
        self.publish(out, topic, payload);
    }

    fn ddeath(&mut self, out: &mut Vec<Outgoing>, device_id: &str) {
        let topic = self.device_topic("DDEATH", device_id);
        let payload = Payload {
            timestamp: Some(now_ms()),
            ..Payload::default()
        };
        self.publish(out, topic, payload);
    }

    /// Brings one listed device's state in line with its runtime.
    fn fleet_device(&mut self, device: &Arc<DeviceRuntime>, out: &mut Vec<Outgoing>) {
        let id = device.id;
        self.retired.remove(&id);
        let live = should_live(device);
        let mut died = None;
        match self.devices.get_mut(&id) {
            None => {
                self.devices.insert(
                    id,
                    Tracked::new(DeviceMap::of(device), Some(device.clone())),
                );
            }
            Some(t) => {
                let same = t.runtime.as_ref().is_some_and(|r| Arc::ptr_eq(r, device));
                if !same {
                    t.runtime = Some(device.clone());
                    let map = DeviceMap::of(device);
                    if map != t.map {
                        if t.born {
                            died = Some(t.map.device_id.clone());
                            t.born = false;
                        }
                        t.remap(map);
                    }
                }
                if t.born && !live {
                    died = Some(t.map.device_id.clone());
                    t.born = false;
                }
            }
        }
        if !self.online {
            return;
        }
        if let Some(old) = died {
            self.ddeath(out, &old);
        }
        if live && self.devices.get(&id).is_some_and(|t| !t.born) {
            self.dbirth(out, id);
        }
    }

    /// Compares the listed fleet with what the node tracks: births, deaths, new maps.
    fn fleet(&mut self, devices: &[Arc<DeviceRuntime>], out: &mut Vec<Outgoing>) {
        let mut listed = HashSet::with_capacity(devices.len());
        let mut order = Vec::with_capacity(devices.len());
        for d in devices {
            if listed.insert(d.id) {
                order.push(d.id);
                self.fleet_device(d, out);
            }
        }
        let gone: Vec<i64> = self
            .order
            .iter()
            .copied()
            .filter(|id| !listed.contains(id))
            .collect();
        for id in gone {
            if let Some(t) = self.devices.remove(&id) {
                if t.born && self.online {
                    self.ddeath(out, &t.map.device_id);
                }
                self.retired.insert(id);
            }
        }
        self.order = order;
    }

    fn poll(&mut self, device: &DeviceRuntime, readings: &[Reading], out: &mut Vec<Outgoing>) {
        let id = device.id;
        if self.retired.contains(&id) {
            return;
        }
        let mut died = None;
        let fresh = !self.devices.contains_key(&id);
        if fresh {
            self.order.push(id);
        }
        let t = self
            .devices
            .entry(id)
            .or_insert_with(|| Tracked::new(DeviceMap::of(device), None));
        match &t.runtime {
            _ if fresh => {}
            Some(r) if std::ptr::eq(Arc::as_ptr(r), device) => {}
            // A runtime the fleet listing has not (or no longer) named, e.g. the last poll
            // of a device whose map a reload just changed: the listing decides the map, so
            // a poll that does not fit it is left out.
            Some(_) => {
                if DeviceMap::of(device) != t.map {
                    return;
                }
            }
            None => {
                let map = DeviceMap::of(device);
                if map != t.map {
                    if t.born {
                        died = Some(t.map.device_id.clone());
                        t.born = false;
                    }
                    t.remap(map);
                }
            }
        }
        let mut metrics = Vec::with_capacity(readings.len());
        for r in readings {
            let Some(i) = t.map.index(r.register_address.reference()) else {
                continue;
            };
            let def = &t.map.metrics[i];
            let value = def.kind.value(r.value, r.text.as_deref());
            let timestamp = millis(r);
            t.samples[i] = Some(Sample {
                value: value.clone(),
                timestamp,
                quality: r.quality,
            });
            metrics.push(Metric {
                alias: Some(def.alias),
                timestamp: Some(timestamp),
                is_null: value.is_none().then_some(true),
                properties: Some(Properties::default().quality(r.quality).build()),
                value,
                ..Metric::default()
            });
        }
        if !self.online {
            return;
        }
        let (born, device_id) = (t.born, t.map.device_id.clone());
        if let Some(old) = died {
            self.ddeath(out, &old);
        }
        match (born, should_live(device)) {
            (true, true) if !metrics.is_empty() => {
                let payload = Payload {
                    timestamp: Some(now_ms()),
                    metrics,
                    ..Payload::default()
                };
                let topic = self.device_topic("DDATA", &device_id);
                self.publish(out, topic, payload);
            }
            (true, false) => {
                if let Some(t) = self.devices.get_mut(&id) {
                    t.born = false;
                }
                self.ddeath(out, &device_id);
            }
            // Never born (or dead) and reachable again: the birth carries these values.
            (false, true) => self.dbirth(out, id),
            _ => {}
        }
    }

    fn command(&mut self, topic: &str, payload: &[u8], out: &mut Vec<Outgoing>) {
        if topic != self.node_topic("NCMD") {
            return;
        }
        let payload = match Payload::decode(payload) {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(topic, error = %e, "ignoring an NCMD that is not a Sparkplug B payload");
                return;
            }
        };
        let rebirth = payload.metrics.iter().any(|m| {
            m.name.as_deref() == Some(REBIRTH) && m.value == Some(metric::Value::BooleanValue(true))
        });
        if !rebirth || !self.online {
            return;
        }
        tracing::info!(topic, "rebirth requested: sending every birth again");
        self.nbirth(out);
        let born: Vec<i64> = self
            .order
            .iter()
            .copied()
            .filter(|id| self.devices.get(id).is_some_and(|t| t.born))
            .collect();
        for id in born {
            self.dbirth(out, id);
        }
    }
}

impl Format for SparkplugB {
    fn will(&mut self) -> Option<Outgoing> {
        self.bd_seq = self.next_bd_seq;
        self.next_bd_seq = self.next_bd_seq.wrapping_add(1);
        // A new connection is a new session: nothing is born in it until Connected.
        self.online = false;
        for t in self.devices.values_mut() {
            t.born = false;
        }
        self.births.replace([]);
        let payload = Payload {
            timestamp: Some(now_ms()),
            metrics: vec![Metric {
                name: Some(BD_SEQ.to_owned()),
                datatype: Some(data_type::INT64),
                value: Some(metric::Value::LongValue(u64::from(self.bd_seq))),
                ..Metric::default()
            }],
            ..Payload::default()
        };
        Some(Outgoing {
            topic: self.node_topic("NDEATH"),
            payload: payload.encode_to_vec(),
            qos: Qos::AtLeastOnce,
            retain: false,
        })
    }

    fn subscriptions(&self) -> Vec<String> {
        vec![self.node_topic("NCMD")]
    }

    fn handle(&mut self, happening: Happening<'_>, out: &mut Vec<Outgoing>) {
        match happening {
            Happening::Connected { devices } => {
                for t in self.devices.values_mut() {
                    t.born = false;
                }
                self.online = true;
                self.nbirth(out);
                self.fleet(devices, out);
            }
            Happening::Fleet { devices } => self.fleet(devices, out),
            Happening::Poll { device, readings } => {
                self.poll(device, readings, out);
                let born = self.devices.get(&device.id).is_some_and(|t| t.born);
                self.births.set(device.id, born);
                return;
            }
            Happening::Command { topic, payload } => self.command(topic, payload, out),
        }
        self.report_births();
    }
}
