//! What can go wrong in a `discover` command.

use super::target::TargetError;
use crate::config::ConfigError;
use crate::maps::MapCommandError;
use historian_modbus::discover::DiscoverError;
use thiserror::Error;

/// Why a discovery command failed.
#[derive(Debug, Error)]
pub enum DiscoverCommandError {
    /// The target or its flags do not describe a device.
    #[error(transparent)]
    Target(#[from] TargetError),
    /// Nothing answered.
    #[error(transparent)]
    Discover(#[from] DiscoverError),
    /// A map file could not be written.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The config for `--apply` could not be loaded.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The store for `--apply` could not be opened.
    #[error(transparent)]
    Open(#[from] MapCommandError),
    /// The store refused the device.
    #[error(transparent)]
    Store(historian_store::StoreError),
}
