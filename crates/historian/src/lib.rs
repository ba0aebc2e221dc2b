//! modbus-historian: polls Modbus devices and keeps every reading as a queryable time series.
//!
//! Data flows one way: registry → poller → decoder → ingest (batch) → store; the API reads.

pub mod api;
pub mod app;
pub mod arg_values;
pub mod audit;
pub mod bench;
pub mod cli;
pub mod cluster;
pub mod config;
pub mod demo;
pub mod discover;
pub mod file_watch;
pub mod ingest;
pub mod latest;
pub mod logs;
pub mod maps;
pub mod pem;
pub mod poller;
pub mod registry;
pub mod simulate;
pub mod slot_watch;
pub mod slots;
pub mod spool;
pub mod stats;
pub mod stored_maps;
pub mod supervisor;
pub mod telemetry;
