//! The device watch on SQLite: a change counter kept by triggers, polled.

use super::connection::{SqliteStore, open_connection};
use crate::store::StoreError;
use rusqlite::Connection;

/// How often the device catalogue's change counter is read.
const DEVICE_WATCH_EVERY: std::time::Duration = std::time::Duration::from_millis(250);

/// Signals each change of the device catalogue (and once at the start).
pub(super) async fn watch(
    store: &SqliteStore,
) -> Result<tokio::sync::mpsc::Receiver<()>, StoreError> {
    let conn = open_connection(&store.path)?;
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    // A thread of its own: it sleeps most of the time and must not hold a reader.
    std::thread::Builder::new()
        .name("sqlite-device-watch".into())
        .spawn(move || {
            let version = |c: &Connection| {
                c.query_row("SELECT version FROM device_catalog_version", [], |r| {
                    r.get::<_, i64>(0)
                })
                .ok()
            };
            // No baseline: the first look always signals, so one reload covers any
            // change made between the caller's first load and this thread's start.
            let mut seen = None;
            while !tx.is_closed() {
                std::thread::sleep(DEVICE_WATCH_EVERY);
                let now = version(&conn);
                if now != seen {
                    seen = now;
                    let _ = tx.try_send(());
                }
            }
        })
        .map_err(|e| StoreError::worker(format!("cannot start the device watch: {e}"), e))?;
    Ok(rx)
}
