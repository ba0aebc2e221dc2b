//! Storage for modbus-historian: the [`Store`] trait, the rows it moves, and its backends.

mod audit;
mod model;
mod options;
pub mod postgres;
pub mod sqlite;
mod store;
mod url;

pub use audit::{AuditEntry, AuditQuery, Audited, DeviceAudit, NewAuditEntry};
pub use model::{
    AggregateBucket, AggregateSource, DeviceRecord, DiskProjection, JobStatus, RemovedRegister,
    ReplicaStatus, SeriesKey, SeriesPoint, StorageFigures, TimeRange,
};
pub use options::{ReadReplicaOptions, StoreOptions, TimescaleMode, WalCompression};
pub use store::{
    DeleteOutcome, ErrorSource, MaintenanceReport, RejectedReading, Store, StoreError, WriteOutcome,
};
pub use url::{StorageUrl, masked_url, open};
