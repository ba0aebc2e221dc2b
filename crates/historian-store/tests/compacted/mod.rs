//! A SQLite store that compacts every reading into blocks right after each write, so the
//! conformance suite reads the block layout instead of the row table.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use historian_model::{DeviceSpec, Reading, RegisterRef};
use historian_store::sqlite::SqliteStore;
use historian_store::{
    AggregateBucket, AuditEntry, AuditQuery, Audited, DeleteOutcome, DeviceAudit, DeviceRecord,
    MaintenanceReport, NewAuditEntry, SeriesKey, StorageFigures, Store, StoreError, TimeRange,
    WriteOutcome,
};

/// The wrapped store; every call goes to it, writes of readings are then compacted.
#[derive(Debug)]
pub struct Compacting(pub SqliteStore);

/// Later than any reading the suite writes.
fn everything() -> DateTime<Utc> {
    DateTime::from_timestamp(4_102_444_800, 0).expect("2100")
}

#[async_trait]
impl Store for Compacting {
    fn backend(&self) -> &'static str {
        self.0.backend()
    }
    async fn write_devices(
        &self,
        devices: &[DeviceSpec],
        disable_others: bool,
    ) -> Result<Vec<DeviceRecord>, StoreError> {
        self.0.write_devices(devices, disable_others).await
    }
    async fn delete_device(&self, name: &str) -> Result<DeleteOutcome, StoreError> {
        self.0.delete_device(name).await
    }
    async fn watch_devices(&self) -> Result<tokio::sync::mpsc::Receiver<()>, StoreError> {
        self.0.watch_devices().await
    }
    async fn write_devices_audited(
        &self,
        devices: &[DeviceSpec],
        disable_others: bool,
        audit: DeviceAudit,
    ) -> Result<Audited<Vec<DeviceRecord>>, StoreError> {
        self.0
            .write_devices_audited(devices, disable_others, audit)
            .await
    }
    async fn delete_device_audited(
        &self,
        name: &str,
        audit: DeviceAudit,
    ) -> Result<Audited<DeleteOutcome>, StoreError> {
        self.0.delete_device_audited(name, audit).await
    }
    async fn append_audit(&self, entry: &NewAuditEntry) -> Result<AuditEntry, StoreError> {
        self.0.append_audit(entry).await
    }
    async fn audit_entries(&self, query: &AuditQuery) -> Result<Vec<AuditEntry>, StoreError> {
        self.0.audit_entries(query).await
    }
    async fn list_devices(&self) -> Result<Vec<DeviceRecord>, StoreError> {
        self.0.list_devices().await
    }
    async fn list_devices_including_removed(&self) -> Result<Vec<DeviceRecord>, StoreError> {
        self.0.list_devices_including_removed().await
    }
    async fn insert_register_readings_batch(
        &self,
        batch: &[Reading],
    ) -> Result<WriteOutcome, StoreError> {
        let out = self.0.insert_register_readings_batch(batch).await?;
        self.0.compact_before(everything()).await?;
        let conn = rusqlite::Connection::open(self.0.path()).expect("open");
        let rows: i64 = conn
            .query_row("SELECT count(*) FROM register_readings", [], |r| r.get(0))
            .expect("count rows");
        assert_eq!(rows, 0, "every reading is in a block");
        Ok(out)
    }
    async fn get_latest_reading(
        &self,
        device_id: i64,
        register: RegisterRef,
    ) -> Result<Option<Reading>, StoreError> {
        self.0.get_latest_reading(device_id, register).await
    }
    async fn get_device_readings_latest(&self, device_id: i64) -> Result<Vec<Reading>, StoreError> {
        self.0.get_device_readings_latest(device_id).await
    }
    async fn get_readings_time_range(
        &self,
        series: SeriesKey,
        range: TimeRange,
        limit: usize,
    ) -> Result<Vec<Reading>, StoreError> {
        self.0.get_readings_time_range(series, range, limit).await
    }
    async fn get_aggregates(
        &self,
        device_id: i64,
        registers: &[RegisterRef],
        range: TimeRange,
        width_secs: u64,
    ) -> Result<Vec<AggregateBucket>, StoreError> {
        self.0
            .get_aggregates(device_id, registers, range, width_secs)
            .await
    }
    async fn run_maintenance(&self, now: DateTime<Utc>) -> Result<MaintenanceReport, StoreError> {
        self.0.run_maintenance(now).await
    }
    async fn storage_figures(&self) -> Result<StorageFigures, StoreError> {
        self.0.storage_figures().await
    }
    async fn count_readings(&self) -> Result<u64, StoreError> {
        self.0.count_readings().await
    }
}
