//! Three devices behind one gateway (one host:port, unit ids 1, 2, 3) polled by the
//! running historian: one shared connection, and the unit the gateway cannot reach is
//! stored `bad` while the other two keep storing the simulator's values.

mod common;

use common::{TestHistorian, device};
use historian_model::Quality;
use historian_sim::fleet::reference_map;
use historian_sim::{SimDevice, SimEndpoint, Simulator, expected_value, step_at};
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

const STEP_MS: u64 = 600_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn units_behind_one_gateway_share_a_link_and_a_dead_unit_stays_alone() {
    let map = reference_map(10);
    let mut endpoint = SimEndpoint::new(0, SimDevice::new(99, map.clone(), STEP_MS));
    let mut unit_faults = Vec::new();
    for unit in 1..=3u8 {
        let device = SimDevice::new(u32::from(unit), map.clone(), STEP_MS);
        unit_faults.push(device.faults());
        endpoint = endpoint.with_unit(unit, device);
    }
    let gateway = endpoint.device.faults();
    unit_faults[1].set_gateway_target_failed(true);
    let sim = Simulator::start(IpAddr::V4(Ipv4Addr::LOCALHOST), vec![endpoint])
        .await
        .expect("simulator");
    let port = sim.addrs()[0].port();
    let mut h = TestHistorian::new("gateway").simulator(sim);
    for unit in 1..=3u8 {
        let every = Duration::from_millis(200);
        let mut d = device(
            &format!("unit-{unit}"),
            port,
            &map,
            every,
            Duration::from_secs(1),
        );
        d.spec.unit_id = unit;
        h = h.device(d);
    }
    let h = h.start().await;
    let store = std::sync::Arc::clone(&h.historian.store);
    let from = chrono::Utc::now() - chrono::Duration::minutes(5);
    let to = chrono::Utc::now() + chrono::Duration::minutes(1);
    historian_testkit::eventually(
        "3 readings of every register of every unit stored",
        historian_testkit::PATIENCE,
        || async {
            let records = store.list_devices().await.map_err(|e| e.to_string())?;
            if records.len() != 3 {
                return Err(format!("{} devices stored", records.len()));
            }
            for r in &records {
                for p in &map {
                    let n = store
                        .get_readings_time_range(
                            historian_store::SeriesKey::new(r.id, p.register),
                            historian_store::TimeRange::new(from, to),
                            1000,
                        )
                        .await
                        .map_err(|e| e.to_string())?
                        .len();
                    if n < 3 {
                        return Err(format!("{} {}: {n}", r.spec.name, p.name));
                    }
                }
            }
            Ok(())
        },
    )
    .await;
    let summary = h.historian.shutdown().await;
    assert_eq!(summary.lost, 0);
    assert_eq!(gateway.connections(), 1, "three units, one connection");

    let records = store.list_devices().await.expect("devices");
    for r in records {
        let unit = r.spec.unit_id;
        let mut rows = 0;
        for p in &map {
            let readings = store
                .get_readings_time_range(
                    historian_store::SeriesKey::new(r.id, p.register),
                    historian_store::TimeRange::new(from, to),
                    1000,
                )
                .await
                .expect("readings");
            assert!(
                readings.len() >= 3,
                "{} {}: {}",
                r.spec.name,
                p.name,
                readings.len()
            );
            for reading in readings {
                let at = reading.timestamp.timestamp_millis();
                if unit == 2 {
                    assert_eq!((reading.value, reading.quality), (None, Quality::Bad));
                } else if step_at(at, STEP_MS) == step_at(at + 1000, STEP_MS) {
                    assert_eq!(reading.quality, Quality::Good, "{}", r.spec.name);
                    assert_eq!(
                        reading.value,
                        Some(expected_value(u32::from(unit), p, at, STEP_MS)),
                        "{} {}",
                        r.spec.name,
                        p.name
                    );
                }
                rows += 1;
            }
        }
        assert!(rows > 0);
    }
    // The dead unit was backed off, not asked on every poll.
    let asked = unit_faults[1].requests();
    let healthy = unit_faults[0].requests();
    assert!(
        asked < healthy,
        "dead unit asked {asked} times, a live one {healthy}"
    );
    h.sim.as_ref().expect("simulator").shutdown();
}
