//! Discovery against the built-in simulator over Modbus TCP: readable ranges and exception
//! boundaries exact, identification, strings and float word orders, a gateway whose absent
//! units answer 0B, and a device that never answers.

use historian_modbus::client::Transport;
use historian_modbus::discover::infer::Kind;
use historian_modbus::discover::session::TableProposal;
use historian_modbus::discover::units::UnitAnswer;
use historian_modbus::discover::{DiscoverError, DiscoverOptions, Progress, discover};
use historian_model::{DataType, RegisterPoint, RegisterRef, Table, WordOrder};
use historian_sim::{AddressSpace, Signals, SimDevice, SimEndpoint, SimIdentity, Simulator};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

/// Values change every 20 ms, so samples 60 ms apart differ.
const STEP_MS: u64 = 20;

fn point(name: &str, table: Table, address: u16, data_type: DataType) -> RegisterPoint {
    RegisterPoint {
        name: name.into(),
        register: RegisterRef::new(table, address),
        data_type,
        ..RegisterPoint::default()
    }
}

/// Float32 in every word order, two strings (one byte-swapped), on input and holding
/// registers with gaps between them.
fn device_map() -> Vec<RegisterPoint> {
    let mut map = Vec::new();
    for (i, order) in [
        WordOrder::Abcd,
        WordOrder::Cdab,
        WordOrder::Badc,
        WordOrder::Dcba,
    ]
    .into_iter()
    .enumerate()
    {
        let mut p = point(
            &format!("f{i}"),
            Table::InputRegister,
            10 + 2 * i as u16,
            DataType::Float32,
        );
        p.word_order = order;
        map.push(p);
    }
    for (name, address, order) in [
        ("model", 100, WordOrder::Abcd),
        ("serial", 140, WordOrder::Badc),
    ] {
        let mut p = point(name, Table::HoldingRegister, address, DataType::String);
        p.length = Some(8);
        p.word_order = order;
        map.push(p);
    }
    map
}

fn options(endpoint: &str) -> DiscoverOptions {
    let mut opts = DiscoverOptions::new(Transport::Tcp(endpoint.to_string()));
    opts.range = (0, 399);
    opts.samples = 4;
    opts.sample_interval = Duration::from_millis(60);
    opts.timeout = Duration::from_secs(2);
    opts
}

async fn start(endpoints: Vec<SimEndpoint>) -> Simulator {
    Simulator::start(IpAddr::V4(Ipv4Addr::LOCALHOST), endpoints)
        .await
        .expect("simulator")
}

fn found(proposals: &[TableProposal], table: Table, address: u16) -> &TableProposal {
    proposals
        .iter()
        .find(|p| p.table == table && p.proposal.address == address)
        .unwrap_or_else(|| panic!("no proposal at {table} {address}: {proposals:#?}"))
}

/// The map's address space with extra readable ranges around it.
fn device_space(map: &[RegisterPoint]) -> AddressSpace {
    AddressSpace::of_map(map)
        .with_range(Table::HoldingRegister, 200, 262)
        .with_range(Table::Coil, 5, 2040)
        .with_range(Table::HoldingRegister, 399, 399)
}

/// The four float32 word orders of [`device_map`].
const ORDERS: [WordOrder; 4] = [
    WordOrder::Abcd,
    WordOrder::Cdab,
    WordOrder::Badc,
    WordOrder::Dcba,
];

/// The full-range signals make each word order decidable from four samples: read in a
/// wrong order, their values jump by orders of magnitude. (Slow realistic drifts near some
/// values read smoothly in two orders; that case is below.)
#[tokio::test]
async fn ranges_identity_strings_and_float_word_orders_are_found() {
    let map = device_map();
    let space = device_space(&map);
    let device = SimDevice::new(3, map.clone(), STEP_MS)
        .with_signals(Signals::WorstCase)
        .with_space(space.clone())
        .with_identity(SimIdentity {
            vendor: "Acme".into(),
            product: "PM-1".into(),
            revision: "2.1".into(),
        });
    let sim = start(vec![SimEndpoint::new(0, device)]).await;
    let opts = options(&sim.addrs()[0].to_string());
    let progress = Arc::new(Progress::default());
    let result = discover(&opts, Arc::clone(&progress))
        .await
        .expect("discovers");
    assert_eq!(progress.done(), progress.total());
    let unit = &result.devices[0];
    assert_eq!(unit.error, None);
    let id = unit.identity.as_ref().expect("identification");
    assert_eq!(
        (
            id.vendor.as_deref(),
            id.product.as_deref(),
            id.revision.as_deref()
        ),
        (Some("Acme"), Some("PM-1"), Some("2.1"))
    );
    for scan in &unit.tables {
        let spans: Vec<(u16, u16)> = scan.runs.iter().map(|r| (r.start, r.last())).collect();
        let want: Vec<(u16, u16)> = space
            .ranges(scan.table)
            .iter()
            .map(|&(a, b)| (a, b.min(399)))
            .collect();
        assert_eq!(spans, want, "{}", scan.table);
    }
    let proposals = &unit.proposals;
    for (i, order) in ORDERS.into_iter().enumerate() {
        let p = &found(proposals, Table::InputRegister, 10 + 2 * i as u16).proposal;
        assert_eq!(
            (p.data_type, p.word_order),
            (DataType::Float32, order),
            "{p:#?}"
        );
    }
    for (address, order) in [(100, WordOrder::Abcd), (140, WordOrder::Badc)] {
        let p = &found(proposals, Table::HoldingRegister, address).proposal;
        assert_eq!(
            (p.data_type, p.word_order, p.length, p.kind),
            (DataType::String, order, Some(8), Kind::Text),
            "{p:#?}"
        );
    }
    let coils = proposals.iter().filter(|p| p.table == Table::Coil).count();
    assert_eq!(coils, 395, "coils 5 to 399 of the range scanned");
}

/// Realistic values drift slowly with a little noise; near some values two word orders read
/// equally smoothly. Discovery may then be unsure, but it is never sure of a wrong type or
/// order, and the right order is always among the candidates it names.
#[tokio::test]
async fn slowly_drifting_floats_are_never_proposed_wrongly_with_confidence() {
    let map = device_map();
    let mut unsure = 0;
    for device in 0..12 {
        let sim = start(vec![SimEndpoint::new(
            0,
            SimDevice::new(device, map.clone(), STEP_MS).with_space(AddressSpace::of_map(&map)),
        )])
        .await;
        let result = discover(&options(&sim.addrs()[0].to_string()), Arc::default())
            .await
            .expect("discovers");
        let proposals = &result.devices[0].proposals;
        for (i, order) in ORDERS.into_iter().enumerate() {
            let p = &found(proposals, Table::InputRegister, 10 + 2 * i as u16).proposal;
            if (p.data_type, p.word_order) != (DataType::Float32, order) {
                assert!(
                    p.is_uncertain(),
                    "device {device}: sure of a wrong reading {p:#?}"
                );
                // After the raw words, which are hex and could spell an order.
                let candidates = p.evidence.split_once(": ").map_or("", |(_, c)| c);
                assert!(
                    candidates.contains(&format!("{order} ")),
                    "device {device}: {order} not among the candidates {p:#?}"
                );
                unsure += 1;
            }
        }
    }
    assert!(unsure < 12 * 4, "at least some orders decided");
}

#[tokio::test]
async fn a_gateway_tells_absent_units_apart() {
    let gateway = SimDevice::new(0, Vec::new(), STEP_MS);
    gateway.faults().set_gateway_target_failed(true);
    let unit = |i| {
        let map = vec![point("v", Table::HoldingRegister, 0, DataType::Uint16)];
        SimDevice::new(i, map.clone(), STEP_MS).with_space(AddressSpace::of_map(&map))
    };
    let endpoint = SimEndpoint::new(0, gateway)
        .with_unit(2, unit(2))
        .with_unit(5, unit(5));
    let sim = start(vec![endpoint]).await;
    let mut opts = options(&sim.addrs()[0].to_string());
    opts.units = (1..=6).collect();
    opts.tables = vec![Table::HoldingRegister];
    opts.range = (0, 9);
    opts.samples = 1;
    let result = discover(&opts, Arc::new(Progress::default()))
        .await
        .expect("two units answer");
    let answers: Vec<(u8, UnitAnswer)> = result
        .units
        .iter()
        .map(|u| (u.unit, u.answer.clone()))
        .collect();
    use UnitAnswer::*;
    assert_eq!(
        answers,
        vec![
            (1, GatewayTargetFailed),
            (2, Answers),
            (3, GatewayTargetFailed),
            (4, GatewayTargetFailed),
            (5, Answers),
            (6, GatewayTargetFailed),
        ]
    );
    let scanned: Vec<u8> = result.devices.iter().map(|d| d.unit).collect();
    assert_eq!(scanned, vec![2, 5]);
    for d in &result.devices {
        assert_eq!(d.tables[0].runs.len(), 1);
        assert_eq!((d.tables[0].runs[0].start, d.tables[0].runs[0].len), (0, 1));
    }
}

#[tokio::test]
async fn a_device_that_never_answers_ends_with_a_clear_message() {
    // Accepts connections and reads requests, but never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let mut opts = options(&addr.to_string());
    opts.units = vec![1, 2, 3];
    opts.timeout = Duration::from_millis(200);
    // One time-out per unit id, probed in parallel: the deadline is only a guard.
    let err = tokio::time::timeout(
        Duration::from_secs(60),
        discover(&opts, Arc::new(Progress::default())),
    )
    .await
    .expect("discovery of a silent device ends by itself")
    .expect_err("nothing answers");
    assert!(matches!(err, DiscoverError::NoUnit { .. }), "{err}");
    let message = err.to_string();
    assert!(
        message.contains("no unit answered") && message.contains("3 units no answer (time-out)"),
        "{message}"
    );
}

#[tokio::test]
async fn a_sunspec_device_is_detected_and_its_model_chain_walked() {
    use historian_modbus::discover::sunspec::SunSpecModel;
    for base in [40_000, 50_001, 0] {
        let device = historian_sim::sunspec_device(1, base, STEP_MS);
        let sim = start(vec![SimEndpoint::new(0, device)]).await;
        let mut opts = options(&sim.addrs()[0].to_string());
        opts.tables = vec![Table::HoldingRegister];
        opts.range = (base, base + 300);
        opts.samples = 1;
        let result = discover(&opts, Arc::new(Progress::default()))
            .await
            .expect("discovers");
        let found = result.devices[0].sunspec.as_ref().expect("SunSpec found");
        assert_eq!(found.base, base);
        assert!(found.complete);
        let mut at = base + 2;
        let mut want = Vec::new();
        for (id, len) in historian_sim::SUNSPEC_MODELS {
            want.push(SunSpecModel {
                id,
                address: at,
                len,
            });
            at += 2 + len;
        }
        assert_eq!(found.models, want);
        // The common model's manufacturer reads as text.
        let mn = found_text(&result.devices[0].proposals, base + 4);
        assert_eq!(mn, Some(DataType::String));
        sim.shutdown();
    }
}

fn found_text(proposals: &[TableProposal], address: u16) -> Option<DataType> {
    proposals
        .iter()
        .find(|p| p.table == Table::HoldingRegister && p.proposal.address == address)
        .map(|p| p.proposal.data_type)
}

#[tokio::test]
async fn a_sunspec_device_gets_the_points_of_its_models() {
    use historian_modbus::discover::unit_points;
    let device = historian_sim::sunspec_device(1, 40_000, STEP_MS);
    let sim = start(vec![SimEndpoint::new(0, device)]).await;
    let mut opts = options(&sim.addrs()[0].to_string());
    opts.tables = vec![Table::HoldingRegister];
    opts.range = (40_000, 40_300);
    opts.samples = 1;
    let result = discover(&opts, Arc::new(Progress::default()))
        .await
        .expect("discovers");
    let points = unit_points(&result.devices[0]);
    let map: Vec<RegisterPoint> = points.iter().map(|p| p.point.clone()).collect();
    assert!(historian_model::check_map(&map).is_empty());
    let at = |name: &str| {
        map.iter()
            .find(|p| p.name == name)
            .unwrap_or_else(|| panic!("{name} not in the map"))
    };
    assert_eq!(at("common_Mn").register.address, 40_004);
    assert_eq!(at("inverter_three_phase_W").register.address, 40_084);
    assert_eq!(at("inverter_three_phase_W").unit, "W");
    assert_eq!(at("ac_meter_abcn_A").register.address, 40_124);
    // Each scaled point refers to its *_SF point, which the map holds too.
    let w = at("inverter_three_phase_W");
    assert_eq!(w.scale_factor.as_deref(), Some("inverter_three_phase_W_SF"));
    assert_eq!(
        at("inverter_three_phase_W_SF").data_type,
        historian_model::DataType::Int16
    );
    // Model 160's repeating modules, each scaled by the model's own factors.
    assert_eq!(at("mppt_N").register.address, 40_237);
    for (n, first) in [(1, 40_239), (2, 40_259)] {
        assert_eq!(at(&format!("mppt_module_{n}_ID")).register.address, first);
        assert_eq!(at(&format!("mppt_module_{n}_IDStr")).length, Some(8));
        let dca = at(&format!("mppt_module_{n}_DCA"));
        assert_eq!(dca.register.address, first + 9);
        assert_eq!(dca.scale_factor.as_deref(), Some("mppt_DCA_SF"));
        assert_eq!(
            at(&format!("mppt_module_{n}_DCWH")).data_type,
            historian_model::DataType::Uint32
        );
    }
    assert!(!map.iter().any(|p| p.name.starts_with("mppt_module_3")));
    sim.shutdown();
}
