//! Bucketed aggregates and roll-ups on SQLite. Every source is first turned into
//! sub-buckets (time, register, sum, min, max, count, first, last): a raw reading is a
//! sub-bucket of one value, a roll-up row or a block's summary a sub-bucket of many. The
//! sub-buckets are then merged into buckets of any width, so raw rows, blocks, roll-ups
//! and their mix are aggregated the same way. A block is decoded only when it straddles a
//! bucket or the range.

use super::blocks::{self, BLOCK_US};
use super::connection::{SqliteStore, db_err, micros};
use crate::model::{AggregateBucket, AggregateSource, TimeRange};
use crate::store::StoreError;
use chrono::DateTime;
use historian_model::RegisterRef;
use rusqlite::{Connection, params};

/// Part of a bucket: `sum` is of the non-null values, `count` how many there are.
#[derive(Debug, Clone, Copy)]
struct Sub {
    register: u32,
    t: i64,
    sum: Option<f64>,
    min: Option<f64>,
    max: Option<f64>,
    count: i64,
    first: Option<f64>,
    last: Option<f64>,
}

impl Sub {
    fn value(register: u32, t: i64, v: Option<f64>) -> Sub {
        Sub {
            register,
            t,
            sum: v,
            min: v,
            max: v,
            count: i64::from(v.is_some()),
            first: v,
            last: v,
        }
    }
}

fn watermark(table: &str) -> String {
    format!(
        "coalesce((SELECT upto FROM rollup_watermarks WHERE name = '{table}'), -9223372036854775807)"
    )
}

/// Rolls one register (`?1` device, `?2` register) from `source` into `table` for
/// `?3 <= time < ?4` (microseconds). Grouping follows the key order (device, register,
/// time), so SQLite aggregates in one pass without sorting, and first/last are index seeks.
pub fn roll_up_register_sql(table: &str, source: &str, width_us: i64) -> String {
    let w = width_us;
    let (time, value_cols, first_col, last_col) = if source == "register_readings" {
        (
            "timestamp",
            "avg(value) AS avg, min(value) AS mn, max(value) AS mx, count(value) AS n",
            "value",
            "value",
        )
    } else {
        (
            "bucket",
            "sum(avg * count) / nullif(sum(count), 0) AS avg, min(min) AS mn, max(max) AS mx, \
             sum(count) AS n",
            "first",
            "last",
        )
    };
    let edge = |col: &str, dir: &str| {
        format!(
            "(SELECT x.{col} FROM {source} x WHERE x.device_id = ?1 AND x.register_address = ?2 \
               AND x.{time} >= g.b AND x.{time} < g.b + {w} AND x.{col} IS NOT NULL \
             ORDER BY x.{time} {dir} LIMIT 1)"
        )
    };
    format!(
        "INSERT OR REPLACE INTO {table} \
           (bucket, device_id, register_address, avg, min, max, count, first, last) \
         SELECT g.b, ?1, ?2, g.avg, g.mn, g.mx, g.n, {first}, {last} \
         FROM (SELECT ({time} / {w}) * {w} AS b, {value_cols} FROM {source} \
               WHERE device_id = ?1 AND register_address = ?2 AND {time} >= ?3 AND {time} < ?4 \
               GROUP BY b) g",
        first = edge(first_col, "ASC"),
        last = edge(last_col, "DESC"),
    )
}

/// Moves the watermark of `table` to `?1` (never backwards).
pub fn watermark_sql(table: &str) -> String {
    format!(
        "INSERT INTO rollup_watermarks (name, upto) VALUES ('{table}', ?1) \
         ON CONFLICT (name) DO UPDATE SET upto = max(upto, excluded.upto)"
    )
}

/// Bucketed aggregates of `registers` of one device.
pub(super) async fn query(
    store: &SqliteStore,
    device_id: i64,
    registers: &[RegisterRef],
    range: TimeRange,
    width_secs: u64,
) -> Result<Vec<AggregateBucket>, StoreError> {
    let mut refs: Vec<u32> = registers.iter().map(|r| r.reference()).collect();
    refs.sort_unstable();
    refs.dedup();
    let width = i64::try_from(width_secs.max(1))
        .unwrap_or(i64::MAX / 1_000_000)
        .saturating_mul(1_000_000);
    let table = AggregateSource::for_width(width_secs).table();
    let (start, end) = (micros(range.start()), micros(range.end()));
    store
        .read(move |conn| {
            let mut subs = Vec::new();
            for &reference in &refs {
                sub_buckets(
                    conn, device_id, reference, table, start, end, width, &mut subs,
                )?;
            }
            merge(subs, width)
        })
        .await
}

/// The sub-buckets of one register: roll-up rows before the roll-up's watermark, then
/// raw rows and blocks from it on (or from `start` without a roll-up).
#[allow(clippy::too_many_arguments)]
fn sub_buckets(
    conn: &Connection,
    device_id: i64,
    reference: u32,
    table: Option<&str>,
    start: i64,
    end: i64,
    width: i64,
    out: &mut Vec<Sub>,
) -> Result<(), StoreError> {
    let mut from = start;
    if let Some(table) = table {
        let wm: i64 = conn
            .prepare_cached(&format!("SELECT {}", watermark(table)))
            .and_then(|mut st| st.query_row([], |r| r.get(0)))
            .map_err(db_err)?;
        let mut stmt = conn
            .prepare_cached(&format!(
                "SELECT bucket, avg, min, max, count, first, last FROM {table} \
                 WHERE device_id = ?1 AND register_address = ?2 AND bucket >= ?3 \
                   AND bucket < ?4 AND bucket < ?5 ORDER BY bucket"
            ))
            .map_err(db_err)?;
        let mut rows = stmt
            .query(params![device_id, reference, start, end, wm])
            .map_err(db_err)?;
        while let Some(r) = rows.next().map_err(db_err)? {
            let avg: Option<f64> = r.get(1).map_err(db_err)?;
            let count: i64 = r.get(4).map_err(db_err)?;
            out.push(Sub {
                register: reference,
                t: r.get(0).map_err(db_err)?,
                sum: avg.map(|a| a * count as f64),
                min: r.get(2).map_err(db_err)?,
                max: r.get(3).map_err(db_err)?,
                count,
                first: r.get(5).map_err(db_err)?,
                last: r.get(6).map_err(db_err)?,
            });
        }
        from = from.max(wm);
    }
    if from >= end {
        return Ok(());
    }
    let mut stmt = conn
        .prepare_cached(
            "SELECT timestamp, value FROM register_readings WHERE device_id = ?1 \
             AND register_address = ?2 AND timestamp >= ?3 AND timestamp < ?4",
        )
        .map_err(db_err)?;
    let mut rows = stmt
        .query(params![device_id, reference, from, end])
        .map_err(db_err)?;
    while let Some(r) = rows.next().map_err(db_err)? {
        out.push(Sub::value(
            reference,
            r.get(0).map_err(db_err)?,
            r.get(1).map_err(db_err)?,
        ));
    }
    let mut stmt = conn
        .prepare_cached(
            "SELECT start, count, min, max, sum, first, last FROM reading_blocks \
             WHERE device_id = ?1 AND register_address = ?2 AND start > ?3 AND start < ?4 \
             ORDER BY start",
        )
        .map_err(db_err)?;
    let held: Vec<(i64, Sub)> = stmt
        .query_map(
            params![device_id, reference, from.saturating_sub(BLOCK_US), end],
            |r| {
                let t: i64 = r.get(0)?;
                Ok((
                    t,
                    Sub {
                        register: reference,
                        t,
                        count: r.get(1)?,
                        min: r.get(2)?,
                        max: r.get(3)?,
                        sum: r.get(4)?,
                        first: r.get(5)?,
                        last: r.get(6)?,
                    },
                ))
            },
        )
        .map_err(db_err)?
        .collect::<Result<_, _>>()
        .map_err(db_err)?;
    let reference_i = i64::from(reference);
    for (block, summary) in held {
        let block_end = block.saturating_add(BLOCK_US);
        let whole = block >= from && block_end <= end && block / width == (block_end - 1) / width;
        if whole {
            out.push(summary);
            continue;
        }
        for (_, payload) in
            blocks::payloads_between(conn, device_id, reference_i, block, block_end)?
        {
            let cols = blocks::decode(device_id, reference_i, block, &payload)?;
            for (&t, &v) in cols.times.iter().zip(&cols.values) {
                if t >= from && t < end {
                    out.push(Sub::value(reference, t, v));
                }
            }
        }
    }
    Ok(())
}

/// Merges sub-buckets into buckets `width` microseconds wide (SQL's integer division, as
/// the roll-ups were bucketed), ordered by register then bucket.
fn merge(mut subs: Vec<Sub>, width: i64) -> Result<Vec<AggregateBucket>, StoreError> {
    subs.sort_by_key(|s| (s.register, s.t));
    let mut out: Vec<(u32, i64, Sub)> = Vec::new();
    for s in subs {
        let b = (s.t / width) * width;
        match out.last_mut() {
            Some((reg, bucket, acc)) if *reg == s.register && *bucket == b => {
                acc.sum = match (acc.sum, s.sum) {
                    (Some(x), Some(y)) => Some(x + y),
                    (x, y) => x.or(y),
                };
                acc.min = min_of(acc.min, s.min, f64::min);
                acc.max = min_of(acc.max, s.max, f64::max);
                acc.count += s.count;
                acc.first = acc.first.or(s.first);
                acc.last = s.last.or(acc.last);
            }
            _ => out.push((s.register, b, s)),
        }
    }
    out.into_iter()
        .map(|(reference, b, acc)| {
            Ok(AggregateBucket {
                bucket: DateTime::from_timestamp_micros(b)
                    .ok_or_else(|| StoreError::Corrupt(format!("bucket {b}")))?,
                register_address: RegisterRef::from_reference(reference)
                    .map_err(StoreError::Corrupt)?,
                avg: acc
                    .sum
                    .filter(|_| acc.count > 0)
                    .map(|s| s / acc.count as f64),
                min: acc.min,
                max: acc.max,
                count: acc.count,
                first: acc.first,
                last: acc.last,
            })
        })
        .collect()
}

fn min_of(a: Option<f64>, b: Option<f64>, pick: fn(f64, f64) -> f64) -> Option<f64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(pick(x, y)),
        (x, y) => x.or(y),
    }
}
