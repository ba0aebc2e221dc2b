//! RTU framing, over TCP (serial-to-Ethernet gateways) and on a serial port (a
//! pseudo-terminal pair), against the simulator: every value decodes as over Modbus TCP.

use historian_modbus::adaptive::AdaptivePlan;
use historian_modbus::client::{DeviceClient, Transport};
use historian_model::{
    DataType, PlanOptions, Quality, RegisterPoint, RegisterRef, Table, WordOrder,
};
use historian_model::{Parity, SerialSettings};
use historian_sim::{FaultRate, Signals, SimDevice, SimEndpoint, Simulator, step_at};
use historian_testkit::now_ms;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

const STEP_MS: u64 = 600_000;
const DEVICE: u32 = 9;
/// Worst-case signals: every value spans its type's whole range, so a misdecoded sign or
/// word order shows.
const SIGNALS: Signals = Signals::WorstCase;

fn device(points: &[RegisterPoint]) -> SimDevice {
    SimDevice::new(DEVICE, points.to_vec(), STEP_MS).with_signals(SIGNALS)
}

/// Every table, a few types and orders, a string and register bits.
fn map() -> Vec<RegisterPoint> {
    let hr = |a| RegisterRef::new(Table::HoldingRegister, a);
    let ir = |a| RegisterRef::new(Table::InputRegister, a);
    let p = |name: &str, register, data_type, word_order| RegisterPoint {
        name: name.into(),
        register,
        data_type,
        word_order,
        ..RegisterPoint::default()
    };
    vec![
        p("u16", hr(0), DataType::Uint16, WordOrder::Abcd),
        p("i32", hr(1), DataType::Int32, WordOrder::Cdab),
        p("f64", hr(3), DataType::Float64, WordOrder::Dcba),
        p("f32", ir(0), DataType::Float32, WordOrder::Badc),
        p("u64", ir(2), DataType::Uint64, WordOrder::Abcd),
        RegisterPoint {
            length: Some(5),
            ..p("text", hr(10), DataType::String, WordOrder::Abcd)
        },
        p("bit2", hr(20).with_bit(2), DataType::Bool, WordOrder::Abcd),
        p(
            "bit12",
            hr(20).with_bit(12),
            DataType::Bool,
            WordOrder::Abcd,
        ),
        p(
            "coil",
            RegisterRef::new(Table::Coil, 3),
            DataType::Bool,
            WordOrder::Abcd,
        ),
        p(
            "di",
            RegisterRef::new(Table::DiscreteInput, 4),
            DataType::Bool,
            WordOrder::Abcd,
        ),
    ]
}

/// Polls until one poll reads everything within one simulator step, and checks it.
async fn poll_and_check(client: &mut DeviceClient, points: &[RegisterPoint]) {
    let mut plan = AdaptivePlan::new(points, PlanOptions::default());
    loop {
        let at = now_ms();
        let out = plan.poll(client, points).await;
        assert!(out.errors.is_empty(), "{:?}", out.errors);
        if step_at(at, STEP_MS) != step_at(now_ms(), STEP_MS) {
            continue;
        }
        for (p, s) in points.iter().zip(&out.samples) {
            assert_eq!(s.quality, Quality::Good, "{}", p.name);
            if p.data_type == DataType::String {
                let want = SIGNALS.expected_text(DEVICE, p, at, STEP_MS);
                assert_eq!(s.text.as_deref(), Some(want.as_str()), "{}", p.name);
            } else {
                assert_eq!(
                    s.value,
                    Some(SIGNALS.expected_value(DEVICE, p, at, STEP_MS)),
                    "{}",
                    p.name
                );
            }
        }
        return;
    }
}

#[tokio::test]
async fn rtu_over_tcp_reads_every_table_and_recovers_from_a_drop() {
    let points = map();
    let device = device(&points);
    let faults = device.faults();
    let sim = Simulator::start(
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        vec![SimEndpoint::new(0, device).rtu()],
    )
    .await
    .expect("simulator");
    let transport = Transport::RtuOverTcp(sim.addrs()[0].to_string());
    let mut client = DeviceClient::with_transport(transport, 1, Duration::from_secs(1));
    poll_and_check(&mut client, &points).await;

    // The gateway drops the link once; the next poll reconnects and reads clean data.
    faults.set_drops(Some(FaultRate::Every(1)));
    let mut plan = AdaptivePlan::new(&points, PlanOptions::default());
    let out = plan.poll(&mut client, &points).await;
    assert!(out.errors.iter().all(|e| e.is_link_failure()) && !out.errors.is_empty());
    faults.set_drops(None);
    poll_and_check(&mut client, &points).await;
    assert_eq!(faults.connections(), 2);
    sim.shutdown();
}

#[tokio::test]
async fn rtu_on_a_serial_port_reads_every_table() {
    // A pseudo-terminal pair stands in for a serial line: the simulator serves one end,
    // the collector opens the other by its path, as it would /dev/ttyUSB0.
    let (device_end, collector_end) = tokio_serial::SerialStream::pair().expect("pty pair");
    let path = tokio_serial::SerialPort::name(&collector_end).expect("pty path");
    let points = map();
    let sim = Simulator::start_serial(device_end, device(&points));
    let settings = SerialSettings {
        path,
        baud_rate: 115_200,
        parity: Parity::None,
        stop_bits: 1,
        data_bits: 8,
    };
    let mut client =
        DeviceClient::with_transport(Transport::RtuSerial(settings), 1, Duration::from_secs(1));
    poll_and_check(&mut client, &points).await;
    sim.shutdown();
    drop(collector_end);
}

#[tokio::test]
async fn rtu_garbage_is_never_taken_for_data() {
    let points = map();
    let device = device(&points);
    let faults = device.faults();
    let sim = Simulator::start(
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        vec![SimEndpoint::new(0, device).rtu()],
    )
    .await
    .expect("simulator");
    let transport = Transport::RtuOverTcp(sim.addrs()[0].to_string());
    let mut client = DeviceClient::with_transport(transport, 1, Duration::from_millis(300));
    // Every third answer has every byte inverted: its CRC cannot match.
    faults.set_garbage(Some(FaultRate::Every(3)));
    let mut plan = AdaptivePlan::new(&points, PlanOptions::default());
    let mut failed = 0;
    for _ in 0..4 {
        let at = now_ms();
        let out = plan.poll(&mut client, &points).await;
        failed += out.errors.len();
        assert!(
            out.errors.iter().all(|e| e.is_link_failure()),
            "{:?}",
            out.errors
        );
        for (p, s) in points.iter().zip(&out.samples) {
            if s.quality == Quality::Bad || p.data_type == DataType::String {
                continue;
            }
            assert_eq!(
                s.value,
                Some(SIGNALS.expected_value(DEVICE, p, at, STEP_MS)),
                "{}",
                p.name
            );
        }
    }
    assert!(faults.garbled() > 0 && failed > 0);
    faults.set_garbage(None);
    poll_and_check(&mut client, &points).await;
    sim.shutdown();
}

#[tokio::test]
async fn a_late_rtu_answer_is_never_taken_for_the_next_request() {
    let (device_end, collector_end) = tokio_serial::SerialStream::pair().expect("pty pair");
    let path = tokio_serial::SerialPort::name(&collector_end).expect("pty path");
    let points = map();
    let device = device(&points);
    let faults = device.faults();
    let sim = Simulator::start_serial(device_end, device);
    let settings = SerialSettings {
        path,
        baud_rate: 115_200,
        parity: Parity::None,
        stop_bits: 1,
        data_bits: 8,
    };
    let mut client = DeviceClient::with_transport(
        Transport::RtuSerial(settings),
        1,
        Duration::from_millis(300),
    );
    // Answers come 350 ms late: after the 300 ms time-out, and well before the link is
    // reopened (one more time-out of quiet, at 600 ms).
    faults.set_latency(Duration::from_millis(350));
    let holding: Vec<RegisterPoint> = points
        .iter()
        .filter(|p| p.register.table == Table::HoldingRegister && p.data_type == DataType::Uint16)
        .cloned()
        .collect();
    let mut plan = AdaptivePlan::new(&holding, PlanOptions::default());
    let out = plan.poll(&mut client, &holding).await;
    assert!(
        matches!(
            out.errors.first().map(|e| &e.error),
            Some(historian_modbus::client::ReadError::Timeout(_))
        ),
        "{:?}",
        out.errors
    );
    // The next request, for other registers, must get its own answer, not the late one.
    faults.set_latency(Duration::ZERO);
    poll_and_check(&mut client, &points).await;
    sim.shutdown();
    drop(collector_end);
}
