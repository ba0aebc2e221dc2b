//! The Modbus half of modbus-historian: register maps, read planning, decoding and the Modbus
//! client with its transports. Nothing here knows about databases; the device simulator is
//! the `historian-sim` crate.

pub mod adaptive;
pub mod client;
pub mod decode;
pub mod discover;
pub mod factor;
pub mod gateway;
pub mod mapfile;
pub mod plan;
pub mod poll;
pub mod schedule;

pub use plan::{ReadPlan, ReadRequest};
