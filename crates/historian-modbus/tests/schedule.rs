//! Registers with a slower interval are read only at their polls, over real TCP.

mod common;

use historian_modbus::schedule::ScheduledPlan;
use historian_model::{DataType, PlanOptions, Quality, RegisterPoint, RegisterRef, Table};
use std::time::Duration;

#[tokio::test]
async fn slow_registers_are_read_at_every_kth_poll_only() {
    let p = |address, interval_ms| RegisterPoint {
        name: format!("r{address}"),
        register: RegisterRef::new(Table::HoldingRegister, address),
        data_type: DataType::Uint16,
        interval_ms,
        ..RegisterPoint::default()
    };
    // Device polled every second: r0, r1 every poll, r5 every 3rd, r9 every 4th.
    let points = vec![p(0, None), p(1, None), p(5, Some(3_000)), p(9, Some(3_500))];
    let (sim, faults, mut client) = common::serve(&points, 2, 0).await;
    let mut plan = ScheduledPlan::new(
        &points,
        Duration::from_secs(1),
        PlanOptions::default(),
        Duration::ZERO,
    );
    assert_eq!(plan.cadences(), [1, 3, 4]);
    let mut read_at = Vec::new();
    // Started at slot 5: the first poll reads everything, then each cadence on its slots.
    for slot in 5..18u64 {
        let before = faults.requests();
        let out = plan.poll(slot, &mut client, &points).await;
        assert!(out.errors.is_empty(), "{:?}", out.errors);
        assert!(out.samples.iter().all(|(_, s)| s.quality == Quality::Good));
        let due: Vec<usize> = out.samples.iter().map(|(i, _)| *i).collect();
        read_at.push((slot, due, faults.requests() - before));
    }
    let expect = |slot: u64| {
        let mut due = vec![0, 1];
        let mut requests = 1;
        if slot == 5 || slot.is_multiple_of(3) {
            due.push(2);
            requests += 1;
        }
        if slot == 5 || slot.is_multiple_of(4) {
            due.push(3);
            requests += 1;
        }
        (slot, due, requests)
    };
    assert_eq!(read_at, (5..18).map(expect).collect::<Vec<_>>());
    sim.shutdown();
}

#[tokio::test]
async fn a_scale_factor_is_read_with_its_value_even_when_not_due_itself() {
    use historian_modbus::client::DeviceClient;
    use historian_sim::{SimDevice, SimEndpoint, Simulator};
    use std::net::{IpAddr, Ipv4Addr};
    let points = vec![
        RegisterPoint {
            name: "w".into(),
            register: RegisterRef::new(Table::HoldingRegister, 0),
            data_type: DataType::Uint16,
            scale_factor: Some("w_sf".into()),
            ..RegisterPoint::default()
        },
        RegisterPoint {
            name: "w_sf".into(),
            register: RegisterRef::new(Table::HoldingRegister, 40),
            data_type: DataType::Int16,
            interval_ms: Some(3_600_000),
            ..RegisterPoint::default()
        },
    ];
    let device = SimDevice::new(1, points.clone(), 1_000).with_fixed([
        ((Table::HoldingRegister, 0), 2345),
        ((Table::HoldingRegister, 40), (-2i16) as u16),
    ]);
    let sim = Simulator::start(
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        vec![SimEndpoint::new(0, device)],
    )
    .await
    .expect("simulator");
    let mut client = DeviceClient::new(sim.addrs()[0].to_string(), 1, Duration::from_secs(1));
    let mut plan = ScheduledPlan::new(
        &points,
        Duration::from_secs(1),
        PlanOptions::default(),
        Duration::ZERO,
    );
    for slot in [5u64, 7] {
        let out = plan.poll(slot, &mut client, &points).await;
        assert!(out.errors.is_empty(), "{:?}", out.errors);
        let w: Vec<_> = out.samples.iter().filter(|(i, _)| *i == 0).collect();
        assert_eq!(w.len(), 1, "slot {slot}: {:?}", out.samples);
        assert_eq!(w[0].1.value, Some(23.45), "slot {slot}");
        assert_eq!(w[0].1.quality, Quality::Good, "slot {slot}");
    }
    sim.shutdown();
}
