//! Several historians sharing one fleet through their PostgreSQL database: each device has
//! a lease, a node polls a device only while it holds the lease by its own clock, and the
//! nodes share the devices out fairly (see `docs/ARCHITECTURE.md`, "Cluster").
//!
//! `gate` is each device's permission, asked by its poller before every slot; `share`
//! decides what a node offers; `state` is what the keeper, the supervisor and the API
//! share; `keeper` is the heartbeat task that renews, offers and claims, and grants the
//! gates.

pub mod gate;
mod keeper;
pub mod share;
mod state;

pub use keeper::run;
pub use state::{Cluster, LAST_CHANGES};
