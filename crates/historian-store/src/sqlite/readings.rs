//! Readings on SQLite: batch writes, latest values and range reads.

use super::connection::{SqliteStore, db_err, micros};
use crate::model::{SeriesKey, TimeRange};
use crate::store::{RejectedReading, StoreError, WriteOutcome};
use chrono::DateTime;
use historian_model::{Reading, RegisterRef};
use rusqlite::{Connection, OptionalExtension, Row, params};
use std::sync::Arc;

const READING_COLUMNS: &str = "r.timestamp, r.device_id, r.register_address, r.value, r.quality, \
                               r.register_name, r.data_type, r.unit, r.value_text";

fn reading_from_row(row: &Row<'_>) -> Result<Reading, StoreError> {
    let corrupt = |what: String| StoreError::Corrupt(what);
    let ts: i64 = row.get(0).map_err(db_err)?;
    let reference: u32 = row.get(2).map_err(db_err)?;
    let quality: String = row.get(4).map_err(db_err)?;
    let data_type: String = row.get(6).map_err(db_err)?;
    let name: String = row.get(5).map_err(db_err)?;
    let unit: String = row.get(7).map_err(db_err)?;
    Ok(Reading {
        timestamp: DateTime::from_timestamp_micros(ts)
            .ok_or_else(|| corrupt(format!("timestamp {ts} out of range")))?,
        device_id: row.get(1).map_err(db_err)?,
        register_address: RegisterRef::from_reference(reference).map_err(corrupt)?,
        value: row.get(3).map_err(db_err)?,
        text: row
            .get::<_, Option<String>>(8)
            .map_err(db_err)?
            .map(Arc::from),
        quality: quality.parse().map_err(corrupt)?,
        register_name: name.into(),
        data_type: data_type.parse().map_err(corrupt)?,
        unit: unit.into(),
    })
}

fn collect_readings(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> Result<Vec<Reading>, StoreError> {
    let mut stmt = conn.prepare_cached(sql).map_err(db_err)?;
    let mut rows = stmt.query(params).map_err(db_err)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(db_err)? {
        out.push(reading_from_row(row)?);
    }
    Ok(out)
}

/// Stores a batch in one transaction; rows of unknown devices are refused one by one.
pub(super) async fn insert_batch(
    store: &SqliteStore,
    batch: &[Reading],
) -> Result<WriteOutcome, StoreError> {
    if batch.is_empty() {
        return Ok(WriteOutcome::default());
    }
    let batch = batch.to_vec();
    store
        .write(move |conn| {
            let tx = conn.transaction().map_err(db_err)?;
            let mut out = WriteOutcome::default();
            {
                let mut stmt = tx
                    .prepare_cached(
                        "INSERT INTO register_readings (timestamp, device_id, register_address, \
                         value, quality, register_name, data_type, unit, value_text) \
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT DO NOTHING",
                    )
                    .map_err(db_err)?;
                for r in batch {
                    let res = stmt.execute(params![
                        micros(r.timestamp),
                        r.device_id,
                        r.register_address.reference(),
                        r.value,
                        r.quality.as_str(),
                        &*r.register_name,
                        r.data_type.as_str(),
                        &*r.unit,
                        r.text.as_deref()
                    ]);
                    match res {
                        Ok(1) => out.inserted += 1,
                        Ok(_) => out.duplicates += 1,
                        // A failed statement is undone on its own; the transaction goes on.
                        Err(rusqlite::Error::SqliteFailure(e, _))
                            if e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY =>
                        {
                            out.rejected.push(RejectedReading {
                                reason: format!("unknown device id {}", r.device_id),
                                reading: r,
                            });
                        }
                        Err(e) => return Err(db_err(e)),
                    }
                }
            }
            tx.commit().map_err(db_err)?;
            Ok(out)
        })
        .await
}

/// The newest reading of one register.
pub(super) async fn latest(
    store: &SqliteStore,
    device_id: i64,
    register: RegisterRef,
) -> Result<Option<Reading>, StoreError> {
    store
        .read(move |conn| {
            let sql = format!(
                "SELECT {READING_COLUMNS} FROM register_readings r \
                 WHERE r.device_id = ?1 AND r.register_address = ?2 \
                 ORDER BY r.timestamp DESC LIMIT 1"
            );
            let mut stmt = conn.prepare_cached(&sql).map_err(db_err)?;
            stmt.query_row(params![device_id, register.reference()], |row| {
                Ok(reading_from_row(row))
            })
            .optional()
            .map_err(db_err)?
            .transpose()
        })
        .await
}

/// The newest reading of every mapped register of a device.
pub(super) async fn device_latest(
    store: &SqliteStore,
    device_id: i64,
) -> Result<Vec<Reading>, StoreError> {
    store
        .read(move |conn| {
            // One index seek per mapped register instead of a scan of the device's history.
            let sql = format!(
                "SELECT {READING_COLUMNS} FROM device_register_map m \
                 JOIN register_readings r ON r.device_id = m.device_id \
                  AND r.register_address = m.register_address \
                  AND r.timestamp = (SELECT max(timestamp) FROM register_readings x \
                       WHERE x.device_id = m.device_id AND x.register_address = m.register_address) \
                 WHERE m.device_id = ?1 AND m.removed_at IS NULL ORDER BY m.register_address"
            );
            collect_readings(conn, &sql, [device_id])
        })
        .await
}

/// One series' readings within `range`, oldest first, at most `limit`.
pub(super) async fn range(
    store: &SqliteStore,
    series: SeriesKey,
    range: TimeRange,
    limit: usize,
) -> Result<Vec<Reading>, StoreError> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    store
        .read(move |conn| {
            let sql = format!(
                "SELECT {READING_COLUMNS} FROM register_readings r \
                 WHERE r.device_id = ?1 AND r.register_address = ?2 \
                   AND r.timestamp >= ?3 AND r.timestamp < ?4 \
                 ORDER BY r.timestamp LIMIT ?5"
            );
            collect_readings(
                conn,
                &sql,
                params![
                    series.device_id,
                    series.register.reference(),
                    micros(range.start()),
                    micros(range.end()),
                    limit
                ],
            )
        })
        .await
}

/// Total readings stored.
pub(super) async fn count(store: &SqliteStore) -> Result<u64, StoreError> {
    store
        .read(|conn| {
            conn.query_row("SELECT count(*) FROM register_readings", [], |r| {
                r.get::<_, i64>(0)
            })
            .map(|n| n.max(0) as u64)
            .map_err(db_err)
        })
        .await
}
