//! Sparkplug B messages as the historian encodes them, read back by a decoder not written
//! here: pysparkplug (PyPI, pinned) with its compiled copy of the Eclipse Tahu schema.
//! Without python3 or PyPI the test reports itself skipped by name; with `CI=true` it
//! fails instead.

use chrono::DateTime;
use historian_model::{
    DataType, DeviceSpec, Quality, Reading, RegisterPoint, RegisterRef, Table, ValueLimits,
};
use historian_testkit::{TestkitError, require};
use modbus_historian::config::DeviceConfig;
use modbus_historian::ingest::mqtt::format::{Format, Happening, Outgoing, Qos};
use modbus_historian::ingest::mqtt::sparkplug::proto::{Metric, Payload, metric};
use modbus_historian::ingest::mqtt::sparkplug::{REBIRTH, SparkplugB, alias};
use modbus_historian::registry::DeviceRuntime;
use prost::Message;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// The pysparkplug release the test is written against, and the protobuf runtime it
/// was checked with.
const PYSPARKPLUG: &str = "0.6.1";
const PROTOBUF: &str = "7.36.2";

fn unavailable<T>(what: String) -> Result<T, TestkitError> {
    Err(TestkitError::Unavailable(what))
}

fn run_ok(cmd: &mut Command) -> Result<(), TestkitError> {
    match cmd.output() {
        Ok(out) if out.status.success() => Ok(()),
        Ok(out) => unavailable(format!(
            "{cmd:?} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )),
        Err(e) => unavailable(format!("{cmd:?} cannot run: {e}")),
    }
}

/// A virtualenv under the target folder with pysparkplug installed, made once and reused.
fn pysparkplug_venv() -> Result<PathBuf, TestkitError> {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("pysparkplug-{PYSPARKPLUG}"));
    let python = dir.join("bin/python");
    let ready = |python: &Path| {
        Command::new(python)
            .args([
                "-c",
                &format!("import pysparkplug; assert pysparkplug.__version__ == '{PYSPARKPLUG}'"),
            ])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if ready(&python) {
        return Ok(python);
    }
    // Built beside and renamed into place, so a half-made venv is never taken for a ready one.
    let partial = dir.with_extension(format!("partial-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&partial);
    run_ok(Command::new("python3").arg("-m").arg("venv").arg(&partial))?;
    run_ok(Command::new(partial.join("bin/pip")).args([
        "install",
        "--quiet",
        &format!("pysparkplug=={PYSPARKPLUG}"),
        &format!("protobuf=={PROTOBUF}"),
    ]))?;
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::rename(&partial, &dir)
        .or_else(|e| if ready(&python) { Ok(()) } else { Err(e) })
        .map_err(|e| TestkitError::Failed(format!("cannot move the venv into place: {e}")))?;
    Ok(python)
}

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

fn runtime(id: i64, name: &str, registers: Vec<RegisterPoint>) -> Arc<DeviceRuntime> {
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

const T_MS: i64 = 1_700_000_000_250;

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
        timestamp: DateTime::from_timestamp_millis(T_MS).expect("time"),
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

/// What the historian publishes in a session with a reconnect, a removal and a rebirth.
fn scenario() -> Vec<Outgoing> {
    let pump = runtime(
        12,
        "pump/1",
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
            point("big", hr(10), DataType::Int64),
            point("ratio", hr(14), DataType::Float64),
            point("running", RegisterRef::new(Table::Coil, 0), DataType::Bool),
            point("alarm", hr(20).with_bit(3), DataType::Bool),
            RegisterPoint {
                length: Some(4),
                ..point("label", hr(30), DataType::String)
            },
            point("broken", hr(40), DataType::Uint16),
        ],
    );
    let meter = runtime(13, "meter", vec![point("count", hr(0), DataType::Uint32)]);
    let fleet = [pump.clone(), meter.clone()];
    let mut node = SparkplugB::new("plant".into(), "historian".into(), Qos::AtMostOnce)
        .expect("a Sparkplug node");
    let mut out = Vec::new();
    out.push(node.will().expect("will"));
    node.handle(Happening::Connected { devices: &fleet }, &mut out);
    for d in &fleet {
        d.status.last_poll_us.store(1, Ordering::Relaxed);
        d.status.up.store(true, Ordering::Relaxed);
    }
    let mut label = reading(&pump, "label", None, Quality::Good);
    label.text = Some(Arc::from("P-101"));
    let readings = vec![
        reading(&pump, "temperature", Some(-5.0), Quality::Good),
        reading(&pump, "current", Some(12.5), Quality::Good),
        reading(&pump, "power", Some(1.5), Quality::Uncertain),
        reading(&pump, "energy", Some(1_099_511_627_776.0), Quality::Good),
        reading(&pump, "offset", Some(-123_456.0), Quality::Good),
        reading(&pump, "big", Some(-9_000_000_000.0), Quality::Good),
        reading(&pump, "ratio", Some(6.022_140_76e23), Quality::Good),
        reading(&pump, "running", Some(1.0), Quality::Good),
        reading(&pump, "alarm", Some(0.0), Quality::Good),
        label,
        reading(&pump, "broken", None, Quality::Bad),
    ];
    node.handle(
        Happening::Poll {
            device: &pump,
            readings: &readings,
        },
        &mut out,
    );
    // Enough polls to take seq round past 255.
    for i in 0..260 {
        let count = [reading(&meter, "count", Some(f64::from(i)), Quality::Good)];
        node.handle(
            Happening::Poll {
                device: &meter,
                readings: &count,
            },
            &mut out,
        );
    }
    node.handle(
        Happening::Fleet {
            devices: std::slice::from_ref(&pump),
        },
        &mut out,
    );
    let request = Payload {
        timestamp: Some(1),
        metrics: vec![Metric {
            name: Some(REBIRTH.into()),
            value: Some(metric::Value::BooleanValue(true)),
            ..Metric::default()
        }],
        ..Payload::default()
    };
    node.handle(
        Happening::Command {
            topic: "spBv1.0/plant/NCMD/historian",
            payload: &request.encode_to_vec(),
        },
        &mut out,
    );
    // A reconnect: a new will, a new session.
    out.push(node.will().expect("will"));
    node.handle(
        Happening::Connected {
            devices: std::slice::from_ref(&pump),
        },
        &mut out,
    );
    out
}

/// Writes the messages to a folder and returns what pysparkplug read from them.
fn decode_with_pysparkplug(python: &Path, messages: &[Outgoing]) -> Vec<Value> {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut listing = Vec::new();
    for (i, m) in messages.iter().enumerate() {
        let file = format!("{i:04}.bin");
        std::fs::write(dir.path().join(&file), &m.payload).expect("write payload");
        listing.push(serde_json::json!({
            "topic": m.topic,
            "file": file,
            "qos": match m.qos { Qos::AtMostOnce => 0, Qos::AtLeastOnce => 1 },
            "retain": m.retain,
        }));
    }
    std::fs::write(
        dir.path().join("messages.json"),
        serde_json::to_vec(&listing).expect("json"),
    )
    .expect("write listing");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/sparkplug_decode.py");
    let out = Command::new(python)
        .arg(&script)
        .arg(dir.path())
        .output()
        .expect("run the decoder");
    assert!(
        out.status.success(),
        "pysparkplug could not decode: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("decoder output")
}

fn metric<'a>(message: &'a Value, name: &str) -> &'a Value {
    message["metrics"]
        .as_array()
        .expect("metrics")
        .iter()
        .find(|m| m["name"] == name)
        .unwrap_or_else(|| panic!("no metric {name} in {}", message["topic"]))
}

#[test]
fn pysparkplug_reads_births_data_deaths_seq_and_bdseq() {
    let test = "sparkplug_interop::pysparkplug_reads_births_data_deaths_seq_and_bdseq";
    let Some(python) = require(test, pysparkplug_venv()) else {
        return;
    };
    let messages = scenario();
    let decoded = decode_with_pysparkplug(&python, &messages);
    assert_eq!(decoded.len(), messages.len());

    let verbs: Vec<String> = decoded
        .iter()
        .map(|m| match m["device"].as_str() {
            Some(d) => format!("{} {d}", m["verb"].as_str().expect("verb")),
            None => m["verb"].as_str().expect("verb").to_owned(),
        })
        .collect();
    let mut want = vec![
        "NDEATH",
        "NBIRTH",
        "DBIRTH pump%2F1",
        "DBIRTH meter",
        "DDATA pump%2F1",
    ];
    want.extend(std::iter::repeat_n("DDATA meter", 260));
    want.extend([
        "DDEATH meter",
        "NBIRTH",
        "DBIRTH pump%2F1",
        "NDEATH",
        "NBIRTH",
        "DBIRTH pump%2F1",
    ]);
    assert_eq!(verbs, want);
    for m in &decoded {
        assert_eq!(m["group"], "plant");
        assert_eq!(m["edge"], "historian");
        assert_eq!(m["retain"], false);
        let qos = if m["verb"] == "NDEATH" { 1 } else { 0 };
        assert_eq!(m["qos"], qos, "{}", m["topic"]);
        assert!(m["timestamp"].as_u64().is_some(), "{}", m["topic"]);
    }

    // seq: 0 at each NBIRTH, one more per message after it, 255 then 0; none on NDEATH.
    let mut expected: Option<u64> = None;
    for m in &decoded {
        match m["verb"].as_str() {
            Some("NDEATH") => {
                assert_eq!(m["has_seq"], false);
                expected = None;
                continue;
            }
            Some("NBIRTH") => expected = Some(0),
            _ => {}
        }
        let e = expected.expect("a message before any NBIRTH");
        assert_eq!(m["seq"].as_u64(), Some(e), "{}", m["topic"]);
        expected = Some((e + 1) % 256);
    }

    // bdSeq: the will of each connection and the births of that connection agree.
    let bd = |m: &Value| {
        let b = metric(m, "bdSeq");
        assert_eq!(b["datatype"], "INT64");
        b["value"].as_u64().expect("bdSeq value")
    };
    let first_will = &decoded[0];
    let second_will = &decoded[decoded.len() - 3];
    assert_eq!(first_will["metrics"].as_array().map(Vec::len), Some(1));
    assert_eq!(bd(first_will), 0);
    assert_eq!(bd(&decoded[1]), 0);
    let rebirth_nbirth = &decoded[decoded.len() - 5];
    assert_eq!(rebirth_nbirth["verb"], "NBIRTH");
    assert_eq!(bd(rebirth_nbirth), 0, "a rebirth keeps bdSeq");
    assert_eq!(bd(second_will), 1);
    assert_eq!(bd(&decoded[decoded.len() - 2]), 1);
    let rebirth = metric(&decoded[1], REBIRTH);
    assert_eq!(rebirth["datatype"], "BOOLEAN");
    assert_eq!(rebirth["value"], false);
    assert_eq!(rebirth["alias"], Value::Null);

    // The device birth: names, aliases, types, properties.
    let birth = &decoded[2];
    let want = [
        ("temperature", 400_001, "INT16"),
        ("current", 400_002, "DOUBLE"),
        ("power", 400_003, "FLOAT"),
        ("energy", 400_005, "UINT64"),
        ("offset", 400_009, "INT32"),
        ("big", 400_011, "INT64"),
        ("ratio", 400_015, "DOUBLE"),
        ("running", 1, "BOOLEAN"),
        ("alarm", 40_002_103, "BOOLEAN"),
        ("label", 400_031, "STRING"),
        ("broken", 400_041, "UINT16"),
    ];
    assert_eq!(birth["metrics"].as_array().map(Vec::len), Some(want.len()));
    for (name, reference, datatype) in want {
        let m = metric(birth, name);
        assert_eq!(m["alias"].as_u64(), Some(alias(12, reference)), "{name}");
        assert_eq!(m["datatype"], datatype, "{name}");
        assert_eq!(m["is_null"], true, "{name}: not polled yet");
        let props = &m["properties"];
        assert_eq!(props["register"]["type"], "STRING", "{name}");
        assert_eq!(
            props["register"]["value"]
                .as_str()
                .and_then(|r| r.parse().ok()),
            Some(reference),
            "{name}"
        );
        assert_eq!(props["engUnit"]["type"], "STRING", "{name}");
        assert_eq!(props["Quality"]["type"], "INT32", "{name}");
        assert_eq!(props["Quality"]["value"], 0, "{name}");
    }
    let t = &metric(birth, "temperature")["properties"];
    assert_eq!(t["engUnit"]["value"], "°C");
    assert_eq!(t["engLow"]["type"], "DOUBLE");
    assert_eq!(t["engLow"]["value"], -40.0);
    assert_eq!(t["engHigh"]["value"], 125.0);

    // The data: by alias only, names and types resolved from the birth by pysparkplug.
    let data = &decoded[4];
    for m in data["metrics"].as_array().expect("metrics") {
        assert_eq!(m["sent_name"], false, "{m}");
        assert_eq!(m["sent_datatype"], false, "{m}");
        assert_eq!(m["timestamp"].as_i64(), Some(T_MS), "{m}");
    }
    for (name, value) in [
        ("temperature", Value::from(-5)),
        ("current", Value::from(12.5)),
        ("power", Value::from(1.5)),
        ("energy", Value::from(1_099_511_627_776u64)),
        ("offset", Value::from(-123_456)),
        ("big", Value::from(-9_000_000_000i64)),
        ("ratio", Value::from(6.022_140_76e23)),
        ("running", Value::from(true)),
        ("alarm", Value::from(false)),
        ("label", Value::from("P-101")),
    ] {
        let m = metric(data, name);
        assert_eq!(m["value"], value, "{name}");
        assert_eq!(m["is_null"], false, "{name}");
    }
    let quality = |name: &str| metric(data, name)["properties"]["Quality"]["value"].clone();
    assert_eq!(quality("temperature"), 192);
    assert_eq!(quality("power"), 0);
    assert_eq!(
        metric(data, "power")["properties"]["qualityDetail"]["value"],
        "uncertain"
    );
    assert_eq!(quality("broken"), 0);
    assert_eq!(metric(data, "broken")["is_null"], true);

    // The rebirth's DBIRTH carries the values read before it.
    let reborn = &decoded[decoded.len() - 4];
    assert_eq!(metric(reborn, "temperature")["value"], -5);
    assert_eq!(
        metric(reborn, "temperature")["timestamp"].as_i64(),
        Some(T_MS)
    );
    assert_eq!(metric(reborn, "label")["value"], "P-101");
    // The meter's last count, before its death.
    let last = &decoded[4 + 260];
    assert_eq!(metric(last, "count")["value"], 259);
}
