//! The PostgreSQL schema: migrations embedded from `migrations/postgres`, applied on a
//! session of their own while it holds the schema lock, so that historians starting at the
//! same moment take turns instead of racing to create the same tables.

use super::connection::db_err;
use super::tls::PgLink;
use crate::options::StoreOptions;
use crate::store::StoreError;

mod embedded {
    refinery::embed_migrations!("migrations/postgres");
}

/// Applies the embedded migrations up to and including `version` (all when `None`) and
/// returns the names of those applied; upgrade tests use it to build an older schema.
pub async fn migrate_to(
    url: &str,
    options: &StoreOptions,
    version: Option<i32>,
) -> Result<Vec<String>, StoreError> {
    let mut client = PgLink::new(url)?.connect().await?;
    lock_schema(&client).await?;
    let applied = apply(&mut client, options, version).await;
    unlock_schema(&client).await?;
    applied
}

/// Key of the session-level advisory lock held while the schema and the objects that follow
/// the configuration (policies, aggregates, partitions) are brought in line: the ASCII of
/// `histmigr`, so that it is unlikely to collide with another application's lock.
const SCHEMA_LOCK: i64 = 0x6869_7374_6d69_6772;

/// Waits for the schema lock on `client`'s session. A session-level lock, not a
/// transaction-level one: refinery commits each migration on its own, and the lock must
/// span them all and the preparation after them. Released by [`unlock_schema`], or by the
/// server when the session ends (a historian that dies while holding it blocks no one).
pub(super) async fn lock_schema(client: &tokio_postgres::Client) -> Result<(), StoreError> {
    client
        .execute("SELECT pg_advisory_lock($1)", &[&SCHEMA_LOCK])
        .await
        .map_err(db_err)?;
    Ok(())
}

/// Releases the schema lock taken by [`lock_schema`] on the same session.
pub(super) async fn unlock_schema(client: &tokio_postgres::Client) -> Result<(), StoreError> {
    client
        .execute("SELECT pg_advisory_unlock($1)", &[&SCHEMA_LOCK])
        .await
        .map_err(db_err)?;
    Ok(())
}

/// Applies the embedded migrations up to `version` on `client`; returns those applied.
pub(super) async fn apply(
    client: &mut tokio_postgres::Client,
    options: &StoreOptions,
    version: Option<i32>,
) -> Result<Vec<String>, StoreError> {
    client
        .batch_execute(&format!(
            "SET historian.timescaledb = '{}'",
            options.timescaledb.as_str()
        ))
        .await
        .map_err(db_err)?;
    let target = version.map_or(refinery::Target::Latest, refinery::Target::Version);
    let report = embedded::migrations::runner()
        .set_target(target)
        .run_async(client)
        .await
        .map_err(|e| match db_err(e) {
            StoreError::Database { message, source } => StoreError::Migration { message, source },
            other => other,
        })?;
    let applied: Vec<String> = report
        .applied_migrations()
        .iter()
        .map(|m| m.to_string())
        .collect();
    for m in &applied {
        tracing::info!(migration = %m, "applied migration");
    }
    Ok(applied)
}
