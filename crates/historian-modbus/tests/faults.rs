//! Register-level fault isolation against the simulator over real TCP.

mod common;

use historian_modbus::adaptive::AdaptivePlan;
use historian_modbus::client::DeviceClient;
use historian_model::{DataType, PlanOptions, Quality, RegisterPoint, RegisterRef, Table};
use std::time::Duration;

/// Ten uint16 holding registers at wire addresses 0-9.
fn map() -> Vec<RegisterPoint> {
    uint16_holding(0..10)
}

/// A uint16 holding register `r{address}` at each wire address.
fn uint16_holding(addresses: impl IntoIterator<Item = u16>) -> Vec<RegisterPoint> {
    addresses
        .into_iter()
        .map(|a| RegisterPoint {
            name: format!("r{a}"),
            register: RegisterRef::new(Table::HoldingRegister, a),
            data_type: DataType::Uint16,
            ..RegisterPoint::default()
        })
        .collect()
}

fn shape(plan: &AdaptivePlan) -> Vec<(u16, u16)> {
    plan.plan()
        .requests
        .iter()
        .map(|r| (r.start(), r.count()))
        .collect()
}

#[tokio::test]
async fn one_refused_register_is_isolated_quarantined_and_reprobed() {
    let points = map();
    let (sim, faults, mut client) = common::serve(&points, 0, 0).await;
    faults.refuse(Table::HoldingRegister, 3);
    let mut plan = AdaptivePlan::new(&points, PlanOptions::default()).with_reprobe_every(3);
    assert_eq!(
        shape(&plan),
        vec![(0, 10)],
        "one coalesced read to begin with"
    );

    // Poll 1: the coalesced read is refused; splitting keeps nine good readings.
    let out = plan.poll(&mut client, &points).await;
    let qualities: Vec<Quality> = out.samples.iter().map(|s| s.quality).collect();
    let mut want = vec![Quality::Good; 10];
    want[3] = Quality::Bad;
    assert_eq!(qualities, want);
    assert_eq!(out.samples[3].value, None);
    assert_eq!(
        plan.quarantined().keys().copied().collect::<Vec<_>>(),
        vec![3]
    );
    assert_eq!(
        plan.quarantined()[&3].code,
        historian_modbus::client::ExceptionCode::IllegalDataAddress
    );
    assert_eq!(
        shape(&plan),
        vec![(0, 3), (4, 6)],
        "the plan goes around it"
    );
    assert!(client.is_connected(), "an exception does not drop the link");

    // Poll 2: no errors at all, register 3 still reported bad.
    let out = plan.poll(&mut client, &points).await;
    assert!(out.errors.is_empty(), "{:?}", out.errors);
    assert_eq!(out.samples[3].quality, Quality::Bad);
    assert_eq!(
        out.samples
            .iter()
            .filter(|s| s.quality == Quality::Good)
            .count(),
        9
    );

    // The device serves register 3 again; the probe on poll 3 brings it back.
    faults.allow(Table::HoldingRegister, 3);
    let out = plan.poll(&mut client, &points).await;
    assert!(out.samples.iter().all(|s| s.quality == Quality::Good));
    assert!(plan.quarantined().is_empty());
    assert_eq!(shape(&plan), vec![(0, 10)], "coalesced again");
    sim.shutdown();
}

#[tokio::test]
async fn a_dead_device_marks_every_register_bad_and_reconnects_later() {
    let points = map();
    let port = historian_testkit::free_port().expect("port");
    let mut client = DeviceClient::new(format!("127.0.0.1:{port}"), 1, Duration::from_millis(300));
    let mut plan = AdaptivePlan::new(&points, PlanOptions::default());
    let out = plan.poll(&mut client, &points).await;
    assert!(out.samples.iter().all(|s| s.quality == Quality::Bad));
    assert!(out.errors.iter().all(|e| e.is_link_failure()));
    assert!(
        plan.quarantined().is_empty(),
        "a link failure quarantines nothing"
    );
    // Right after a failed connect the client backs off instead of trying again.
    let t = std::time::Instant::now();
    let out = plan.poll(&mut client, &points).await;
    assert!(
        t.elapsed() < Duration::from_millis(250),
        "{:?}",
        t.elapsed()
    );
    assert!(
        out.errors
            .iter()
            .all(|e| matches!(e.error, historian_modbus::client::ReadError::BackingOff(_))),
        "{:?}",
        out.errors
    );

    // The device comes up on that port: the next poll reconnects and reads everything.
    let (sim, _faults, _other) = common::serve(&points, 0, port).await;
    // Polls within the back-off (at most 1.5 x 500 ms) are refused at once, then one
    // reconnects.
    historian_testkit::eventually(
        "a poll reconnects once the back-off ends",
        historian_testkit::PATIENCE,
        async || {
            let out = plan.poll(&mut client, &points).await;
            if out.samples.iter().all(|s| s.quality == Quality::Good) {
                Ok(())
            } else {
                Err(format!("{:?}", out.errors))
            }
        },
    )
    .await;
    sim.shutdown();
}

#[tokio::test]
async fn a_unit_the_gateway_cannot_reach_is_backed_off_without_dropping_the_link() {
    let points = map();
    let (sim, faults, mut client) = common::serve(&points, 0, 0).await;
    let mut plan = AdaptivePlan::new(&points, PlanOptions::default());
    faults.set_gateway_target_failed(true);
    let out = plan.poll(&mut client, &points).await;
    assert!(out.samples.iter().all(|s| s.quality == Quality::Bad));
    assert!(client.is_connected(), "the shared link stays up");
    assert!(
        plan.quarantined().is_empty(),
        "nothing is quarantined for a dead unit"
    );
    let sent = faults.requests();
    // The next poll is skipped (no traffic), the one after tries again.
    let out = plan.poll(&mut client, &points).await;
    assert!(out.samples.iter().all(|s| s.quality == Quality::Bad));
    assert_eq!(
        faults.requests(),
        sent,
        "a backed-off unit costs no request"
    );
    faults.set_gateway_target_failed(false);
    let out = plan.poll(&mut client, &points).await;
    assert!(
        out.samples.iter().all(|s| s.quality == Quality::Good),
        "{:?}",
        out.errors
    );
    sim.shutdown();
}

#[tokio::test]
async fn a_pause_separates_the_requests_of_one_poll() {
    let points = uint16_holding((0..4).map(|a| a * 10));
    let (sim, _faults, mut client) = common::serve(&points, 0, 0).await;
    let mut plan =
        AdaptivePlan::new(&points, PlanOptions::default()).with_pause(Duration::from_millis(50));
    assert_eq!(plan.plan().requests.len(), 4);
    let t = std::time::Instant::now();
    let out = plan.poll(&mut client, &points).await;
    assert!(out.errors.is_empty());
    assert!(
        t.elapsed() >= Duration::from_millis(150),
        "{:?}",
        t.elapsed()
    );
    sim.shutdown();
}

#[tokio::test]
async fn a_late_answer_is_never_taken_for_the_next_request() {
    // Two registers read separately, so a desynchronised link would hand the late answer
    // of the first read to the second one.
    let points = uint16_holding([0, 50]);
    let (sim, faults, _) = common::serve(&points, 9, 0).await;
    let mut client = DeviceClient::new(sim.addrs()[0].to_string(), 1, Duration::from_millis(100));
    let mut plan = AdaptivePlan::new(&points, PlanOptions::default());
    assert_eq!(plan.plan().requests.len(), 2);
    faults.set_latency(Duration::from_millis(300));
    let out = plan.poll(&mut client, &points).await;
    assert!(out.samples.iter().all(|s| s.quality == Quality::Bad));
    assert!(matches!(
        out.errors.first().map(|e| &e.error),
        Some(historian_modbus::client::ReadError::Timeout(_))
    ));
    assert!(!client.is_connected(), "a time-out drops the connection");
    faults.set_latency(Duration::ZERO);
    // The next poll goes out while the late answer is still due on the old connection: a
    // client that kept that connection would read it first.
    let at = historian_testkit::with_room_in_step(1000, 200).await;
    let out = plan.poll(&mut client, &points).await;
    assert!(out.errors.is_empty(), "{:?}", out.errors);
    for (p, s) in points.iter().zip(&out.samples) {
        assert_eq!(
            s.value,
            Some(common::SIGNALS.expected_value(9, p, at, 1000)),
            "{} got another request's answer",
            p.name
        );
    }
    sim.shutdown();
}
