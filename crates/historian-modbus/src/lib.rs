//! The Modbus half of modbus-historian: register maps, read planning, decoding, a Modbus TCP
//! client and a deterministic device simulator. Nothing here knows about databases.

pub mod adaptive;
pub mod client;
pub mod decode;
pub mod fleet;
pub mod gateway;
pub mod map;
pub mod mapfile;
pub mod plan;
pub mod poll;
pub mod schedule;
pub mod sim;
mod sim_faults;
pub mod types;

pub use map::{Addressing, MapError, RegisterPoint, ValueLimits};
pub use plan::{PlanOptions, ReadPlan, ReadRequest};
pub use types::{DataType, Quality, RegisterRef, Table, WordOrder};
