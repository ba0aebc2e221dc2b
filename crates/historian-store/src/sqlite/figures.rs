//! Storage figures on SQLite: file sizes and the readings table's pages.

use super::connection::{SqliteStore, db_err};
use crate::model::StorageFigures;
use crate::store::StoreError;

/// File bytes (with WAL) and the bytes of the readings' row table and blocks.
pub(super) async fn figures(store: &SqliteStore) -> Result<StorageFigures, StoreError> {
    let path = store.path.clone();
    let file_bytes = ["", "-wal", "-shm"]
        .iter()
        .filter_map(|suffix| {
            let mut p = path.clone().into_os_string();
            p.push(suffix);
            std::fs::metadata(p).ok().map(|m| m.len())
        })
        .sum();
    // dbstat is compiled into the bundled SQLite: the exact bytes of the table.
    let readings_bytes = store
        .read(|conn| {
            conn.query_row(
                "SELECT coalesce(sum(pgsize), 0) FROM dbstat \
                 WHERE name IN ('register_readings', 'reading_blocks')",
                [],
                |r| r.get::<_, i64>(0),
            )
            .map_err(db_err)
        })
        .await
        .unwrap_or(0);
    Ok(StorageFigures {
        database_bytes: file_bytes,
        readings_bytes: u64::try_from(readings_bytes).unwrap_or(0),
        ..StorageFigures::default()
    })
}
