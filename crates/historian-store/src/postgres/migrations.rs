//! The PostgreSQL schema: migrations embedded from `migrations/postgres`, applied on a
//! session of their own.

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
    apply(&mut client, options, version).await
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
