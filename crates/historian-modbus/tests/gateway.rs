//! Units behind one gateway share one connection; a unit the gateway cannot reach (0B)
//! is backed off alone while the link stays up for the others.

use futures_util::future::join_all;
use historian_modbus::adaptive::AdaptivePlan;
use historian_modbus::client::Transport;
use historian_modbus::gateway::{LinkPool, SharedUnit};
use historian_modbus::poll::PollOutcome;
use historian_model::{PlanOptions, Quality, RegisterPoint};
use historian_sim::fleet::reference_map;
use historian_sim::{SimDevice, SimEndpoint, Simulator, expected_value, step_at};
use historian_testkit::now_ms;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

const STEP_MS: u64 = 600_000;

/// Unit ids behind the gateway, and the simulator device index each answers as.
const UNITS: [(u8, u32); 3] = [(1, 11), (2, 12), (7, 17)];

#[tokio::test]
async fn units_share_one_link_and_a_dead_unit_does_not_take_it_down() {
    let points: Vec<RegisterPoint> = reference_map(20);
    // The gateway's own device answers unit ids not listed (none are polled here).
    let mut endpoint = SimEndpoint::new(0, SimDevice::new(99, points.clone(), STEP_MS));
    let mut unit_faults = Vec::new();
    for (unit, index) in UNITS {
        let device = SimDevice::new(index, points.clone(), STEP_MS);
        unit_faults.push(device.faults());
        endpoint = endpoint.with_unit(unit, device);
    }
    let gateway_faults = endpoint.device.faults();
    let sim = Simulator::start(IpAddr::V4(Ipv4Addr::LOCALHOST), vec![endpoint])
        .await
        .expect("simulator");

    let pool = LinkPool::default();
    let transport = Transport::Tcp(sim.addrs()[0].to_string());
    let mut units: Vec<_> = UNITS
        .iter()
        .map(|&(unit, index)| {
            (
                index,
                pool.unit(transport.clone(), unit, Duration::from_secs(1)),
                AdaptivePlan::new(&points, PlanOptions::default()),
            )
        })
        .collect();
    assert_eq!(pool.len(), 1);

    let outcomes = poll_all(&mut units, &points).await;
    for (index, at, out) in &outcomes {
        assert!(
            out.errors.is_empty(),
            "unit of device {index}: {:?}",
            out.errors
        );
        if step_at(*at, STEP_MS) != step_at(now_ms(), STEP_MS) {
            continue;
        }
        for (p, s) in points.iter().zip(&out.samples) {
            assert_eq!(
                s.value,
                Some(expected_value(*index, p, *at, STEP_MS)),
                "{}",
                p.name
            );
        }
    }
    assert_eq!(
        gateway_faults.connections(),
        1,
        "three units, one connection"
    );
    assert_eq!(
        unit_faults.iter().map(|f| f.requests()).collect::<Vec<_>>(),
        [2, 2, 2],
        "each unit's requests reach that unit"
    );

    // Unit 2 stops answering: the gateway says 0B for it.
    unit_faults[1].set_gateway_target_failed(true);
    for round in 0..3 {
        let outcomes = poll_all(&mut units, &points).await;
        for (index, _, out) in &outcomes {
            let bad = out
                .samples
                .iter()
                .filter(|s| s.quality == Quality::Bad)
                .count();
            if *index == 12 {
                assert_eq!(bad, points.len(), "round {round}: the dead unit is all bad");
            } else {
                assert!(out.errors.is_empty(), "round {round}: {:?}", out.errors);
                assert_eq!(bad, 0, "round {round}: unit of device {index}");
            }
        }
    }
    assert!(units[0].1.is_connected().await, "the link stayed up");
    assert_eq!(gateway_faults.connections(), 1, "and was never reopened");
    // Backed off: after its first refused request, the dead unit was asked again only
    // when its back-off allowed, not on every poll.
    assert!(
        unit_faults[1].requests() < 2 + 3,
        "{}",
        unit_faults[1].requests()
    );
    sim.shutdown();
}

type Unit = (u32, SharedUnit, AdaptivePlan);

/// Polls every unit at once, as their pollers would: each waits for the link in turn.
async fn poll_all(units: &mut [Unit], points: &[RegisterPoint]) -> Vec<(u32, i64, PollOutcome)> {
    join_all(units.iter_mut().map(|(index, link, plan)| async move {
        let at = now_ms();
        let out = plan.poll(link, points).await;
        (*index, at, out)
    }))
    .await
}
