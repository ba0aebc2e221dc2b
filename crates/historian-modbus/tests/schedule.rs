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
