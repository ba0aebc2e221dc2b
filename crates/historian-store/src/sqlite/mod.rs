//! The embedded backend: one SQLite file in WAL mode, one writer connection and a small
//! set of reader connections, so API queries never wait for a batch write.

mod aggregates;
mod audit_log;
mod block_codec;
mod blocks;
mod compactor;
mod connection;
mod devices;
mod figures;
mod maintenance;
mod migrations;
mod readings;
mod watch;

use crate::audit::{AuditEntry, AuditQuery, Audited, DeviceAudit, NewAuditEntry};
use crate::model::{AggregateBucket, DeviceRecord, SeriesKey, StorageFigures, TimeRange};
use crate::options::StoreOptions;
use crate::store::{DeleteOutcome, MaintenanceReport, Store, StoreError, WriteOutcome};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use historian_model::{DeviceSpec, Reading, RegisterRef};
use std::path::Path;
use std::sync::{Arc, Mutex};

pub use compactor::Compacted;
pub use connection::SqliteStore;
use connection::*;
pub use migrations::migrate_to;
impl SqliteStore {
    /// Moves every hour of readings before `upto` from the row table into blocks (the
    /// maintenance run does this for closed hours; tests and benchmarks call it directly).
    pub async fn compact_before(&self, upto: DateTime<Utc>) -> Result<Compacted, StoreError> {
        let limits = compactor::Limits {
            upto: connection::micros(upto),
            raw_cutoff: i64::MIN,
            hourly_cutoff: i64::MIN,
        };
        maintenance::compact(self, limits).await
    }

    /// Opens (creating if needed) the file at `path` and applies pending migrations.
    pub async fn open(path: &Path, options: &StoreOptions) -> Result<Self, StoreError> {
        let path = path.to_path_buf();
        let options = options.clone();
        tokio::task::spawn_blocking(move || {
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent)
                    .map_err(|e| StoreError::open(parent.display().to_string(), e))?;
            }
            let mut conn = open_connection(&path)?;
            migrations::apply(&mut conn)?;
            Ok(SqliteStore {
                path,
                writer: Arc::new(Mutex::new(conn)),
                readers: Arc::new(Mutex::new(Vec::new())),
                options,
            })
        })
        .await
        .map_err(|e| StoreError::worker(e.to_string(), e))?
    }
}

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn write_devices(
        &self,
        devices: &[DeviceSpec],
        disable_others: bool,
    ) -> Result<Vec<DeviceRecord>, StoreError> {
        Ok(devices::write(self, devices, disable_others, None)
            .await?
            .value)
    }

    async fn write_devices_audited(
        &self,
        devices: &[DeviceSpec],
        disable_others: bool,
        audit: DeviceAudit,
    ) -> Result<Audited<Vec<DeviceRecord>>, StoreError> {
        devices::write(self, devices, disable_others, Some(audit)).await
    }

    async fn list_devices(&self) -> Result<Vec<DeviceRecord>, StoreError> {
        devices::list(self, false).await
    }

    async fn list_devices_including_removed(&self) -> Result<Vec<DeviceRecord>, StoreError> {
        devices::list(self, true).await
    }

    async fn delete_device(&self, name: &str) -> Result<DeleteOutcome, StoreError> {
        Ok(devices::delete(self, name, None).await?.value)
    }

    async fn delete_device_audited(
        &self,
        name: &str,
        audit: DeviceAudit,
    ) -> Result<Audited<DeleteOutcome>, StoreError> {
        devices::delete(self, name, Some(audit)).await
    }

    async fn append_audit(&self, entry: &NewAuditEntry) -> Result<AuditEntry, StoreError> {
        audit_log::append(self, entry).await
    }

    async fn audit_entries(&self, query: &AuditQuery) -> Result<Vec<AuditEntry>, StoreError> {
        audit_log::query(self, query).await
    }

    async fn watch_devices(&self) -> Result<tokio::sync::mpsc::Receiver<()>, StoreError> {
        watch::watch(self).await
    }

    async fn insert_register_readings_batch(
        &self,
        batch: &[Reading],
    ) -> Result<WriteOutcome, StoreError> {
        readings::insert_batch(self, batch).await
    }

    async fn get_latest_reading(
        &self,
        device_id: i64,
        register: RegisterRef,
    ) -> Result<Option<Reading>, StoreError> {
        readings::latest(self, device_id, register).await
    }

    async fn get_device_readings_latest(&self, device_id: i64) -> Result<Vec<Reading>, StoreError> {
        readings::device_latest(self, device_id).await
    }

    async fn get_readings_time_range(
        &self,
        series: SeriesKey,
        range: TimeRange,
        limit: usize,
    ) -> Result<Vec<Reading>, StoreError> {
        readings::range(self, series, range, limit).await
    }

    async fn get_aggregates(
        &self,
        device_id: i64,
        registers: &[RegisterRef],
        range: TimeRange,
        width_secs: u64,
    ) -> Result<Vec<AggregateBucket>, StoreError> {
        aggregates::query(self, device_id, registers, range, width_secs).await
    }

    async fn run_maintenance(&self, now: DateTime<Utc>) -> Result<MaintenanceReport, StoreError> {
        maintenance::run(self, now).await
    }

    async fn storage_figures(&self) -> Result<StorageFigures, StoreError> {
        figures::figures(self).await
    }

    async fn count_readings(&self) -> Result<u64, StoreError> {
        readings::count(self).await
    }
}
