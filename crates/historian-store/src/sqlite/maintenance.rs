//! Upkeep on SQLite: compaction of closed hours into blocks (which writes the hourly and
//! daily roll-ups), then retention in short transactions.

use super::aggregates;
use super::blocks::{self, BLOCK_US};
use super::compactor::{self, Limits};
use super::connection::{SqliteStore, db_err, micros};
use crate::store::{MaintenanceReport, StoreError};
use chrono::{DateTime, Utc};
use rusqlite::params;

/// Rows deleted per retention transaction, so the writer is never held for long.
const RETENTION_CHUNK: i64 = 5_000;

const DAY_US: i64 = 86_400_000_000;

/// Compacts, then deletes what retention no longer keeps.
pub(super) async fn run(
    store: &SqliteStore,
    now: DateTime<Utc>,
) -> Result<MaintenanceReport, StoreError> {
    let now_us = micros(now);
    let keep = chrono::Duration::from_std(store.options.retention).unwrap_or(chrono::Duration::MAX);
    let cutoff = now.checked_sub_signed(keep).map_or(i64::MIN, micros);
    let hourly_cutoff = store
        .options
        .rollup_cutoffs(now)
        .into_iter()
        .find(|(t, _)| *t == "register_readings_hourly")
        .map_or(i64::MIN, |(_, c)| micros(c));
    let limits = Limits {
        upto: now_us,
        raw_cutoff: cutoff,
        hourly_cutoff,
    };
    compact(store, limits).await?;
    let mut deleted = delete_old_rows(store, cutoff).await?;
    deleted += delete_old_blocks(store, cutoff).await?;
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
        time_ranges_summarized: 0,
    })
}

/// Moves every closed hour into blocks; every hour before the roll-up watermarks is then
/// rolled up, so they move to the current hour and day.
pub(super) async fn compact(
    store: &SqliteStore,
    limits: Limits,
) -> Result<compactor::Compacted, StoreError> {
    store.write(|conn| compactor::clear_skips(conn)).await?;
    let done = compactor::compact(store, limits).await?;
    let hour = blocks::block_start(limits.upto);
    let day = limits.upto.div_euclid(DAY_US).saturating_mul(DAY_US);
    for (table, upto) in [
        ("register_readings_hourly", hour),
        ("register_readings_daily", day),
    ] {
        let mark = aggregates::watermark_sql(table);
        store
            .write(move |conn| conn.execute(&mark, [upto]).map_err(db_err))
            .await?;
    }
    Ok(done)
}

/// Deletes rows older than `cutoff`, each series' in chunks, one short transaction at a
/// time, so pollers' batches interleave with retention.
async fn delete_old_rows(store: &SqliteStore, cutoff: i64) -> Result<u64, StoreError> {
    let mut deleted = 0u64;
    let mut after = (i64::MIN, i64::MIN);
    while let Some((device, register)) = store
        .read(move |conn| compactor::next_series(conn, "register_readings", after))
        .await?
    {
        after = (device, register);
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
    Ok(deleted)
}

/// Drops whole blocks that end at or before `cutoff`, one series per transaction; the
/// count returned is of the readings they held.
async fn delete_old_blocks(store: &SqliteStore, cutoff: i64) -> Result<u64, StoreError> {
    let last_start = cutoff.saturating_sub(BLOCK_US);
    let mut deleted = 0u64;
    let mut after = (i64::MIN, i64::MIN);
    while let Some((device, register)) = store
        .read(move |conn| compactor::next_series(conn, "reading_blocks", after))
        .await?
    {
        after = (device, register);
        deleted += store
            .write(move |conn| {
                let tx = conn.transaction().map_err(db_err)?;
                let (dropped, n, bytes): (i64, i64, i64) = tx
                    .query_row(
                        "SELECT count(*), coalesce(sum(readings), 0), \
                         coalesce(sum(length(payload)), 0) FROM reading_blocks \
                         WHERE device_id = ?1 AND register_address = ?2 AND start <= ?3",
                        params![device, register, last_start],
                        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                    )
                    .map_err(db_err)?;
                if dropped > 0 {
                    tx.execute(
                        "DELETE FROM reading_blocks WHERE device_id = ?1 \
                         AND register_address = ?2 AND start <= ?3",
                        params![device, register, last_start],
                    )
                    .map_err(db_err)?;
                    let overhead = blocks::stored_size(0) as i64 * dropped;
                    blocks::add_totals(&tx, -dropped, -n, -(bytes + overhead))?;
                    tx.commit().map_err(db_err)?;
                }
                Ok(n.max(0) as u64)
            })
            .await?;
    }
    Ok(deleted)
}
