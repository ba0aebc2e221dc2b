//! A register with a slower `interval` is stored at every kth poll of its device only,
//! through the running historian.

mod common;

use common::TestHistorian;
use historian_sim::{SimDevice, SimEndpoint, Simulator};
use modbus_historian::config::Config;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::Ordering;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_registers_are_stored_at_their_own_cadence() {
    let placeholder = "[[devices]]\nname = \"meter\"\nhost = \"127.0.0.1\"\nport = PORT\ninterval = \"200ms\"\n\
        [[devices.registers]]\nname = \"power\"\ntable = \"hr\"\naddress = 0\ndata_type = \"uint16\"\n\
        [[devices.registers]]\nname = \"energy\"\ntable = \"hr\"\naddress = 10\ndata_type = \"uint32\"\ninterval = \"600ms\"\n";
    let parse = |port: u16| {
        Config::parse(
            &placeholder.replace("PORT", &port.to_string()),
            "intervals.toml",
            &|_| None,
        )
        .expect("valid")
    };
    let map = parse(1).devices[0].spec.registers.clone();
    assert_eq!(map[1].interval_ms, Some(600));
    let sim = Simulator::start(
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        vec![SimEndpoint::new(0, SimDevice::new(0, map.clone(), 1000))],
    )
    .await
    .expect("simulator");
    let meter = parse(sim.addrs()[0].port()).devices.remove(0);
    let h = TestHistorian::new("intervals")
        .device(meter)
        .simulator(sim)
        .start()
        .await;
    let historian = &h.historian;
    let store = std::sync::Arc::clone(&historian.store);
    let registry = std::sync::Arc::clone(&historian.registry);
    let from = chrono::Utc::now() - chrono::Duration::minutes(5);
    let to = chrono::Utc::now() + chrono::Duration::minutes(1);
    let stored_polls = || async {
        let Some(device) = store.list_devices().await.map_err(|e| e.to_string())?.pop() else {
            return Err("no device stored yet".to_string());
        };
        let n = store
            .get_readings_time_range(
                historian_store::SeriesKey::new(device.id, map[0].register),
                historian_store::TimeRange::new(from, to),
                10_000,
            )
            .await
            .map_err(|e| e.to_string())?
            .len();
        if n >= 6 {
            Ok(())
        } else {
            Err(format!("{n} polls stored"))
        }
    };
    historian_testkit::eventually("6 polls stored", historian_testkit::PATIENCE, stored_polls)
        .await;
    let summary = h.stop().await.summary;
    assert_eq!(summary.lost, 0);

    let id = store.list_devices().await.expect("devices")[0].id;
    let count = |i: usize| {
        let store = std::sync::Arc::clone(&store);
        let register = map[i].register;
        async move {
            store
                .get_readings_time_range(
                    historian_store::SeriesKey::new(id, register),
                    historian_store::TimeRange::new(from, to),
                    10_000,
                )
                .await
                .expect("readings")
                .len()
        }
    };
    let (fast, slow) = (count(0).await, count(1).await);
    assert!(fast >= 6, "{fast} polls");
    let missed = registry.devices()[0]
        .status
        .polls_missed
        .load(Ordering::Relaxed);
    if missed == 0 {
        // Consecutive grid slots: the slow register is read at the first poll, then at
        // every slot that is a multiple of three.
        let rest = fast - 1;
        assert!(
            slow == rest / 3 + 1 || slow == rest.div_ceil(3) + 1,
            "{slow} slow readings in {fast} polls"
        );
    } else {
        assert!(
            slow >= 1 && slow < fast,
            "{slow} slow readings in {fast} polls ({missed} missed)"
        );
    }
}
