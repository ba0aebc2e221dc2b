//! Reading compacted blocks back: which blocks a query touches, and their readings as
//! [`Reading`]s.

use super::block_codec::{self, Attrs, Columns};
use super::connection::db_err;
use crate::store::StoreError;
use chrono::DateTime;
use historian_model::{Reading, RegisterRef};
use rusqlite::{Connection, OptionalExtension, params};

/// Width of a block: one hour in microseconds, aligned to the Unix epoch.
pub const BLOCK_US: i64 = 3_600_000_000;

/// Start of the block holding `ts`.
pub fn block_start(ts: i64) -> i64 {
    ts.div_euclid(BLOCK_US).saturating_mul(BLOCK_US)
}

/// The name under which `rollup_watermarks` keeps the end of the newest block written, so
/// writes of newer readings need not look into blocks.
pub const HORIZON: &str = "reading_blocks";

/// End of the newest block ever written (readings at or after it cannot be in a block).
pub fn horizon(conn: &Connection) -> Result<i64, StoreError> {
    conn.prepare_cached("SELECT upto FROM rollup_watermarks WHERE name = ?1")
        .and_then(|mut st| st.query_row([HORIZON], |r| r.get(0)).optional())
        .map(|v| v.unwrap_or(i64::MIN))
        .map_err(db_err)
}

pub(super) fn corrupt(device_id: i64, register: i64, start: i64) -> impl Fn(String) -> StoreError {
    move |e| StoreError::Corrupt(format!("block ({device_id}, {register}, {start}): {e}"))
}

/// A block's decoded readings.
pub fn decode(
    device_id: i64,
    register: i64,
    start: i64,
    payload: &[u8],
) -> Result<Columns, StoreError> {
    block_codec::decode(payload).map_err(|e| corrupt(device_id, register, start)(e.to_string()))
}

/// The payloads of the blocks of one series overlapping `from <= t < to`, oldest first.
pub fn payloads_between(
    conn: &Connection,
    device_id: i64,
    register: i64,
    from: i64,
    to: i64,
) -> Result<Vec<(i64, Vec<u8>)>, StoreError> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT start, payload FROM reading_blocks WHERE device_id = ?1 \
             AND register_address = ?2 AND start > ?3 AND start < ?4 ORDER BY start",
        )
        .map_err(db_err)?;
    let rows = stmt
        .query_map(
            params![device_id, register, from.saturating_sub(BLOCK_US), to],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .map_err(db_err)?;
    rows.collect::<Result<Vec<_>, _>>().map_err(db_err)
}

/// The time of a series' newest reading held in blocks (the newest block's last).
pub fn newest_time(
    conn: &Connection,
    device_id: i64,
    register: i64,
) -> Result<Option<i64>, StoreError> {
    conn.prepare_cached(
        "SELECT last_time FROM reading_blocks WHERE device_id = ?1 \
         AND register_address = ?2 ORDER BY start DESC LIMIT 1",
    )
    .and_then(|mut st| {
        st.query_row(params![device_id, register], |r| r.get(0))
            .optional()
    })
    .map_err(db_err)
}

/// The newest block of a series: (start, last_time, payload).
fn newest(
    conn: &Connection,
    device_id: i64,
    register: i64,
) -> Result<Option<(i64, i64, Vec<u8>)>, StoreError> {
    conn.prepare_cached(
        "SELECT start, last_time, payload FROM reading_blocks WHERE device_id = ?1 \
         AND register_address = ?2 ORDER BY start DESC LIMIT 1",
    )
    .and_then(|mut st| {
        st.query_row(params![device_id, register], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .optional()
    })
    .map_err(db_err)
}

/// One decoded reading as a [`Reading`].
pub fn to_reading(
    device_id: i64,
    register: RegisterRef,
    time: i64,
    value: Option<f64>,
    attrs: &Attrs,
) -> Result<Reading, StoreError> {
    let corrupt = StoreError::Corrupt;
    Ok(Reading {
        timestamp: DateTime::from_timestamp_micros(time)
            .ok_or_else(|| corrupt(format!("timestamp {time} out of range")))?,
        device_id,
        register_address: register,
        value,
        text: attrs.text.clone(),
        quality: attrs.quality.parse().map_err(corrupt)?,
        register_name: attrs.name.clone(),
        data_type: attrs.data_type.parse().map_err(corrupt)?,
        unit: attrs.unit.clone(),
    })
}

/// The readings of a series' blocks within `from <= t < to`, oldest first, at most `limit`.
pub fn readings_between(
    conn: &Connection,
    device_id: i64,
    register: RegisterRef,
    from: i64,
    to: i64,
    limit: usize,
) -> Result<Vec<Reading>, StoreError> {
    let reference = i64::from(register.reference());
    let mut out = Vec::new();
    for (start, payload) in payloads_between(conn, device_id, reference, from, to)? {
        let cols = decode(device_id, reference, start, &payload)?;
        for ((t, v), a) in cols.times.iter().zip(&cols.values).zip(&cols.attrs) {
            if *t >= from && *t < to {
                if out.len() == limit {
                    return Ok(out);
                }
                out.push(to_reading(device_id, register, *t, *v, a)?);
            }
        }
    }
    Ok(out)
}

/// The newest reading of a series held in blocks.
pub fn newest_reading(
    conn: &Connection,
    device_id: i64,
    register: RegisterRef,
) -> Result<Option<Reading>, StoreError> {
    let reference = i64::from(register.reference());
    let Some((start, last_time, payload)) = newest(conn, device_id, reference)? else {
        return Ok(None);
    };
    let newest = block_codec::decode_newest(&payload)
        .map_err(|e| corrupt(device_id, reference, start)(e.to_string()))?;
    if let Some((value, attrs)) = newest {
        return to_reading(device_id, register, last_time, value, &attrs).map(Some);
    }
    let cols = decode(device_id, reference, start, &payload)?;
    match (cols.times.last(), cols.values.last(), cols.attrs.last()) {
        (Some(t), Some(v), Some(a)) => to_reading(device_id, register, *t, *v, a).map(Some),
        _ => Ok(None),
    }
}

/// Readings stored in blocks.
pub fn count(conn: &Connection) -> Result<i64, StoreError> {
    totals(conn).map(|(_, readings, _)| readings)
}

/// Bytes a block counts for in the totals: its payload plus its key and summary columns.
pub fn stored_size(payload: usize) -> usize {
    payload + 96
}

/// Adds to the running totals of the blocks (negative numbers take away).
pub fn add_totals(
    conn: &Connection,
    blocks: i64,
    readings: i64,
    bytes: i64,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "UPDATE reading_block_totals SET blocks = blocks + ?1, readings = readings + ?2, \
         bytes = bytes + ?3 WHERE id = 1",
    )
    .and_then(|mut st| st.execute(params![blocks, readings, bytes]))
    .map(drop)
    .map_err(db_err)
}

/// (blocks, readings, bytes) of all blocks.
pub fn totals(conn: &Connection) -> Result<(i64, i64, i64), StoreError> {
    conn.query_row(
        "SELECT blocks, readings, bytes FROM reading_block_totals WHERE id = 1",
        [],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )
    .map_err(db_err)
}
