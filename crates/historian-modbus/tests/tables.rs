//! Every table, every data type in every byte order, read over real TCP from the simulator
//! and compared with the simulator's pure function.

mod common;

use common::SIGNALS;
use historian_modbus::adaptive::AdaptivePlan;
use historian_model::{
    DataType, PlanOptions, Quality, RegisterPoint, RegisterRef, Table, ValueLimits, WordOrder,
};
use historian_sim::DEFAULT_STEP_MS;
use historian_testkit::{now_ms, with_room_in_step};

fn full_map() -> Vec<RegisterPoint> {
    let mut points = Vec::new();
    for table in [Table::HoldingRegister, Table::InputRegister] {
        let mut address = 0u16;
        for data_type in DataType::numeric().filter(|t| *t != DataType::Bool) {
            for order in [
                WordOrder::Abcd,
                WordOrder::Cdab,
                WordOrder::Badc,
                WordOrder::Dcba,
            ] {
                points.push(RegisterPoint {
                    name: format!("{table}_{data_type}_{order}"),
                    register: RegisterRef::new(table, address),
                    data_type,
                    word_order: order,
                    scale: 0.5,
                    offset: -1.0,
                    unit: String::new(),
                    limits: ValueLimits::default(),
                    ..RegisterPoint::default()
                });
                address += data_type.width();
            }
        }
        // Strings of odd and even length, at odd and even addresses (the simulator pads
        // those with spaces and NULs), in both byte orders.
        for (length, order) in [
            (1, WordOrder::Abcd),
            (2, WordOrder::Badc),
            (9, WordOrder::Abcd),
            (10, WordOrder::Badc),
        ] {
            points.push(RegisterPoint {
                name: format!("{table}_string{length}_{order}"),
                register: RegisterRef::new(table, address),
                data_type: DataType::String,
                word_order: order,
                length: Some(length),
                ..RegisterPoint::default()
            });
            address += length;
        }
        // Three bits of one register, including the top one.
        for bit in [0, 9, 15] {
            points.push(RegisterPoint {
                name: format!("{table}_bit{bit}"),
                register: RegisterRef::new(table, address).with_bit(bit),
                data_type: DataType::Bool,
                ..RegisterPoint::default()
            });
        }
    }
    for table in [Table::Coil, Table::DiscreteInput] {
        for address in 0..20 {
            points.push(RegisterPoint {
                name: format!("{table}_{address}"),
                register: RegisterRef::new(table, address),
                data_type: DataType::Bool,
                word_order: WordOrder::Abcd,
                scale: 1.0,
                offset: 0.0,
                unit: String::new(),
                limits: ValueLimits::default(),
                ..RegisterPoint::default()
            });
        }
    }
    points
}

#[tokio::test]
async fn all_tables_types_and_orders_decode_to_the_simulator_function() {
    let points = full_map();
    assert!(historian_model::check_map(&points).is_empty());
    let (sim, _faults, mut client) = common::serve(&points, 4, 0).await;
    let mut plan = AdaptivePlan::new(&points, PlanOptions::default());
    assert_eq!(plan.plan().requests.len(), 4, "one read per table");
    let step = DEFAULT_STEP_MS as i64;
    let mut checked = false;
    while !checked {
        let at = with_room_in_step(step, 200).await;
        let out = plan.poll(&mut client, &points).await;
        assert!(out.errors.is_empty(), "{:?}", out.errors);
        // A loaded machine may stretch the poll across a change of the function's value:
        // only a poll that fell within one step is compared.
        if now_ms().div_euclid(step) != at.div_euclid(step) {
            continue;
        }
        for (p, s) in points.iter().zip(&out.samples) {
            assert_eq!(s.quality, Quality::Good, "{}", p.name);
            if p.data_type == DataType::String {
                let want = SIGNALS.expected_text(4, p, at, DEFAULT_STEP_MS);
                assert_eq!(s.text.as_deref(), Some(want.as_str()), "{}", p.name);
                assert_eq!(s.value, None, "{}", p.name);
                continue;
            }
            assert_eq!(
                s.value,
                Some(SIGNALS.expected_value(4, p, at, DEFAULT_STEP_MS)),
                "{}",
                p.name
            );
        }
        checked = true;
    }
    sim.shutdown();
}
