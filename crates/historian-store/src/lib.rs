//! Storage for modbus-historian: the [`Store`] trait, the rows it moves, and its backends.

mod model;
pub mod sqlite;
mod store;
mod url;

pub use model::{DeviceRecord, DeviceSpec, Reading};
pub use store::{Store, StoreError};
pub use url::{StorageUrl, open};
