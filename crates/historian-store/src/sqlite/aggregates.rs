//! Bucketed aggregates and roll-ups on SQLite. Every source is first turned into
//! sub-buckets `(t, device_id, register_address, avg, min, max, count, first, last)`: a raw
//! reading is a sub-bucket of one value, a roll-up row a sub-bucket of many. One outer
//! query then merges sub-buckets into buckets of any width, so raw data, roll-ups and
//! their mix are aggregated by the same SQL.

use super::connection::{SqliteStore, db_err, micros};
use crate::model::{AggregateBucket, AggregateSource, TimeRange};
use crate::store::StoreError;
use chrono::DateTime;
use historian_model::RegisterRef;
use rusqlite::params;

/// A raw reading as a sub-bucket of one value.
const RAW_AS_SUB_BUCKETS: &str = "r.timestamp AS t, r.device_id, r.register_address, \
    r.value AS avg, r.value AS min, r.value AS max, (r.value IS NOT NULL) AS count, \
    r.value AS first, r.value AS last";

/// Merges the sub-buckets of `inner` into buckets `width` microseconds wide (`width` is an
/// SQL expression), keyed (bucket, device_id, register_address).
fn merge(inner: &str, width: &str) -> String {
    format!(
        "SELECT (t / {width}) * {width} AS b, device_id, register_address, \
           sum(avg * count) / nullif(sum(count), 0), min(min), max(max), sum(count), \
           max(CASE WHEN rf = 1 THEN first END), max(CASE WHEN rl = 1 THEN last END) \
         FROM (SELECT *, \
                 row_number() OVER (PARTITION BY device_id, register_address, t / {width} \
                                    ORDER BY first IS NULL, t) AS rf, \
                 row_number() OVER (PARTITION BY device_id, register_address, t / {width} \
                                    ORDER BY last IS NULL, t DESC) AS rl \
               FROM ({inner})) \
         GROUP BY b, device_id, register_address"
    )
}

/// The aggregate query: `?1` device, `?2` JSON array of references, `?3`/`?4` range in
/// microseconds, `?5` width in microseconds. `table` is the roll-up read, if any.
pub fn query_sql(table: Option<&str>) -> String {
    const REGS: &str = "register_address IN (SELECT value FROM json_each(?2))";
    let raw = |extra: &str| {
        format!(
            "SELECT {RAW_AS_SUB_BUCKETS} FROM register_readings r \
             WHERE r.device_id = ?1 AND r.{REGS} AND r.timestamp >= ?3 AND r.timestamp < ?4 {extra}"
        )
    };
    let inner = match table {
        None => raw(""),
        Some(table) => format!(
            "SELECT bucket AS t, device_id, register_address, avg, min, max, count, first, last \
             FROM {table} WHERE device_id = ?1 AND {REGS} AND bucket >= ?3 AND bucket < ?4 \
               AND bucket < {wm} \
             UNION ALL {raw_after}",
            wm = watermark(table),
            raw_after = raw(&format!("AND r.timestamp >= {}", watermark(table))),
        ),
    };
    format!("{} ORDER BY register_address, b", merge(&inner, "?5"))
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

/// Where the next roll-up of `table` starts: its watermark minus `lookback_us`, or the
/// beginning of time for the first run (`?1` unused).
pub fn roll_up_start_sql(table: &str, lookback_us: i64) -> String {
    format!(
        "SELECT coalesce((SELECT upto - {lookback_us} FROM rollup_watermarks \
                          WHERE name = '{table}'), -9223372036854775807)"
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
    let refs: Vec<String> = registers
        .iter()
        .map(|r| r.reference().to_string())
        .collect();
    let refs = format!("[{}]", refs.join(","));
    let width_us = i64::try_from(width_secs.max(1))
        .unwrap_or(i64::MAX / 1_000_000)
        .saturating_mul(1_000_000);
    let sql = query_sql(AggregateSource::for_width(width_secs).table());
    let (start, end) = (micros(range.start()), micros(range.end()));
    store
        .read(move |conn| {
            let mut stmt = conn.prepare_cached(&sql).map_err(db_err)?;
            let mut rows = stmt
                .query(params![device_id, refs, start, end, width_us])
                .map_err(db_err)?;
            let mut out = Vec::new();
            while let Some(row) = rows.next().map_err(db_err)? {
                let b: i64 = row.get(0).map_err(db_err)?;
                let reference: u32 = row.get(2).map_err(db_err)?;
                out.push(AggregateBucket {
                    bucket: DateTime::from_timestamp_micros(b)
                        .ok_or_else(|| StoreError::Corrupt(format!("bucket {b}")))?,
                    register_address: RegisterRef::from_reference(reference)
                        .map_err(StoreError::Corrupt)?,
                    avg: row.get(3).map_err(db_err)?,
                    min: row.get(4).map_err(db_err)?,
                    max: row.get(5).map_err(db_err)?,
                    count: row.get(6).map_err(db_err)?,
                    first: row.get(7).map_err(db_err)?,
                    last: row.get(8).map_err(db_err)?,
                });
            }
            Ok(out)
        })
        .await
}
