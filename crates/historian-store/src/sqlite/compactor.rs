//! The compactor: moves each register's closed hours out of `register_readings` into one
//! block each. One hour is one transaction (read its rows, merge them into the hour's
//! block if there is one, write the block and its hourly and daily roll-ups, delete the
//! rows), so an interrupted run loses nothing and the next run resumes where it stopped;
//! the same path upgrades a database whose history is all rows.

use super::aggregates;
use super::block_codec::{self, Attrs, Columns};
use super::blocks::{self, BLOCK_US, HORIZON};
use super::connection::{SqliteStore, db_err};
use crate::store::StoreError;
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use std::sync::Arc;

const DAY_US: i64 = 86_400_000_000;

/// What one compaction run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Compacted {
    /// Blocks written (new or merged).
    pub blocks: u64,
    /// Rows moved from `register_readings` into blocks.
    pub readings: u64,
}

/// Where the compactor must not touch an hour: hours ending at or before `raw_cutoff`
/// that were already rolled up (late rows there are left to retention, since their hour's
/// block is gone and its roll-up cannot be rebuilt from them); daily roll-ups of days before
/// `hourly_cutoff` are not rebuilt from hourly rows that retention may have thinned.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Compact rows older than this (exclusive end of the last hour compacted).
    pub upto: i64,
    /// Raw retention's cutoff.
    pub raw_cutoff: i64,
    /// Hourly roll-up retention's cutoff.
    pub hourly_cutoff: i64,
}

/// Compacts every hour of every series that lies wholly before `limits.upto`.
pub(super) async fn compact(store: &SqliteStore, limits: Limits) -> Result<Compacted, StoreError> {
    let upto = blocks::block_start(limits.upto);
    let mut done = Compacted::default();
    let mut after = (i64::MIN, i64::MIN);
    while let Some(series) = store
        .read(move |conn| next_series(conn, "register_readings", after))
        .await?
    {
        after = series;
        loop {
            // One hour per call on the writer: batches of new readings interleave.
            let step = store
                .write(move |conn| compact_next_hour(conn, series, upto, limits))
                .await?;
            match step {
                Step::Done => break,
                Step::Skipped => {}
                Step::Moved(n) => {
                    done.blocks += 1;
                    done.readings += n;
                }
            }
        }
    }
    Ok(done)
}

enum Step {
    Done,
    Skipped,
    Moved(u64),
}

/// The series after `after` with rows in `table`, in key order (a seek, not a scan).
pub(super) fn next_series(
    conn: &Connection,
    table: &str,
    after: (i64, i64),
) -> Result<Option<(i64, i64)>, StoreError> {
    conn.prepare_cached(&format!(
        "SELECT device_id, register_address FROM {table} \
         WHERE (device_id, register_address) > (?1, ?2) \
         ORDER BY device_id, register_address LIMIT 1"
    ))
    .and_then(|mut st| {
        st.query_row(params![after.0, after.1], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()
    })
    .map_err(db_err)
}

/// Compacts the oldest hour of `series` before `upto`, or skips it when retention owns it.
fn compact_next_hour(
    conn: &mut Connection,
    (device, register): (i64, i64),
    upto: i64,
    limits: Limits,
) -> Result<Step, StoreError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(db_err)?;
    // Skipped hours are passed by starting after them.
    let oldest: Option<i64> = tx
        .prepare_cached(
            "SELECT min(timestamp) FROM register_readings \
             WHERE device_id = ?1 AND register_address = ?2 AND timestamp >= ?3",
        )
        .and_then(|mut st| {
            st.query_row(
                params![device, register, skip_from(&tx, device, register)?],
                |r| r.get(0),
            )
        })
        .map_err(db_err)?;
    let Some(oldest) = oldest else {
        return Ok(Step::Done);
    };
    let start = blocks::block_start(oldest);
    if start >= upto {
        return Ok(Step::Done);
    }
    let end = start.saturating_add(BLOCK_US);
    if end <= limits.raw_cutoff && rolled_up(&tx, device, register, start)? {
        set_skip(&tx, device, register, end)?;
        tx.commit().map_err(db_err)?;
        return Ok(Step::Skipped);
    }
    let fresh = hot_rows(&tx, device, register, start, end)?;
    let moved = fresh.len() as u64;
    let existing: Option<Vec<u8>> = tx
        .prepare_cached(
            "SELECT payload FROM reading_blocks \
             WHERE device_id = ?1 AND register_address = ?2 AND start = ?3",
        )
        .and_then(|mut st| {
            st.query_row(params![device, register, start], |r| r.get(0))
                .optional()
        })
        .map_err(db_err)?;
    let (merged, before) = match existing {
        Some(payload) => {
            let old = blocks::decode(device, register, start, &payload)?;
            let before = (old.len() as i64, blocks::stored_size(payload.len()) as i64);
            (old.merge(fresh), Some(before))
        }
        None => (fresh, None),
    };
    let bytes = write_block(&tx, device, register, start, &merged)?;
    let (old_readings, old_bytes) = before.unwrap_or((0, 0));
    blocks::add_totals(
        &tx,
        i64::from(before.is_none()),
        merged.len() as i64 - old_readings,
        bytes as i64 - old_bytes,
    )?;
    tx.prepare_cached(
        "DELETE FROM register_readings WHERE device_id = ?1 AND register_address = ?2 \
         AND timestamp >= ?3 AND timestamp < ?4",
    )
    .and_then(|mut st| st.execute(params![device, register, start, end]))
    .map_err(db_err)?;
    roll_up(&tx, device, register, start, &merged, limits)?;
    tx.prepare_cached(
        "INSERT INTO rollup_watermarks (name, upto) VALUES (?1, ?2) \
         ON CONFLICT (name) DO UPDATE SET upto = max(upto, excluded.upto)",
    )
    .and_then(|mut st| st.execute(params![HORIZON, end]))
    .map_err(db_err)?;
    tx.commit().map_err(db_err)?;
    Ok(Step::Moved(moved))
}

/// Rows left to retention are stepped over within one run only: the mark lives in the
/// connection's temporary schema, so nothing of it outlasts the process.
fn skip_from(conn: &Connection, device: i64, register: i64) -> rusqlite::Result<i64> {
    conn.prepare_cached(
        "SELECT upto FROM temp.compaction_skips WHERE device_id = ?1 AND register_address = ?2",
    )?
    .query_row(params![device, register], |r| r.get(0))
    .optional()
    .map(|v| v.unwrap_or(i64::MIN))
}

fn set_skip(conn: &Connection, device: i64, register: i64, upto: i64) -> Result<(), StoreError> {
    conn.prepare_cached("INSERT OR REPLACE INTO temp.compaction_skips VALUES (?1, ?2, ?3)")
        .and_then(|mut st| st.execute(params![device, register, upto]))
        .map(drop)
        .map_err(db_err)
}

/// Forgets the hours stepped over, at the start of a run.
pub(super) fn clear_skips(conn: &Connection) -> Result<(), StoreError> {
    conn.execute_batch(
        "DROP TABLE IF EXISTS temp.compaction_skips; \
         CREATE TEMP TABLE compaction_skips (device_id INTEGER, register_address INTEGER, \
           upto INTEGER, PRIMARY KEY (device_id, register_address));",
    )
    .map_err(db_err)
}

fn rolled_up(
    conn: &Connection,
    device: i64,
    register: i64,
    start: i64,
) -> Result<bool, StoreError> {
    conn.prepare_cached(
        "SELECT 1 FROM register_readings_hourly \
         WHERE device_id = ?1 AND register_address = ?2 AND bucket = ?3",
    )
    .and_then(|mut st| st.exists(params![device, register, start]))
    .map_err(db_err)
}

/// The hour's rows, oldest first; equal labels share one allocation.
fn hot_rows(
    conn: &Connection,
    device: i64,
    register: i64,
    start: i64,
    end: i64,
) -> Result<Columns, StoreError> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT timestamp, value, quality, value_text, register_name, data_type, unit \
             FROM register_readings WHERE device_id = ?1 AND register_address = ?2 \
             AND timestamp >= ?3 AND timestamp < ?4 ORDER BY timestamp",
        )
        .map_err(db_err)?;
    let mut rows = stmt
        .query(params![device, register, start, end])
        .map_err(db_err)?;
    let mut cols = Columns::default();
    let mut last: Option<Attrs> = None;
    while let Some(row) = rows.next().map_err(db_err)? {
        let t: i64 = row.get(0).map_err(db_err)?;
        let v: Option<f64> = row.get(1).map_err(db_err)?;
        let text = |i: usize| -> Result<Option<&str>, StoreError> {
            match row.get_ref(i).map_err(db_err)? {
                ValueRef::Null => Ok(None),
                ValueRef::Text(b) => std::str::from_utf8(b)
                    .map(Some)
                    .map_err(|e| StoreError::Corrupt(format!("reading at {t}: {e}"))),
                other => Err(StoreError::Corrupt(format!(
                    "reading at {t}: column {i} holds {:?}",
                    other.data_type()
                ))),
            }
        };
        let (q, txt, name, ty, unit) = (text(2)?, text(3)?, text(4)?, text(5)?, text(6)?);
        let same = last.as_ref().is_some_and(|a| {
            Some(&*a.quality) == q
                && a.text.as_deref() == txt
                && Some(&*a.name) == name
                && Some(&*a.data_type) == ty
                && Some(&*a.unit) == unit
        });
        if !same {
            let s = |v: Option<&str>| Arc::<str>::from(v.unwrap_or_default());
            last = Some(Attrs {
                quality: s(q),
                text: txt.map(Arc::from),
                name: s(name),
                data_type: s(ty),
                unit: s(unit),
            });
        }
        if let Some(a) = &last {
            cols.push(t, v, a.clone());
        }
    }
    Ok(cols)
}

/// Writes the block; returns the bytes it counts for in the totals.
fn write_block(
    conn: &Connection,
    device: i64,
    register: i64,
    start: i64,
    cols: &Columns,
) -> Result<usize, StoreError> {
    if cols.is_empty() {
        return Ok(0);
    }
    let payload = block_codec::encode(cols)
        .map_err(|e| blocks::corrupt(device, register, start)(e.to_string()))?;
    let s = cols.summary();
    let (Some(first_time), Some(last_time)) = (cols.times.first(), cols.times.last()) else {
        return Ok(0);
    };
    let size = blocks::stored_size(payload.len());
    conn.prepare_cached(
        "INSERT OR REPLACE INTO reading_blocks (device_id, register_address, start, \
         first_time, last_time, readings, count, min, max, sum, first, last, payload) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
    )
    .and_then(|mut st| {
        st.execute(params![
            device,
            register,
            start,
            first_time,
            last_time,
            cols.len() as i64,
            s.count,
            s.min,
            s.max,
            s.sum,
            s.first,
            s.last,
            payload
        ])
    })
    .map(|_| size)
    .map_err(db_err)
}

/// The hour's roll-up is the block's summary; its day is rebuilt from its hours.
fn roll_up(
    conn: &Connection,
    device: i64,
    register: i64,
    start: i64,
    cols: &Columns,
    limits: Limits,
) -> Result<(), StoreError> {
    let s = cols.summary();
    let avg = s
        .sum
        .filter(|_| s.count > 0)
        .map(|sum| sum / s.count as f64);
    conn.prepare_cached(
        "INSERT OR REPLACE INTO register_readings_hourly \
         (bucket, device_id, register_address, avg, min, max, count, first, last) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )
    .and_then(|mut st| {
        st.execute(params![
            start, device, register, avg, s.min, s.max, s.count, s.first, s.last
        ])
    })
    .map_err(db_err)?;
    let day = start.div_euclid(DAY_US).saturating_mul(DAY_US);
    if day >= limits.hourly_cutoff {
        let sql = aggregates::roll_up_register_sql(
            "register_readings_daily",
            "register_readings_hourly",
            DAY_US,
        );
        conn.prepare_cached(&sql)
            .and_then(|mut st| {
                st.execute(params![device, register, day, day.saturating_add(DAY_US)])
            })
            .map_err(db_err)?;
    }
    Ok(())
}
