//! The SQLite schema: migrations embedded from `migrations/sqlite`.

use crate::store::StoreError;
use rusqlite::{Connection, OptionalExtension};

mod embedded {
    refinery::embed_migrations!("migrations/sqlite");
}

/// Applies pending migrations to `conn`, with foreign key enforcement off while they run
/// (SQLite's way to rebuild a table that others reference: dropping it with enforcement on
/// would cascade to, or be refused by, the rows that reference it). When any ran, every
/// reference is checked before enforcement is back on; an upgrade is rare, and the check
/// reads every row that references another, so it does not run at each start.
pub(super) fn apply(conn: &mut Connection) -> Result<(), StoreError> {
    apply_to(conn, None)
}

/// Applies the embedded migrations to the database at `path` up to and including
/// `version`; upgrade tests use it to build an older schema.
pub fn migrate_to(path: &std::path::Path, version: i32) -> Result<(), StoreError> {
    let mut conn = super::connection::open_connection(path)?;
    apply_to(&mut conn, Some(version))
}

/// [`apply`] up to `version` (all when `None`).
fn apply_to(conn: &mut Connection, version: Option<i32>) -> Result<(), StoreError> {
    let failed = |e: rusqlite::Error| StoreError::Migration {
        message: e.to_string(),
        source: Some(Box::new(e)),
    };
    conn.execute_batch("PRAGMA foreign_keys = OFF")
        .map_err(failed)?;
    let target = version.map_or(refinery::Target::Latest, refinery::Target::Version);
    let report = embedded::migrations::runner().set_target(target).run(conn);
    let broken = match &report {
        Ok(r) if !r.applied_migrations().is_empty() => conn
            .query_row("PRAGMA foreign_key_check", [], |row| {
                Ok(format!(
                    "{} row {} references a missing row of {}",
                    row.get::<_, String>(0)?,
                    row.get::<_, Option<i64>>(1)?.unwrap_or_default(),
                    row.get::<_, String>(2)?
                ))
            })
            .optional()
            .map_err(failed)?,
        _ => None,
    };
    conn.execute_batch("PRAGMA foreign_keys = ON")
        .map_err(failed)?;
    let report = report.map_err(|e| StoreError::Migration {
        message: e.to_string(),
        source: Some(Box::new(e)),
    })?;
    if let Some(broken) = broken {
        return Err(StoreError::Migration {
            message: format!("after the migrations, {broken}"),
            source: None,
        });
    }
    for m in report.applied_migrations() {
        tracing::info!(migration = %m, "applied migration");
    }
    Ok(())
}
