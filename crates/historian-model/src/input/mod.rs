//! Devices and registers as people write them, and the one validator that turns them into
//! the model: config files, the API and CSV/TOML map files all go through it, so they
//! accept and refuse the same values with the same words; each reader adds only where a
//! mistake was written (a line, a column, a JSON path).

mod device;
mod register;

pub use device::{
    DEFAULT_INTERVAL, DEFAULT_PORT, DEFAULT_UNIT_ID, DeviceInput, InputError, InputSource,
    MapLoader, Period, parse_duration,
};
pub use register::{FieldError, RegisterInput};

#[cfg(test)]
mod tests;
