//! The SQLite schema: migrations embedded from `migrations/sqlite`.

use crate::store::StoreError;
use rusqlite::Connection;

mod embedded {
    refinery::embed_migrations!("migrations/sqlite");
}

/// Applies pending migrations to `conn`.
pub(super) fn apply(conn: &mut Connection) -> Result<(), StoreError> {
    let report = embedded::migrations::runner()
        .run(conn)
        .map_err(|e| StoreError::Migration {
            message: e.to_string(),
            source: Some(Box::new(e)),
        })?;
    for m in report.applied_migrations() {
        tracing::info!(migration = %m, "applied migration");
    }
    Ok(())
}
