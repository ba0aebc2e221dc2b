//! A deterministic Modbus device simulator for the binary, the tests and the benchmarks:
//! simulated devices whose values are pure functions of (signals, device, point, time step),
//! realistic by default or worst-case for stress runs, served
//! over Modbus TCP, RTU over TCP or a serial port, with faults a test can switch on, and
//! the reference fleet.
//!
//! Modules import downwards only: `server` uses `device` and `wire`, which use `faults`;
//! `device` also uses `values` and `space`; `values` chooses between `realistic` (which
//! uses `quantity` to tell what a register holds) and `worst_case`; `sunspec` builds a
//! device; `wire` holds each connection's `connections` guard.

mod connections;
mod device;
mod faults;
pub mod fleet;
mod quantity;
mod realistic;
mod server;
mod space;
mod sunspec;
mod values;
mod wire;
mod worst_case;

pub use connections::ConnectionGauge;
pub use device::{SimDevice, WordFn};
pub use faults::{FaultRate, SimFaults};
pub use server::{SimEndpoint, Simulator};
pub use space::{AddressSpace, SimIdentity};
pub use sunspec::{
    SUNSPEC_MANUFACTURER, SUNSPEC_MODEL, SUNSPEC_MODELS, SUNSPEC_MPPT_MODULES, sunspec_device,
    sunspec_factor_addresses, sunspec_layout, sunspec_scale_factor, sunspec_words,
};
pub use values::{
    DEFAULT_STEP_MS, Signals, UnknownSignals, expected_text, expected_value, raw_value, step_at,
    text_value, unmapped_word,
};
pub use wire::Framing;
