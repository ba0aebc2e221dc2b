//! Discovery: finding out what a device serves without a map. [`units`] finds the unit ids
//! that answer behind a gateway, [`space`] the readable address ranges of each table,
//! [`infer`] proposes a type for each readable register from several samples.
//!
//! Discovery only reads: every request leaves through [`access::ScanLink`], which sends
//! nothing but the read function codes 1–4 and Read Device Identification (43/14).
//!
//! Modules import downwards only: `units` and `space` use `access`, which uses `pace`;
//! `sunspec` finds a SunSpec marker and walks its model chain, `sunspec_map` maps its models. `session` runs them all and `map` turns its proposals into map files; `infer` and
//! `progress` use nothing of this module.

pub mod access;
pub mod infer;
pub mod map;
pub mod pace;
pub mod progress;
pub mod session;
pub mod space;
pub mod sunspec;
pub mod sunspec_map;
pub mod units;

pub use access::{Probe, ScanLink};
pub use infer::{Proposal, Samples, infer_run};
pub use map::{ProposedPoint, proposed_points, render, unit_points};
pub use pace::Pace;
pub use progress::Progress;
pub use session::{DiscoverError, DiscoverOptions, Discovery, UnitDiscovery, discover};
pub use space::{Prober, Run, ScanError, TableScan, scan_table};
pub use units::{UnitAnswer, UnitReport, scan_units};
