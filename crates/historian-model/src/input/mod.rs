//! Devices and registers as people write them, and the one validator that turns them into
//! the model: config files, the API and CSV/TOML map files all go through it, so they
//! accept and refuse the same values with the same words; each reader adds only where a
//! mistake was written (a line, a column, a JSON path).

mod device;
pub mod duration;
pub mod host;
pub mod pattern;
mod register;
#[cfg(feature = "openapi")]
mod schema;
pub mod serial;
pub mod text;

pub use device::{
    DEFAULT_INTERVAL, DEFAULT_PORT, DEFAULT_UNIT_ID, DeviceInput, InputError, InputSource,
    MapLoader, Period, TRANSPORTS, parse_duration,
};
pub use register::{FactorInput, FieldError, RegisterInput, resolve_factor_addresses};

#[cfg(test)]
mod tests;
