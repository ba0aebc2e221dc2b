//! Upkeep on PostgreSQL: TimescaleDB's policies do it themselves; plain PostgreSQL gets
//! partitions ahead, roll-ups, then retention. Both get the check for readings whose
//! device is gone.

use super::connection::{PgMode, PostgresStore, db_err};
use super::{aggregates, late, migrations, plain};
use crate::store::{MaintenanceReport, StoreError};
use chrono::{DateTime, Utc};
use tokio_postgres::Client;

/// How far back the orphan check looks. Deleting a device with readings is refused, so
/// orphans arise only from a batch written while its device was deleted: they are new.
const ORPHAN_WINDOW: chrono::Duration = chrono::Duration::days(2);

/// Device ids with readings since `since` that no device has, in a loose index scan of
/// the key (one probe per distinct device, not one row per reading).
const ORPHANS_SQL: &str = "\
    WITH RECURSIVE ids AS ( \
        (SELECT device_id FROM readings WHERE \"timestamp\" >= $1 \
         ORDER BY device_id LIMIT 1) \
        UNION ALL \
        SELECT (SELECT r.device_id FROM readings r \
                WHERE r.\"timestamp\" >= $1 AND r.device_id > ids.device_id \
                ORDER BY r.device_id LIMIT 1) \
        FROM ids WHERE ids.device_id IS NOT NULL) \
    SELECT device_id FROM ids \
    WHERE device_id IS NOT NULL \
      AND NOT EXISTS (SELECT 1 FROM devices d WHERE d.id = ids.device_id) \
    ORDER BY device_id";

/// Brings the BRIN summaries of time of the chunks that still take readings up to date
/// (they are not summarised as each range fills: migration V027); returns the ranges
/// summarised.
const SUMMARIZE_RECENT_CHUNKS: &str = "\
    SELECT historian_summarize_time_ranges(ARRAY( \
        SELECT format('%I.%I', chunk_schema, chunk_name)::regclass \
        FROM timescaledb_information.chunks \
        WHERE hypertable_name = 'readings' AND NOT is_compressed AND range_end > $1))";

async fn orphaned_devices(client: &Client, now: DateTime<Utc>) -> Result<Vec<i64>, StoreError> {
    let rows = client
        .query(ORPHANS_SQL, &[&(now - ORPHAN_WINDOW)])
        .await
        .map_err(db_err)?;
    let ids = rows
        .iter()
        .map(|r| r.try_get(0).map_err(db_err))
        .collect::<Result<Vec<i64>, _>>()?;
    if !ids.is_empty() {
        tracing::warn!(
            devices = ?ids,
            "readings of devices that no longer exist (deleted while a batch was written)"
        );
    }
    Ok(ids)
}

/// Partitions ahead, roll-ups and retention where the database does not do them.
pub(super) async fn run(
    store: &PostgresStore,
    now: DateTime<Utc>,
) -> Result<MaintenanceReport, StoreError> {
    let mut client = store.client().await?;
    let orphaned_devices = orphaned_devices(&client, now).await?;
    match store.mode {
        // TimescaleDB's own policies compress, drop chunks and refresh aggregates.
        // TimescaleDB's own policies compress, drop chunks and refresh aggregates, but
        // only over recent days: hours marked by late batches are refreshed here.
        PgMode::TimescaleDb { .. } => {
            let hours = late::refresh_timescale(&client).await?;
            if hours > 0 {
                tracing::info!(hours, "continuous aggregates refreshed for late readings");
            }
            let summarized: i64 = client
                .query_one(
                    SUMMARIZE_RECENT_CHUNKS,
                    &[&(now - chrono::Duration::days(2))],
                )
                .await
                .map_err(db_err)?
                .try_get(0)
                .map_err(db_err)?;
            Ok(MaintenanceReport {
                orphaned_devices,
                time_ranges_summarized: u64::try_from(summarized).unwrap_or(0),
                ..MaintenanceReport::default()
            })
        }
        PgMode::Plain { .. } => {
            // Under the schema lock: historians sharing the database would otherwise race
            // to create the same partition.
            migrations::lock_schema(&client).await?;
            let prepared = plain::prepare(&client, now).await;
            migrations::unlock_schema(&client).await?;
            let time_ranges_summarized = prepared?;
            let keep = chrono::Duration::from_std(store.options.retention)
                .unwrap_or(chrono::Duration::MAX);
            // Roll up before retention, so no reading leaves before it is rolled up.
            aggregates::roll_up(&client, now).await?;
            if let Some(upto) = late::stored_watermark(&client).await? {
                store.saw_rollup_watermark(upto);
            }
            let hours = late::recompute_plain(&mut client).await?;
            if hours > 0 {
                tracing::info!(hours, "roll-ups recomputed for late readings");
            }
            let (partitions_dropped, mut rows_deleted) =
                plain::apply_retention(&client, now - keep).await?;
            for (table, cutoff) in store.options.rollup_cutoffs(now) {
                rows_deleted += client
                    .execute(
                        &format!("DELETE FROM {table} WHERE bucket < $1"),
                        &[&cutoff],
                    )
                    .await
                    .map_err(db_err)?;
            }
            Ok(MaintenanceReport {
                partitions_dropped,
                rows_deleted,
                orphaned_devices,
                time_ranges_summarized,
            })
        }
    }
}
