//! The production backend: PostgreSQL, with TimescaleDB when the server offers it.

mod aggregates;
mod audit_log;
mod columns;
mod connection;
mod copy;
mod db_error;
mod devices;
mod figures;
mod late;
mod leases;
mod maintenance;
mod migrations;
mod new_devices;
mod plain;
mod readings;
mod replica;
mod routing;
mod session;
mod texts;
mod timescale;
pub(crate) mod tls;
mod watch;

/// Encodes rows as a binary `COPY` body (exposed for the micro-benchmark).
pub use copy::encode_rows as encode_copy_rows;
pub use leases::{
    ClusterView, HeartbeatOutcome, HeartbeatRequest, HeldLease, LeaseChange, LeaseSession,
    NodeInfo, NodeRow, OwnerChange,
};
pub use migrations::migrate_to;
pub use readings::series_sql;
pub use tls::{PgLink, SslMode};

use crate::audit::{AuditEntry, AuditQuery, Audited, DeviceAudit, NewAuditEntry};
use crate::model::{
    AggregateBucket, DeviceRecord, SeriesKey, SeriesPoint, StorageFigures, TimeRange,
};
use crate::options::{StoreOptions, TimescaleMode};
use crate::store::{DeleteOutcome, MaintenanceReport, Store, StoreError, WriteOutcome};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use deadpool_postgres::{Hook, Manager, ManagerConfig, Pool, RecyclingMethod};
use historian_model::{DeviceSpec, Reading, RegisterRef};
use std::collections::HashSet;
use std::sync::RwLock;

use connection::*;
pub use connection::{PgMode, PostgresStore};
impl PostgresStore {
    /// Connects, applies pending migrations, and prepares TimescaleDB objects and policies
    /// (or plain partitions) as `options` say.
    pub async fn open(url: &str, options: &StoreOptions) -> Result<Self, StoreError> {
        let link = PgLink::new(url)?;
        let mut client = link.connect().await?;
        migrations::lock_schema(&client).await?;
        let prepared = prepare(&mut client, options).await;
        migrations::unlock_schema(&client).await?;
        let mode = prepared?;
        let session_setup =
            session::wal_compression_statement(&client, options.wal_compression).await?;

        let manager = Manager::from_config(
            link.config().clone(),
            link.tls(),
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let mut pool = Pool::builder(manager).max_size(POOL_SIZE);
        if let Some(statement) = session_setup {
            pool = pool.post_create(Hook::async_fn(move |client, _| {
                let statement = statement.clone();
                Box::pin(async move {
                    // A session that cannot take the setting still stores readings.
                    if let Err(e) = client.batch_execute(&statement).await {
                        tracing::warn!(statement, error = %e, "session setting refused");
                    }
                    Ok(())
                })
            }));
        }
        let pool = pool
            .build()
            .map_err(|e| StoreError::open("PostgreSQL pool", e))?;
        let store = Self {
            pool,
            mode,
            options: options.clone(),
            device_ids: RwLock::new(HashSet::new()),
            link,
            replica: options
                .read_replica
                .as_ref()
                .map(|r| replica::Replica::open(r, POOL_SIZE))
                .transpose()?,
            rollup_watermark: std::sync::atomic::AtomicI64::new(i64::MIN),
        };
        if matches!(store.mode, PgMode::Plain { .. })
            && let Some(upto) = late::stored_watermark(&client).await?
        {
            store.saw_rollup_watermark(upto);
        }
        devices::refresh_ids(&store).await?;
        Ok(store)
    }
}

/// Migrates the schema and brings TimescaleDB objects and policies (or plain partitions)
/// in line with `options`; the caller holds the schema lock.
async fn prepare(
    client: &mut tokio_postgres::Client,
    options: &StoreOptions,
) -> Result<PgMode, StoreError> {
    migrations::apply(client, options, None).await?;
    let mode = detect_mode(client, options.timescaledb).await?;
    match &mode {
        PgMode::TimescaleDb { version } => {
            tracing::info!(version, "storage mode: TimescaleDB hypertable");
            timescale::prepare(client, options).await?;
        }
        PgMode::Plain { reason } => {
            if options.timescaledb == TimescaleMode::Required {
                return Err(StoreError::Open {
                    what: "TimescaleDB".into(),
                    reason: format!("required but not in use: {reason}"),
                    source: None,
                });
            }
            tracing::info!(reason, "storage mode: plain PostgreSQL (daily partitions)");
            plain::prepare(client, Utc::now()).await?;
        }
    }
    Ok(mode)
}

async fn detect_mode(
    client: &tokio_postgres::Client,
    wanted: TimescaleMode,
) -> Result<PgMode, StoreError> {
    let row = client
        .query_one(
            "SELECT \
               (SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'), \
               EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'), \
               (SELECT relkind::text FROM pg_class WHERE oid = 'readings'::regclass)",
            &[],
        )
        .await
        .map_err(db_err)?;
    let installed: Option<String> = row.try_get(0).map_err(db_err)?;
    let available: bool = row.try_get(1).map_err(db_err)?;
    let relkind: Option<String> = row.try_get(2).map_err(db_err)?;
    let partitioned = relkind.as_deref() == Some("p");
    Ok(match installed {
        Some(version) if !partitioned => PgMode::TimescaleDb { version },
        Some(_) => PgMode::Plain {
            reason: "readings was created as a plain partitioned table before \
                     TimescaleDB was in use; converting it needs a manual migration"
                .into(),
        },
        None if wanted == TimescaleMode::Off => PgMode::Plain {
            reason: "disabled by storage.timescaledb = \"off\"".into(),
        },
        None if available => PgMode::Plain {
            reason: "the server offers timescaledb but it cannot be created: it is not in \
                     shared_preload_libraries (CREATE EXTENSION failed or was not tried)"
                .into(),
        },
        None => PgMode::Plain {
            reason: "the server does not offer the timescaledb extension".into(),
        },
    })
}

#[async_trait]
impl Store for PostgresStore {
    fn backend(&self) -> &'static str {
        match self.mode {
            PgMode::TimescaleDb { .. } => "timescaledb",
            PgMode::Plain { .. } => "postgres",
        }
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

    async fn get_readings_time_ranges(
        &self,
        requests: &[(SeriesKey, TimeRange)],
        limit_each: usize,
    ) -> Result<Vec<Vec<Reading>>, StoreError> {
        readings::ranges(self, requests, limit_each).await
    }

    async fn get_series(
        &self,
        series: SeriesKey,
        range: TimeRange,
        limit: usize,
    ) -> Result<Vec<SeriesPoint>, StoreError> {
        readings::series(self, series, range, limit).await
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

    fn read_replica(&self) -> Option<crate::model::ReplicaStatus> {
        self.replica_status()
    }
}
