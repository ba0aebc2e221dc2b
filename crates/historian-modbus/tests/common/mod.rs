//! Shared set-up of the protocol tests: one simulated device on a port of its own.

use historian_modbus::client::DeviceClient;
use historian_model::RegisterPoint;
use historian_sim::{DEFAULT_STEP_MS, Signals, SimDevice, SimEndpoint, SimFaults, Simulator};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

/// The signals the protocol tests' devices serve: worst-case, so every value changes every
/// step and spans its type's whole range, and a misread sign, word order or stale answer
/// shows.
pub const SIGNALS: Signals = Signals::WorstCase;

/// A simulated device with index `index` serving `points` with [`SIGNALS`] on `port` (0:
/// any free port), its fault switch, and a client connected to it (1 s time-out).
pub async fn serve(
    points: &[RegisterPoint],
    index: u32,
    port: u16,
) -> (Simulator, Arc<SimFaults>, DeviceClient) {
    let device = SimDevice::new(index, points.to_vec(), DEFAULT_STEP_MS).with_signals(SIGNALS);
    let faults = device.faults();
    let sim = Simulator::start(
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        vec![SimEndpoint::new(port, device)],
    )
    .await
    .expect("simulator");
    let client = DeviceClient::new(sim.addrs()[0].to_string(), 1, Duration::from_secs(1));
    (sim, faults, client)
}
