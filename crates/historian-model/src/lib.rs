//! The vocabulary every part of modbus-historian shares: Modbus tables and register
//! references, data types, register points and maps, devices and how they are reached,
//! readings and their quality, and the one input type and validator for devices and
//! registers. It knows nothing of the wire, of storage or of HTTP.

pub mod device;
pub mod input;
pub mod number;
pub mod point;
pub mod reading;
pub mod types;

pub use device::{
    Access, DeviceSpec, Link, MAX_BITS_PER_READ, MAX_REGISTERS_PER_READ, Parity, PlanOptions,
    SerialSettings,
};
pub use input::{
    DeviceInput, FactorInput, FieldError, InputError, InputSource, RegisterInput,
    resolve_factor_addresses,
};
pub use number::{Number, exact_text};
pub use point::{Addressing, MapError, RegisterPoint, ValueLimits, check_map, duplicate_names};
pub use reading::Reading;
pub use types::{DataType, Quality, RegisterRef, Table, WordOrder};
