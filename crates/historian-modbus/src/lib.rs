//! The Modbus half of modbus-historian: register maps, read planning, decoding, a Modbus TCP
//! client and a deterministic device simulator. Nothing here knows about databases.

pub mod adaptive;
pub mod client;
pub mod decode;
pub mod fleet;
pub mod gateway;
pub mod mapfile;
pub mod plan;
pub mod poll;
pub mod schedule;
pub mod sim;
mod sim_faults;

pub use historian_model::point as map;
pub use historian_model::types;
pub use historian_model::{
    Addressing, DataType, MapError, Quality, RegisterPoint, RegisterRef, Table, ValueLimits,
    WordOrder,
};
pub use plan::{PlanOptions, ReadPlan, ReadRequest};
