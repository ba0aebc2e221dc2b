//! The embedded backend: one SQLite file in WAL mode, one writer connection and a small
//! set of reader connections, so API queries never wait for a batch write.

mod aggregates;
mod devices;
mod figures;
mod maintenance;
mod migrations;
mod readings;
mod watch;

use crate::model::{AggregateBucket, DeviceRecord, SeriesKey, StorageFigures, TimeRange};
use crate::options::StoreOptions;
use crate::store::{
    DeleteOutcome, ErrorSource, MaintenanceReport, Store, StoreError, WriteOutcome,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use historian_model::{DeviceSpec, Reading, RegisterRef};
use rusqlite::{Connection, OpenFlags};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Reader connections kept open between queries.
const MAX_IDLE_READERS: usize = 4;

/// A SQLite-backed [`Store`].
#[derive(Debug)]
pub struct SqliteStore {
    path: PathBuf,
    writer: Arc<Mutex<Connection>>,
    readers: Arc<Mutex<Vec<Connection>>>,
    options: StoreOptions,
}

fn db_err(e: rusqlite::Error) -> StoreError {
    let refused = matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::ConstraintViolation | rusqlite::ErrorCode::TypeMismatch)
    );
    let message = e.to_string();
    let source: Option<ErrorSource> = Some(Box::new(e));
    if refused {
        StoreError::Refused { message, source }
    } else {
        StoreError::Database { message, source }
    }
}

fn open_connection(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| StoreError::open(path.display().to_string(), e))?;
    // NORMAL is durable across a crash of the process in WAL mode; a power cut may lose
    // the last transactions, which the spool covers.
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = NORMAL;
         PRAGMA foreign_keys = ON;
         PRAGMA busy_timeout = 5000;
         PRAGMA cache_size = -65536;
         PRAGMA wal_autocheckpoint = 16384;",
    )
    .map_err(|e| StoreError::open(path.display().to_string(), e))?;
    Ok(conn)
}

impl SqliteStore {
    /// Opens (creating if needed) the file at `path` and applies pending migrations.
    pub async fn open(path: &Path, options: &StoreOptions) -> Result<Self, StoreError> {
        let path = path.to_path_buf();
        let options = options.clone();
        tokio::task::spawn_blocking(move || {
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent)
                    .map_err(|e| StoreError::open(parent.display().to_string(), e))?;
            }
            let mut conn = open_connection(&path)?;
            migrations::apply(&mut conn)?;
            Ok(SqliteStore {
                path,
                writer: Arc::new(Mutex::new(conn)),
                readers: Arc::new(Mutex::new(Vec::new())),
                options,
            })
        })
        .await
        .map_err(|e| StoreError::worker(e.to_string(), e))?
    }

    /// Path of the database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let writer = Arc::clone(&self.writer);
        tokio::task::spawn_blocking(move || {
            let mut conn = writer.lock().map_err(|_| StoreError::Worker {
                message: "writer lock poisoned".into(),
                source: None,
            })?;
            f(&mut conn)
        })
        .await
        .map_err(|e| StoreError::worker(e.to_string(), e))?
    }

    async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let readers = Arc::clone(&self.readers);
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || {
            let idle = readers.lock().ok().and_then(|mut r| r.pop());
            let conn = match idle {
                Some(c) => c,
                None => open_connection(&path)?,
            };
            let out = f(&conn);
            if let Ok(mut r) = readers.lock()
                && r.len() < MAX_IDLE_READERS
            {
                r.push(conn);
            }
            out
        })
        .await
        .map_err(|e| StoreError::worker(e.to_string(), e))?
    }
}

fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn write_devices(
        &self,
        devices: &[DeviceSpec],
        disable_others: bool,
    ) -> Result<Vec<DeviceRecord>, StoreError> {
        devices::write(self, devices, disable_others).await
    }

    async fn list_devices(&self) -> Result<Vec<DeviceRecord>, StoreError> {
        devices::list(self).await
    }

    async fn delete_device(&self, name: &str) -> Result<DeleteOutcome, StoreError> {
        devices::delete(self, name).await
    }

    async fn watch_devices(&self) -> Result<tokio::sync::mpsc::Receiver<()>, StoreError> {
        watch::watch(self).await
    }

    async fn insert_register_readings_batch(
        &self,
        batch: &[Reading],
    ) -> Result<WriteOutcome, StoreError> {
        readings::insert_batch(self, batch).await
    }

    async fn get_latest_reading(
        &self,
        device_id: i64,
        register: RegisterRef,
    ) -> Result<Option<Reading>, StoreError> {
        readings::latest(self, device_id, register).await
    }

    async fn get_device_readings_latest(&self, device_id: i64) -> Result<Vec<Reading>, StoreError> {
        readings::device_latest(self, device_id).await
    }

    async fn get_readings_time_range(
        &self,
        series: SeriesKey,
        range: TimeRange,
        limit: usize,
    ) -> Result<Vec<Reading>, StoreError> {
        readings::range(self, series, range, limit).await
    }

    async fn get_aggregates(
        &self,
        device_id: i64,
        registers: &[RegisterRef],
        range: TimeRange,
        width_secs: u64,
    ) -> Result<Vec<AggregateBucket>, StoreError> {
        aggregates::query(self, device_id, registers, range, width_secs).await
    }

    async fn run_maintenance(&self, now: DateTime<Utc>) -> Result<MaintenanceReport, StoreError> {
        maintenance::run(self, now).await
    }

    async fn storage_figures(&self) -> Result<StorageFigures, StoreError> {
        figures::figures(self).await
    }

    async fn count_readings(&self) -> Result<u64, StoreError> {
        readings::count(self).await
    }
}
