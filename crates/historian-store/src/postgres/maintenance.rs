//! Upkeep on PostgreSQL: TimescaleDB's policies do it themselves; plain PostgreSQL gets
//! partitions ahead, roll-ups, then retention.

use super::connection::{PgMode, PostgresStore, db_err};
use super::{aggregates, migrations, plain};
use crate::store::{MaintenanceReport, StoreError};
use chrono::{DateTime, Utc};

/// Partitions ahead, roll-ups and retention where the database does not do them.
pub(super) async fn run(
    store: &PostgresStore,
    now: DateTime<Utc>,
) -> Result<MaintenanceReport, StoreError> {
    match store.mode {
        // TimescaleDB's own policies compress, drop chunks and refresh aggregates.
        PgMode::TimescaleDb { .. } => Ok(MaintenanceReport::default()),
        PgMode::Plain { .. } => {
            let client = store.client().await?;
            // Under the schema lock: historians sharing the database would otherwise race
            // to create the same partition.
            migrations::lock_schema(&client).await?;
            let prepared = plain::prepare(&client, now).await;
            migrations::unlock_schema(&client).await?;
            prepared?;
            let keep = chrono::Duration::from_std(store.options.retention)
                .unwrap_or(chrono::Duration::MAX);
            // Roll up before retention, so no reading leaves before it is rolled up.
            aggregates::roll_up(&client, now).await?;
            let (partitions_dropped, mut rows_deleted) =
                plain::apply_retention(&client, now - keep).await?;
            for (table, cutoff) in store.options.rollup_cutoffs(now) {
                rows_deleted += client
                    .execute(
                        &format!("DELETE FROM {table} WHERE bucket < $1"),
                        &[&cutoff],
                    )
                    .await
                    .map_err(db_err)?;
            }
            Ok(MaintenanceReport {
                partitions_dropped,
                rows_deleted,
            })
        }
    }
}
