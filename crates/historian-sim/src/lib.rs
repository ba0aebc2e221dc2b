//! A deterministic Modbus device simulator for the binary, the tests and the benchmarks:
//! simulated devices whose values are pure functions of (device, point, time step), served
//! over Modbus TCP, RTU over TCP or a serial port, with faults a test can switch on, and
//! the reference fleet.

mod faults;
pub mod fleet;
mod server;

pub use faults::{FaultRate, SimFaults};
pub use server::{
    DEFAULT_STEP_MS, Framing, SimDevice, SimEndpoint, Simulator, expected_text, expected_value,
    raw_value, step_at, text_value, unmapped_word,
};
