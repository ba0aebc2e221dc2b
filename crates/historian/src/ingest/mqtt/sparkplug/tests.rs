//! Happenings in, decoded messages out.

use super::proto::{Metric, Payload, PropertyValue, data_type as dt, metric, property_value};
use super::*;
use crate::config::DeviceConfig;
use chrono::{DateTime, Utc};
use historian_model::{
    DataType, DeviceSpec, Quality, Reading, RegisterPoint, RegisterRef, Table, ValueLimits,
};
use std::sync::atomic::Ordering;
use std::time::Duration;

fn point(name: &str, register: RegisterRef, data_type: DataType) -> RegisterPoint {
    RegisterPoint {
        name: name.into(),
        register,
        data_type,
        ..RegisterPoint::default()
    }
}

fn hr(address: u16) -> RegisterRef {
    RegisterRef::new(Table::HoldingRegister, address)
}

/// A map with one register of each kind the node publishes.
fn full_map() -> Vec<RegisterPoint> {
    vec![
        RegisterPoint {
            unit: "°C".into(),
            limits: ValueLimits {
                min: Some(-40.0),
                max: Some(125.0),
                not_available: None,
            },
            ..point("temperature", hr(0), DataType::Int16)
        },
        RegisterPoint {
            scale: 0.1,
            unit: "A".into(),
            ..point("current", hr(1), DataType::Uint16)
        },
        point("power", hr(2), DataType::Float32),
        point("energy", hr(4), DataType::Uint64),
        point("offset", hr(8), DataType::Int32),
        point("ratio", hr(10), DataType::Float64),
        point("running", RegisterRef::new(Table::Coil, 0), DataType::Bool),
        point("alarm", hr(20).with_bit(3), DataType::Bool),
        RegisterPoint {
            length: Some(4),
            ..point("label", hr(30), DataType::String)
        },
    ]
}

fn runtime(id: i64, name: &str, map: Vec<RegisterPoint>) -> Arc<DeviceRuntime> {
    Arc::new(runtime_value(id, name, map, 1000))
}

fn runtime_value(id: i64, name: &str, map: Vec<RegisterPoint>, interval: u64) -> DeviceRuntime {
    let spec = DeviceSpec {
        name: name.into(),
        host: "127.0.0.1".into(),
        port: 502,
        unit_id: 1,
        poll_interval_ms: interval,
        enabled: true,
        registers: map,
        access: Default::default(),
    };
    DeviceRuntime {
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
    }
}

/// Marks a device polled, up or down.
fn set_up(device: &DeviceRuntime, up: bool) {
    device.status.last_poll_us.store(1, Ordering::Relaxed);
    device.status.up.store(up, Ordering::Relaxed);
}

const T0_MS: i64 = 1_700_000_000_123;

fn at(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).expect("time")
}

fn reading(device: &DeviceRuntime, name: &str, value: Option<f64>, quality: Quality) -> Reading {
    let i = device
        .config
        .spec
        .registers
        .iter()
        .position(|p| p.name == name)
        .expect("register");
    let p = &device.config.spec.registers[i];
    Reading {
        timestamp: at(T0_MS),
        device_id: device.id,
        register_address: p.register,
        value,
        text: None,
        quality,
        register_name: Arc::clone(&device.names[i]),
        data_type: p.data_type,
        unit: Arc::clone(&device.units[i]),
    }
}

fn node() -> SparkplugB {
    SparkplugB::new("plant".into(), "historian-1".into(), Qos::AtMostOnce).expect("node")
}

/// A node past its first will and Connected with `devices`; returns the messages.
fn connected(node: &mut SparkplugB, devices: &[Arc<DeviceRuntime>]) -> Vec<Outgoing> {
    node.will().expect("will");
    let mut out = Vec::new();
    node.handle(Happening::Connected { devices }, &mut out);
    out
}

fn run(node: &mut SparkplugB, happening: Happening<'_>) -> Vec<Outgoing> {
    let mut out = Vec::new();
    node.handle(happening, &mut out);
    out
}

fn decode(o: &Outgoing) -> Payload {
    Payload::decode(o.payload.as_slice()).expect("a Sparkplug B payload")
}

/// The verb and device id of a topic.
fn verb(o: &Outgoing) -> (String, Option<String>) {
    let parts: Vec<&str> = o.topic.split('/').collect();
    assert_eq!(parts[0], "spBv1.0", "{}", o.topic);
    assert_eq!(parts[1], "plant", "{}", o.topic);
    assert_eq!(parts[3], "historian-1", "{}", o.topic);
    (parts[2].to_owned(), parts.get(4).map(|d| (*d).to_owned()))
}

fn verbs(out: &[Outgoing]) -> Vec<String> {
    out.iter()
        .map(|o| match verb(o) {
            (v, Some(d)) => format!("{v} {d}"),
            (v, None) => v,
        })
        .collect()
}

fn seq(o: &Outgoing) -> u64 {
    decode(o).seq.expect("seq")
}

fn by_name<'a>(p: &'a Payload, name: &str) -> &'a Metric {
    p.metrics
        .iter()
        .find(|m| m.name.as_deref() == Some(name))
        .unwrap_or_else(|| panic!("no metric {name}"))
}

/// The metric `name` of a message, decoded.
fn named(o: &Outgoing, name: &str) -> Metric {
    by_name(&decode(o), name).clone()
}

fn by_alias(p: &Payload, alias: u64) -> &Metric {
    p.metrics
        .iter()
        .find(|m| m.alias == Some(alias))
        .unwrap_or_else(|| panic!("no metric with alias {alias}"))
}

fn property<'a>(m: &'a Metric, key: &str) -> Option<&'a PropertyValue> {
    let set = m.properties.as_ref()?;
    let i = set.keys.iter().position(|k| k == key)?;
    set.values.get(i)
}

fn quality(m: &Metric) -> i32 {
    match property(m, "Quality") {
        Some(PropertyValue {
            r#type: Some(dt::INT32),
            value: Some(property_value::Value::IntValue(v)),
            ..
        }) => *v as i32,
        other => panic!("Quality property: {other:?}"),
    }
}

fn text_property(m: &Metric, key: &str) -> Option<String> {
    match property(m, key)?.value.as_ref()? {
        property_value::Value::StringValue(s) => Some(s.clone()),
        other => panic!("{key}: {other:?}"),
    }
}

fn bd_seq(p: &Payload) -> u64 {
    let m = by_name(p, BD_SEQ);
    assert_eq!(m.datatype, Some(dt::INT64));
    match m.value {
        Some(metric::Value::LongValue(v)) => v,
        ref other => panic!("bdSeq value {other:?}"),
    }
}

fn rebirth_request(value: bool) -> Vec<u8> {
    Payload {
        timestamp: Some(1),
        metrics: vec![Metric {
            name: Some(REBIRTH.into()),
            datatype: Some(dt::BOOLEAN),
            value: Some(metric::Value::BooleanValue(value)),
            ..Metric::default()
        }],
        ..Payload::default()
    }
    .encode_to_vec()
}

#[test]
fn ids_with_forbidden_characters_and_qos_1_are_refused() {
    let make = |g: &str, e: &str, q| SparkplugB::new(g.into(), e.into(), q).map(|_| ());
    assert_eq!(make("plant", "edge", Qos::AtMostOnce), Ok(()));
    assert_eq!(
        make("", "edge", Qos::AtMostOnce),
        Err(SparkplugError::Empty { key: "group_id" })
    );
    for bad in ["a/b", "a+b", "a#b"] {
        let err = make("plant", bad, Qos::AtMostOnce).expect_err(bad);
        assert!(
            matches!(
                err,
                SparkplugError::Forbidden {
                    key: "edge_node_id",
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("edge_node_id"), "{err}");
    }
    let err = make("plant", "edge", Qos::AtLeastOnce).expect_err("qos 1");
    assert_eq!(err, SparkplugError::Qos);
    assert!(err.to_string().contains("QoS 0"), "{err}");
}

#[test]
fn the_will_is_an_ndeath_whose_bdseq_the_next_nbirth_repeats() {
    let mut node = node();
    let will = node.will().expect("will");
    assert_eq!(will.topic, "spBv1.0/plant/NDEATH/historian-1");
    assert_eq!((will.qos, will.retain), (Qos::AtLeastOnce, false));
    let death = decode(&will);
    assert_eq!(death.seq, None, "an NDEATH has no seq");
    assert_eq!(death.metrics.len(), 1, "an NDEATH holds only bdSeq");
    assert_eq!(bd_seq(&death), 0, "bdSeq starts at 0");

    let out = run(&mut node, Happening::Connected { devices: &[] });
    assert_eq!(verbs(&out), ["NBIRTH"]);
    assert_eq!((out[0].qos, out[0].retain), (Qos::AtMostOnce, false));
    let birth = decode(&out[0]);
    assert_eq!(birth.seq, Some(0));
    assert!(birth.timestamp.is_some());
    assert_eq!(bd_seq(&birth), 0);
    let rebirth = by_name(&birth, REBIRTH);
    assert_eq!(rebirth.datatype, Some(dt::BOOLEAN));
    assert_eq!(rebirth.value, Some(metric::Value::BooleanValue(false)));
    assert_eq!(
        rebirth.alias, None,
        "the spec forbids an alias on the rebirth metric"
    );
    for m in &birth.metrics {
        assert!(m.name.is_some() && m.datatype.is_some() && m.value.is_some());
    }

    // A reconnect: the next will and birth both carry 1.
    assert_eq!(bd_seq(&decode(&node.will().expect("will"))), 1);
    let out = run(&mut node, Happening::Connected { devices: &[] });
    assert_eq!(bd_seq(&decode(&out[0])), 1);
    assert_eq!(seq(&out[0]), 0);
}

#[test]
fn bdseq_wraps_from_255_to_0() {
    let mut node = node();
    let seen: Vec<u64> = (0..258)
        .map(|_| bd_seq(&decode(&node.will().expect("will"))))
        .collect();
    assert_eq!(&seen[..3], [0, 1, 2]);
    assert_eq!(&seen[254..], [254, 255, 0, 1]);
}

#[test]
fn a_dbirth_names_every_register_with_alias_type_properties_and_null_values() {
    let dev = runtime(7, "pump-1", full_map());
    let mut node = node();
    let out = connected(&mut node, std::slice::from_ref(&dev));
    assert_eq!(verbs(&out), ["NBIRTH", "DBIRTH pump-1"]);
    assert_eq!((out[1].qos, out[1].retain), (Qos::AtMostOnce, false));
    let birth = decode(&out[1]);
    assert_eq!(birth.seq, Some(1));
    assert_eq!(birth.metrics.len(), full_map().len());
    let want = [
        ("temperature", 400_001, dt::INT16),
        ("current", 400_002, dt::DOUBLE),
        ("power", 400_003, dt::FLOAT),
        ("energy", 400_005, dt::UINT64),
        ("offset", 400_009, dt::INT32),
        ("ratio", 400_011, dt::DOUBLE),
        ("running", 1, dt::BOOLEAN),
        ("alarm", 40_002_103, dt::BOOLEAN),
        ("label", 400_031, dt::STRING),
    ];
    for (m, (name, reference, datatype)) in birth.metrics.iter().zip(want) {
        assert_eq!(m.name.as_deref(), Some(name));
        assert_eq!(m.alias, Some((7 << 32) + reference), "{name}");
        assert_eq!(m.datatype, Some(datatype), "{name}");
        assert_eq!(m.is_null, Some(true), "{name}: not polled yet");
        assert_eq!(m.value, None, "{name}");
        assert!(m.timestamp.is_some(), "{name}");
        assert_eq!(quality(m), QUALITY_BAD, "{name}");
        let register = text_property(m, "register").expect("register");
        assert_eq!(register.parse::<u64>().ok(), Some(reference), "{name}");
    }
    let t = by_name(&birth, "temperature");
    assert_eq!(text_property(t, "engUnit").as_deref(), Some("°C"));
    assert_eq!(
        property(t, "engLow").and_then(|p| p.value.clone()),
        Some(property_value::Value::DoubleValue(-40.0))
    );
    assert_eq!(
        property(t, "engHigh").and_then(|p| p.value.clone()),
        Some(property_value::Value::DoubleValue(125.0))
    );
    assert_eq!(
        text_property(by_name(&birth, "running"), "register").as_deref(),
        Some("000001")
    );
    assert!(property(by_name(&birth, "power"), "engLow").is_none());
}

#[test]
fn a_poll_is_a_ddata_by_alias_with_reading_timestamps_and_quality() {
    let dev = runtime(3, "meter", full_map());
    let mut node = node();
    connected(&mut node, std::slice::from_ref(&dev));
    set_up(&dev, true);
    let mut label = reading(&dev, "label", None, Quality::Good);
    label.text = Some(Arc::from("P-101"));
    let readings = vec![
        reading(&dev, "temperature", Some(-5.0), Quality::Good),
        reading(&dev, "current", Some(12.5), Quality::Good),
        reading(&dev, "power", Some(1.5), Quality::Uncertain),
        reading(&dev, "energy", None, Quality::Bad),
        reading(&dev, "running", Some(1.0), Quality::Good),
        label,
    ];
    let out = run(
        &mut node,
        Happening::Poll {
            device: &dev,
            readings: &readings,
        },
    );
    assert_eq!(verbs(&out), ["DDATA meter"]);
    assert_eq!((out[0].qos, out[0].retain), (Qos::AtMostOnce, false));
    let data = decode(&out[0]);
    assert_eq!(data.seq, Some(2), "NBIRTH 0, DBIRTH 1, DDATA 2");
    assert_eq!(data.metrics.len(), readings.len());
    for m in &data.metrics {
        assert_eq!(m.name, None, "data goes by alias only");
        assert_eq!(m.datatype, None);
        assert_eq!(m.timestamp, Some(T0_MS as u64));
    }
    let a = |reference| alias(3, reference);
    let m = by_alias(&data, a(400_001));
    assert_eq!(m.value, Some(metric::Value::IntValue(0xFFFB)), "int16 -5");
    assert_eq!(quality(m), QUALITY_GOOD);
    assert_eq!(text_property(m, "qualityDetail"), None);
    let m = by_alias(&data, a(400_002));
    assert_eq!(m.value, Some(metric::Value::DoubleValue(12.5)));
    let m = by_alias(&data, a(400_003));
    assert_eq!(m.value, Some(metric::Value::FloatValue(1.5)));
    assert_eq!(quality(m), QUALITY_BAD);
    assert_eq!(
        text_property(m, "qualityDetail").as_deref(),
        Some("uncertain")
    );
    let m = by_alias(&data, a(400_005));
    assert_eq!((m.is_null, &m.value), (Some(true), &None));
    assert_eq!(quality(m), QUALITY_BAD);
    let m = by_alias(&data, a(1));
    assert_eq!(m.value, Some(metric::Value::BooleanValue(true)));
    let m = by_alias(&data, a(400_031));
    assert_eq!(m.value, Some(metric::Value::StringValue("P-101".into())));

    // The next birth carries those values.
    let out = run(
        &mut node,
        Happening::Command {
            topic: "spBv1.0/plant/NCMD/historian-1",
            payload: &rebirth_request(true),
        },
    );
    let birth = decode(&out[1]);
    let m = by_name(&birth, "temperature");
    assert_eq!(m.value, Some(metric::Value::IntValue(0xFFFB)));
    assert_eq!(m.timestamp, Some(T0_MS as u64));
    assert_eq!(m.is_null, None);
    assert_eq!(quality(m), QUALITY_GOOD);
    assert_eq!(by_name(&birth, "energy").is_null, Some(true));
    assert_eq!(by_name(&birth, "ratio").is_null, Some(true), "never read");
}

#[test]
fn seq_counts_every_message_and_wraps_after_255() {
    let dev = runtime(1, "d", vec![point("a", hr(0), DataType::Uint16)]);
    let mut node = node();
    let out = connected(&mut node, std::slice::from_ref(&dev));
    set_up(&dev, true);
    let mut seqs: Vec<u64> = out.iter().map(seq).collect();
    let readings = [reading(&dev, "a", Some(1.0), Quality::Good)];
    for _ in 0..300 {
        let out = run(
            &mut node,
            Happening::Poll {
                device: &dev,
                readings: &readings,
            },
        );
        assert_eq!(out.len(), 1);
        seqs.push(seq(&out[0]));
    }
    let want: Vec<u64> = (0..302u64).map(|i| i % 256).collect();
    assert_eq!(seqs, want);
}

#[test]
fn a_rebirth_request_repeats_nbirth_with_the_same_bdseq_and_every_dbirth() {
    let a = runtime(1, "a", vec![point("x", hr(0), DataType::Uint16)]);
    let b = runtime(2, "b", vec![point("y", hr(0), DataType::Uint16)]);
    let mut node = node();
    node.will();
    let fleet = [a.clone(), b.clone()];
    let out = connected(&mut node, &fleet);
    assert_eq!(bd_seq(&decode(&out[0])), 1, "second connection");
    set_up(&a, true);
    let readings = [reading(&a, "x", Some(4.0), Quality::Good)];
    let out = run(
        &mut node,
        Happening::Poll {
            device: &a,
            readings: &readings,
        },
    );
    assert_eq!(seq(&out[0]), 3);

    let ncmd = "spBv1.0/plant/NCMD/historian-1";
    assert_eq!(node.subscriptions(), [ncmd]);
    for (topic, payload) in [
        (ncmd, rebirth_request(false)),
        ("spBv1.0/plant/NCMD/other-node", rebirth_request(true)),
        (ncmd, b"not protobuf \xff\xff".to_vec()),
    ] {
        let out = run(
            &mut node,
            Happening::Command {
                topic,
                payload: &payload,
            },
        );
        assert!(out.is_empty(), "{topic}: {:?}", verbs(&out));
    }
    let out = run(
        &mut node,
        Happening::Command {
            topic: ncmd,
            payload: &rebirth_request(true),
        },
    );
    assert_eq!(verbs(&out), ["NBIRTH", "DBIRTH a", "DBIRTH b"]);
    assert_eq!(out.iter().map(seq).collect::<Vec<_>>(), [0, 1, 2]);
    assert_eq!(bd_seq(&decode(&out[0])), 1, "no new connection, same bdSeq");
    let x = named(&out[1], "x");
    assert_eq!(x.value, Some(metric::Value::IntValue(4)));
}

#[test]
fn a_removed_or_disabled_device_gets_a_ddeath() {
    let a = runtime(1, "a", vec![point("x", hr(0), DataType::Uint16)]);
    let b = runtime(2, "b", vec![point("y", hr(0), DataType::Uint16)]);
    let mut node = node();
    connected(&mut node, &[a.clone(), b.clone()]);
    let out = run(
        &mut node,
        Happening::Fleet {
            devices: std::slice::from_ref(&a),
        },
    );
    assert_eq!(verbs(&out), ["DDEATH b"]);
    let death = decode(&out[0]);
    assert_eq!(death.seq, Some(3));
    assert!(death.metrics.is_empty());
    assert!(death.timestamp.is_some());

    // A poll of b still on its way after the removal does not bring it back.
    set_up(&b, true);
    let readings = [reading(&b, "y", Some(1.0), Quality::Good)];
    let out = run(
        &mut node,
        Happening::Poll {
            device: &b,
            readings: &readings,
        },
    );
    assert!(out.is_empty(), "{:?}", verbs(&out));

    let mut spec = a.config.spec.clone();
    spec.enabled = false;
    let disabled = Arc::new(DeviceRuntime {
        config: DeviceConfig::new(spec, Duration::from_secs(1)),
        ..runtime_value(1, "a", vec![point("x", hr(0), DataType::Uint16)], 1000)
    });
    let out = run(
        &mut node,
        Happening::Fleet {
            devices: &[disabled],
        },
    );
    assert_eq!(verbs(&out), ["DDEATH a"]);
    // Listing it again changes nothing; enabling it brings a birth.
    let out = run(&mut node, Happening::Fleet { devices: &[] });
    assert!(out.is_empty(), "{:?}", verbs(&out));
    let out = run(&mut node, Happening::Fleet { devices: &[a, b] });
    assert_eq!(verbs(&out), ["DBIRTH a", "DBIRTH b"]);
}

#[test]
fn a_device_that_goes_down_dies_and_is_born_again_when_it_answers() {
    let a = runtime(1, "a", vec![point("x", hr(0), DataType::Uint16)]);
    let fleet = [a.clone()];
    let mut node = node();
    connected(&mut node, &fleet);
    set_up(&a, false);
    let out = run(&mut node, Happening::Fleet { devices: &fleet });
    assert_eq!(verbs(&out), ["DDEATH a"]);
    let out = run(&mut node, Happening::Fleet { devices: &fleet });
    assert!(out.is_empty(), "one death only: {:?}", verbs(&out));
    // Failed polls publish nothing while it is dead.
    let bad = [reading(&a, "x", None, Quality::Bad)];
    let out = run(
        &mut node,
        Happening::Poll {
            device: &a,
            readings: &bad,
        },
    );
    assert!(out.is_empty(), "{:?}", verbs(&out));
    // The first good poll brings a birth holding its values, not a DDATA.
    set_up(&a, true);
    let good = [reading(&a, "x", Some(9.0), Quality::Good)];
    let out = run(
        &mut node,
        Happening::Poll {
            device: &a,
            readings: &good,
        },
    );
    assert_eq!(verbs(&out), ["DBIRTH a"]);
    let x = named(&out[0], "x");
    assert_eq!(x.value, Some(metric::Value::IntValue(9)));
    // A poll that finds it down again sends a death straight away.
    set_up(&a, false);
    let out = run(
        &mut node,
        Happening::Poll {
            device: &a,
            readings: &bad,
        },
    );
    assert_eq!(verbs(&out), ["DDEATH a"]);
    // A device known to be down is not born at the start of a session.
    let out = connected(&mut node, &fleet);
    assert_eq!(verbs(&out), ["NBIRTH"]);
    set_up(&a, true);
    let out = run(&mut node, Happening::Fleet { devices: &fleet });
    assert_eq!(verbs(&out), ["DBIRTH a"]);
}

#[test]
fn a_changed_register_map_gets_a_ddeath_and_a_new_dbirth() {
    let map = vec![point("x", hr(0), DataType::Uint16)];
    let a = runtime(1, "a", map.clone());
    let mut node = node();
    connected(&mut node, std::slice::from_ref(&a));
    set_up(&a, true);
    let readings = [reading(&a, "x", Some(1.0), Quality::Good)];
    run(
        &mut node,
        Happening::Poll {
            device: &a,
            readings: &readings,
        },
    );

    // Same map, new runtime (a new poll interval): nothing to announce.
    let slower = Arc::new(runtime_value(1, "a", map.clone(), 5000));
    let out = run(
        &mut node,
        Happening::Fleet {
            devices: std::slice::from_ref(&slower),
        },
    );
    assert!(out.is_empty(), "{:?}", verbs(&out));

    let mut grown = map.clone();
    grown.push(RegisterPoint {
        scale: 0.5,
        ..point("y", hr(1), DataType::Int16)
    });
    let grown = runtime(1, "a", grown);
    let out = run(
        &mut node,
        Happening::Fleet {
            devices: std::slice::from_ref(&grown),
        },
    );
    assert_eq!(verbs(&out), ["DDEATH a", "DBIRTH a"]);
    let birth = decode(&out[1]);
    let names: Vec<_> = birth.metrics.iter().map(|m| m.name.clone()).collect();
    assert_eq!(names, [Some("x".to_string()), Some("y".to_string())]);
    assert_eq!(by_name(&birth, "y").datatype, Some(dt::DOUBLE));
    assert_eq!(
        by_name(&birth, "x").is_null,
        Some(true),
        "old values dropped"
    );
    // The last poll of the old map, arriving after the listing of the new one, is left
    // out rather than flapping the device between its two maps.
    let out = run(
        &mut node,
        Happening::Poll {
            device: &slower,
            readings: &readings,
        },
    );
    assert!(out.is_empty(), "{:?}", verbs(&out));

    // A rename is a death under the old id and a birth under the new.
    let renamed = runtime(1, "a2", map);
    let out = run(
        &mut node,
        Happening::Fleet {
            devices: std::slice::from_ref(&renamed),
        },
    );
    assert_eq!(verbs(&out), ["DDEATH a", "DBIRTH a2"]);
}

#[test]
fn a_poll_of_a_device_never_born_brings_its_birth_first() {
    let mut node = node();
    let out = connected(&mut node, &[]);
    assert_eq!(verbs(&out), ["NBIRTH"]);
    let a = runtime(5, "late", vec![point("x", hr(0), DataType::Int32)]);
    set_up(&a, true);
    let readings = [reading(&a, "x", Some(-1.0), Quality::Good)];
    let out = run(
        &mut node,
        Happening::Poll {
            device: &a,
            readings: &readings,
        },
    );
    assert_eq!(verbs(&out), ["DBIRTH late"]);
    assert_eq!(seq(&out[0]), 1);
    let x = named(&out[0], "x");
    assert_eq!(x.value, Some(metric::Value::IntValue(u32::MAX)), "int32 -1");
    let out = run(
        &mut node,
        Happening::Poll {
            device: &a,
            readings: &readings,
        },
    );
    assert_eq!(verbs(&out), ["DDATA late"]);
    // The fleet listing that follows names it: nothing new to say.
    let out = run(&mut node, Happening::Fleet { devices: &[a] });
    assert!(out.is_empty(), "{:?}", verbs(&out));
}

#[test]
fn nothing_is_published_between_a_will_and_the_connection_it_belongs_to() {
    let a = runtime(1, "a", vec![point("x", hr(0), DataType::Uint16)]);
    let fleet = [a.clone()];
    let mut node = node();
    connected(&mut node, &fleet);
    set_up(&a, true);
    // The connection drops: the link asks for the next will.
    node.will();
    let readings = [reading(&a, "x", Some(8.0), Quality::Good)];
    for happening in [
        Happening::Poll {
            device: &a,
            readings: &readings,
        },
        Happening::Fleet { devices: &fleet },
        Happening::Command {
            topic: "spBv1.0/plant/NCMD/historian-1",
            payload: &rebirth_request(true),
        },
    ] {
        let out = run(&mut node, happening);
        assert!(out.is_empty(), "{:?}", verbs(&out));
    }
    // The new session starts over, with the value read meanwhile.
    let out = run(&mut node, Happening::Connected { devices: &fleet });
    assert_eq!(verbs(&out), ["NBIRTH", "DBIRTH a"]);
    assert_eq!(seq(&out[0]), 0);
    let x = named(&out[1], "x");
    assert_eq!(x.value, Some(metric::Value::IntValue(8)));
}

#[test]
fn device_names_sparkplug_forbids_are_escaped_and_aliases_stay_unique() {
    let map = full_map();
    let a = runtime(1, "line/1", map.clone());
    let b = runtime(2, "line+1", map);
    let mut node = node();
    let out = connected(&mut node, &[a, b]);
    assert_eq!(
        verbs(&out),
        ["NBIRTH", "DBIRTH line%2F1", "DBIRTH line%2B1"]
    );
    let mut aliases: Vec<u64> = out
        .iter()
        .flat_map(|o| decode(o).metrics)
        .filter_map(|m| m.alias)
        .collect();
    let n = aliases.len();
    assert_eq!(
        n,
        2 + 2 * full_map().len(),
        "every metric but the rebirth one"
    );
    aliases.sort_unstable();
    aliases.dedup();
    assert_eq!(aliases.len(), n, "aliases unique across the edge node");
}

#[test]
fn births_follow_every_dbirth_and_ddeath_and_end_with_the_session() {
    let a = runtime(1, "a", vec![point("x", hr(0), DataType::Uint16)]);
    let b = runtime(2, "b", vec![point("y", hr(0), DataType::Uint16)]);
    let mut node = node();
    let births = node.births();
    assert!(
        !births.is_born(1) && !births.is_born(2),
        "nothing before a session"
    );
    connected(&mut node, &[a.clone(), b.clone()]);
    assert!(births.is_born(1) && births.is_born(2));

    // b's poll fails: a DDEATH, and the list says so.
    set_up(&b, false);
    let readings = [reading(&b, "y", None, Quality::Bad)];
    let out = run(
        &mut node,
        Happening::Poll {
            device: &b,
            readings: &readings,
        },
    );
    assert_eq!(verbs(&out), ["DDEATH b"]);
    assert!(births.is_born(1) && !births.is_born(2));

    // Back up: born again.
    set_up(&b, true);
    let readings = [reading(&b, "y", Some(1.0), Quality::Good)];
    let out = run(
        &mut node,
        Happening::Poll {
            device: &b,
            readings: &readings,
        },
    );
    assert_eq!(verbs(&out), ["DBIRTH b"]);
    assert!(births.is_born(2));

    // Removed: dead. A new connection attempt: nothing stands until the next session.
    run(
        &mut node,
        Happening::Fleet {
            devices: std::slice::from_ref(&b),
        },
    );
    assert!(!births.is_born(1) && births.is_born(2));
    node.will().expect("will");
    assert!(!births.is_born(2), "a new session starts with no births");
}
