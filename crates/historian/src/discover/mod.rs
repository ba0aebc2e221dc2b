//! `discover`: the command-line side of device discovery. It turns the command's target and
//! flags into a checked device, runs the read-only scan of
//! [`historian_modbus::discover`] with a progress bar on a terminal, and hands the proposed
//! map out as a file that `devices import` reads, or stores it as a device (`--apply`).
//!
//! Modules import downwards only: `command` uses `target`, `bar`, `summary`, `apply` and
//! `error`; `apply` uses `target` and `error`.

mod apply;
pub mod args;
mod bar;
mod command;
mod error;
mod summary;
mod target;

pub use command::{options, run};
pub use error::DiscoverCommandError;
pub use summary::summary;
pub use target::{TargetError, device_input};
