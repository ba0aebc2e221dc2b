//! Dropped connections and garbage frames from the simulator: the collector never takes a
//! broken answer for data, reconnects, and reads correct values again.

use historian_modbus::adaptive::AdaptivePlan;
use historian_modbus::client::{DeviceClient, ReadError};
use historian_modbus::poll::{FailedRead, Sample};
use historian_model::{DataType, PlanOptions, Quality, RegisterPoint, RegisterRef, Table};
use historian_sim::{
    FaultRate, SimDevice, SimEndpoint, SimFaults, Simulator, expected_value, step_at,
};
use historian_testkit::now_ms;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

/// Values hold for ten minutes: a poll practically never straddles a change.
const STEP_MS: u64 = 600_000;
const DEVICE: u32 = 3;

/// Ten uint16 holding and ten int16 input registers: two requests per poll.
fn map() -> Vec<RegisterPoint> {
    let mut points = Vec::new();
    for a in 0..10 {
        points.push(RegisterPoint {
            name: format!("h{a}"),
            register: RegisterRef::new(Table::HoldingRegister, a),
            data_type: DataType::Uint16,
            ..RegisterPoint::default()
        });
        points.push(RegisterPoint {
            name: format!("i{a}"),
            register: RegisterRef::new(Table::InputRegister, a),
            data_type: DataType::Int16,
            ..RegisterPoint::default()
        });
    }
    points
}

async fn serve(points: &[RegisterPoint]) -> (Simulator, Arc<SimFaults>, DeviceClient) {
    let device = SimDevice::new(DEVICE, points.to_vec(), STEP_MS);
    let faults = device.faults();
    let sim = Simulator::start(
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        vec![SimEndpoint::new(0, device)],
    )
    .await
    .expect("simulator");
    let client = DeviceClient::new(sim.addrs()[0].to_string(), 1, Duration::from_secs(1));
    (sim, faults, client)
}

/// One poll: every sample is either `bad` (its request failed) or exactly the simulator's
/// value; returns (good samples, errors).
async fn poll_and_check(
    plan: &mut AdaptivePlan,
    client: &mut DeviceClient,
    points: &[RegisterPoint],
) -> (usize, Vec<FailedRead>) {
    loop {
        let before = now_ms();
        let out = plan.poll(client, points).await;
        if step_at(before, STEP_MS) != step_at(now_ms(), STEP_MS) {
            continue;
        }
        let mut good = 0;
        for (p, s) in points.iter().zip(&out.samples) {
            if *s == Sample::BAD {
                continue;
            }
            assert_eq!(s.quality, Quality::Good, "{}", p.name);
            assert_eq!(
                s.value,
                Some(expected_value(DEVICE, p, before, STEP_MS)),
                "{}: a broken answer was taken for data",
                p.name
            );
            good += 1;
        }
        return (good, out.errors);
    }
}

#[tokio::test]
async fn dropped_connections_cost_one_poll_each_and_the_client_reconnects() {
    let points = map();
    let (sim, faults, mut client) = serve(&points).await;
    let mut plan = AdaptivePlan::new(&points, PlanOptions::default());
    assert_eq!(plan.plan().requests.len(), 2);
    faults.set_drops(Some(FaultRate::Every(3)));
    // Answers 1-2 (poll 1) pass, answer 3 (poll 2's first) closes the link, poll 3
    // reconnects and passes, and so on.
    let mut outcomes = Vec::new();
    for _ in 0..8 {
        let (good, errors) = poll_and_check(&mut plan, &mut client, &points).await;
        assert!(errors.iter().all(FailedRead::is_link_failure), "{errors:?}");
        // A closed link says so, and which request it cost, instead of a stale errno
        // ("Success (os error 0)", "Operation now in progress (os error 115)").
        for e in &errors {
            assert!(matches!(e.error, ReadError::Closed), "{e:?}");
            let shown = e.to_string();
            assert!(
                shown.starts_with(&format!("{} {}", e.table, e.start))
                    && shown.ends_with("connection closed by the device"),
                "{shown}"
            );
        }
        outcomes.push((good, errors.len()));
    }
    assert_eq!(
        outcomes,
        [
            (20, 0),
            (0, 1),
            (20, 0),
            (0, 1),
            (20, 0),
            (0, 1),
            (20, 0),
            (0, 1)
        ]
    );
    assert_eq!(faults.dropped(), 4);
    // The first connection and one reconnect after each of the first three drops.
    assert_eq!(faults.connections(), 4, "one reconnect per drop, no more");

    faults.set_drops(None);
    let (good, errors) = poll_and_check(&mut plan, &mut client, &points).await;
    assert_eq!((good, errors.len()), (20, 0));
    assert_eq!(faults.connections(), 5);
    sim.shutdown();
}

#[tokio::test]
async fn garbage_frames_are_rejected_and_the_next_poll_reads_clean_data() {
    let points = map();
    let (sim, faults, mut client) = serve(&points).await;
    let mut plan = AdaptivePlan::new(&points, PlanOptions::default());
    faults.set_garbage(Some(FaultRate::Every(2)));
    for _ in 0..4 {
        // The first request of each poll is answered cleanly, the second with garbage.
        let (good, errors) = poll_and_check(&mut plan, &mut client, &points).await;
        assert_eq!(good, 10);
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(
            matches!(&errors[0].error, ReadError::Transport(m) if m.contains("protocol identifier")),
            "{errors:?}"
        );
        assert!(!client.is_connected(), "a garbled link is not reused");
    }
    assert_eq!(faults.garbled(), 4);
    faults.set_garbage(None);
    let (good, errors) = poll_and_check(&mut plan, &mut client, &points).await;
    assert_eq!((good, errors.len()), (20, 0));
    sim.shutdown();
}

#[tokio::test]
async fn random_drops_and_garbage_never_yield_a_wrong_value() {
    let points = map();
    let (sim, faults, mut client) = serve(&points).await;
    let mut plan = AdaptivePlan::new(&points, PlanOptions::default());
    faults.set_drops(Some(FaultRate::Random {
        probability: 0.15,
        seed: 7,
    }));
    faults.set_garbage(Some(FaultRate::Random {
        probability: 0.15,
        seed: 8,
    }));
    let mut good_total = 0;
    for _ in 0..40 {
        // poll_and_check fails the test on any value that is not the simulator's.
        let (good, _) = poll_and_check(&mut plan, &mut client, &points).await;
        good_total += good;
    }
    assert!(faults.dropped() > 0 && faults.garbled() > 0);
    assert!(good_total > 0);
    faults.set_drops(None);
    faults.set_garbage(None);
    let (good, errors) = poll_and_check(&mut plan, &mut client, &points).await;
    assert_eq!((good, errors.len()), (20, 0), "recovered");
    sim.shutdown();
}
