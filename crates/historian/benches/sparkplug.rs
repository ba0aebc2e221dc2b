//! Micro-benchmark of the Sparkplug B format: one poll of a 100-register device turned
//! into its DDATA (values by alias, per-metric timestamps, a Quality property each).
//! Run: `cargo bench -p modbus-historian --bench sparkplug`.

use chrono::Utc;
use historian_model::{DataType, DeviceSpec, Quality, Reading, RegisterPoint, RegisterRef, Table};
use modbus_historian::config::DeviceConfig;
use modbus_historian::ingest::mqtt::format::{Format, Happening, Qos};
use modbus_historian::ingest::mqtt::sparkplug::SparkplugB;
use modbus_historian::registry::DeviceRuntime;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

fn main() {
    divan::main();
}

fn device(registers: u16) -> Arc<DeviceRuntime> {
    let points: Vec<RegisterPoint> = (0..registers)
        .map(|i| RegisterPoint {
            name: format!("current_{i:03}"),
            register: RegisterRef::new(Table::InputRegister, 2 * i),
            data_type: DataType::Float32,
            unit: "A".into(),
            ..RegisterPoint::default()
        })
        .collect();
    let spec = DeviceSpec {
        name: "sim-001".into(),
        host: "127.0.0.1".into(),
        port: 502,
        unit_id: 1,
        poll_interval_ms: 1000,
        enabled: true,
        registers: points,
        access: Default::default(),
    };
    let d = DeviceRuntime {
        id: 1,
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
    };
    d.status.last_poll_us.store(1, Ordering::Relaxed);
    d.status.up.store(true, Ordering::Relaxed);
    Arc::new(d)
}

#[divan::bench(args = [100])]
fn ddata(bencher: divan::Bencher, registers: u16) {
    let dev = device(registers);
    let now = Utc::now();
    let readings: Vec<Reading> = dev
        .config
        .spec
        .registers
        .iter()
        .enumerate()
        .map(|(i, p)| Reading {
            timestamp: now,
            device_id: dev.id,
            register_address: p.register,
            value: Some(100.0 + i as f64 * 0.013),
            text: None,
            quality: Quality::Good,
            register_name: Arc::clone(&dev.names[i]),
            data_type: p.data_type,
            unit: Arc::clone(&dev.units[i]),
        })
        .collect();
    let mut node = SparkplugB::new("plant".into(), "historian".into(), Qos::AtMostOnce)
        .unwrap_or_else(|e| panic!("{e}"));
    node.will();
    let mut out = Vec::new();
    node.handle(
        Happening::Connected {
            devices: std::slice::from_ref(&dev),
        },
        &mut out,
    );
    bencher
        .counter(divan::counter::ItemsCount::new(readings.len()))
        .bench_local(|| {
            out.clear();
            node.handle(
                Happening::Poll {
                    device: &dev,
                    readings: divan::black_box(&readings),
                },
                &mut out,
            );
            out.len()
        });
}
