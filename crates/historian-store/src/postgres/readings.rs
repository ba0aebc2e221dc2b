//! Readings on PostgreSQL: batch writes (binary `COPY`), latest values and range reads.

use super::columns::{register_from_db, register_to_db};
use super::connection::{PostgresStore, db_err};
use super::copy;
use super::texts;
use crate::model::{SeriesKey, SeriesPoint, TimeRange};
use crate::store::{RejectedReading, StoreError, WriteOutcome};
use historian_model::{DataType, Reading, RegisterRef};
use std::collections::HashSet;
use std::sync::Arc;
use tokio_postgres::Row;

/// The statement `get_series` runs: one register's time, value, text and quality with
/// `$3 <= timestamp < $4`, oldest first, at most `$5` rows, for device `$1`, register
/// `$2`. Two index-only scans: time, value and quality from the primary key, then the
/// texts of those readings that have one (rows with quality NULL) from the text index.
pub fn series_sql() -> String {
    range_sql(SERIES_KEY_COLUMNS, SERIES_TEXT_COLUMNS)
}

/// A series point's columns from the primary key: its text comes from the text branch.
const SERIES_KEY_COLUMNS: &str = "r.\"timestamp\", r.value, NULL::text, r.quality";
/// The same columns from the text index: time and text, quality NULL.
const SERIES_TEXT_COLUMNS: &str = "r.\"timestamp\", NULL::float8, r.value_text, NULL::text";

/// One register, `$1` and `$2`, within `$3 <= timestamp < $4`.
const RANGE_QUALS: &str = "r.device_id = $1 AND r.register_address = $2 \
                           AND r.\"timestamp\" >= $3 AND r.\"timestamp\" < $4";

fn range_sql(key_columns: &str, text_columns: &str) -> String {
    texts::range_branches(key_columns, text_columns, READINGS, RANGE_QUALS)
}

/// The narrow readings as `r` with their register's map row as `m` and kept labels as `l`
/// (registers no map row describes): a probe of each per register, and none when no label
/// column is asked for (the planner removes a left join to a unique key whose columns are
/// not used).
const READINGS: &str = "readings r \
    LEFT JOIN device_register_map m \
        ON m.device_id = r.device_id AND m.register_address = r.register_address \
    LEFT JOIN register_labels l \
        ON l.device_id = r.device_id AND l.register_address = r.register_address";

/// One series' readings within `range`, oldest first, at most `limit` rows, as
/// [`range_sql`] gives them: `key_columns` rows, then `text_columns` rows.
async fn range_rows(
    store: &PostgresStore,
    (key_columns, text_columns): (&str, &str),
    series: SeriesKey,
    range: TimeRange,
    limit: usize,
) -> Result<Vec<Row>, StoreError> {
    let reference = register_to_db(series.register);
    let (start, end) = (range.start(), range.end());
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let sql = &range_sql(key_columns, text_columns);
    store
        .read(|client| async move {
            // Prepared once per pooled connection, not parsed and planned on every request:
            // measured on 24 h series under load, p95 32.4 -> 29.3 ms (BENCHMARKS.md).
            let statement = client.prepare_cached(sql).await.map_err(db_err)?;
            client
                .query(
                    &statement,
                    &[&series.device_id, &reference, &start, &end, &limit],
                )
                .await
                .map_err(db_err)
        })
        .await
}

/// A reading with its labels, text from the row itself (read by one-row reads).
const READING_COLUMNS: &str = "r.\"timestamp\", r.device_id, r.register_address, r.value, \
                               r.quality, COALESCE(m.register_name, l.register_name), \
                               COALESCE(m.data_type, l.data_type), COALESCE(m.unit, l.unit), \
                               r.value_text";
/// [`READING_COLUMNS`] from the primary key and the labels: the text comes from the text
/// branch.
const READING_KEY_COLUMNS: &str = "r.\"timestamp\", r.device_id, r.register_address, r.value, \
                                   r.quality, COALESCE(m.register_name, l.register_name), \
                                   COALESCE(m.data_type, l.data_type), \
                                   COALESCE(m.unit, l.unit), NULL::text";
/// The same columns from the text index: time and text, quality NULL.
const READING_TEXT_COLUMNS: &str = "r.\"timestamp\", r.device_id, r.register_address, \
                                    NULL::float8, NULL::text, NULL::text, NULL::text, NULL::text, \
                                    r.value_text";

fn reading_from_row(row: &Row) -> Result<Reading, StoreError> {
    let reference: i32 = row.try_get(2).map_err(db_err)?;
    let quality: String = row.try_get(4).map_err(db_err)?;
    let (name, data_type, unit) = labels(row)?;
    Ok(Reading {
        timestamp: row.try_get(0).map_err(db_err)?,
        device_id: row.try_get(1).map_err(db_err)?,
        register_address: register_from_db(reference)?,
        value: row.try_get(3).map_err(db_err)?,
        text: row
            .try_get::<_, Option<String>>(8)
            .map_err(db_err)?
            .map(std::sync::Arc::from),
        quality: quality.parse().map_err(StoreError::Corrupt)?,
        register_name: name,
        data_type,
        unit,
    })
}

/// A reading's register name, data type and unit. A register that was never in a map
/// (a reading written for it all the same) has no labels: its reading comes back with an
/// empty name and unit and the widest numeric type.
fn labels(row: &Row) -> Result<(Arc<str>, DataType, Arc<str>), StoreError> {
    let name: Option<&str> = row.try_get(5).map_err(db_err)?;
    let data_type: Option<&str> = row.try_get(6).map_err(db_err)?;
    let unit: Option<&str> = row.try_get(7).map_err(db_err)?;
    let data_type = match data_type {
        Some(t) => t.parse().map_err(StoreError::Corrupt)?,
        None => DataType::Float64,
    };
    Ok((
        Arc::from(name.unwrap_or_default()),
        data_type,
        Arc::from(unit.unwrap_or_default()),
    ))
}

fn readings(rows: &[Row]) -> Result<Vec<Reading>, StoreError> {
    rows.iter().map(reading_from_row).collect()
}

/// One series' readings from the rows of [`READING_KEY_COLUMNS`] and
/// [`READING_TEXT_COLUMNS`], each with its text, oldest first.
fn readings_with_texts<'a>(
    rows: impl IntoIterator<Item = &'a Row>,
) -> Result<Vec<Reading>, StoreError> {
    let mut out = Vec::new();
    let mut found = Vec::new();
    for row in rows {
        match text_row(row, 4, 8)? {
            Some(text) => found.push(text),
            None => out.push(reading_from_row(row)?),
        }
    }
    texts::attach(&mut out, found, |r| r.timestamp, |r, t| r.text = Some(t));
    Ok(out)
}

/// The instant and text (column `text`) of a row of a text branch, whose column `quality`
/// is NULL; `None` for a reading's row.
fn text_row(row: &Row, quality: usize, text: usize) -> Result<Option<texts::Text>, StoreError> {
    if row
        .try_get::<_, Option<&str>>(quality)
        .map_err(db_err)?
        .is_some()
    {
        return Ok(None);
    }
    let at = row.try_get(0).map_err(db_err)?;
    let text: &str = row.try_get(text).map_err(db_err)?;
    Ok(Some((at, Arc::from(text))))
}

/// Stores a batch by `COPY`; rows of devices the store does not know are refused first.
pub(super) async fn insert_batch(
    store: &PostgresStore,
    batch: &[Reading],
) -> Result<WriteOutcome, StoreError> {
    if batch.is_empty() {
        return Ok(WriteOutcome::default());
    }
    let mut split = split_unknown(store, batch);
    if split.is_some() {
        // The cache may be stale (a device added by another process): ask once.
        super::devices::refresh_ids(store).await?;
        split = split_unknown(store, batch);
    }
    let (owned, rejected) = match split {
        Some((ok, rejected)) => (Some(ok), rejected),
        None => (None, Vec::new()),
    };
    let rows = owned.as_deref().unwrap_or(batch);
    let touched = super::late::Touched::of(rows, store.late_before(chrono::Utc::now()));
    let mut client = store.client().await?;
    let late = touched.as_ref().map(|t| (t, &store.mode));
    let inserted = copy::write(&mut client, rows, late).await?;
    Ok(WriteOutcome {
        inserted,
        duplicates: rows.len() - inserted,
        rejected,
    })
}

/// Splits off rows whose device id the store does not know; `None` when every row's
/// device is known (the usual case: the batch is then written as it is, uncopied).
fn split_unknown(
    store: &PostgresStore,
    batch: &[Reading],
) -> Option<(Vec<Reading>, Vec<RejectedReading>)> {
    let guard = store.device_ids.read();
    let empty = HashSet::new();
    let known = guard.as_deref().unwrap_or(&empty);
    // Batches hold whole polls, so device ids come in runs: look each run up once.
    let mut last = None;
    let all_known = batch.iter().all(|r| {
        if last == Some(r.device_id) {
            return true;
        }
        last = Some(r.device_id);
        known.contains(&r.device_id)
    });
    if all_known {
        return None;
    }
    let (ok, unknown): (Vec<&Reading>, Vec<&Reading>) =
        batch.iter().partition(|r| known.contains(&r.device_id));
    let rejected = unknown
        .into_iter()
        .map(|r| RejectedReading {
            reason: format!("unknown device id {}", r.device_id),
            reading: r.clone(),
        })
        .collect();
    Some((ok.into_iter().cloned().collect(), rejected))
}

/// The newest reading of one register.
pub(super) async fn latest(
    store: &PostgresStore,
    device_id: i64,
    register: RegisterRef,
) -> Result<Option<Reading>, StoreError> {
    let client = store.client().await?;
    let reference = register_to_db(register);
    let rows = client
        .query(
            &format!(
                "SELECT {READING_COLUMNS} FROM {READINGS} \
                 WHERE r.device_id = $1 AND r.register_address = $2 \
                 ORDER BY r.\"timestamp\" DESC LIMIT 1"
            ),
            &[&device_id, &reference],
        )
        .await
        .map_err(db_err)?;
    rows.first().map(reading_from_row).transpose()
}

/// The newest reading of every mapped register of a device.
pub(super) async fn device_latest(
    store: &PostgresStore,
    device_id: i64,
) -> Result<Vec<Reading>, StoreError> {
    let client = store.client().await?;
    // One index probe per mapped register instead of a scan of the device's history.
    let rows = client
        .query(
            "SELECT r.\"timestamp\", r.device_id, r.register_address, r.value, r.quality, \
               m.register_name, m.data_type, m.unit, r.value_text \
             FROM device_register_map m \
             CROSS JOIN LATERAL (SELECT * FROM readings x \
                WHERE x.device_id = m.device_id AND x.register_address = m.register_address \
                ORDER BY x.\"timestamp\" DESC LIMIT 1) r \
             WHERE m.device_id = $1 AND m.removed_at IS NULL ORDER BY m.register_address",
            &[&device_id],
        )
        .await
        .map_err(db_err)?;
    readings(&rows)
}

/// One register's readings in a time range, oldest first.
pub(super) async fn range(
    store: &PostgresStore,
    series: SeriesKey,
    range: TimeRange,
    limit: usize,
) -> Result<Vec<Reading>, StoreError> {
    let columns = (READING_KEY_COLUMNS, READING_TEXT_COLUMNS);
    let rows = range_rows(store, columns, series, range, limit).await?;
    readings_with_texts(&rows)
}

/// Series read by one statement: enough to save the round trips, few enough that one
/// answer stays a modest allocation.
const RANGES_PER_STATEMENT: usize = 1_000;

/// Many series' readings in their ranges, oldest first, at most `limit` each: one statement
/// per [`RANGES_PER_STATEMENT`] series, each series still one probe of the primary key
/// (and one of the text index) through the lateral join, where one statement per series
/// paid a round trip each.
pub(super) async fn ranges(
    store: &PostgresStore,
    requests: &[(SeriesKey, TimeRange)],
    limit: usize,
) -> Result<Vec<Vec<Reading>>, StoreError> {
    let branches = texts::range_branches(
        READING_KEY_COLUMNS,
        READING_TEXT_COLUMNS,
        READINGS,
        "r.device_id = q.d AND r.register_address = q.a \
         AND r.\"timestamp\" >= q.s AND r.\"timestamp\" < q.e",
    );
    let sql = &format!(
        "SELECT x.*, q.i FROM unnest($1::bigint[], $2::integer[], $3::timestamptz[], \
           $4::timestamptz[]) WITH ORDINALITY AS q(d, a, s, e, i) \
         CROSS JOIN LATERAL ({branches}) x"
    );
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let mut answers: Vec<Vec<Reading>> = Vec::with_capacity(requests.len());
    for chunk in requests.chunks(RANGES_PER_STATEMENT) {
        let devices: Vec<i64> = chunk.iter().map(|(k, _)| k.device_id).collect();
        let registers: Vec<i32> = chunk
            .iter()
            .map(|(k, _)| register_to_db(k.register))
            .collect();
        let starts: Vec<_> = chunk.iter().map(|(_, r)| r.start()).collect();
        let ends: Vec<_> = chunk.iter().map(|(_, r)| r.end()).collect();
        let (devices, registers, starts, ends) = (&devices, &registers, &starts, &ends);
        let rows = store
            .read(|client| async move {
                let statement = client.prepare_cached(sql).await.map_err(db_err)?;
                client
                    .query(&statement, &[devices, registers, starts, ends, &limit])
                    .await
                    .map_err(db_err)
            })
            .await?;
        let mut grouped: Vec<Vec<&Row>> = vec![Vec::new(); chunk.len()];
        for row in &rows {
            let ordinal: i64 = row.try_get(9).map_err(db_err)?;
            let slot = usize::try_from(ordinal - 1)
                .ok()
                .and_then(|i| grouped.get_mut(i))
                .ok_or_else(|| {
                    StoreError::Corrupt(format!("series ordinal {ordinal} out of range"))
                })?;
            slot.push(row);
        }
        let grouped = grouped
            .into_iter()
            .map(readings_with_texts)
            .collect::<Result<Vec<_>, StoreError>>()?;
        answers.extend(grouped);
    }
    Ok(answers)
}

/// One register's time, value, text and quality in a time range, oldest first.
pub(super) async fn series(
    store: &PostgresStore,
    series: SeriesKey,
    range: TimeRange,
    limit: usize,
) -> Result<Vec<SeriesPoint>, StoreError> {
    // Four columns instead of nine: a profile of 24 h of one register through the API
    // spent its time decoding and allocating the per-row name, type and unit.
    let columns = (SERIES_KEY_COLUMNS, SERIES_TEXT_COLUMNS);
    let rows = range_rows(store, columns, series, range, limit).await?;
    let mut points = Vec::with_capacity(rows.len());
    let mut found = Vec::new();
    for row in &rows {
        if let Some(text) = text_row(row, 3, 2)? {
            found.push(text);
            continue;
        }
        let quality: &str = row.try_get(3).map_err(db_err)?;
        points.push(SeriesPoint {
            timestamp: row.try_get(0).map_err(db_err)?,
            value: row.try_get(1).map_err(db_err)?,
            text: None,
            quality: quality.parse().map_err(StoreError::Corrupt)?,
        });
    }
    texts::attach(&mut points, found, |p| p.timestamp, |p, t| p.text = Some(t));
    Ok(points)
}

/// Total readings stored.
pub(super) async fn count(store: &PostgresStore) -> Result<u64, StoreError> {
    let client = store.client().await?;
    let row = client
        .query_one("SELECT count(*) FROM readings", &[])
        .await
        .map_err(db_err)?;
    Ok(u64::try_from(row.try_get::<_, i64>(0).map_err(db_err)?).unwrap_or(0))
}

impl PostgresStore {
    /// PostgreSQL's own rate for these rows: the same binary `COPY` into
    /// `readings` the store uses, in batches of `batch` rows on one connection,
    /// with no historian pipeline around it. The benchmark's yardstick; returns the time
    /// the copies took.
    pub async fn copy_baseline(
        &self,
        rows: &[Reading],
        batch: usize,
    ) -> Result<std::time::Duration, StoreError> {
        let mut client = self.client().await?;
        let started = std::time::Instant::now();
        for chunk in rows.chunks(batch.max(1)) {
            copy::write(&mut client, chunk, None).await?;
        }
        Ok(started.elapsed())
    }
}
