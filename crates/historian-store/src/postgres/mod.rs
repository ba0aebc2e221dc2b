//! The production backend: PostgreSQL, with TimescaleDB when the server offers it.

mod aggregates;
mod copy;

/// Encodes rows as a binary `COPY` body (exposed for the micro-benchmark).
pub use copy::encode_rows as encode_copy_rows;
mod plain;
mod timescale;

use crate::model::{
    AccessColumns, AggregateBucket, DeviceRecord, JobStatus, MapRow, SeriesPoint, StorageFigures,
    select_devices_sql, upsert_device_sql,
};
use crate::options::{StoreOptions, TimescaleMode};
use crate::store::{
    DeleteOutcome, MaintenanceReport, RejectedReading, Store, StoreError, WriteOutcome,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use historian_model::{DeviceSpec, Reading};
use historian_model::{RegisterPoint, RegisterRef};
use historian_retry::RetryPolicy;
use std::collections::{HashMap, HashSet};
use std::sync::RwLock;
use std::time::Duration;
use tokio_postgres::{NoTls, Row};

mod embedded {
    refinery::embed_migrations!("migrations/postgres");
}

/// Connections kept by the pool.
const POOL_SIZE: usize = 8;

/// Which flavour of PostgreSQL storage is active, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PgMode {
    /// `register_readings` is a hypertable.
    TimescaleDb {
        /// Installed extension version.
        version: String,
    },
    /// `register_readings` is a plain table partitioned by day.
    Plain {
        /// Why TimescaleDB is not in use.
        reason: String,
    },
}

/// A PostgreSQL-backed [`Store`].
#[derive(Debug)]
pub struct PostgresStore {
    pool: Pool,
    mode: PgMode,
    options: StoreOptions,
    /// Known device ids: rows for other ids are refused before they can abort a COPY.
    device_ids: RwLock<HashSet<i64>>,
    /// For sessions outside the pool (LISTEN).
    url: String,
}

/// Flattens an error and its causes into one line: tokio-postgres shows only "db error"
/// at the top and keeps the server's message in the source.
pub(crate) fn db_err<E: std::error::Error + 'static>(e: E) -> StoreError {
    // SQLSTATE classes 22 (data exception) and 23 (integrity constraint) blame the rows,
    // not the connection: retrying them cannot help.
    let refused = (&e as &dyn std::error::Error)
        .downcast_ref::<tokio_postgres::Error>()
        .and_then(|pg| pg.code())
        .is_some_and(|c| c.code().starts_with("22") || c.code().starts_with("23"));
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string().replace('\n', " "));
        cause = c.source();
    }
    if refused {
        StoreError::Refused(text)
    } else {
        StoreError::Database(text)
    }
}

/// Waits between attempts to open the device watch session: 200 ms doubling up to 10 s.
const LISTEN_RETRY: RetryPolicy =
    RetryPolicy::exponential(Duration::from_millis(200), Duration::from_secs(10));

/// Holds a session that `LISTEN`s for device catalogue changes and forwards each as a
/// signal; reconnects with back-off when the server goes away, and signals after every
/// reconnect because a change may have slipped by meanwhile.
async fn listen_devices(url: String, tx: tokio::sync::mpsc::Sender<()>) {
    use futures_util::StreamExt;
    let mut waits = LISTEN_RETRY.backoff();
    while !tx.is_closed() {
        let (client, mut conn) = match tokio_postgres::connect(&url, NoTls).await {
            Ok(c) => c,
            Err(e) => {
                tracing::debug!(error = %e, "device watch cannot connect; retrying");
                tokio::time::sleep(waits.next_delay()).await;
                continue;
            }
        };
        let (ntx, mut nrx) = tokio::sync::mpsc::unbounded_channel();
        let driver = tokio::spawn(async move {
            let mut messages = futures_util::stream::poll_fn(move |cx| conn.poll_message(cx));
            while let Some(Ok(m)) = messages.next().await {
                if let tokio_postgres::AsyncMessage::Notification(_) = m
                    && ntx.send(()).is_err()
                {
                    break;
                }
            }
        });
        if let Err(e) = client.batch_execute("LISTEN historian_devices").await {
            tracing::warn!(error = %e, "LISTEN historian_devices failed; retrying");
            driver.abort();
            tokio::time::sleep(waits.next_delay()).await;
            continue;
        }
        waits.reset();
        // Changes made while not listening (before the first LISTEN, or during an outage)
        // sent no notification: signal once so the watcher reloads.
        let _ = tx.try_send(());
        loop {
            tokio::select! {
                got = nrx.recv() => match got {
                    // A full channel already holds a pending signal: one reload covers both.
                    Some(()) => { let _ = tx.try_send(()); }
                    None => break,
                },
                () = tx.closed() => {
                    driver.abort();
                    return;
                }
            }
        }
        tracing::warn!("device watch lost its PostgreSQL session; reconnecting");
    }
}

/// Connects one client outside the pool (migrations and set-up need a session of their own).
pub(crate) async fn connect(url: &str) -> Result<tokio_postgres::Client, StoreError> {
    let (client, conn) =
        tokio_postgres::connect(url, NoTls)
            .await
            .map_err(|e| StoreError::Open {
                what: "PostgreSQL".into(),
                reason: e.to_string(),
            })?;
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!(error = %e, "PostgreSQL connection closed");
        }
    });
    Ok(client)
}

/// Applies the embedded migrations up to and including `version` (all when `None`) and
/// returns the names of those applied; upgrade tests use it to build an older schema.
pub async fn migrate_to(
    url: &str,
    options: &StoreOptions,
    version: Option<i32>,
) -> Result<Vec<String>, StoreError> {
    let mut client = connect(url).await?;
    apply_migrations(&mut client, options, version).await
}

async fn apply_migrations(
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
            StoreError::Database(text) => StoreError::Migration(text),
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

/// The statement `get_series` runs: one register's time, value, text and quality with
/// `$3 <= timestamp < $4`, oldest first, at most `$5` rows, for device `$1`, register
/// `$2`; the primary key covers it, so it is an index-only scan.
pub fn series_sql() -> String {
    range_sql(SERIES_COLUMNS)
}

const SERIES_COLUMNS: &str = "r.\"timestamp\", r.value, r.value_text, r.quality";

fn range_sql(columns: &str) -> String {
    format!(
        "SELECT {columns} FROM register_readings r \
         WHERE r.device_id = $1 AND r.register_address = $2 \
           AND r.\"timestamp\" >= $3 AND r.\"timestamp\" < $4 \
         ORDER BY r.\"timestamp\" LIMIT $5"
    )
}

impl PostgresStore {
    /// `columns` of one register's readings with `start <= timestamp < end`, oldest first,
    /// at most `limit` rows; `range` is (device id, register, start, end, limit).
    async fn range_rows(
        &self,
        columns: &str,
        (device_id, register, start, end, limit): (
            i64,
            RegisterRef,
            DateTime<Utc>,
            DateTime<Utc>,
            usize,
        ),
    ) -> Result<Vec<Row>, StoreError> {
        let client = self.client().await?;
        let reference = register_to_db(register);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        // Prepared once per pooled connection, not parsed and planned on every request:
        // measured on 24 h series under load, p95 32.4 -> 29.3 ms (BENCHMARKS.md).
        let statement = client
            .prepare_cached(&range_sql(columns))
            .await
            .map_err(db_err)?;
        client
            .query(&statement, &[&device_id, &reference, &start, &end, &limit])
            .await
            .map_err(db_err)
    }

    /// Connects, applies pending migrations, and prepares TimescaleDB objects and policies
    /// (or plain partitions) as `options` say.
    pub async fn open(url: &str, options: &StoreOptions) -> Result<Self, StoreError> {
        let mut client = connect(url).await?;
        apply_migrations(&mut client, options, None).await?;
        let mode = detect_mode(&client, options.timescaledb).await?;
        match &mode {
            PgMode::TimescaleDb { version } => {
                tracing::info!(version, "storage mode: TimescaleDB hypertable");
                timescale::prepare(&client, options).await?;
            }
            PgMode::Plain { reason } => {
                if options.timescaledb == TimescaleMode::Required {
                    return Err(StoreError::Open {
                        what: "TimescaleDB".into(),
                        reason: format!("required but not in use: {reason}"),
                    });
                }
                tracing::info!(reason, "storage mode: plain PostgreSQL (daily partitions)");
                plain::prepare(&client, Utc::now()).await?;
            }
        }

        let pg_config: tokio_postgres::Config = url.parse().map_err(|e| StoreError::BadUrl {
            url: crate::StorageUrl::Postgres(url.to_string()).to_string(),
            reason: format!("{e}"),
        })?;
        let manager = Manager::from_config(
            pg_config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .build()
            .map_err(|e| StoreError::Open {
                what: "PostgreSQL pool".into(),
                reason: e.to_string(),
            })?;
        let store = Self {
            pool,
            mode,
            options: options.clone(),
            device_ids: RwLock::new(HashSet::new()),
            url: url.to_string(),
        };
        store.refresh_device_ids().await?;
        Ok(store)
    }

    /// PostgreSQL's own rate for these rows: the same binary `COPY` into
    /// `register_readings` the store uses, in batches of `batch` rows on one connection,
    /// with no historian pipeline around it. The benchmark's yardstick; returns the time
    /// the copies took.
    pub async fn copy_baseline(
        &self,
        rows: &[Reading],
        batch: usize,
    ) -> Result<std::time::Duration, StoreError> {
        let mut client = self.client().await?;
        let started = std::time::Instant::now();
        for chunk in rows.chunks(batch.max(1)) {
            copy::write(&mut client, chunk).await?;
        }
        Ok(started.elapsed())
    }

    /// The active storage mode.
    pub fn mode(&self) -> &PgMode {
        &self.mode
    }

    /// The options the store was opened with.
    pub fn options(&self) -> &StoreOptions {
        &self.options
    }

    pub(crate) async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        self.pool
            .get()
            .await
            .map_err(|e| StoreError::Database(format!("no connection: {e}")))
    }

    async fn refresh_device_ids(&self) -> Result<(), StoreError> {
        let client = self.client().await?;
        let rows = client
            .query("SELECT id FROM devices", &[])
            .await
            .map_err(db_err)?;
        let ids = rows
            .iter()
            .map(|r| r.try_get(0).map_err(db_err))
            .collect::<Result<HashSet<i64>, _>>()?;
        if let Ok(mut known) = self.device_ids.write() {
            *known = ids;
        }
        Ok(())
    }

    /// Splits off rows whose device id the store does not know; `None` when every row's
    /// device is known (the usual case: the batch is then written as it is, uncopied).
    fn split_unknown(&self, batch: &[Reading]) -> Option<(Vec<Reading>, Vec<RejectedReading>)> {
        let guard = self.device_ids.read();
        let empty = HashSet::new();
        let known = guard.as_deref().unwrap_or(&empty);
        // Batches hold whole polls, so device ids come in runs: look each run up once.
        let mut last = None;
        let all_known = batch.iter().all(|r| {
            if last == Some(r.device_id) {
                return true;
            }
            last = Some(r.device_id);
            known.contains(&r.device_id)
        });
        if all_known {
            return None;
        }
        let (ok, unknown): (Vec<&Reading>, Vec<&Reading>) =
            batch.iter().partition(|r| known.contains(&r.device_id));
        let rejected = unknown
            .into_iter()
            .map(|r| RejectedReading {
                reason: format!("unknown device id {}", r.device_id),
                reading: r.clone(),
            })
            .collect();
        Some((ok.into_iter().cloned().collect(), rejected))
    }
}

async fn detect_mode(
    client: &tokio_postgres::Client,
    wanted: TimescaleMode,
) -> Result<PgMode, StoreError> {
    let row = client
        .query_one(
            "SELECT \
               (SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'), \
               EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'), \
               (SELECT relkind::text FROM pg_class WHERE oid = 'register_readings'::regclass)",
            &[],
        )
        .await
        .map_err(db_err)?;
    let installed: Option<String> = row.try_get(0).map_err(db_err)?;
    let available: bool = row.try_get(1).map_err(db_err)?;
    let relkind: Option<String> = row.try_get(2).map_err(db_err)?;
    let partitioned = relkind.as_deref() == Some("p");
    Ok(match installed {
        Some(version) if !partitioned => PgMode::TimescaleDb { version },
        Some(_) => PgMode::Plain {
            reason: "register_readings was created as a plain partitioned table before \
                     TimescaleDB was in use; converting it needs a manual migration"
                .into(),
        },
        None if wanted == TimescaleMode::Off => PgMode::Plain {
            reason: "disabled by storage.timescaledb = \"off\"".into(),
        },
        None if available => PgMode::Plain {
            reason: "the server offers timescaledb but it cannot be created: it is not in \
                     shared_preload_libraries (CREATE EXTENSION failed or was not tried)"
                .into(),
        },
        None => PgMode::Plain {
            reason: "the server does not offer the timescaledb extension".into(),
        },
    })
}

const READING_COLUMNS: &str = "r.\"timestamp\", r.device_id, r.register_address, r.value, \
                               r.quality, r.register_name, r.data_type, r.unit, r.value_text";

fn reading_from_row(row: &Row) -> Result<Reading, StoreError> {
    let reference: i32 = row.try_get(2).map_err(db_err)?;
    let quality: String = row.try_get(4).map_err(db_err)?;
    let name: String = row.try_get(5).map_err(db_err)?;
    let data_type: String = row.try_get(6).map_err(db_err)?;
    let unit: String = row.try_get(7).map_err(db_err)?;
    Ok(Reading {
        timestamp: row.try_get(0).map_err(db_err)?,
        device_id: row.try_get(1).map_err(db_err)?,
        register_address: register_from_db(reference)?,
        value: row.try_get(3).map_err(db_err)?,
        text: row
            .try_get::<_, Option<String>>(8)
            .map_err(db_err)?
            .map(std::sync::Arc::from),
        quality: quality.parse().map_err(StoreError::Corrupt)?,
        register_name: name.into(),
        data_type: data_type.parse().map_err(StoreError::Corrupt)?,
        unit: unit.into(),
    })
}

/// The `register_address` column value of a register (a six-digit reference always fits).
pub(crate) fn register_to_db(register: RegisterRef) -> i32 {
    i32::try_from(register.reference()).unwrap_or(i32::MAX)
}

/// The register of a `register_address` column value.
pub(crate) fn register_from_db(reference: i32) -> Result<RegisterRef, StoreError> {
    u32::try_from(reference)
        .map_err(|_| StoreError::Corrupt(format!("register_address {reference}")))
        .and_then(|r| RegisterRef::from_reference(r).map_err(StoreError::Corrupt))
}

fn readings(rows: &[Row]) -> Result<Vec<Reading>, StoreError> {
    rows.iter().map(reading_from_row).collect()
}

async fn load_devices(client: &tokio_postgres::Client) -> Result<Vec<DeviceRecord>, StoreError> {
    let maps = client
        .query(
            "SELECT device_id, register_address, register_name, data_type, word_order, scale, \
             \"offset\", unit, min_value, max_value, not_available, string_length, \
             poll_interval_ms \
             FROM device_register_map ORDER BY device_id, position",
            &[],
        )
        .await
        .map_err(db_err)?;
    let mut by_device: HashMap<i64, Vec<RegisterPoint>> = HashMap::new();
    for row in &maps {
        let point = MapRow {
            reference: i64::from(row.try_get::<_, i32>(1).map_err(db_err)?),
            name: row.try_get(2).map_err(db_err)?,
            data_type: row.try_get(3).map_err(db_err)?,
            word_order: row.try_get(4).map_err(db_err)?,
            scale: row.try_get(5).map_err(db_err)?,
            offset: row.try_get(6).map_err(db_err)?,
            unit: row.try_get(7).map_err(db_err)?,
            min: row.try_get(8).map_err(db_err)?,
            max: row.try_get(9).map_err(db_err)?,
            not_available: row.try_get(10).map_err(db_err)?,
            length: row
                .try_get::<_, Option<i32>>(11)
                .map_err(db_err)?
                .map(i64::from),
            interval_ms: row.try_get(12).map_err(db_err)?,
        }
        .into_point()?;
        by_device
            .entry(row.try_get(0).map_err(db_err)?)
            .or_default()
            .push(point);
    }
    let rows = client
        .query(&select_devices_sql(), &[])
        .await
        .map_err(db_err)?;
    rows.iter()
        .map(|row| {
            let id: i64 = row.try_get(0).map_err(db_err)?;
            let port: i32 = row.try_get(3).map_err(db_err)?;
            let unit_id: i16 = row.try_get(4).map_err(db_err)?;
            let interval: i64 = row.try_get(5).map_err(db_err)?;
            let host: String = row.try_get(2).map_err(db_err)?;
            let small = |i: usize| -> Result<Option<i64>, StoreError> {
                Ok(row
                    .try_get::<_, Option<i16>>(i)
                    .map_err(db_err)?
                    .map(i64::from))
            };
            let int = |i: usize| -> Result<Option<i64>, StoreError> {
                Ok(row
                    .try_get::<_, Option<i32>>(i)
                    .map_err(db_err)?
                    .map(i64::from))
            };
            let access = AccessColumns {
                transport: row.try_get(7).map_err(db_err)?,
                baud_rate: int(8)?,
                parity: row.try_get(9).map_err(db_err)?,
                stop_bits: small(10)?,
                data_bits: small(11)?,
                timeout_ms: int(12)?,
                max_registers_per_read: small(13)?.unwrap_or_default(),
                max_gap: small(14)?.unwrap_or_default(),
                pause_ms: int(15)?.unwrap_or_default(),
            }
            .into_access(id, &host)
            .map_err(StoreError::Corrupt)?;
            Ok(DeviceRecord {
                id,
                spec: DeviceSpec {
                    name: row.try_get(1).map_err(db_err)?,
                    host,
                    port: u16::try_from(port)
                        .map_err(|_| StoreError::Corrupt(format!("device {id} port {port}")))?,
                    unit_id: u8::try_from(unit_id)
                        .map_err(|_| StoreError::Corrupt(format!("device {id} unit {unit_id}")))?,
                    poll_interval_ms: u64::try_from(interval).map_err(|_| {
                        StoreError::Corrupt(format!("device {id} interval {interval}"))
                    })?,
                    enabled: row.try_get(6).map_err(db_err)?,
                    registers: by_device.remove(&id).unwrap_or_default(),
                    access,
                },
            })
        })
        .collect()
}

/// A register map as one array per `device_register_map` column.
#[derive(Default)]
struct MapColumns<'a> {
    position: Vec<i32>,
    reference: Vec<i32>,
    name: Vec<&'a str>,
    data_type: Vec<&'a str>,
    word_order: Vec<&'a str>,
    scale: Vec<f64>,
    offset: Vec<f64>,
    unit: Vec<&'a str>,
    min: Vec<Option<f64>>,
    max: Vec<Option<f64>>,
    not_available: Vec<Option<i64>>,
    length: Vec<Option<i32>>,
    interval: Vec<Option<i64>>,
}

/// Inserts or updates one device (matched by name) and replaces its map; returns its id.
async fn write_device(
    tx: &tokio_postgres::Transaction<'_>,
    d: &DeviceSpec,
) -> Result<i64, StoreError> {
    let interval = i64::try_from(d.poll_interval_ms).unwrap_or(i64::MAX);
    let a = AccessColumns::of(&d.access);
    let row = tx
        .query_one(
            &upsert_device_sql(|i| format!("${i}"), "now()"),
            &[
                &d.name,
                &d.host,
                &i32::from(d.port),
                &i16::from(d.unit_id),
                &interval,
                &d.enabled,
                &a.transport,
                &a.baud_rate.map(|v| i32::try_from(v).unwrap_or(i32::MAX)),
                &a.parity,
                &a.stop_bits.map(|v| i16::try_from(v).unwrap_or(i16::MAX)),
                &a.data_bits.map(|v| i16::try_from(v).unwrap_or(i16::MAX)),
                &a.timeout_ms.map(|v| i32::try_from(v).unwrap_or(i32::MAX)),
                &i16::try_from(a.max_registers_per_read).unwrap_or(i16::MAX),
                &i16::try_from(a.max_gap).unwrap_or(i16::MAX),
                &i32::try_from(a.pause_ms).unwrap_or(i32::MAX),
            ],
        )
        .await
        .map_err(db_err)?;
    let id: i64 = row.try_get(0).map_err(db_err)?;
    tx.execute(
        "DELETE FROM device_register_map WHERE device_id = $1",
        &[&id],
    )
    .await
    .map_err(db_err)?;
    // The whole map in one statement (arrays unnested server-side): row by row, storing
    // 1,000 devices x 100 registers took ~10 s of start-up, most of it round trips.
    let mut cols = MapColumns::default();
    for (position, p) in d.registers.iter().enumerate() {
        cols.position
            .push(i32::try_from(position).unwrap_or(i32::MAX));
        cols.reference.push(register_to_db(p.register));
        cols.name.push(p.name.as_str());
        cols.data_type.push(p.data_type.as_str());
        cols.word_order.push(p.word_order.as_str());
        cols.scale.push(p.scale);
        cols.offset.push(p.offset);
        cols.unit.push(p.unit.as_str());
        cols.min.push(p.limits.min);
        cols.max.push(p.limits.max);
        cols.not_available
            .push(p.limits.not_available.map(|v| v as i64));
        cols.length.push(p.length.map(i32::from));
        cols.interval.push(
            p.interval_ms
                .map(|ms| i64::try_from(ms).unwrap_or(i64::MAX)),
        );
    }
    if !d.registers.is_empty() {
        tx.execute(
            "INSERT INTO device_register_map (device_id, position, register_address, \
                 register_name, data_type, word_order, scale, \"offset\", unit, \
                 min_value, max_value, not_available, string_length, poll_interval_ms) \
             SELECT $1, * FROM unnest($2::int4[], $3::int4[], $4::text[], $5::text[], \
                 $6::text[], $7::float8[], $8::float8[], $9::text[], $10::float8[], \
                 $11::float8[], $12::int8[], $13::int4[], $14::int8[])",
            &[
                &id,
                &cols.position,
                &cols.reference,
                &cols.name,
                &cols.data_type,
                &cols.word_order,
                &cols.scale,
                &cols.offset,
                &cols.unit,
                &cols.min,
                &cols.max,
                &cols.not_available,
                &cols.length,
                &cols.interval,
            ],
        )
        .await
        .map_err(db_err)?;
    }

    Ok(id)
}

#[async_trait]
impl Store for PostgresStore {
    fn backend(&self) -> &'static str {
        match self.mode {
            PgMode::TimescaleDb { .. } => "timescaledb",
            PgMode::Plain { .. } => "postgres",
        }
    }

    async fn write_devices(
        &self,
        devices: &[DeviceSpec],
        disable_others: bool,
    ) -> Result<Vec<DeviceRecord>, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db_err)?;
        if disable_others {
            tx.execute("UPDATE devices SET enabled = false", &[])
                .await
                .map_err(db_err)?;
        }
        for d in devices {
            write_device(&tx, d).await?;
        }
        tx.commit().await.map_err(db_err)?;
        let records = load_devices(&client).await?;
        if let Ok(mut known) = self.device_ids.write() {
            *known = records.iter().map(|r| r.id).collect();
        }
        Ok(records)
    }

    async fn list_devices(&self) -> Result<Vec<DeviceRecord>, StoreError> {
        let client = self.client().await?;
        load_devices(&client).await
    }

    async fn delete_device(&self, name: &str) -> Result<DeleteOutcome, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db_err)?;
        let Some(row) = tx
            .query_opt(
                "SELECT id FROM devices WHERE name = $1 FOR UPDATE",
                &[&name],
            )
            .await
            .map_err(db_err)?
        else {
            return Ok(DeleteOutcome::NotFound);
        };
        let id: i64 = row.try_get(0).map_err(db_err)?;
        let has_readings = tx
            .query_opt(
                "SELECT 1 FROM register_readings WHERE device_id = $1 LIMIT 1",
                &[&id],
            )
            .await
            .map_err(db_err)?
            .is_some();
        if has_readings {
            return Ok(DeleteOutcome::HasReadings);
        }
        tx.execute(
            "DELETE FROM device_register_map WHERE device_id = $1",
            &[&id],
        )
        .await
        .map_err(db_err)?;
        tx.execute("DELETE FROM devices WHERE id = $1", &[&id])
            .await
            .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        if let Ok(mut known) = self.device_ids.write() {
            known.remove(&id);
        }
        Ok(DeleteOutcome::Deleted)
    }

    async fn watch_devices(&self) -> Result<tokio::sync::mpsc::Receiver<()>, StoreError> {
        let (tx, rx) = tokio::sync::mpsc::channel(1);
        tokio::spawn(listen_devices(self.url.clone(), tx));
        Ok(rx)
    }

    async fn insert_register_readings_batch(
        &self,
        batch: &[Reading],
    ) -> Result<WriteOutcome, StoreError> {
        if batch.is_empty() {
            return Ok(WriteOutcome::default());
        }
        let mut split = self.split_unknown(batch);
        if split.is_some() {
            // The cache may be stale (a device added by another process): ask once.
            self.refresh_device_ids().await?;
            split = self.split_unknown(batch);
        }
        let (owned, rejected) = match split {
            Some((ok, rejected)) => (Some(ok), rejected),
            None => (None, Vec::new()),
        };
        let rows = owned.as_deref().unwrap_or(batch);
        let mut client = self.client().await?;
        let inserted = copy::write(&mut client, rows).await?;
        Ok(WriteOutcome {
            inserted,
            duplicates: rows.len() - inserted,
            rejected,
        })
    }

    async fn get_latest_reading(
        &self,
        device_id: i64,
        register: RegisterRef,
    ) -> Result<Option<Reading>, StoreError> {
        let client = self.client().await?;
        let reference = register_to_db(register);
        let rows = client
            .query(
                &format!(
                    "SELECT {READING_COLUMNS} FROM register_readings r \
                     WHERE r.device_id = $1 AND r.register_address = $2 \
                     ORDER BY r.\"timestamp\" DESC LIMIT 1"
                ),
                &[&device_id, &reference],
            )
            .await
            .map_err(db_err)?;
        rows.first().map(reading_from_row).transpose()
    }

    async fn get_device_readings_latest(&self, device_id: i64) -> Result<Vec<Reading>, StoreError> {
        let client = self.client().await?;
        // One index probe per mapped register instead of a scan of the device's history.
        let rows = client
            .query(
                &format!(
                    "SELECT {READING_COLUMNS} FROM device_register_map m \
                     CROSS JOIN LATERAL (SELECT * FROM register_readings x \
                        WHERE x.device_id = m.device_id AND x.register_address = m.register_address \
                        ORDER BY x.\"timestamp\" DESC LIMIT 1) r \
                     WHERE m.device_id = $1 ORDER BY m.register_address"
                ),
                &[&device_id],
            )
            .await
            .map_err(db_err)?;
        readings(&rows)
    }

    async fn get_readings_time_range(
        &self,
        device_id: i64,
        register: RegisterRef,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Reading>, StoreError> {
        let range = (device_id, register, start, end, limit);
        let rows = self.range_rows(READING_COLUMNS, range).await?;
        readings(&rows)
    }

    async fn get_series(
        &self,
        device_id: i64,
        register: RegisterRef,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<SeriesPoint>, StoreError> {
        // Four columns instead of nine: a profile of 24 h of one register through the API
        // spent its time decoding and allocating the per-row name, type and unit.
        let range = (device_id, register, start, end, limit);
        let rows = self.range_rows(SERIES_COLUMNS, range).await?;
        rows.iter()
            .map(|row| {
                let quality: &str = row.try_get(3).map_err(db_err)?;
                Ok(SeriesPoint {
                    timestamp: row.try_get(0).map_err(db_err)?,
                    value: row.try_get(1).map_err(db_err)?,
                    text: row
                        .try_get::<_, Option<&str>>(2)
                        .map_err(db_err)?
                        .map(std::sync::Arc::from),
                    quality: quality.parse().map_err(StoreError::Corrupt)?,
                })
            })
            .collect()
    }

    async fn get_aggregates(
        &self,
        device_id: i64,
        registers: &[RegisterRef],
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        width_secs: u64,
    ) -> Result<Vec<AggregateBucket>, StoreError> {
        let client = self.client().await?;
        aggregates::query(
            &client, &self.mode, device_id, registers, start, end, width_secs,
        )
        .await
    }

    async fn run_maintenance(&self, now: DateTime<Utc>) -> Result<MaintenanceReport, StoreError> {
        match self.mode {
            // TimescaleDB's own policies compress, drop chunks and refresh aggregates.
            PgMode::TimescaleDb { .. } => Ok(MaintenanceReport::default()),
            PgMode::Plain { .. } => {
                let client = self.client().await?;
                plain::prepare(&client, now).await?;
                let keep = chrono::Duration::from_std(self.options.retention)
                    .unwrap_or(chrono::Duration::MAX);
                // Roll up before retention, so no reading leaves before it is rolled up.
                aggregates::roll_up(&client, now).await?;
                let (partitions_dropped, mut rows_deleted) =
                    plain::apply_retention(&client, now - keep).await?;
                for (table, cutoff) in self.options.rollup_cutoffs(now) {
                    rows_deleted += client
                        .execute(
                            &format!("DELETE FROM {table} WHERE bucket < $1"),
                            &[&cutoff],
                        )
                        .await
                        .map_err(db_err)?;
                }
                Ok(MaintenanceReport {
                    partitions_dropped,
                    rows_deleted,
                })
            }
        }
    }

    async fn storage_figures(&self) -> Result<StorageFigures, StoreError> {
        let client = self.client().await?;
        let db = client
            .query_one("SELECT pg_database_size(current_database())", &[])
            .await
            .map_err(db_err)?;
        let mut figures = StorageFigures {
            database_bytes: u64::try_from(db.get::<_, i64>(0)).unwrap_or(0),
            ..StorageFigures::default()
        };
        match self.mode {
            PgMode::TimescaleDb { .. } => {
                let row = client
                    .query_one(
                        "SELECT hypertable_size('register_readings'), \
                           (SELECT count(*) FROM timescaledb_information.chunks \
                             WHERE hypertable_name = 'register_readings'), \
                           (SELECT count(*) FROM timescaledb_information.chunks \
                             WHERE hypertable_name = 'register_readings' AND is_compressed), \
                           (SELECT sum(before_compression_total_bytes)::float8 \
                                   / nullif(sum(after_compression_total_bytes), 0) \
                              FROM chunk_compression_stats('register_readings'))",
                        &[],
                    )
                    .await
                    .map_err(db_err)?;
                figures.readings_bytes =
                    u64::try_from(row.get::<_, Option<i64>>(0).unwrap_or(0)).unwrap_or(0);
                figures.chunks =
                    u64::try_from(row.try_get::<_, i64>(1).map_err(db_err)?).unwrap_or(0);
                figures.compressed_chunks =
                    u64::try_from(row.try_get::<_, i64>(2).map_err(db_err)?).unwrap_or(0);
                figures.compression_ratio = row.try_get(3).map_err(db_err)?;
                let jobs = client
                    .query(
                        "SELECT j.job_id::bigint, j.proc_name::text, \
                           coalesce(j.hypertable_name::text, ''), s.last_run_status, \
                           CASE WHEN isfinite(s.last_successful_finish) \
                                THEN s.last_successful_finish END, \
                           coalesce(s.total_failures, 0)::bigint \
                         FROM timescaledb_information.jobs j \
                         LEFT JOIN timescaledb_information.job_stats s USING (job_id) \
                         WHERE j.proc_name LIKE 'policy_%' AND j.hypertable_name IS NOT NULL \
                         ORDER BY j.job_id",
                        &[],
                    )
                    .await
                    .map_err(db_err)?;
                figures.jobs = jobs
                    .iter()
                    .map(|r| {
                        Ok(JobStatus {
                            id: r.try_get(0).map_err(db_err)?,
                            name: r.try_get(1).map_err(db_err)?,
                            relation: r.try_get(2).map_err(db_err)?,
                            last_run_status: r.try_get(3).map_err(db_err)?,
                            last_successful_finish: r.try_get(4).map_err(db_err)?,
                            total_failures: r.try_get(5).map_err(db_err)?,
                        })
                    })
                    .collect::<Result<_, StoreError>>()?;
            }
            PgMode::Plain { .. } => {
                let row = client
                    .query_one(
                        "SELECT coalesce(sum(pg_total_relation_size(inhrelid)), 0)::bigint, count(*) \
                         FROM pg_inherits WHERE inhparent = 'register_readings'::regclass",
                        &[],
                    )
                    .await
                    .map_err(db_err)?;
                figures.readings_bytes =
                    u64::try_from(row.try_get::<_, i64>(0).map_err(db_err)?).unwrap_or(0);
                figures.chunks =
                    u64::try_from(row.try_get::<_, i64>(1).map_err(db_err)?).unwrap_or(0);
            }
        }
        Ok(figures)
    }

    async fn count_readings(&self) -> Result<u64, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_one("SELECT count(*) FROM register_readings", &[])
            .await
            .map_err(db_err)?;
        Ok(u64::try_from(row.try_get::<_, i64>(0).map_err(db_err)?).unwrap_or(0))
    }
}
