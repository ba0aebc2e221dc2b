//! Storage figures on SQLite: file sizes, the readings' tables, bytes per compacted
//! reading, and the disk the configured fleet will need over the retention period.

use super::blocks;
use super::connection::{SqliteStore, db_err};
use crate::model::{DiskProjection, StorageFigures};
use crate::store::StoreError;
use rusqlite::Connection;

/// File bytes (with WAL), the bytes of the readings' row table and blocks, and the
/// projection.
pub(super) async fn figures(store: &SqliteStore) -> Result<StorageFigures, StoreError> {
    let path = store.path.clone();
    let file_bytes: u64 = ["", "-wal", "-shm"]
        .iter()
        .filter_map(|suffix| {
            let mut p = path.clone().into_os_string();
            p.push(suffix);
            std::fs::metadata(p).ok().map(|m| m.len())
        })
        .sum();
    // dbstat is compiled into the bundled SQLite: the exact bytes of the tables.
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
    let (rate, totals) = store
        .read(|conn| Ok((fleet_rate(conn)?, blocks::totals(conn)?)))
        .await?;
    let (_, readings, bytes) = totals;
    let bytes_per_reading = (readings > 0).then(|| bytes as f64 / readings as f64);
    let folder = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    let free = nix::sys::statvfs::statvfs(folder)
        .ok()
        .map(|s| s.blocks_available().saturating_mul(s.fragment_size()));
    let projection = DiskProjection::new(
        rate,
        store.options.retention.as_secs(),
        bytes_per_reading,
        free,
        file_bytes,
    );
    Ok(StorageFigures {
        database_bytes: file_bytes,
        readings_bytes: u64::try_from(readings_bytes).unwrap_or(0),
        bytes_per_reading,
        projection: Some(projection),
        ..StorageFigures::default()
    })
}

/// Readings per second of the enabled devices' current registers, each at its own
/// interval or its device's.
fn fleet_rate(conn: &Connection) -> Result<f64, StoreError> {
    conn.query_row(
        "SELECT coalesce(sum(1000.0 / coalesce(m.poll_interval_ms, d.poll_interval_ms)), 0) \
         FROM device_register_map m JOIN devices d ON d.id = m.device_id \
         WHERE d.enabled = 1 AND m.removed_at IS NULL",
        [],
        |r| r.get(0),
    )
    .map_err(db_err)
}
