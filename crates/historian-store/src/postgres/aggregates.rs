//! Bucketed aggregates on PostgreSQL: from TimescaleDB's continuous aggregates, or from the
//! roll-up tables the historian maintains on plain PostgreSQL plus the raw readings not yet
//! rolled up. Only readings with a value count (see [`AggregateBucket`]).

use super::columns::{register_from_db, register_to_db};
use super::connection::{PgMode, PostgresStore, db_err};
use crate::model::{AggregateBucket, AggregateSource, TimeRange};
use crate::store::StoreError;
use chrono::{DateTime, Utc};
use historian_model::RegisterRef;
use tokio_postgres::{Client, Row};

/// Plain-PostgreSQL epoch-aligned bucket of a timestamp expression, `$5` seconds wide.
fn plain_bucket(expr: &str) -> String {
    format!("to_timestamp(floor(extract(epoch FROM {expr}) / $5::float8) * $5::float8)")
}

/// First and last non-null `value` ordered by `time`, in plain SQL.
fn plain_first_last(value: &str, time: &str) -> String {
    format!(
        "(array_agg({value} ORDER BY {time}) FILTER (WHERE {value} IS NOT NULL))[1], \
         (array_agg({value} ORDER BY {time} DESC) FILTER (WHERE {value} IS NOT NULL))[1]"
    )
}

fn sql(mode: &PgMode, source: AggregateSource) -> String {
    const WHERE: &str = "device_id = $1 AND register_address = ANY($2)";
    let merged = "sum(avg * count) / nullif(sum(count), 0), min(min), max(max), sum(count)::bigint";
    match (mode, source.table()) {
        (PgMode::TimescaleDb { .. }, None) => format!(
            "SELECT time_bucket(make_interval(secs => $5::float8), \"timestamp\", origin => 'epoch') AS b, \
               register_address, avg(value), min(value), max(value), count(value), \
               first(value, \"timestamp\") FILTER (WHERE value IS NOT NULL), \
               last(value, \"timestamp\") FILTER (WHERE value IS NOT NULL) \
             FROM readings WHERE {WHERE} AND \"timestamp\" >= $3 AND \"timestamp\" < $4 \
             GROUP BY b, register_address ORDER BY register_address, b"
        ),
        (PgMode::TimescaleDb { .. }, Some(table)) => format!(
            "SELECT time_bucket(make_interval(secs => $5::float8), bucket, origin => 'epoch') AS b, \
               register_address, {merged}, \
               first(first, bucket) FILTER (WHERE first IS NOT NULL), \
               last(last, bucket) FILTER (WHERE last IS NOT NULL) \
             FROM {table} WHERE {WHERE} AND bucket >= $3 AND bucket < $4 \
             GROUP BY b, register_address ORDER BY register_address, b"
        ),
        (PgMode::Plain { .. }, None) => format!(
            "SELECT {b} AS b, register_address, avg(value), min(value), max(value), count(value), \
               {fl} \
             FROM readings WHERE {WHERE} AND \"timestamp\" >= $3 AND \"timestamp\" < $4 \
             GROUP BY b, register_address ORDER BY register_address, b",
            b = plain_bucket("\"timestamp\""),
            fl = plain_first_last("value", "\"timestamp\""),
        ),
        (PgMode::Plain { .. }, Some(table)) => {
            // Rolled-up buckets before the watermark, raw readings from it on.
            let grain = if source == AggregateSource::Daily {
                "day"
            } else {
                "hour"
            };
            format!(
                "WITH wm AS (SELECT coalesce((SELECT upto FROM rollup_watermarks \
                               WHERE name = '{table}'), '-infinity'::timestamptz) AS upto), \
                 parts AS ( \
                   SELECT bucket AS t, register_address, avg, min, max, count, first, last \
                   FROM {table}, wm WHERE {WHERE} AND bucket >= $3 AND bucket < $4 AND bucket < wm.upto \
                   UNION ALL \
                   SELECT date_trunc('{grain}', \"timestamp\", 'UTC'), register_address, avg(value), \
                     min(value), max(value), count(value), {raw_fl} \
                   FROM readings, wm WHERE {WHERE} AND \"timestamp\" >= $3 \
                     AND \"timestamp\" < $4 AND \"timestamp\" >= wm.upto \
                   GROUP BY 1, 2) \
                 SELECT {b} AS b, register_address, {merged}, {fl} \
                 FROM parts GROUP BY b, register_address ORDER BY register_address, b",
                raw_fl = plain_first_last("value", "\"timestamp\""),
                b = plain_bucket("t"),
                fl = "(array_agg(first ORDER BY t) FILTER (WHERE first IS NOT NULL))[1], \
                      (array_agg(last ORDER BY t DESC) FILTER (WHERE last IS NOT NULL))[1]",
            )
        }
    }
}

fn bucket_from_row(row: &Row) -> Result<AggregateBucket, StoreError> {
    let reference: i32 = row.try_get(1).map_err(db_err)?;
    Ok(AggregateBucket {
        bucket: row.try_get(0).map_err(db_err)?,
        register_address: register_from_db(reference)?,
        avg: row.try_get(2).map_err(db_err)?,
        min: row.try_get(3).map_err(db_err)?,
        max: row.try_get(4).map_err(db_err)?,
        count: row.try_get(5).map_err(db_err)?,
        first: row.try_get(6).map_err(db_err)?,
        last: row.try_get(7).map_err(db_err)?,
    })
}

/// Bucketed aggregates of `registers` of one device, from the source the width and the
/// store's mode call for.
pub async fn query(
    store: &PostgresStore,
    device_id: i64,
    registers: &[RegisterRef],
    range: TimeRange,
    width_secs: u64,
) -> Result<Vec<AggregateBucket>, StoreError> {
    let (start, end) = (range.start(), range.end());
    let refs: Vec<i32> = registers.iter().copied().map(register_to_db).collect();
    let width = width_secs as f64;
    let source = AggregateSource::for_width(width_secs);
    let statement = sql(&store.mode, source);
    let (statement, refs) = (&statement, &refs);
    let rows = store
        .read(|client| async move {
            client
                .query(statement, &[&device_id, refs, &start, &end, &width])
                .await
                .map_err(db_err)
        })
        .await?;
    rows.iter().map(bucket_from_row).collect()
}

/// Plain PostgreSQL: rolls closed hours (and, from them, closed days) into the roll-up
/// tables. Each run recomputes from two hours (two days) before the watermark, so
/// readings that arrive that late are still included.
pub async fn roll_up(client: &Client, now: DateTime<Utc>) -> Result<(), StoreError> {
    for (table, source, grain, lookback) in [
        ("register_readings_hourly", "readings", "hour", "2 hours"),
        (
            "register_readings_daily",
            "register_readings_hourly",
            "day",
            "2 days",
        ),
    ] {
        let (value_cols, time) = if source == "readings" {
            (
                format!(
                    "avg(value), min(value), max(value), count(value), {}",
                    plain_first_last("value", "\"timestamp\"")
                ),
                "\"timestamp\"",
            )
        } else {
            (
                "sum(avg * count) / nullif(sum(count), 0), min(min), max(max), sum(count)::bigint, \
                 (array_agg(first ORDER BY bucket) FILTER (WHERE first IS NOT NULL))[1], \
                 (array_agg(last ORDER BY bucket DESC) FILTER (WHERE last IS NOT NULL))[1]"
                    .to_string(),
                "bucket",
            )
        };
        let sql = format!(
            "WITH bounds AS ( \
               SELECT coalesce((SELECT upto - INTERVAL '{lookback}' FROM rollup_watermarks \
                                WHERE name = '{table}'), \
                               (SELECT date_trunc('{grain}', min({time}), 'UTC') FROM {source}), \
                               $1) AS lo, \
                      date_trunc('{grain}', $1, 'UTC') AS hi), \
             rolled AS ( \
               INSERT INTO {table} (bucket, device_id, register_address, avg, min, max, count, first, last) \
               SELECT date_trunc('{grain}', {time}, 'UTC'), device_id, register_address, {value_cols} \
               FROM {source}, bounds WHERE {time} >= bounds.lo AND {time} < bounds.hi \
               GROUP BY 1, 2, 3 \
               ON CONFLICT (device_id, register_address, bucket) DO UPDATE SET \
                 avg = excluded.avg, min = excluded.min, max = excluded.max, count = excluded.count, \
                 first = excluded.first, last = excluded.last \
               RETURNING 1) \
             INSERT INTO rollup_watermarks (name, upto) SELECT '{table}', hi FROM bounds \
             ON CONFLICT (name) DO UPDATE SET upto = greatest(rollup_watermarks.upto, excluded.upto)"
        );
        client.execute(&sql, &[&now]).await.map_err(db_err)?;
    }
    Ok(())
}

/// Plain PostgreSQL: the roll-up tables and their watermarks (TimescaleDB has continuous
/// aggregates of the same names and columns instead).
pub const ROLLUP_TABLES: &str = "
CREATE TABLE IF NOT EXISTS register_readings_hourly (
    bucket           TIMESTAMPTZ      NOT NULL,
    device_id        BIGINT           NOT NULL,
    register_address INTEGER          NOT NULL,
    avg              DOUBLE PRECISION,
    min              DOUBLE PRECISION,
    max              DOUBLE PRECISION,
    count            BIGINT           NOT NULL,
    first            DOUBLE PRECISION,
    last             DOUBLE PRECISION,
    PRIMARY KEY (device_id, register_address, bucket)
);
CREATE TABLE IF NOT EXISTS register_readings_daily (LIKE register_readings_hourly INCLUDING ALL);
CREATE TABLE IF NOT EXISTS rollup_watermarks (
    name TEXT        PRIMARY KEY,
    upto TIMESTAMPTZ NOT NULL
);
COMMENT ON TABLE register_readings_hourly IS 'Hourly avg/min/max/count/first/last per register, maintained by modbus-historian (plain PostgreSQL)';
COMMENT ON TABLE register_readings_daily IS 'Daily roll-up of register_readings_hourly, maintained by modbus-historian (plain PostgreSQL)';
COMMENT ON TABLE rollup_watermarks IS 'Roll-ups hold every bucket before upto; later buckets are computed from raw readings at query time';
";
