//! The plain JSON format: one message per register on a topic of a template
//! (`{prefix}/{device}/{register}`), and optionally one per poll of a device; retained on
//! request, and published only on change (beyond a deadband, or after a maximum silence)
//! when asked. The store keeps every poll regardless.

use super::format::{Format, Happening, Outgoing, Qos};
use super::topic::Names;
use crate::config::JsonOptions;
use crate::registry::DeviceRuntime;
use chrono::{DateTime, Utc};
use historian_model::{DataType, Number, Quality, Reading};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::{Arc, Weak};

/// The JSON format's state: what it last published per register, for on-change and for
/// clearing retained topics of registers that are gone.
#[derive(Debug)]
pub struct JsonFormat {
    opts: JsonOptions,
    qos: Qos,
    devices: HashMap<i64, DeviceMemo>,
}

#[derive(Debug)]
struct DeviceMemo {
    name: String,
    /// The runtime the registers were last checked against (a reload makes a new one).
    runtime: Weak<DeviceRuntime>,
    batch_topic: Option<String>,
    registers: HashMap<u32, RegisterMemo>,
}

#[derive(Debug)]
struct RegisterMemo {
    name: Arc<str>,
    topic: Option<String>,
    deadband: f64,
    last: Option<Sent>,
}

/// What was last published for a register.
#[derive(Debug)]
struct Sent {
    value: Option<f64>,
    text: Option<Arc<str>>,
    quality: Quality,
    at: DateTime<Utc>,
}

/// One register's message.
#[derive(Serialize)]
struct Payload<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    device: Option<&'a str>,
    register: &'a str,
    address: u32,
    /// A number (exact for 64-bit integer registers), or null when the read failed; absent
    /// for a string register.
    #[serde(skip_serializing_if = "Option::is_none")]
    value: Option<Option<Number>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<&'a str>,
    unit: &'a str,
    quality: &'a str,
    timestamp: String,
}

/// One poll's message on the batch topic.
#[derive(Serialize)]
struct Batch<'a> {
    device: &'a str,
    device_id: i64,
    timestamp: String,
    readings: Vec<Payload<'a>>,
}

fn names<'a>(device: &'a DeviceRuntime, register: &'a str, address: u32) -> Names<'a> {
    Names {
        device: device.name(),
        device_id: device.id,
        register,
        address,
    }
}

fn timestamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

fn payload<'a>(r: &'a Reading, device: Option<&'a str>) -> Payload<'a> {
    Payload {
        device,
        register: &r.register_name,
        address: r.register_address.reference(),
        value: if r.data_type == DataType::String {
            None
        } else {
            Some(r.number())
        },
        text: r.string_text(),
        unit: &r.unit,
        quality: r.quality.as_str(),
        timestamp: timestamp(r.timestamp),
    }
}

impl JsonFormat {
    /// The format with `opts`, publishing at `qos`.
    pub fn new(opts: JsonOptions, qos: Qos) -> Self {
        JsonFormat {
            opts,
            qos,
            devices: HashMap::new(),
        }
    }

    fn message(&self, topic: String, payload: Vec<u8>) -> Outgoing {
        Outgoing {
            topic,
            payload,
            qos: self.qos,
            retain: self.opts.retain,
        }
    }

    /// An empty retained message, which deletes what the broker retains on `topic`.
    fn clear(&self, topic: String) -> Outgoing {
        Outgoing {
            topic,
            payload: Vec::new(),
            qos: self.qos,
            retain: true,
        }
    }

    fn poll(&mut self, device: &DeviceRuntime, readings: &[Reading], out: &mut Vec<Outgoing>) {
        let name = device.name();
        let stale = self.devices.get(&device.id).is_some_and(|m| m.name != name);
        if stale && let Some(old) = self.devices.remove(&device.id) {
            self.forget(old, out);
        }
        let memo = self.devices.entry(device.id).or_insert_with(|| DeviceMemo {
            name: name.to_string(),
            runtime: Weak::new(),
            batch_topic: self
                .opts
                .batch_topic
                .as_ref()
                .map(|t| t.render(names(device, "", 0))),
            registers: HashMap::new(),
        });
        let mut renamed = Vec::new();
        let mut due: Vec<&Reading> = Vec::new();
        for r in readings {
            let address = r.register_address.reference();
            let fresh = || RegisterMemo {
                name: Arc::clone(&r.register_name),
                topic: self
                    .opts
                    .topic
                    .as_ref()
                    .map(|t| t.render(names(device, &r.register_name, address))),
                deadband: self
                    .opts
                    .on_change
                    .as_ref()
                    .map_or(0.0, |oc| oc.deadband_of(name, &r.register_name)),
                last: None,
            };
            let reg = memo.registers.entry(address).or_insert_with(fresh);
            if *reg.name != *r.register_name {
                // The map gave the address a new name: a new topic, and the old one goes.
                if let Some(old) = reg.topic.take() {
                    renamed.push(old);
                }
                *reg = fresh();
            }
            let is_due = match (&self.opts.on_change, &reg.last) {
                (None, _) | (_, None) => true,
                (Some(oc), Some(last)) => {
                    changed(last, r, reg.deadband)
                        || oc.max_silence.is_some_and(|s| {
                            (r.timestamp - last.at).to_std().unwrap_or_default() >= s
                        })
                }
            };
            if !is_due {
                continue;
            }
            if self.opts.on_change.is_some() {
                reg.last = Some(Sent {
                    value: r.value,
                    text: r.text.clone(),
                    quality: r.quality,
                    at: r.timestamp,
                });
            }
            if let Some(topic) = &reg.topic {
                let body = serde_json::to_vec(&payload(r, Some(name))).unwrap_or_default();
                out.push(Outgoing {
                    topic: topic.clone(),
                    payload: body,
                    qos: self.qos,
                    retain: self.opts.retain,
                });
            }
            due.push(r);
        }
        if let Some(topic) = &memo.batch_topic
            && let Some(first) = due.first()
        {
            let batch = Batch {
                device: name,
                device_id: device.id,
                timestamp: timestamp(first.timestamp),
                readings: due.iter().map(|r| payload(r, None)).collect(),
            };
            let body = serde_json::to_vec(&batch).unwrap_or_default();
            let topic = topic.clone();
            out.push(self.message(topic, body));
        }
        if self.opts.retain {
            for topic in renamed {
                out.push(self.clear(topic));
            }
        }
    }

    /// Clears the retained topics of a device no longer published under this memo.
    fn forget(&self, memo: DeviceMemo, out: &mut Vec<Outgoing>) {
        if !self.opts.retain {
            return;
        }
        for reg in memo.registers.into_values() {
            if let Some(t) = reg.topic {
                out.push(self.clear(t));
            }
        }
        if let Some(t) = memo.batch_topic {
            out.push(self.clear(t));
        }
    }

    fn fleet(&mut self, devices: &[Arc<DeviceRuntime>], out: &mut Vec<Outgoing>) {
        let current: HashMap<i64, &Arc<DeviceRuntime>> =
            devices.iter().map(|d| (d.id, d)).collect();
        let gone: Vec<i64> = self
            .devices
            .iter()
            .filter(|(id, m)| current.get(id).is_none_or(|d| d.name() != m.name))
            .map(|(id, _)| *id)
            .collect();
        for id in gone {
            if let Some(memo) = self.devices.remove(&id) {
                self.forget(memo, out);
            }
        }
        // Only a device whose runtime is new (its map may have changed) is looked into.
        let mut cleared = Vec::new();
        for (id, memo) in &mut self.devices {
            let Some(d) = current.get(id) else {
                continue;
            };
            if std::ptr::eq(memo.runtime.as_ptr(), Arc::as_ptr(d)) {
                continue;
            }
            memo.runtime = Arc::downgrade(d);
            let mapped: std::collections::HashSet<u32> = d
                .config
                .spec
                .registers
                .iter()
                .map(|p| p.register.reference())
                .collect();
            memo.registers.retain(|address, reg| {
                let keep = mapped.contains(address);
                if !keep && let Some(t) = reg.topic.take() {
                    cleared.push(t);
                }
                keep
            });
        }
        if self.opts.retain {
            for t in cleared {
                out.push(self.clear(t));
            }
        }
    }
}

/// Whether `r` differs from what was last published, beyond `deadband` for numbers.
fn changed(last: &Sent, r: &Reading, deadband: f64) -> bool {
    if last.quality != r.quality || last.text != r.text {
        return true;
    }
    match (last.value, r.value) {
        (Some(a), Some(b)) if a.is_nan() || b.is_nan() => a.is_nan() != b.is_nan(),
        (Some(a), Some(b)) => (a - b).abs() > deadband,
        (None, None) => false,
        _ => true,
    }
}

impl Format for JsonFormat {
    fn will(&mut self) -> Option<Outgoing> {
        None
    }

    fn subscriptions(&self) -> Vec<String> {
        Vec::new()
    }

    fn handle(&mut self, happening: Happening<'_>, out: &mut Vec<Outgoing>) {
        match happening {
            Happening::Poll { device, readings } => self.poll(device, readings, out),
            // A new session: subscribers may have missed changes while the link was down,
            // so every register is due once more.
            Happening::Connected { devices } => {
                for memo in self.devices.values_mut() {
                    for reg in memo.registers.values_mut() {
                        reg.last = None;
                    }
                }
                self.fleet(devices, out);
            }
            Happening::Fleet { devices } => self.fleet(devices, out),
            Happening::Command { .. } => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{DeviceConfig, OnChange};
    use crate::ingest::mqtt::topic::Template;
    use crate::registry::DeviceStatus;
    use historian_model::{DataType, DeviceSpec, RegisterPoint, RegisterRef, Table};
    use std::time::Duration;

    fn point(name: &str, address: u16) -> RegisterPoint {
        RegisterPoint {
            name: name.into(),
            register: RegisterRef::new(Table::HoldingRegister, address),
            unit: "V".into(),
            ..RegisterPoint::default()
        }
    }

    fn device(id: i64, name: &str, points: &[(&str, u16)]) -> Arc<DeviceRuntime> {
        let registers: Vec<RegisterPoint> = points.iter().map(|(n, a)| point(n, *a)).collect();
        Arc::new(DeviceRuntime {
            id,
            names: registers
                .iter()
                .map(|p| Arc::from(p.name.as_str()))
                .collect(),
            units: registers
                .iter()
                .map(|p| Arc::from(p.unit.as_str()))
                .collect(),
            config: DeviceConfig {
                spec: DeviceSpec {
                    name: name.into(),
                    host: "127.0.0.1".into(),
                    port: 502,
                    unit_id: 1,
                    poll_interval_ms: 1000,
                    enabled: true,
                    registers,
                    access: Default::default(),
                },
                timeout: Duration::from_secs(1),
            },
            status: DeviceStatus::default(),
        })
    }

    fn reading(d: &DeviceRuntime, i: usize, value: Option<f64>, second: i64) -> Reading {
        let p = &d.config.spec.registers[i];
        Reading {
            timestamp: DateTime::from_timestamp(1_700_000_000 + second, 123_456_000).expect("time"),
            device_id: d.id,
            register_address: p.register,
            value,
            text: None,
            quality: if value.is_some() {
                Quality::Good
            } else {
                Quality::Bad
            },
            register_name: Arc::from(p.name.as_str()),
            data_type: DataType::Uint16,
            unit: Arc::from(p.unit.as_str()),
        }
    }

    fn poll(f: &mut JsonFormat, d: &DeviceRuntime, readings: &[Reading]) -> Vec<Outgoing> {
        let mut out = Vec::new();
        f.handle(
            Happening::Poll {
                device: d,
                readings,
            },
            &mut out,
        );
        out
    }

    fn json(m: &Outgoing) -> serde_json::Value {
        serde_json::from_slice(&m.payload).expect("json payload")
    }

    #[test]
    fn one_message_per_register_with_the_documented_payload() {
        let d = device(7, "boiler/1", &[("volts", 0), ("label", 1)]);
        let mut f = JsonFormat::new(JsonOptions::default(), Qos::AtLeastOnce);
        let mut text = reading(&d, 1, None, 0);
        text.text = Some(Arc::from("RUN"));
        text.quality = Quality::Good;
        text.data_type = DataType::String;
        let out = poll(&mut f, &d, &[reading(&d, 0, Some(230.5), 0), text]);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].topic, "modbus-historian/boiler_1/volts");
        assert_eq!((out[0].qos, out[0].retain), (Qos::AtLeastOnce, false));
        assert_eq!(
            json(&out[0]),
            serde_json::json!({
                "device": "boiler/1", "register": "volts", "address": 400001,
                "value": 230.5, "unit": "V", "quality": "good",
                "timestamp": "2023-11-14T22:13:20.123456Z"
            })
        );
        let t = json(&out[1]);
        assert_eq!(t["text"], "RUN");
        assert!(
            t.get("value").is_none(),
            "a string register has no value: {t}"
        );
        let bad = poll(&mut f, &d, &[reading(&d, 0, None, 1)]);
        assert_eq!(json(&bad[0])["value"], serde_json::Value::Null);
        assert_eq!(json(&bad[0])["quality"], "bad");
    }

    #[test]
    fn a_64_bit_counter_is_published_with_every_digit() {
        let d = device(7, "meter", &[("energy", 0)]);
        let mut f = JsonFormat::new(JsonOptions::default(), Qos::AtLeastOnce);
        let mut r = reading(&d, 0, Some(u64::MAX as f64), 0);
        r.data_type = DataType::Uint64;
        r.text = historian_model::exact_text(i128::from(u64::MAX));
        let out = poll(&mut f, &d, &[r]);
        let payload = String::from_utf8(out[0].payload.clone()).expect("utf-8");
        assert!(
            payload.contains("\"value\":18446744073709551615,"),
            "{payload}"
        );
        assert!(json(&out[0]).get("text").is_none(), "{payload}");
    }

    #[test]
    fn a_batch_message_carries_the_whole_poll_and_retain_is_passed_on() {
        let d = device(3, "pump", &[("a", 0), ("b", 1)]);
        let opts = JsonOptions {
            topic: None,
            batch_topic: Some(Template::parse("{prefix}/{device_id}/all", "site").expect("t")),
            retain: true,
            on_change: None,
        };
        let mut f = JsonFormat::new(opts, Qos::AtMostOnce);
        let out = poll(
            &mut f,
            &d,
            &[reading(&d, 0, Some(1.0), 0), reading(&d, 1, Some(2.0), 0)],
        );
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].topic, "site/3/all");
        assert!(out[0].retain);
        let b = json(&out[0]);
        assert_eq!(b["device"], "pump");
        assert_eq!(b["device_id"], 3);
        assert_eq!(b["readings"][1]["register"], "b");
        assert_eq!(b["readings"][1]["value"], 2.0);
        assert!(b["readings"][0].get("device").is_none());
    }

    #[test]
    fn on_change_honours_deadbands_quality_and_max_silence() {
        let d = device(1, "m", &[("t", 0), ("p", 1)]);
        let mut oc = OnChange {
            deadband: 0.5,
            max_silence: Some(Duration::from_secs(10)),
            ..OnChange::default()
        };
        oc.deadbands.insert("m/p".into(), 0.0);
        let opts = JsonOptions {
            on_change: Some(oc),
            ..JsonOptions::default()
        };
        let mut f = JsonFormat::new(opts, Qos::AtMostOnce);
        let topics = |out: Vec<Outgoing>| -> Vec<String> {
            out.into_iter()
                .map(|m| m.topic.rsplit('/').next().unwrap_or("").to_string())
                .collect()
        };
        let step = |f: &mut JsonFormat, t: f64, p: Option<f64>, s: i64| {
            topics(poll(
                f,
                &d,
                &[reading(&d, 0, Some(t), s), reading(&d, 1, p, s)],
            ))
        };
        assert_eq!(
            step(&mut f, 20.0, Some(1.0), 0),
            ["t", "p"],
            "first poll: all"
        );
        assert_eq!(
            step(&mut f, 20.4, Some(1.0), 1),
            Vec::<String>::new(),
            "within deadbands"
        );
        assert_eq!(
            step(&mut f, 20.6, Some(1.0), 2),
            ["t"],
            "beyond 0.5 from the last sent"
        );
        assert_eq!(
            step(&mut f, 20.6, Some(1.001), 3),
            ["p"],
            "deadband 0: any change"
        );
        assert_eq!(
            step(&mut f, 20.6, None, 4),
            ["p"],
            "quality bad is a change"
        );
        assert_eq!(step(&mut f, 20.6, None, 5), Vec::<String>::new());
        assert_eq!(
            step(&mut f, 20.6, None, 12),
            ["t"],
            "10 s of silence since t was sent"
        );
        assert_eq!(
            step(&mut f, 20.6, None, 14),
            ["p"],
            "10 s since p was sent at 4"
        );
        let mut out = Vec::new();
        f.handle(
            Happening::Connected {
                devices: &[Arc::clone(&d)],
            },
            &mut out,
        );
        assert!(out.is_empty());
        assert_eq!(
            step(&mut f, 20.6, None, 15),
            ["t", "p"],
            "a new session sends all again"
        );
    }

    #[test]
    fn retained_topics_of_removed_devices_and_registers_are_cleared() {
        let d = device(1, "m", &[("t", 0), ("p", 1)]);
        let opts = JsonOptions {
            retain: true,
            ..JsonOptions::default()
        };
        let mut f = JsonFormat::new(opts, Qos::AtMostOnce);
        poll(
            &mut f,
            &d,
            &[reading(&d, 0, Some(1.0), 0), reading(&d, 1, Some(2.0), 0)],
        );
        let mut out = Vec::new();
        f.handle(
            Happening::Fleet {
                devices: &[Arc::clone(&d)],
            },
            &mut out,
        );
        assert!(out.is_empty(), "nothing changed: {out:?}");
        let smaller = device(1, "m", &[("t", 0)]);
        f.handle(
            Happening::Fleet {
                devices: &[smaller],
            },
            &mut out,
        );
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].topic, "modbus-historian/m/p");
        assert!(out[0].payload.is_empty() && out[0].retain);
        out.clear();
        f.handle(Happening::Fleet { devices: &[] }, &mut out);
        assert_eq!(
            out.iter().map(|m| m.topic.as_str()).collect::<Vec<_>>(),
            ["modbus-historian/m/t"]
        );
    }
}
