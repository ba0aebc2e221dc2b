//! Readings on SQLite: batch writes, latest values and range reads, over the row table of
//! recent readings and the compacted blocks together.

use super::blocks;
use super::connection::{SqliteStore, db_err, micros};
use crate::model::{SeriesKey, TimeRange};
use crate::store::{RejectedReading, StoreError, WriteOutcome};
use chrono::DateTime;
use historian_model::{Reading, RegisterRef};
use rusqlite::{Connection, OptionalExtension, Row, params};
use std::collections::{BTreeMap, HashMap, HashSet};
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
            // Readings older than the newest block may already sit in a block: a replay of
            // one is a duplicate, as it would be in the row table.
            let horizon = blocks::horizon(&tx)?;
            let mut in_blocks: HashMap<(i64, u32, i64), HashSet<i64>> = HashMap::new();
            {
                let mut stmt = tx
                    .prepare_cached(
                        "INSERT INTO register_readings (timestamp, device_id, register_address, \
                         value, quality, register_name, data_type, unit, value_text) \
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT DO NOTHING",
                    )
                    .map_err(db_err)?;
                for r in batch {
                    let ts = micros(r.timestamp);
                    if ts < horizon {
                        let key = (
                            r.device_id,
                            r.register_address.reference(),
                            blocks::block_start(ts),
                        );
                        let times = match in_blocks.entry(key) {
                            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                            std::collections::hash_map::Entry::Vacant(v) => {
                                v.insert(block_times(&tx, key)?)
                            }
                        };
                        if times.contains(&ts) {
                            out.duplicates += 1;
                            continue;
                        }
                    }
                    let res = stmt.execute(params![
                        ts,
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

/// The timestamps held by one block (none when there is no block).
fn block_times(
    conn: &Connection,
    (device, reference, start): (i64, u32, i64),
) -> Result<HashSet<i64>, StoreError> {
    let payload: Option<Vec<u8>> = conn
        .prepare_cached(
            "SELECT payload FROM reading_blocks \
             WHERE device_id = ?1 AND register_address = ?2 AND start = ?3",
        )
        .and_then(|mut st| {
            st.query_row(params![device, reference, start], |r| r.get(0))
                .optional()
        })
        .map_err(db_err)?;
    let Some(payload) = payload else {
        return Ok(HashSet::new());
    };
    super::block_codec::decode_times(&payload)
        .map(|t| t.into_iter().collect())
        .map_err(|e| blocks::corrupt(device, i64::from(reference), start)(e.to_string()))
}

/// The newer of a row and a block's newest reading (the block's on a tie: it was first).
fn newer(row: Option<Reading>, block: Option<Reading>) -> Option<Reading> {
    match (row, block) {
        (Some(r), Some(b)) if r.timestamp > b.timestamp => Some(r),
        (r, None) => r,
        (_, b) => b,
    }
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
            let row = stmt
                .query_row(params![device_id, register.reference()], |row| {
                    Ok(reading_from_row(row))
                })
                .optional()
                .map_err(db_err)?
                .transpose()?;
            let reference = i64::from(register.reference());
            let block = match blocks::newest_time(conn, device_id, reference)? {
                Some(last) if row.as_ref().is_some_and(|r| micros(r.timestamp) > last) => None,
                Some(_) => blocks::newest_reading(conn, device_id, register)?,
                None => None,
            };
            Ok(newer(row, block))
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
            let rows = collect_readings(conn, &sql, [device_id])?;
            let mut by_ref: BTreeMap<u32, Reading> = rows
                .into_iter()
                .map(|r| (r.register_address.reference(), r))
                .collect();
            // The newest block of each mapped register, read only where it is newer.
            let mut stmt = conn
                .prepare_cached(
                    "SELECT m.register_address, \
                       (SELECT last_time FROM reading_blocks b \
                        WHERE b.device_id = m.device_id AND b.register_address = m.register_address \
                        ORDER BY b.start DESC LIMIT 1) \
                     FROM device_register_map m WHERE m.device_id = ?1 AND m.removed_at IS NULL",
                )
                .map_err(db_err)?;
            let tails: Vec<(u32, Option<i64>)> = stmt
                .query_map([device_id], |r| Ok((r.get(0)?, r.get(1)?)))
                .map_err(db_err)?
                .collect::<Result<_, _>>()
                .map_err(db_err)?;
            for (reference, last) in tails {
                let Some(last) = last else { continue };
                if by_ref.get(&reference).is_some_and(|r| micros(r.timestamp) > last) {
                    continue;
                }
                let register = RegisterRef::from_reference(reference).map_err(StoreError::Corrupt)?;
                if let Some(b) = blocks::newest_reading(conn, device_id, register)? {
                    by_ref.insert(reference, b);
                }
            }
            Ok(by_ref.into_values().collect())
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
            let (from, to) = (micros(range.start()), micros(range.end()));
            let rows = collect_readings(
                conn,
                &sql,
                params![
                    series.device_id,
                    series.register.reference(),
                    from,
                    to,
                    limit
                ],
            )?;
            let cap = usize::try_from(limit).unwrap_or(usize::MAX);
            let held =
                blocks::readings_between(conn, series.device_id, series.register, from, to, cap)?;
            Ok(merge_by_time(held, rows, cap))
        })
        .await
}

/// Total readings stored.
pub(super) async fn count(store: &SqliteStore) -> Result<u64, StoreError> {
    store
        .read(|conn| {
            let rows: i64 = conn
                .query_row("SELECT count(*) FROM register_readings", [], |r| r.get(0))
                .map_err(db_err)?;
            Ok((rows + blocks::count(conn)?).max(0) as u64)
        })
        .await
}

/// Two time-ordered lists as one, at most `limit`; a time in both keeps `first`'s reading
/// (the block's: it was written first).
fn merge_by_time(first: Vec<Reading>, second: Vec<Reading>, limit: usize) -> Vec<Reading> {
    let mut out = Vec::with_capacity((first.len() + second.len()).min(limit));
    let (mut a, mut b) = (first.into_iter().peekable(), second.into_iter().peekable());
    while out.len() < limit {
        let take_a = match (a.peek(), b.peek()) {
            (None, None) => break,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some(x), Some(y)) => x.timestamp <= y.timestamp,
        };
        let next = if take_a { a.next() } else { b.next() };
        if let Some(r) = next {
            while b.peek().is_some_and(|y| y.timestamp == r.timestamp) {
                b.next();
            }
            out.push(r);
        }
    }
    out
}
