//! Telemetry: the metrics recorder (installed once, without its own HTTP listener:
//! `GET /metrics` renders from the handle), the catalog of metric names, each with its help
//! text written once, and the events that log and count together.
//!
//! Process totals (stored, spooled, ...) are declared in [`crate::stats`] with the names
//! they are exported under; the labelled metrics (per device, per route) are declared here.

pub(crate) mod catalog;
pub mod events;
mod poll;
mod recorder;

pub use catalog::*;
pub use poll::PollMetrics;
pub use recorder::handle;
