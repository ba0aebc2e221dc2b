//! The shipped example maps (examples/maps/) served by `simulate --config` and polled by
//! the collector over TCP: every decoded value equals the simulator's expected value.

use historian_modbus::adaptive::AdaptivePlan;
use historian_modbus::client::DeviceClient;
use historian_modbus::decode::{encode_words, raw_bits};
use historian_model::{DataType, PlanOptions, Quality, RegisterPoint};
use historian_sim::{expected_text, expected_value, raw_value, step_at};
use historian_testkit::now_ms;
use modbus_historian::config::Config;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_modbus-historian");
/// Values hold for ten minutes, so one poll almost never straddles a change.
const STEP_MS: u64 = 600_000;

fn examples() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

/// True when the simulator sends the point's "not available" marker at `step`.
fn sends_marker(device: u32, p: &RegisterPoint, step: i64) -> bool {
    let Some(marker) = p.limits.not_available else {
        return false;
    };
    let mut words = vec![0u16; usize::from(p.width())];
    encode_words(
        raw_value(device, p, step),
        p.data_type,
        p.word_order,
        &mut words,
    );
    raw_bits(&words, p.word_order) == Some(marker)
}

/// The shipped example devices and map files served by `simulate --config` on ports free
/// on this machine: the config, the ports and the simulator. A port found free can be taken
/// before the simulator binds it (by any process's outgoing connection), so a simulator
/// that exits at once is retried on fresh ports, and its error is shown if all tries fail.
fn serve_example_maps(dir: &std::path::Path) -> (Config, Vec<u16>, std::process::Child) {
    let maps = examples().join("maps");
    let devices = [
        ("feeder-relay", "sel-751.csv", "modicon"),
        ("main-meter", "power-meter.toml", "wire"),
        ("pump-plc", "plc.csv", "wire"),
    ];
    let mut errors = Vec::new();
    for _ in 0..5 {
        let ports: Vec<u16> = devices
            .iter()
            .map(|_| historian_testkit::free_port().expect("port"))
            .collect();
        let mut text = String::new();
        for ((name, file, addressing), port) in devices.iter().zip(&ports) {
            text.push_str(&format!(
                "[[devices]]\nname = \"{name}\"\nhost = \"127.0.0.1\"\nport = {port}\n\
                 addressing = \"{addressing}\"\nregister_map = {:?}\n",
                maps.join(file).display().to_string()
            ));
        }
        let config_path = dir.join("maps.toml");
        std::fs::write(&config_path, &text).expect("write config");
        let config = Config::load(&config_path).expect("valid");
        let stderr_path = dir.join("simulate.err");
        let (mut child, first) = historian_testkit::spawn_announced(
            Command::new(BIN)
                .args(["simulate", "--config"])
                .arg(&config_path)
                .args(["--step-ms", &STEP_MS.to_string()])
                .env("HISTORIAN_LOG", "warn")
                .stderr(std::fs::File::create(&stderr_path).expect("stderr file")),
        )
        .expect("spawn simulate");
        if first.starts_with("simulating 3 devices") {
            return (config, ports, child);
        }
        let status = child.wait().expect("wait for simulate");
        let stderr = std::fs::read_to_string(&stderr_path).unwrap_or_default();
        errors.push(format!("{status}: {first}{stderr}"));
    }
    panic!("the simulator did not start on free ports: {errors:#?}");
}

#[tokio::test]
async fn every_example_map_decodes_to_the_simulator_values() {
    let shipped = Config::load(&examples().join("example-maps.toml")).expect("example config");
    let names: Vec<&str> = shipped
        .devices
        .iter()
        .map(|d| d.spec.name.as_str())
        .collect();
    assert_eq!(names, ["feeder-relay", "main-meter", "pump-plc"]);

    let dir = tempfile::tempdir().expect("temp dir");
    let (config, ports, mut child) = serve_example_maps(dir.path());
    for (mine, theirs) in config.devices.iter().zip(&shipped.devices) {
        assert_eq!(
            mine.spec.registers, theirs.spec.registers,
            "{}",
            mine.spec.name
        );
    }

    let mut checked = 0;
    for (index, device) in config.devices.iter().enumerate() {
        let points = &device.spec.registers;
        let mut client = DeviceClient::new(
            format!("127.0.0.1:{}", ports[index]),
            1,
            Duration::from_secs(2),
        );
        let mut plan = AdaptivePlan::new(points, PlanOptions::default());
        let (at, samples) = loop {
            let before = now_ms();
            let out = plan.poll(&mut client, points).await;
            assert!(
                out.errors.is_empty(),
                "{}: {:?}",
                device.spec.name,
                out.errors
            );
            if step_at(before, STEP_MS) == step_at(now_ms(), STEP_MS) {
                break (before, out.samples);
            }
        };
        let step = step_at(at, STEP_MS);
        for (p, s) in points.iter().zip(&samples) {
            let what = format!("{} {}", device.spec.name, p.name);
            let i = index as u32;
            if p.data_type == DataType::String {
                assert_eq!(
                    s.text.as_deref(),
                    Some(expected_text(i, p, at, STEP_MS).as_str()),
                    "{what}"
                );
            } else if sends_marker(i, p, step) {
                assert_eq!((s.value, s.quality), (None, Quality::Bad), "{what}");
            } else {
                assert_eq!(s.value, Some(expected_value(i, p, at, STEP_MS)), "{what}");
                assert_ne!(s.quality, Quality::Bad, "{what}");
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 56);
    child.kill().expect("stop simulator");
    let _ = child.wait();
}
