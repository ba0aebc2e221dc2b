//! The SQLite store itself: its file, its one writer and its reader connections, and how
//! driver errors become store errors.

use crate::options::StoreOptions;
use crate::store::{ErrorSource, StoreError};
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OpenFlags};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Reader connections kept open between queries.
pub(super) const MAX_IDLE_READERS: usize = 4;

/// A SQLite-backed [`Store`].
#[derive(Debug)]
pub struct SqliteStore {
    pub(super) path: PathBuf,
    pub(super) writer: Arc<Mutex<Connection>>,
    pub(super) readers: Arc<Mutex<Vec<Connection>>>,
    pub(super) options: StoreOptions,
}

pub(super) fn db_err(e: rusqlite::Error) -> StoreError {
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

pub(super) fn open_connection(path: &Path) -> Result<Connection, StoreError> {
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
    /// Path of the database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub(super) async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
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

    pub(super) async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
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

pub(super) fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}
