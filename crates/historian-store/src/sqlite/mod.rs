//! The embedded backend: one SQLite file in WAL mode, one writer connection and a small
//! set of reader connections, so API queries never wait for a batch write.

use crate::model::{
    AccessColumns, AggregateBucket, AggregateSource, DeviceRecord, MapRow, StorageFigures,
    select_devices_sql, upsert_device_sql,
};
use crate::options::StoreOptions;
mod aggregates;
use crate::store::{
    DeleteOutcome, MaintenanceReport, RejectedReading, Store, StoreError, WriteOutcome,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use historian_model::{DeviceSpec, Reading};
use historian_model::{RegisterPoint, RegisterRef};
use rusqlite::{Connection, OpenFlags, OptionalExtension, Row, params};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

mod embedded {
    refinery::embed_migrations!("migrations/sqlite");
}

/// Rows deleted per retention transaction, so the writer is never held for long.
const RETENTION_CHUNK: i64 = 5_000;

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
    if refused {
        StoreError::Refused(e.to_string())
    } else {
        StoreError::Database(e.to_string())
    }
}

/// How often the device catalogue's change counter is read.
const DEVICE_WATCH_EVERY: std::time::Duration = std::time::Duration::from_millis(250);

fn open_connection(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| StoreError::Open {
        what: path.display().to_string(),
        reason: e.to_string(),
    })?;
    // NORMAL is durable across a crash of the process in WAL mode; a power cut may lose
    // the last transactions, which the spool (issue 5) covers.
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = NORMAL;
         PRAGMA foreign_keys = ON;
         PRAGMA busy_timeout = 5000;
         PRAGMA cache_size = -65536;
         PRAGMA wal_autocheckpoint = 16384;",
    )
    .map_err(|e| StoreError::Open {
        what: path.display().to_string(),
        reason: e.to_string(),
    })?;
    Ok(conn)
}

impl SqliteStore {
    /// Opens (creating if needed) the file at `path` and applies pending migrations.
    pub async fn open(path: &Path, options: &StoreOptions) -> Result<Self, StoreError> {
        let path = path.to_path_buf();
        let options = options.clone();
        tokio::task::spawn_blocking(move || {
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent).map_err(|e| StoreError::Open {
                    what: parent.display().to_string(),
                    reason: e.to_string(),
                })?;
            }
            let mut conn = open_connection(&path)?;
            let report = embedded::migrations::runner()
                .run(&mut conn)
                .map_err(|e| StoreError::Migration(e.to_string()))?;
            for m in report.applied_migrations() {
                tracing::info!(migration = %m, "applied migration");
            }
            Ok(SqliteStore {
                path,
                writer: Arc::new(Mutex::new(conn)),
                readers: Arc::new(Mutex::new(Vec::new())),
                options,
            })
        })
        .await
        .map_err(|e| StoreError::Worker(e.to_string()))?
    }

    /// (device id, register reference) of every mapped register.
    async fn mapped_registers(&self) -> Result<Vec<(i64, i64)>, StoreError> {
        self.read(|conn| {
            let mut stmt = conn
                .prepare(
                    "SELECT DISTINCT device_id, register_address FROM device_register_map \
                     ORDER BY 1, 2",
                )
                .map_err(db_err)?;
            let rows = stmt
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                .map_err(db_err)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(db_err)
        })
        .await
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
            let mut conn = writer
                .lock()
                .map_err(|_| StoreError::Worker("writer lock poisoned".into()))?;
            f(&mut conn)
        })
        .await
        .map_err(|e| StoreError::Worker(e.to_string()))?
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
        .map_err(|e| StoreError::Worker(e.to_string()))?
    }
}

fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

const READING_COLUMNS: &str = "r.timestamp, r.device_id, r.register_address, r.value, r.quality, \
                               r.register_name, r.data_type, r.unit, r.value_text";

fn reading_from_row(row: &Row<'_>) -> Result<Reading, StoreError> {
    let corrupt = |what: String| StoreError::Corrupt(what);
    let ts: i64 = row.get(0).map_err(db_err)?;
    let reference: u32 = row.get(2).map_err(db_err)?;
    let quality: String = row.get(4).map_err(db_err)?;
    let data_type: String = row.get(6).map_err(db_err)?;
    let name: String = row.get(5).map_err(db_err)?;
    let unit: String = row.get(7).map_err(db_err)?;
    Ok(Reading {
        timestamp: DateTime::from_timestamp_micros(ts)
            .ok_or_else(|| corrupt(format!("timestamp {ts} out of range")))?,
        device_id: row.get(1).map_err(db_err)?,
        register_address: RegisterRef::from_reference(reference).map_err(corrupt)?,
        value: row.get(3).map_err(db_err)?,
        text: row
            .get::<_, Option<String>>(8)
            .map_err(db_err)?
            .map(Arc::from),
        quality: quality.parse().map_err(corrupt)?,
        register_name: name.into(),
        data_type: data_type.parse().map_err(corrupt)?,
        unit: unit.into(),
    })
}

fn collect_readings(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> Result<Vec<Reading>, StoreError> {
    let mut stmt = conn.prepare_cached(sql).map_err(db_err)?;
    let mut rows = stmt.query(params).map_err(db_err)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(db_err)? {
        out.push(reading_from_row(row)?);
    }
    Ok(out)
}

fn load_devices(conn: &Connection) -> Result<Vec<DeviceRecord>, StoreError> {
    let mut maps: HashMap<i64, Vec<RegisterPoint>> = HashMap::new();
    {
        let mut stmt = conn
            .prepare_cached(
                "SELECT device_id, register_address, register_name, data_type, word_order, \
                 scale, \"offset\", unit, min_value, max_value, not_available, \
                 string_length, poll_interval_ms \
                 FROM device_register_map \
                 ORDER BY device_id, position",
            )
            .map_err(db_err)?;
        let mut rows = stmt.query([]).map_err(db_err)?;
        while let Some(row) = rows.next().map_err(db_err)? {
            let point = MapRow {
                reference: row.get(1).map_err(db_err)?,
                name: row.get(2).map_err(db_err)?,
                data_type: row.get(3).map_err(db_err)?,
                word_order: row.get(4).map_err(db_err)?,
                scale: row.get(5).map_err(db_err)?,
                offset: row.get(6).map_err(db_err)?,
                unit: row.get(7).map_err(db_err)?,
                min: row.get(8).map_err(db_err)?,
                max: row.get(9).map_err(db_err)?,
                not_available: row.get(10).map_err(db_err)?,
                length: row.get(11).map_err(db_err)?,
                interval_ms: row.get(12).map_err(db_err)?,
            }
            .into_point()?;
            maps.entry(row.get(0).map_err(db_err)?)
                .or_default()
                .push(point);
        }
    }
    let mut stmt = conn.prepare_cached(&select_devices_sql()).map_err(db_err)?;
    let mut rows = stmt.query([]).map_err(db_err)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(db_err)? {
        let id: i64 = row.get(0).map_err(db_err)?;
        let host: String = row.get(2).map_err(db_err)?;
        let access = AccessColumns {
            transport: row.get(7).map_err(db_err)?,
            baud_rate: row.get(8).map_err(db_err)?,
            parity: row.get(9).map_err(db_err)?,
            stop_bits: row.get(10).map_err(db_err)?,
            data_bits: row.get(11).map_err(db_err)?,
            timeout_ms: row.get(12).map_err(db_err)?,
            max_registers_per_read: row.get(13).map_err(db_err)?,
            max_gap: row.get(14).map_err(db_err)?,
            pause_ms: row.get(15).map_err(db_err)?,
        }
        .into_access(id, &host)
        .map_err(StoreError::Corrupt)?;
        out.push(DeviceRecord {
            id,
            spec: DeviceSpec {
                name: row.get(1).map_err(db_err)?,
                host,
                port: row.get(3).map_err(db_err)?,
                unit_id: row.get(4).map_err(db_err)?,
                poll_interval_ms: row.get::<_, i64>(5).map_err(db_err)?.max(1) as u64,
                enabled: row.get(6).map_err(db_err)?,
                registers: maps.remove(&id).unwrap_or_default(),
                access,
            },
        });
    }
    Ok(out)
}

/// Inserts or updates one device (matched by name) and replaces its map; returns its id.
fn write_device(tx: &rusqlite::Transaction<'_>, d: &DeviceSpec) -> Result<i64, StoreError> {
    let a = AccessColumns::of(&d.access);
    let id: i64 = tx
        .query_row(
            &upsert_device_sql(|i| format!("?{i}"), "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')"),
            params![
                d.name,
                d.host,
                d.port,
                d.unit_id,
                i64::try_from(d.poll_interval_ms).unwrap_or(i64::MAX),
                d.enabled,
                a.transport,
                a.baud_rate,
                a.parity,
                a.stop_bits,
                a.data_bits,
                a.timeout_ms,
                a.max_registers_per_read,
                a.max_gap,
                a.pause_ms,
            ],
            |row| row.get(0),
        )
        .map_err(db_err)?;
    tx.execute("DELETE FROM device_register_map WHERE device_id = ?1", [id])
        .map_err(db_err)?;
    let mut stmt = tx
        .prepare_cached(
            "INSERT INTO device_register_map (device_id, position, \
                 register_address, register_name, data_type, word_order, scale, \
                 \"offset\", unit, min_value, max_value, not_available, \
                 string_length, poll_interval_ms) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
        )
        .map_err(db_err)?;
    for (position, p) in d.registers.iter().enumerate() {
        stmt.execute(params![
            id,
            position as i64,
            p.register.reference(),
            p.name,
            p.data_type.as_str(),
            p.word_order.as_str(),
            p.scale,
            p.offset,
            p.unit,
            p.limits.min,
            p.limits.max,
            p.limits.not_available.map(|v| v as i64),
            p.length,
            p.interval_ms
                .map(|ms| i64::try_from(ms).unwrap_or(i64::MAX))
        ])
        .map_err(db_err)?;
    }
    Ok(id)
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
        let devices = devices.to_vec();
        self.write(move |conn| {
            let tx = conn.transaction().map_err(db_err)?;
            if disable_others {
                tx.execute("UPDATE devices SET enabled = 0", [])
                    .map_err(db_err)?;
            }
            for d in &devices {
                write_device(&tx, d)?;
            }
            tx.commit().map_err(db_err)?;
            load_devices(conn)
        })
        .await
    }

    async fn list_devices(&self) -> Result<Vec<DeviceRecord>, StoreError> {
        self.read(load_devices).await
    }

    async fn delete_device(&self, name: &str) -> Result<DeleteOutcome, StoreError> {
        let name = name.to_string();
        self.write(move |conn| {
            let tx = conn.transaction().map_err(db_err)?;
            let id: Option<i64> = tx
                .query_row("SELECT id FROM devices WHERE name = ?1", [&name], |r| {
                    r.get(0)
                })
                .optional()
                .map_err(db_err)?;
            let Some(id) = id else {
                return Ok(DeleteOutcome::NotFound);
            };
            let has_readings = tx
                .query_row(
                    "SELECT 1 FROM register_readings WHERE device_id = ?1 LIMIT 1",
                    [id],
                    |_| Ok(()),
                )
                .optional()
                .map_err(db_err)?
                .is_some();
            if has_readings {
                return Ok(DeleteOutcome::HasReadings);
            }
            tx.execute("DELETE FROM device_register_map WHERE device_id = ?1", [id])
                .map_err(db_err)?;
            tx.execute("DELETE FROM devices WHERE id = ?1", [id])
                .map_err(db_err)?;
            tx.commit().map_err(db_err)?;
            Ok(DeleteOutcome::Deleted)
        })
        .await
    }

    async fn watch_devices(&self) -> Result<tokio::sync::mpsc::Receiver<()>, StoreError> {
        let conn = open_connection(&self.path)?;
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
            .map_err(|e| StoreError::Worker(format!("cannot start the device watch: {e}")))?;
        Ok(rx)
    }

    async fn insert_register_readings_batch(
        &self,
        batch: &[Reading],
    ) -> Result<WriteOutcome, StoreError> {
        if batch.is_empty() {
            return Ok(WriteOutcome::default());
        }
        let batch = batch.to_vec();
        self.write(move |conn| {
            let tx = conn.transaction().map_err(db_err)?;
            let mut out = WriteOutcome::default();
            {
                let mut stmt = tx
                    .prepare_cached(
                        "INSERT INTO register_readings (timestamp, device_id, register_address, \
                         value, quality, register_name, data_type, unit, value_text) \
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT DO NOTHING",
                    )
                    .map_err(db_err)?;
                for r in batch {
                    let res = stmt.execute(params![
                        micros(r.timestamp),
                        r.device_id,
                        r.register_address.reference(),
                        r.value,
                        r.quality.as_str(),
                        &*r.register_name,
                        r.data_type.as_str(),
                        &*r.unit,
                        r.text.as_deref()
                    ]);
                    match res {
                        Ok(1) => out.inserted += 1,
                        Ok(_) => out.duplicates += 1,
                        // A failed statement is undone on its own; the transaction goes on.
                        Err(rusqlite::Error::SqliteFailure(e, _))
                            if e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY =>
                        {
                            out.rejected.push(RejectedReading {
                                reason: format!("unknown device id {}", r.device_id),
                                reading: r,
                            });
                        }
                        Err(e) => return Err(db_err(e)),
                    }
                }
            }
            tx.commit().map_err(db_err)?;
            Ok(out)
        })
        .await
    }

    async fn get_latest_reading(
        &self,
        device_id: i64,
        register: RegisterRef,
    ) -> Result<Option<Reading>, StoreError> {
        self.read(move |conn| {
            let sql = format!(
                "SELECT {READING_COLUMNS} FROM register_readings r \
                 WHERE r.device_id = ?1 AND r.register_address = ?2 \
                 ORDER BY r.timestamp DESC LIMIT 1"
            );
            let mut stmt = conn.prepare_cached(&sql).map_err(db_err)?;
            stmt.query_row(params![device_id, register.reference()], |row| {
                Ok(reading_from_row(row))
            })
            .optional()
            .map_err(db_err)?
            .transpose()
        })
        .await
    }

    async fn get_device_readings_latest(&self, device_id: i64) -> Result<Vec<Reading>, StoreError> {
        self.read(move |conn| {
            // One index seek per mapped register instead of a scan of the device's history.
            let sql = format!(
                "SELECT {READING_COLUMNS} FROM device_register_map m \
                 JOIN register_readings r ON r.device_id = m.device_id \
                  AND r.register_address = m.register_address \
                  AND r.timestamp = (SELECT max(timestamp) FROM register_readings x \
                       WHERE x.device_id = m.device_id AND x.register_address = m.register_address) \
                 WHERE m.device_id = ?1 ORDER BY m.register_address"
            );
            collect_readings(conn, &sql, [device_id])
        })
        .await
    }

    async fn get_readings_time_range(
        &self,
        device_id: i64,
        register: RegisterRef,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Reading>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read(move |conn| {
            let sql = format!(
                "SELECT {READING_COLUMNS} FROM register_readings r \
                 WHERE r.device_id = ?1 AND r.register_address = ?2 \
                   AND r.timestamp >= ?3 AND r.timestamp < ?4 \
                 ORDER BY r.timestamp LIMIT ?5"
            );
            collect_readings(
                conn,
                &sql,
                params![
                    device_id,
                    register.reference(),
                    micros(start),
                    micros(end),
                    limit
                ],
            )
        })
        .await
    }

    async fn get_aggregates(
        &self,
        device_id: i64,
        registers: &[RegisterRef],
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        width_secs: u64,
    ) -> Result<Vec<AggregateBucket>, StoreError> {
        let refs: Vec<String> = registers
            .iter()
            .map(|r| r.reference().to_string())
            .collect();
        let refs = format!("[{}]", refs.join(","));
        let width_us = i64::try_from(width_secs.max(1))
            .unwrap_or(i64::MAX / 1_000_000)
            .saturating_mul(1_000_000);
        let sql = aggregates::query_sql(AggregateSource::for_width(width_secs).table());
        let (start, end) = (micros(start), micros(end));
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(&sql).map_err(db_err)?;
            let mut rows = stmt
                .query(params![device_id, refs, start, end, width_us])
                .map_err(db_err)?;
            let mut out = Vec::new();
            while let Some(row) = rows.next().map_err(db_err)? {
                let b: i64 = row.get(0).map_err(db_err)?;
                let reference: u32 = row.get(2).map_err(db_err)?;
                out.push(AggregateBucket {
                    bucket: DateTime::from_timestamp_micros(b)
                        .ok_or_else(|| StoreError::Corrupt(format!("bucket {b}")))?,
                    register_address: RegisterRef::from_reference(reference)
                        .map_err(StoreError::Corrupt)?,
                    avg: row.get(3).map_err(db_err)?,
                    min: row.get(4).map_err(db_err)?,
                    max: row.get(5).map_err(db_err)?,
                    count: row.get(6).map_err(db_err)?,
                    first: row.get(7).map_err(db_err)?,
                    last: row.get(8).map_err(db_err)?,
                });
            }
            Ok(out)
        })
        .await
    }

    async fn run_maintenance(&self, now: DateTime<Utc>) -> Result<MaintenanceReport, StoreError> {
        const HOUR_US: i64 = 3_600_000_000;
        const DAY_US: i64 = 24 * HOUR_US;
        let now_us = micros(now);
        let pairs = self.mapped_registers().await?;
        let rollups = [
            (
                "register_readings_hourly",
                "register_readings",
                HOUR_US,
                2 * HOUR_US,
            ),
            (
                "register_readings_daily",
                "register_readings_hourly",
                DAY_US,
                2 * DAY_US,
            ),
        ];
        for (table, source, width, lookback) in rollups {
            let upto = now_us.div_euclid(width) * width;
            let start_sql = aggregates::roll_up_start_sql(table, lookback);
            let from: i64 = self
                .read(move |conn| conn.query_row(&start_sql, [], |r| r.get(0)).map_err(db_err))
                .await?;
            // One short transaction per register, so batches of new readings interleave
            // with the roll-up instead of waiting for all of it.
            let roll = Arc::new(aggregates::roll_up_register_sql(table, source, width));
            for &(device, register) in &pairs {
                let roll = Arc::clone(&roll);
                self.write(move |conn| {
                    conn.prepare_cached(&roll)
                        .and_then(|mut st| st.execute(params![device, register, from, upto]))
                        .map_err(db_err)
                })
                .await?;
            }
            let mark = aggregates::watermark_sql(table);
            self.write(move |conn| conn.execute(&mark, [upto]).map_err(db_err))
                .await?;
        }
        let keep =
            chrono::Duration::from_std(self.options.retention).unwrap_or(chrono::Duration::MAX);
        let cutoff = micros(now - keep);
        // Each register's history is one key range: delete it chunk by chunk, one short
        // transaction at a time, so pollers' batches interleave with retention.
        let mut deleted = 0u64;
        for &(device, register) in &pairs {
            loop {
                let n = self
                    .write(move |conn| {
                        conn.execute(
                            "DELETE FROM register_readings WHERE device_id = ?1 \
                             AND register_address = ?2 AND timestamp IN \
                             (SELECT timestamp FROM register_readings WHERE device_id = ?1 \
                              AND register_address = ?2 AND timestamp < ?3 LIMIT ?4)",
                            params![device, register, cutoff, RETENTION_CHUNK],
                        )
                        .map_err(db_err)
                    })
                    .await?;
                deleted += n as u64;
                if (n as i64) < RETENTION_CHUNK {
                    break;
                }
            }
        }
        for (table, cutoff) in self.options.rollup_cutoffs(now) {
            let cutoff = micros(cutoff);
            deleted += self
                .write(move |conn| {
                    conn.execute(&format!("DELETE FROM {table} WHERE bucket < ?1"), [cutoff])
                        .map_err(db_err)
                })
                .await? as u64;
        }
        Ok(MaintenanceReport {
            partitions_dropped: Vec::new(),
            rows_deleted: deleted,
        })
    }

    async fn storage_figures(&self) -> Result<StorageFigures, StoreError> {
        let path = self.path.clone();
        let file_bytes = ["", "-wal", "-shm"]
            .iter()
            .filter_map(|suffix| {
                let mut p = path.clone().into_os_string();
                p.push(suffix);
                std::fs::metadata(p).ok().map(|m| m.len())
            })
            .sum();
        // dbstat is compiled into the bundled SQLite: the exact bytes of the table.
        let readings_bytes = self
            .read(|conn| {
                conn.query_row(
                    "SELECT coalesce(sum(pgsize), 0) FROM dbstat WHERE name = 'register_readings'",
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

    async fn count_readings(&self) -> Result<u64, StoreError> {
        self.read(|conn| {
            conn.query_row("SELECT count(*) FROM register_readings", [], |r| {
                r.get::<_, i64>(0)
            })
            .map(|n| n.max(0) as u64)
            .map_err(db_err)
        })
        .await
    }
}
