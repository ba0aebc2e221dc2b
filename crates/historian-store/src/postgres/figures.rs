//! Storage figures on PostgreSQL: sizes, and chunks, compression and jobs on TimescaleDB.

use super::connection::{PgMode, PostgresStore, db_err};
use crate::model::{JobStatus, StorageFigures};
use crate::store::StoreError;

/// Database and readings bytes, partitions or chunks, compression and job status.
pub(super) async fn figures(store: &PostgresStore) -> Result<StorageFigures, StoreError> {
    let client = store.client().await?;
    let db = client
        .query_one(
            "SELECT pg_database_size(current_database()), current_setting('wal_compression')",
            &[],
        )
        .await
        .map_err(db_err)?;
    let mut figures = StorageFigures {
        database_bytes: u64::try_from(db.get::<_, i64>(0)).unwrap_or(0),
        wal_compression: Some(db.try_get(1).map_err(db_err)?),
        ..StorageFigures::default()
    };
    match store.mode {
        PgMode::TimescaleDb { .. } => {
            let row = client
                .query_one(
                    "SELECT hypertable_size('readings'), \
                       (SELECT count(*) FROM timescaledb_information.chunks \
                         WHERE hypertable_name = 'readings'), \
                       (SELECT count(*) FROM timescaledb_information.chunks \
                         WHERE hypertable_name = 'readings' AND is_compressed), \
                       (SELECT sum(before_compression_total_bytes)::float8 \
                               / nullif(sum(after_compression_total_bytes), 0) \
                          FROM chunk_compression_stats('readings'))",
                    &[],
                )
                .await
                .map_err(db_err)?;
            figures.readings_bytes =
                u64::try_from(row.get::<_, Option<i64>>(0).unwrap_or(0)).unwrap_or(0);
            figures.chunks = u64::try_from(row.try_get::<_, i64>(1).map_err(db_err)?).unwrap_or(0);
            figures.compressed_chunks =
                u64::try_from(row.try_get::<_, i64>(2).map_err(db_err)?).unwrap_or(0);
            figures.compression_ratio = row.try_get(3).map_err(db_err)?;
            let jobs = client
                .query(
                    "SELECT j.job_id::bigint, j.proc_name::text, \
                       coalesce(j.hypertable_name::text, ''), s.last_run_status, \
                       CASE WHEN isfinite(s.last_successful_finish) \
                            THEN s.last_successful_finish END, \
                       coalesce(s.total_failures, 0)::bigint \
                     FROM timescaledb_information.jobs j \
                     LEFT JOIN timescaledb_information.job_stats s USING (job_id) \
                     WHERE j.proc_name LIKE 'policy_%' AND j.hypertable_name IS NOT NULL \
                     ORDER BY j.job_id",
                    &[],
                )
                .await
                .map_err(db_err)?;
            figures.jobs = jobs
                .iter()
                .map(|r| {
                    Ok(JobStatus {
                        id: r.try_get(0).map_err(db_err)?,
                        name: r.try_get(1).map_err(db_err)?,
                        relation: r.try_get(2).map_err(db_err)?,
                        last_run_status: r.try_get(3).map_err(db_err)?,
                        last_successful_finish: r.try_get(4).map_err(db_err)?,
                        total_failures: r.try_get(5).map_err(db_err)?,
                    })
                })
                .collect::<Result<_, StoreError>>()?;
        }
        PgMode::Plain { .. } => {
            let row = client
                .query_one(
                    "SELECT coalesce(sum(pg_total_relation_size(inhrelid)), 0)::bigint, count(*) \
                     FROM pg_inherits WHERE inhparent = 'readings'::regclass",
                    &[],
                )
                .await
                .map_err(db_err)?;
            figures.readings_bytes =
                u64::try_from(row.try_get::<_, i64>(0).map_err(db_err)?).unwrap_or(0);
            figures.chunks = u64::try_from(row.try_get::<_, i64>(1).map_err(db_err)?).unwrap_or(0);
        }
    }
    Ok(figures)
}
