//! Upkeep on SQLite: roll-ups, then retention in short transactions.

use super::aggregates;
use super::connection::{SqliteStore, db_err, micros};
use crate::store::{MaintenanceReport, StoreError};
use chrono::{DateTime, Utc};
use rusqlite::params;
use std::sync::Arc;

/// Rows deleted per retention transaction, so the writer is never held for long.
const RETENTION_CHUNK: i64 = 5_000;

/// Rolls up, then deletes what retention no longer keeps.
pub(super) async fn run(
    store: &SqliteStore,
    now: DateTime<Utc>,
) -> Result<MaintenanceReport, StoreError> {
    const HOUR_US: i64 = 3_600_000_000;
    const DAY_US: i64 = 24 * HOUR_US;
    let now_us = micros(now);
    let pairs = mapped_registers(store).await?;
    let rollups = [
        (
            "register_readings_hourly",
            "register_readings",
            HOUR_US,
            2 * HOUR_US,
        ),
        (
            "register_readings_daily",
            "register_readings_hourly",
            DAY_US,
            2 * DAY_US,
        ),
    ];
    for (table, source, width, lookback) in rollups {
        let upto = now_us.div_euclid(width) * width;
        let start_sql = aggregates::roll_up_start_sql(table, lookback);
        let from: i64 = store
            .read(move |conn| conn.query_row(&start_sql, [], |r| r.get(0)).map_err(db_err))
            .await?;
        // One short transaction per register, so batches of new readings interleave
        // with the roll-up instead of waiting for all of it.
        let roll = Arc::new(aggregates::roll_up_register_sql(table, source, width));
        for &(device, register) in &pairs {
            let roll = Arc::clone(&roll);
            store
                .write(move |conn| {
                    conn.prepare_cached(&roll)
                        .and_then(|mut st| st.execute(params![device, register, from, upto]))
                        .map_err(db_err)
                })
                .await?;
        }
        let mark = aggregates::watermark_sql(table);
        store
            .write(move |conn| conn.execute(&mark, [upto]).map_err(db_err))
            .await?;
    }
    let keep = chrono::Duration::from_std(store.options.retention).unwrap_or(chrono::Duration::MAX);
    let cutoff = micros(now - keep);
    // Each register's history is one key range: delete it chunk by chunk, one short
    // transaction at a time, so pollers' batches interleave with retention.
    let mut deleted = 0u64;
    for &(device, register) in &pairs {
        loop {
            let n = store
                .write(move |conn| {
                    conn.execute(
                        "DELETE FROM register_readings WHERE device_id = ?1 \
                         AND register_address = ?2 AND timestamp IN \
                         (SELECT timestamp FROM register_readings WHERE device_id = ?1 \
                          AND register_address = ?2 AND timestamp < ?3 LIMIT ?4)",
                        params![device, register, cutoff, RETENTION_CHUNK],
                    )
                    .map_err(db_err)
                })
                .await?;
            deleted += n as u64;
            if (n as i64) < RETENTION_CHUNK {
                break;
            }
        }
    }
    for (table, cutoff) in store.options.rollup_cutoffs(now) {
        let cutoff = micros(cutoff);
        deleted += store
            .write(move |conn| {
                conn.execute(&format!("DELETE FROM {table} WHERE bucket < ?1"), [cutoff])
                    .map_err(db_err)
            })
            .await? as u64;
    }
    Ok(MaintenanceReport {
        partitions_dropped: Vec::new(),
        rows_deleted: deleted,
        // The foreign key from readings to devices is enforced here (it costs SQLite a
        // probe of a small cached B-tree per row), so no reading can outlive its device.
        orphaned_devices: Vec::new(),
    })
}

/// (device id, register reference) of every mapped register.
async fn mapped_registers(store: &SqliteStore) -> Result<Vec<(i64, i64)>, StoreError> {
    store
        .read(|conn| {
            let mut stmt = conn
                .prepare(
                    "SELECT DISTINCT device_id, register_address FROM device_register_map \
                     ORDER BY 1, 2",
                )
                .map_err(db_err)?;
            let rows = stmt
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                .map_err(db_err)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(db_err)
        })
        .await
}
