//! Plain PostgreSQL upkeep: daily partitions created ahead of time and dropped whole for
//! retention, so old data leaves without a DELETE or a VACUUM.

use super::connection::db_err;
use crate::store::StoreError;
use chrono::{DateTime, Days, NaiveDate, Utc};
use tokio_postgres::Client;

/// Days of partitions kept ready ahead of today.
const DAYS_AHEAD: u64 = 3;

fn partition_name(day: NaiveDate) -> String {
    format!("register_readings_p{}", day.format("%Y%m%d"))
}

/// Daily partitions from `$1` (a partition name) on, and the default partition: their BRIN
/// indexes are set not to ask autovacuum per filled range (a new partition takes that
/// option from the partitioned index, which cannot change it) and their new ranges are
/// summarised; returns the ranges summarised.
const QUIET_RECENT_PARTITIONS: &str = "\
    SELECT historian_summarize_time_ranges(ARRAY( \
        SELECT c.oid::regclass FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid \
        WHERE i.inhparent = 'readings'::regclass \
          AND (c.relname = 'register_readings_default' OR c.relname >= $1)))";

/// Creates the roll-up tables and the partitions from yesterday to `DAYS_AHEAD` days ahead
/// of `now`, and brings the BRIN summaries of time of those partitions up to date (see
/// migration V027); returns the page ranges summarised.
pub async fn prepare(client: &Client, now: DateTime<Utc>) -> Result<u64, StoreError> {
    client
        .batch_execute(super::aggregates::ROLLUP_TABLES)
        .await
        .map_err(db_err)?;
    let today = now.date_naive();
    let first = today.checked_sub_days(Days::new(1)).unwrap_or(today);
    for k in 0..=DAYS_AHEAD + 1 {
        let Some(day) = first.checked_add_days(Days::new(k)) else {
            continue;
        };
        let Some(next) = day.checked_add_days(Days::new(1)) else {
            continue;
        };
        let sql = format!(
            "CREATE TABLE IF NOT EXISTS {} PARTITION OF readings \
             FOR VALUES FROM ('{day}T00:00:00Z') TO ('{next}T00:00:00Z')",
            partition_name(day)
        );
        if let Err(e) = client.batch_execute(&sql).await {
            // Rows for that day already sit in the default partition: they stay there
            // (still queried, still kept) and the day simply has no partition of its own.
            tracing::warn!(day = %day, error = %db_err(e), "cannot create a daily partition");
        }
    }
    let summarized: i64 = client
        .query_one(QUIET_RECENT_PARTITIONS, &[&partition_name(first)])
        .await
        .map_err(db_err)?
        .try_get(0)
        .map_err(db_err)?;
    Ok(u64::try_from(summarized).unwrap_or(0))
}

/// Drops daily partitions that end before `cutoff`, and deletes older rows from the
/// default partition in small transactions. Returns the partitions dropped and the rows
/// deleted.
pub async fn apply_retention(
    client: &Client,
    cutoff: DateTime<Utc>,
) -> Result<(Vec<String>, u64), StoreError> {
    let rows = client
        .query(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid \
             WHERE i.inhparent = 'readings'::regclass \
               AND c.relname ~ '^register_readings_p[0-9]{8}$' ORDER BY c.relname",
            &[],
        )
        .await
        .map_err(db_err)?;
    let mut dropped = Vec::new();
    for row in rows {
        let name: String = row.get(0);
        let Ok(day) = NaiveDate::parse_from_str(&name["register_readings_p".len()..], "%Y%m%d")
        else {
            continue;
        };
        let Some(end) = day.checked_add_days(Days::new(1)) else {
            continue;
        };
        if end.and_time(chrono::NaiveTime::MIN).and_utc() <= cutoff {
            client
                .batch_execute(&format!("DROP TABLE {name}"))
                .await
                .map_err(db_err)?;
            dropped.push(name);
        }
    }
    let mut deleted = 0;
    loop {
        let n = client
            .execute(
                "DELETE FROM register_readings_default WHERE ctid IN \
                 (SELECT ctid FROM register_readings_default WHERE \"timestamp\" < $1 LIMIT 10000)",
                &[&cutoff],
            )
            .await
            .map_err(db_err)?;
        if n == 0 {
            break;
        }
        deleted += n;
    }
    Ok((dropped, deleted))
}
