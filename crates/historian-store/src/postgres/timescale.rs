//! TimescaleDB objects and policies, brought to what the options say at every start-up:
//! compression settings, compression and retention policies, and hourly and daily
//! continuous aggregates with refresh and retention policies. Policies whose interval
//! changed are replaced, never duplicated.

use super::connection::db_err;
use crate::options::StoreOptions;
use crate::store::StoreError;
use std::time::Duration;
use tokio_postgres::Client;

/// Hourly continuous aggregate: avg, min, max, count, first, last per register and hour.
const HOURLY: &str = r#"
CREATE MATERIALIZED VIEW register_readings_hourly
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT time_bucket(INTERVAL '1 hour', "timestamp") AS bucket,
       device_id,
       register_address,
       avg(value)                AS avg,
       min(value)                AS min,
       max(value)                AS max,
       count(value)              AS count,
       first(value, "timestamp") FILTER (WHERE value IS NOT NULL) AS first,
       last(value, "timestamp")  FILTER (WHERE value IS NOT NULL) AS last
FROM readings
GROUP BY bucket, device_id, register_address
WITH NO DATA"#;

/// Daily continuous aggregate built on the hourly one (hierarchical).
const DAILY: &str = r#"
CREATE MATERIALIZED VIEW register_readings_daily
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT time_bucket(INTERVAL '1 day', bucket) AS bucket,
       device_id,
       register_address,
       sum(avg * count) / nullif(sum(count), 0) AS avg,
       min(min)                                 AS min,
       max(max)                                 AS max,
       sum(count)::bigint                       AS count,
       first(first, bucket) FILTER (WHERE first IS NOT NULL) AS first,
       last(last, bucket)   FILTER (WHERE last IS NOT NULL)  AS last
FROM register_readings_hourly
GROUP BY 1, device_id, register_address
WITH NO DATA"#;

/// How far back the hourly refresh policy looks; older late readings are refreshed by
/// maintenance (see `late`).
pub(super) const HOURLY_REFRESH_START: chrono::TimeDelta = chrono::TimeDelta::days(3);

/// An interval literal; whole days are written as days so policies read naturally.
fn interval(d: Duration) -> String {
    let secs = d.as_secs();
    if secs.is_multiple_of(86_400) {
        format!("{} days", secs / 86_400)
    } else {
        format!("{secs} seconds")
    }
}

async fn view_exists(client: &Client, name: &str) -> Result<bool, StoreError> {
    let row = client
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM timescaledb_information.continuous_aggregates \
             WHERE view_name = $1)",
            &[&name],
        )
        .await
        .map_err(db_err)?;
    Ok(row.get(0))
}

/// Makes sure one policy exists with `key` = `want` in its config (or no policy when
/// `want` is `None`), replacing a policy whose interval differs.
async fn ensure_policy(
    client: &Client,
    proc_name: &str,
    relation: &str,
    key: &str,
    want: Option<Duration>,
    add: &str,
    remove: &str,
) -> Result<(), StoreError> {
    let rows = client
        .query(
            "SELECT job_id, (config->>$3)::interval = $4::text::interval \
             FROM timescaledb_information.jobs \
             WHERE proc_name = $1 AND (hypertable_name = $2 OR hypertable_name = \
               (SELECT materialization_hypertable_name \
                FROM timescaledb_information.continuous_aggregates WHERE view_name = $2))",
            &[
                &proc_name,
                &relation,
                &key,
                &want.map(interval).unwrap_or_else(|| "0".into()),
            ],
        )
        .await
        .map_err(db_err)?;
    let up_to_date =
        want.is_some() && rows.len() == 1 && rows[0].get::<_, Option<bool>>(1) == Some(true);
    if up_to_date {
        return Ok(());
    }
    if !rows.is_empty() {
        client
            .batch_execute(&format!("SELECT {remove}('{relation}', if_exists => true)"))
            .await
            .map_err(db_err)?;
        tracing::info!(policy = proc_name, relation, "removed outdated policy");
    }
    if let Some(d) = want {
        client
            .batch_execute(&format!(
                "SELECT {add}('{relation}', {key} => INTERVAL '{}')",
                interval(d)
            ))
            .await
            .map_err(db_err)?;
        tracing::info!(policy = proc_name, relation, every = ?d, "policy set");
    }
    Ok(())
}

/// Brings TimescaleDB objects and policies in line with `opts`.
pub async fn prepare(client: &Client, opts: &StoreOptions) -> Result<(), StoreError> {
    let row = client
        .query_one(
            "SELECT compression_enabled FROM timescaledb_information.hypertables \
             WHERE hypertable_name = 'readings'",
            &[],
        )
        .await
        .map_err(db_err)?;
    if !row.get::<_, bool>(0) {
        client
            .batch_execute(
                "ALTER TABLE readings SET (timescaledb.compress, \
                 timescaledb.compress_segmentby = 'device_id, register_address', \
                 timescaledb.compress_orderby = '\"timestamp\" DESC')",
            )
            .await
            .map_err(db_err)?;
    }

    let mut created = Vec::new();
    for (name, ddl) in [
        ("register_readings_hourly", HOURLY),
        ("register_readings_daily", DAILY),
    ] {
        if !view_exists(client, name).await? {
            client.batch_execute(ddl).await.map_err(db_err)?;
            client
                .batch_execute(&format!(
                    "CREATE INDEX IF NOT EXISTS {name}_device_register_bucket_idx \
                     ON {name} (device_id, register_address, bucket DESC)"
                ))
                .await
                .map_err(db_err)?;
            created.push(name);
        }
    }

    // One policy at a time: adding two in the same instant deadlocked once.
    ensure_policy(
        client,
        "policy_compression",
        "readings",
        "compress_after",
        Some(opts.compress_after),
        "add_compression_policy",
        "remove_compression_policy",
    )
    .await?;
    for (relation, keep) in [
        ("readings", Some(opts.retention)),
        ("register_readings_hourly", Some(opts.hourly_retention)),
        ("register_readings_daily", opts.daily_retention),
    ] {
        ensure_policy(
            client,
            "policy_retention",
            relation,
            "drop_after",
            keep,
            "add_retention_policy",
            "remove_retention_policy",
        )
        .await?;
    }
    // A refresh cannot run inside a transaction block: one autocommit statement each. It
    // runs before the refresh policies exist: a policy's first run starts at once and a
    // manual refresh beside it fails ("due to a concurrent refresh").
    for name in created {
        client
            .batch_execute(&format!(
                "CALL refresh_continuous_aggregate('{name}', NULL, NULL)"
            ))
            .await
            .map_err(db_err)?;
    }
    let hourly_start = format!("{} days", HOURLY_REFRESH_START.num_days());
    for (name, start, end, every) in [
        (
            "register_readings_hourly",
            hourly_start.as_str(),
            "1 hour",
            "30 minutes",
        ),
        ("register_readings_daily", "7 days", "1 day", "1 hour"),
    ] {
        client
            .batch_execute(&format!(
                "SELECT add_continuous_aggregate_policy('{name}', \
                 start_offset => INTERVAL '{start}', end_offset => INTERVAL '{end}', \
                 schedule_interval => INTERVAL '{every}', if_not_exists => true)"
            ))
            .await
            .map_err(db_err)?;
    }
    Ok(())
}
