//! Readings that land behind the roll-ups (a spool replayed after a long outage, a
//! collector that was offline for a week): the batch marks the hours it touches in
//! `rollup_dirty` in its own transaction, and maintenance brings exactly those hours and
//! their days up to date: recomputed on plain PostgreSQL, refreshed on TimescaleDB.
//!
//! Only a batch holding a reading older than [`PostgresStore::late_before`] pays for the
//! mark; live batches are newer and cost nothing extra.

use super::connection::{PgMode, PostgresStore, db_err};
use crate::store::StoreError;
use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use historian_model::Reading;
use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
use tokio_postgres::{Client, Transaction};

/// Plain PostgreSQL: each maintenance run rolls up again from two hours before its
/// watermark, so a reading this much younger than the clock is still picked up.
const PLAIN_MARGIN: TimeDelta = TimeDelta::hours(1);

/// TimescaleDB: the hourly refresh policy looks [`super::timescale::HOURLY_REFRESH_START`]
/// back every half hour; a reading an hour inside that window is refreshed by it.
const TIMESCALE_MARGIN: TimeDelta = TimeDelta::hours(1);

/// The hours (per device) a batch touched behind the roll-ups: parallel columns for
/// `unnest`.
#[derive(Debug, Default)]
pub(super) struct Touched {
    devices: Vec<i64>,
    hours: Vec<DateTime<Utc>>,
}

impl Touched {
    /// The distinct (device, hour) pairs of `rows` older than `before`; `None` when there
    /// are none (the usual case).
    pub fn of(rows: &[Reading], before: DateTime<Utc>) -> Option<Touched> {
        let pairs: BTreeSet<(i64, DateTime<Utc>)> = rows
            .iter()
            .filter(|r| r.timestamp < before)
            .filter_map(|r| Some((r.device_id, hour_of(r.timestamp)?)))
            .collect();
        if pairs.is_empty() {
            return None;
        }
        let (devices, hours) = pairs.into_iter().unzip();
        Some(Touched { devices, hours })
    }

    /// Records these hours in `tx` (the batch's transaction). On plain PostgreSQL only
    /// hours before the hourly watermark are recorded: later ones are not rolled up yet.
    pub async fn mark(&self, tx: &Transaction<'_>, mode: &PgMode) -> Result<u64, StoreError> {
        let only_rolled_up = match mode {
            PgMode::Plain { .. } => {
                "WHERE t.hour < (SELECT upto FROM rollup_watermarks \
                                 WHERE name = 'register_readings_hourly')"
            }
            PgMode::TimescaleDb { .. } => "",
        };
        tx.execute(
            &format!(
                "INSERT INTO rollup_dirty (device_id, bucket) \
                 SELECT t.device_id, t.hour FROM unnest($1::bigint[], $2::timestamptz[]) \
                   AS t(device_id, hour) {only_rolled_up} \
                 ON CONFLICT DO NOTHING"
            ),
            &[&self.devices, &self.hours],
        )
        .await
        .map_err(db_err)
    }
}

fn hour_of(t: DateTime<Utc>) -> Option<DateTime<Utc>> {
    t.duration_trunc(TimeDelta::hours(1)).ok()
}

impl PostgresStore {
    /// Readings older than this may land behind the roll-ups: the later of the hourly
    /// watermark this process last saw and what the clock alone rules out.
    pub(super) fn late_before(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        let by_clock = match self.mode {
            PgMode::Plain { .. } => now - PLAIN_MARGIN,
            PgMode::TimescaleDb { .. } => {
                now - (super::timescale::HOURLY_REFRESH_START - TIMESCALE_MARGIN)
            }
        };
        let seen = DateTime::from_timestamp_micros(self.rollup_watermark.load(Ordering::Relaxed))
            .unwrap_or(DateTime::<Utc>::MIN_UTC);
        by_clock.max(seen)
    }

    /// Notes that the hourly roll-ups hold everything before `upto`.
    pub(super) fn saw_rollup_watermark(&self, upto: DateTime<Utc>) {
        self.rollup_watermark
            .fetch_max(upto.timestamp_micros(), Ordering::Relaxed);
    }
}

/// The hourly watermark stored on plain PostgreSQL (`None` before the first roll-up).
pub(super) async fn stored_watermark(client: &Client) -> Result<Option<DateTime<Utc>>, StoreError> {
    let row = client
        .query_opt(
            "SELECT upto FROM rollup_watermarks WHERE name = 'register_readings_hourly'",
            &[],
        )
        .await
        .map_err(db_err)?;
    row.map(|r| r.try_get(0).map_err(db_err)).transpose()
}

/// Plain PostgreSQL: recomputes the marked hours from the readings and their days from
/// the hourly roll-up, and clears the marks, in one transaction. Returns the hours
/// recomputed.
pub(super) async fn recompute_plain(client: &mut Client) -> Result<u64, StoreError> {
    let tx = client.transaction().await.map_err(db_err)?;
    let marked = tx
        .query("DELETE FROM rollup_dirty RETURNING device_id, bucket", &[])
        .await
        .map_err(db_err)?;
    if marked.is_empty() {
        return Ok(0);
    }
    let mut devices = Vec::with_capacity(marked.len());
    let mut hours = Vec::with_capacity(marked.len());
    for row in &marked {
        devices.push(row.try_get::<_, i64>(0).map_err(db_err)?);
        hours.push(row.try_get::<_, DateTime<Utc>>(1).map_err(db_err)?);
    }
    // The overall span lets the planner prune partitions and use the time index instead
    // of reading each marked device's whole history.
    let (Some(&lo), Some(&last)) = (hours.iter().min(), hours.iter().max()) else {
        return Ok(0);
    };
    let hi = last + TimeDelta::hours(1);
    let (day_lo, day_hi) = (
        lo.duration_trunc(TimeDelta::days(1)).unwrap_or(lo),
        hi + TimeDelta::days(1),
    );
    const UPDATE: &str = "ON CONFLICT (device_id, register_address, bucket) DO UPDATE SET \
        avg = excluded.avg, min = excluded.min, max = excluded.max, count = excluded.count, \
        first = excluded.first, last = excluded.last";
    tx.execute(
        &format!(
            "INSERT INTO register_readings_hourly \
               (bucket, device_id, register_address, avg, min, max, count, first, last) \
             SELECT d.hour, r.device_id, r.register_address, avg(r.value), min(r.value), \
               max(r.value), count(r.value), \
               (array_agg(r.value ORDER BY r.\"timestamp\") FILTER (WHERE r.value IS NOT NULL))[1], \
               (array_agg(r.value ORDER BY r.\"timestamp\" DESC) FILTER (WHERE r.value IS NOT NULL))[1] \
             FROM unnest($1::bigint[], $2::timestamptz[]) AS d(device_id, hour) \
             JOIN readings r ON r.device_id = d.device_id \
               AND r.\"timestamp\" >= d.hour AND r.\"timestamp\" < d.hour + INTERVAL '1 hour' \
             WHERE r.\"timestamp\" >= $3 AND r.\"timestamp\" < $4 \
             GROUP BY 1, 2, 3 {UPDATE}"
        ),
        &[&devices, &hours, &lo, &hi],
    )
    .await
    .map_err(db_err)?;
    // Days not rolled up yet are computed from the hourly table at query time.
    tx.execute(
        &format!(
            "INSERT INTO register_readings_daily \
               (bucket, device_id, register_address, avg, min, max, count, first, last) \
             SELECT d.day, h.device_id, h.register_address, \
               sum(h.avg * h.count) / nullif(sum(h.count), 0), min(h.min), max(h.max), \
               sum(h.count)::bigint, \
               (array_agg(h.first ORDER BY h.bucket) FILTER (WHERE h.first IS NOT NULL))[1], \
               (array_agg(h.last ORDER BY h.bucket DESC) FILTER (WHERE h.last IS NOT NULL))[1] \
             FROM (SELECT DISTINCT device_id, date_trunc('day', hour, 'UTC') AS day \
                   FROM unnest($1::bigint[], $2::timestamptz[]) AS u(device_id, hour)) d \
             JOIN register_readings_hourly h ON h.device_id = d.device_id \
               AND h.bucket >= d.day AND h.bucket < d.day + INTERVAL '1 day' \
             WHERE h.bucket >= $3 AND h.bucket < $4 \
               AND d.day < (SELECT upto FROM rollup_watermarks \
                            WHERE name = 'register_readings_daily') \
             GROUP BY 1, 2, 3 {UPDATE}"
        ),
        &[&devices, &hours, &day_lo, &day_hi],
    )
    .await
    .map_err(db_err)?;
    tx.commit().await.map_err(db_err)?;
    Ok(marked.len() as u64)
}

/// TimescaleDB: takes the marks, then refreshes the hourly and then the daily continuous
/// aggregate over exactly the marked hours (adjacent hours as one range). A refresh that
/// fails (a policy refreshing beside it) puts the marks back for the next run. Returns the
/// hours refreshed.
pub(super) async fn refresh_timescale(client: &Client) -> Result<u64, StoreError> {
    let marked = client
        .query("DELETE FROM rollup_dirty RETURNING device_id, bucket", &[])
        .await
        .map_err(db_err)?;
    let mut devices = Vec::with_capacity(marked.len());
    let mut hours = Vec::with_capacity(marked.len());
    for row in &marked {
        devices.push(row.try_get::<_, i64>(0).map_err(db_err)?);
        hours.push(row.try_get::<_, DateTime<Utc>>(1).map_err(db_err)?);
    }
    if hours.is_empty() {
        return Ok(0);
    }
    match refresh_hours(client, &hours).await {
        Ok(n) => Ok(n),
        Err(e) => {
            client
                .execute(
                    "INSERT INTO rollup_dirty (device_id, bucket) \
                     SELECT * FROM unnest($1::bigint[], $2::timestamptz[]) ON CONFLICT DO NOTHING",
                    &[&devices, &hours],
                )
                .await
                .map_err(db_err)?;
            Err(e)
        }
    }
}

async fn refresh_hours(client: &Client, hours: &[DateTime<Utc>]) -> Result<u64, StoreError> {
    let distinct: BTreeSet<DateTime<Utc>> = hours.iter().copied().collect();
    let hour = TimeDelta::hours(1);
    let day = TimeDelta::days(1);
    let mut ranges: Vec<(DateTime<Utc>, DateTime<Utc>)> = Vec::new();
    for &h in &distinct {
        match ranges.last_mut() {
            Some((_, hi)) if *hi == h => *hi = h + hour,
            _ => ranges.push((h, h + hour)),
        }
    }
    let literal = |t: DateTime<Utc>| format!("'{}'::timestamptz", t.to_rfc3339());
    // A refresh cannot run inside a transaction block: one autocommit statement each.
    let refresh = |name: &str, lo: DateTime<Utc>, hi: DateTime<Utc>| {
        format!(
            "CALL refresh_continuous_aggregate('{name}', {}, {})",
            literal(lo),
            literal(hi)
        )
    };
    for (lo, hi) in ranges {
        let sql = refresh("register_readings_hourly", lo, hi);
        refresh_beside_policies(client, &sql).await?;
        if let (Ok(first), Ok(last)) = (lo.duration_trunc(day), (hi - hour).duration_trunc(day)) {
            let sql = refresh("register_readings_daily", first, last + day);
            refresh_beside_policies(client, &sql).await?;
        }
    }
    Ok(distinct.len() as u64)
}

/// Pauses before each retry of a refresh that met a policy's refresh of the same window.
const REFRESH_RETRY_PAUSES_MS: [u64; 5] = [100, 200, 400, 800, 1_600];

/// Runs a refresh `sql`; one that meets a refresh policy's run over the same window
/// ("due to a concurrent refresh": a policy's first run starts as the store opens, and a
/// maintenance run right after it met it) is tried again once that run had time to end.
async fn refresh_beside_policies(client: &Client, sql: &str) -> Result<(), StoreError> {
    let mut pauses = REFRESH_RETRY_PAUSES_MS.iter();
    loop {
        match client.batch_execute(sql).await {
            Ok(()) => return Ok(()),
            Err(e) if e.code() == Some(&tokio_postgres::error::SqlState::LOCK_NOT_AVAILABLE) => {
                match pauses.next() {
                    Some(&ms) => tokio::time::sleep(std::time::Duration::from_millis(ms)).await,
                    None => return Err(db_err(e)),
                }
            }
            Err(e) => return Err(db_err(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use historian_model::{DataType, Quality, RegisterRef, Table};

    fn at(device_id: i64, t: DateTime<Utc>) -> Reading {
        Reading {
            timestamp: t,
            device_id,
            register_address: RegisterRef::new(Table::HoldingRegister, 0),
            value: Some(1.0),
            text: None,
            quality: Quality::Good,
            register_name: "r".into(),
            data_type: DataType::Uint16,
            unit: "".into(),
        }
    }

    #[test]
    fn only_readings_behind_the_rollups_mark_their_hours() {
        let now = Utc::now();
        let live: Vec<Reading> = (0..100)
            .map(|k| at(1, now - TimeDelta::milliseconds(k)))
            .collect();
        assert!(Touched::of(&live, now - PLAIN_MARGIN).is_none());
        let week = (now - TimeDelta::days(7))
            .duration_trunc(TimeDelta::hours(1))
            .expect("hour");
        let mut late = live;
        late.extend([
            at(1, week + TimeDelta::minutes(5)),
            at(1, week + TimeDelta::minutes(50)),
            at(2, week + TimeDelta::minutes(70)),
        ]);
        let touched = Touched::of(&late, now - PLAIN_MARGIN).expect("late rows");
        assert_eq!(touched.devices, [1, 2]);
        assert_eq!(touched.hours, [week, week + TimeDelta::hours(1)]);
    }
}
