//! `modbus-historian discover` as a user runs it against the built-in simulator: the map it
//! writes imports as it is, `--apply` stores a device that then polls with good quality,
//! units behind a gateway are told apart, and a silent device ends with a clear message.

mod common;

use common::TestHistorian;
use historian_modbus::mapfile::{MapFormat, parse};
use historian_model::{Addressing, DataType, Table, WordOrder};
use historian_sim::fleet::reference_map;
use historian_sim::{AddressSpace, SimDevice, SimEndpoint, SimIdentity, Simulator};
use historian_store::StorageUrl;
use modbus_historian::api::DeviceLatestResponse;
use std::net::{IpAddr, Ipv4Addr};
use std::process::Output;

const BIN: &str = env!("CARGO_BIN_EXE_modbus-historian");

/// Values change every 50 ms, so samples 120 ms apart differ.
const STEP_MS: u64 = 50;

async fn run(args: &[&str]) -> Output {
    tokio::process::Command::new(BIN)
        .args(args)
        .env_remove("HISTORIAN_DATABASE_URL")
        .env("HISTORIAN_LOG", "warn")
        .output()
        .await
        .expect("run binary")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stderr)
}

async fn start(endpoint: SimEndpoint) -> Simulator {
    Simulator::start(IpAddr::V4(Ipv4Addr::LOCALHOST), vec![endpoint])
        .await
        .expect("simulator")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_discovered_map_imports_as_it_is_and_polls_with_good_quality() {
    let map = reference_map(20);
    let device = SimDevice::new(4, map.clone(), STEP_MS)
        .with_space(AddressSpace::of_map(&map))
        .with_identity(SimIdentity {
            vendor: "Acme".into(),
            product: "PM-20".into(),
            revision: "1.0".into(),
        });
    let sim = start(SimEndpoint::new(0, device)).await;
    let target = sim.addrs()[0].to_string();
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("meter.csv");
    let file_arg = file.display().to_string();
    let scan = [
        "discover",
        target.as_str(),
        "--range",
        "0-99",
        "--samples",
        "3",
        "--sample-interval",
        "120ms",
    ];

    let mut args = scan.to_vec();
    args.extend(["--output", &file_arg]);
    let summary = ok(&run(&args).await);
    assert!(summary.contains("unit 1: Acme PM-20 1.0"), "{summary}");
    assert!(
        summary.contains("input_register: 16 readable: 0-15"),
        "{summary}"
    );
    assert!(
        summary.contains("holding_register: 16 readable: 0-15"),
        "{summary}"
    );
    assert!(summary.contains("coil: 0 readable: none"), "{summary}");
    let written = std::fs::read_to_string(&file).expect("map file");
    let proposed = parse(&written, MapFormat::Csv, Addressing::Wire).expect("importable");
    // The reference map's float32 input registers are identifiable from their values.
    let floats: Vec<(u16, DataType, WordOrder)> = proposed
        .iter()
        .filter(|p| p.register.table == Table::InputRegister)
        .map(|p| (p.register.address, p.data_type, p.word_order))
        .collect();
    let want: Vec<(u16, DataType, WordOrder)> = (0..8)
        .map(|i| (2 * i, DataType::Float32, WordOrder::Abcd))
        .collect();
    assert_eq!(floats, want, "{written}");
    // Its uint32 energy counters too. Its int16 temperatures and uint16 voltages are
    // positive and read the same as either type; three samples cannot tell a value that
    // held still from a constant, so their proposals are not asserted.
    let holding: Vec<(u16, DataType)> = proposed
        .iter()
        .filter(|p| p.register.table == Table::HoldingRegister && p.register.address % 4 == 0)
        .map(|p| (p.register.address, p.data_type))
        .collect();
    let want: Vec<(u16, DataType)> = (0..4).map(|i| (4 * i, DataType::Uint32)).collect();
    assert_eq!(holding, want, "{written}");

    let db = dir.path().join("h.db");
    let url = format!("sqlite://{}", db.display());
    let mut args = scan.to_vec();
    args.extend([
        "--apply",
        "meter",
        "--interval",
        "200ms",
        "--database-url",
        &url,
    ]);
    let applied = ok(&run(&args).await);
    assert!(applied.contains("stored device \"meter\""), "{applied}");
    let imported = ok(&run(&[
        "devices",
        "import",
        &file_arg,
        "--device",
        "meter",
        "--database-url",
        &url,
    ])
    .await);
    assert!(imported.is_empty(), "{imported}");
    let exported = run(&["devices", "export", "meter", "--database-url", &url]).await;
    ok(&exported);
    let back = parse(&text(&exported.stdout), MapFormat::Csv, Addressing::Wire).expect("export");
    assert_eq!(back, proposed, "the file round-trips through the store");

    let h = TestHistorian::new("discover")
        .storage(StorageUrl::Sqlite(db.clone()))
        .simulator(sim)
        .start()
        .await;
    let base = h.base.clone();
    historian_testkit::eventually(
        "every proposed register of the discovered device read with good quality",
        historian_testkit::PATIENCE,
        || async {
            let url = format!("{base}/api/register_readings/latest/meter");
            let resp = reqwest::get(&url).await.map_err(|e| e.to_string())?;
            let latest: DeviceLatestResponse = resp.json().await.map_err(|e| e.to_string())?;
            let good = latest
                .readings
                .iter()
                .filter(|r| r.quality == "good")
                .count();
            if good == proposed.len() {
                Ok(())
            } else {
                Err(format!(
                    "{good} of {} good: {:?}",
                    proposed.len(),
                    latest.readings
                ))
            }
        },
    )
    .await;
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn units_behind_a_gateway_and_a_silent_device_are_reported_clearly() {
    let gateway = SimDevice::new(0, Vec::new(), STEP_MS);
    gateway.faults().set_gateway_target_failed(true);
    let map = reference_map(5);
    let unit = SimDevice::new(3, map.clone(), STEP_MS).with_space(AddressSpace::of_map(&map));
    let sim = start(SimEndpoint::new(0, gateway).with_unit(3, unit)).await;
    let target = sim.addrs()[0].to_string();
    let out = run(&[
        "discover",
        &target,
        "--units",
        "1-4",
        "--range",
        "0-20",
        "--samples",
        "1",
        "--tables",
        "holding_register",
    ])
    .await;
    let summary = ok(&out);
    assert!(summary.contains("4 unit ids probed, 1 answer"), "{summary}");
    for u in [1, 2, 4] {
        assert!(
            summary.contains(&format!("unit {u}: gateway: target failed to respond (0B)")),
            "{summary}"
        );
    }
    assert!(
        summary.contains("holding_register: 4 readable: 0-3"),
        "{summary}"
    );
    assert!(
        text(&out.stdout).contains("hr_00000"),
        "the map goes to stdout"
    );
    sim.shutdown();

    // Accepts connections, never answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = silent.local_addr().expect("addr").to_string();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            held.push(socket);
        }
    });
    let out = run(&["discover", &addr, "--timeout", "300ms"]).await;
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains(&format!(
            "error: no unit answered at {addr}: 1 unit no answer (time-out)"
        )),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sunspec_device_is_named_in_the_summary() {
    let sim = start(SimEndpoint::new(
        0,
        historian_sim::sunspec_device(2, 40_000, STEP_MS),
    ))
    .await;
    let target = sim.addrs()[0].to_string();
    let out = run(&[
        "discover",
        &target,
        "--tables",
        "holding_register",
        "--range",
        "40000-40300",
        "--samples",
        "1",
    ])
    .await;
    let summary = ok(&out);
    assert!(
        summary.contains(
            "SunSpec marker at 40000: models 1 at 40002 (66 registers), \
             103 at 40070 (50 registers), 203 at 40122 (105 registers), \
             160 at 40229 (48 registers)"
        ),
        "{summary}"
    );
    assert!(
        summary.contains("holding_register: 281 readable: 40000-40280"),
        "{summary}"
    );
    sim.shutdown();
}

/// Polls of a SunSpec device whose scale factors change every step: the stored value of a
/// scaled point is its raw word × 10^(its factor of that step), on both sides of a change.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sunspec_scale_factors_are_applied_from_the_same_poll_as_they_change() {
    use historian_model::input::FactorInput;
    use modbus_historian::api::{DeviceDetailResponse, RegisterReadingsTimeSeriesResponse};

    // Steps of a second, polls every 100 ms: several polls per step, and readings taken
    // within `MARGIN_MS` of a step's end are not compared (the answer may be of the next).
    const SF_STEP_MS: u64 = 1000;
    const MARGIN_MS: i64 = 250;
    const INDEX: u32 = 2;
    let sim = start(SimEndpoint::new(
        0,
        historian_sim::sunspec_device(INDEX, 40_000, SF_STEP_MS),
    ))
    .await;
    let target = sim.addrs()[0].to_string();
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("h.db");
    let url = format!("sqlite://{}", db.display());
    let applied = ok(&run(&[
        "discover",
        &target,
        "--tables",
        "holding_register",
        "--range",
        "40000-40300",
        "--samples",
        "1",
        "--apply",
        "inverter",
        "--interval",
        "100ms",
        "--database-url",
        &url,
    ])
    .await);
    assert!(applied.contains("stored device \"inverter\""), "{applied}");

    let h = TestHistorian::new("discover-sunspec")
        .storage(StorageUrl::Sqlite(db))
        .simulator(sim)
        .start()
        .await;
    let base = h.base.clone();
    let device: DeviceDetailResponse = reqwest::get(format!("{base}/api/devices/inverter"))
        .await
        .expect("device")
        .json()
        .await
        .expect("device json");
    let entry = |name: &str| {
        device
            .registers
            .iter()
            .find(|r| r.definition.name.as_deref() == Some(name))
            .unwrap_or_else(|| panic!("{name} is not in the discovered map"))
    };
    // The inverter's power (int16), the meter's current (int16) and the second MPPT
    // module's power (uint16, in a repeating group), each scaled by its model's own factor
    // register.
    for (name, factor, signed) in [
        ("inverter_three_phase_W", "inverter_three_phase_W_SF", true),
        ("ac_meter_abcn_A", "ac_meter_abcn_A_SF", true),
        ("mppt_module_2_DCW", "mppt_DCW_SF", false),
    ] {
        let point = entry(name);
        assert_eq!(
            point.definition.scale_factor,
            Some(FactorInput::Name(factor.into()))
        );
        let wire = u16::try_from(point.definition.address.expect("address")).expect("wire");
        let factor_wire =
            u16::try_from(entry(factor).definition.address.expect("address")).expect("wire");
        let series_url = format!(
            "{base}/api/register_readings/{}/{}?limit=5000",
            device.id, point.register_address
        );
        // Readings from at least three steps: every pair of steps has different factors.
        historian_testkit::eventually(
            "readings of three steps",
            historian_testkit::PATIENCE,
            || async {
                let s: RegisterReadingsTimeSeriesResponse = reqwest::get(&series_url)
                    .await
                    .map_err(|e| e.to_string())?
                    .json()
                    .await
                    .map_err(|e| e.to_string())?;
                let steps: std::collections::BTreeSet<i64> = s
                    .readings
                    .iter()
                    .map(|r| historian_sim::step_at(r.timestamp.timestamp_millis(), SF_STEP_MS))
                    .collect();
                if steps.len() >= 4 {
                    Ok(())
                } else {
                    Err(format!("readings of {} steps", steps.len()))
                }
            },
        )
        .await;
        let series: RegisterReadingsTimeSeriesResponse = reqwest::get(&series_url)
            .await
            .expect("series")
            .json()
            .await
            .expect("series json");
        let mut exponents = std::collections::BTreeSet::new();
        for r in &series.readings {
            let ms = r.timestamp.timestamp_millis();
            if ms.rem_euclid(SF_STEP_MS as i64) > SF_STEP_MS as i64 - MARGIN_MS {
                continue;
            }
            let step = historian_sim::step_at(ms, SF_STEP_MS);
            let word = historian_sim::unmapped_word(INDEX, Table::HoldingRegister, wire, step);
            if word == if signed { 0x8000 } else { 0xFFFF } {
                // SunSpec's "not implemented".
                assert_eq!(r.quality, "bad", "{name} at {}", r.timestamp);
                continue;
            }
            let raw = if signed {
                f64::from(word as i16)
            } else {
                f64::from(word)
            };
            let sf = historian_sim::sunspec_scale_factor(factor_wire, step);
            let want = if sf < 0 {
                raw / 10f64.powi(-i32::from(sf))
            } else {
                raw * 10f64.powi(i32::from(sf))
            };
            assert_eq!(r.quality, "good", "{name} at {}", r.timestamp);
            assert_eq!(
                r.value,
                Some(historian_model::Number::Float(want)),
                "{name} at {} (step {step}: raw {raw} x 10^{sf})",
                r.timestamp
            );
            exponents.insert(sf);
        }
        assert!(
            exponents.len() >= 2,
            "{name}: readings on both sides of a factor change, compared: {exponents:?}"
        );
    }
    h.stop().await;
}
