//! Device catalogue on SQLite: devices and their register maps, written in one
//! transaction and read back whole.

use super::audit_log;
use super::connection::{SqliteStore, db_err};
use crate::audit::{Audited, DeviceAudit};
use crate::model::{
    AccessColumns, DeviceRecord, MAP_UPSERT, MapRow, REMOVED_AT_COLUMN, RemovedRegister,
    select_devices_where_sql, upsert_device_sql, with_created,
};
use crate::store::{DeleteOutcome, StoreError};
use historian_model::{DeviceSpec, RegisterPoint};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use std::collections::HashMap;

/// Writes `devices` (matched by name); when `disable_others`, disables every other device.
/// With `audit`, the entry it makes of the touched devices is appended in the same
/// transaction.
pub(super) async fn write(
    store: &SqliteStore,
    devices: &[DeviceSpec],
    disable_others: bool,
    audit: Option<DeviceAudit>,
) -> Result<Audited<Vec<DeviceRecord>>, StoreError> {
    let devices = devices.to_vec();
    store
        .write(move |conn| {
            // Immediate: the devices read for the audit entry cannot change under it.
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(db_err)?;
            let names: Vec<String> = devices.iter().map(|d| d.name.clone()).collect();
            let touched = (!disable_others).then_some(names.as_slice());
            let before = match audit {
                Some(_) => load_named(&tx, touched)?,
                None => Vec::new(),
            };
            // `before` holds every named device when there is one (all, or the named).
            let stored = match audit {
                Some(_) => before.clone(),
                None => load_named(&tx, Some(&names))?,
            };
            let current: HashMap<&str, &DeviceSpec> = stored
                .iter()
                .map(|r| (r.spec.name.as_str(), &r.spec))
                .collect();
            let disabled = disable_others
                && tx
                    .execute(
                        &format!(
                            "UPDATE devices SET enabled = 0 WHERE enabled AND name NOT IN ({})",
                            placeholders(names.len())
                        ),
                        rusqlite::params_from_iter(&names),
                    )
                    .map_err(db_err)?
                    > 0;
            let mut updated = false;
            let mut created = Vec::new();
            for d in &devices {
                // A device stored as given is left alone: a fleet's start-up names
                // thousands, nearly all unchanged, and rewriting each map cost seconds.
                match current.get(d.name.as_str()) {
                    Some(stored) if *stored == d => {}
                    Some(_) => {
                        write_one(&tx, d)?;
                        updated = true;
                    }
                    None => created.push(DeviceRecord::new(insert_new(&tx, d)?, d.clone())),
                }
            }
            // Reading the catalogue back is most of a large fleet's start-up: read it once,
            // not at all when nothing was written, and not when devices were only added
            // (their records are what was just written).
            let (after, entry) = match audit {
                Some(make) => {
                    let after = if disabled || updated {
                        load_named(&tx, touched)?
                    } else {
                        with_created(&before, created)
                    };
                    let entry = make(&before, &after)
                        .map(|e| audit_log::insert(&tx, e))
                        .transpose()?;
                    (Some(after), entry)
                }
                None => (None, None),
            };
            tx.commit().map_err(db_err)?;
            let value = match after {
                // Every device was read in the transaction just committed.
                Some(after) if touched.is_none() => after,
                _ => load(conn)?,
            };
            Ok(Audited { value, entry })
        })
        .await
}

/// Every device of the catalogue, and with `removed` the removed ones too, ordered by id.
pub(super) async fn list(
    store: &SqliteStore,
    removed: bool,
) -> Result<Vec<DeviceRecord>, StoreError> {
    store
        .read(move |conn| match removed {
            true => load_where(conn, "TRUE", &[]),
            false => load(conn),
        })
        .await
}

/// Deletes a device that has no readings, or marks one that has readings removed; with
/// `audit`, appends the entry it makes of the device in the same transaction.
pub(super) async fn delete(
    store: &SqliteStore,
    name: &str,
    audit: Option<DeviceAudit>,
) -> Result<Audited<DeleteOutcome>, StoreError> {
    let name = name.to_string();
    let unaudited = |value| Audited { value, entry: None };
    store
        .write(move |conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(db_err)?;
            let id: Option<i64> = tx
                .query_row(
                    "SELECT id FROM devices WHERE name = ?1 AND removed_at IS NULL",
                    [&name],
                    |r| r.get(0),
                )
                .optional()
                .map_err(db_err)?;
            let Some(id) = id else {
                return Ok(unaudited(DeleteOutcome::NotFound));
            };
            let has_readings = tx
                .query_row(
                    "SELECT 1 FROM register_readings WHERE device_id = ?1 \
                     UNION ALL SELECT 1 FROM reading_blocks WHERE device_id = ?1 LIMIT 1",
                    [id],
                    |_| Ok(()),
                )
                .optional()
                .map_err(db_err)?
                .is_some();
            let before = match audit {
                Some(_) => load_named(&tx, Some(std::slice::from_ref(&name)))?,
                None => Vec::new(),
            };
            let outcome = if has_readings {
                // History is never deleted: the device keeps its row (readings name it by
                // id) and its map, and leaves the catalogue.
                tx.execute(
                    "UPDATE devices SET removed_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), \
                     enabled = 0, updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') \
                     WHERE id = ?1",
                    [id],
                )
                .map_err(db_err)?;
                DeleteOutcome::Removed
            } else {
                tx.execute("DELETE FROM device_register_map WHERE device_id = ?1", [id])
                    .map_err(db_err)?;
                tx.execute("DELETE FROM devices WHERE id = ?1", [id])
                    .map_err(db_err)?;
                DeleteOutcome::Deleted
            };
            let entry = match audit {
                Some(make) => make(&before, &[])
                    .map(|e| audit_log::insert(&tx, e))
                    .transpose()?,
                None => None,
            };
            tx.commit().map_err(db_err)?;
            Ok(Audited {
                value: outcome,
                entry,
            })
        })
        .await
}

/// `?1, ?2, ... ?n`.
fn placeholders(n: usize) -> String {
    (1..=n)
        .map(|i| format!("?{i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Every device of the catalogue (not removed) with its register map, ordered by id.
pub(super) fn load(conn: &Connection) -> Result<Vec<DeviceRecord>, StoreError> {
    load_named(conn, None)
}

/// The devices of the catalogue named in `names` (every one when `None`) with their
/// register maps, ordered by id. Removed devices are not in the catalogue: a name is
/// matched only by the device that holds it now.
fn load_named(
    conn: &Connection,
    names: Option<&[String]>,
) -> Result<Vec<DeviceRecord>, StoreError> {
    let condition = match names {
        None => "removed_at IS NULL".to_string(),
        Some(names) => format!(
            "removed_at IS NULL AND name IN ({})",
            placeholders(names.len())
        ),
    };
    load_where(conn, &condition, names.unwrap_or_default())
}

/// The devices matching `condition` (over `params`) with their register maps, by id.
fn load_where(
    conn: &Connection,
    condition: &str,
    params: &[String],
) -> Result<Vec<DeviceRecord>, StoreError> {
    let params = rusqlite::params_from_iter(params);
    let mut maps: HashMap<i64, Vec<RegisterPoint>> = HashMap::new();
    let mut removed: HashMap<i64, Vec<RemovedRegister>> = HashMap::new();
    {
        let mut stmt = conn
            .prepare_cached(&format!(
                "SELECT device_id, register_address, register_name, data_type, word_order, \
                 scale, \"offset\", unit, min_value, max_value, not_available, \
                 string_length, poll_interval_ms, scale_factor, removed_at \
                 FROM device_register_map \
                 WHERE device_id IN (SELECT id FROM devices WHERE {condition}) \
                 ORDER BY device_id, position",
            ))
            .map_err(db_err)?;
        let mut rows = stmt.query(params.clone()).map_err(db_err)?;
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
                scale_factor: row.get(13).map_err(db_err)?,
            }
            .into_point()?;
            let device: i64 = row.get(0).map_err(db_err)?;
            match row.get::<_, Option<String>>(14).map_err(db_err)? {
                None => maps.entry(device).or_default().push(point),
                Some(at) => removed.entry(device).or_default().push(RemovedRegister {
                    point,
                    removed_at: parse_removed_at(&at)?,
                }),
            }
        }
    }
    let mut stmt = conn
        .prepare_cached(&select_devices_where_sql(condition))
        .map_err(db_err)?;
    let mut rows = stmt.query(params).map_err(db_err)?;
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
            removed_registers: removed.remove(&id).unwrap_or_default(),
            removed_at: row
                .get::<_, Option<String>>(REMOVED_AT_COLUMN)
                .map_err(db_err)?
                .map(|at| parse_removed_at(&at))
                .transpose()?,
        });
    }
    Ok(out)
}

/// Inserts or updates one device (matched by name) and replaces its map; returns its id.
fn write_one(tx: &rusqlite::Transaction<'_>, d: &DeviceSpec) -> Result<i64, StoreError> {
    let id = upsert_row(tx, d)?;
    // Registers left out of the new map are kept, marked removed, so their history stays
    // addressable; those in it are written back as current below.
    tx.execute(
        "UPDATE device_register_map SET removed_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') \
         WHERE device_id = ?1 AND removed_at IS NULL",
        [id],
    )
    .map_err(db_err)?;
    write_map(tx, id, d, MAP_UPSERT)?;
    Ok(id)
}

/// Inserts a device the catalogue does not hold by name, with its map; returns its id.
/// Nothing of it can be stored yet, so there is nothing to update or mark removed.
fn insert_new(tx: &rusqlite::Transaction<'_>, d: &DeviceSpec) -> Result<i64, StoreError> {
    let id = upsert_row(tx, d)?;
    write_map(tx, id, d, "")?;
    Ok(id)
}

/// Inserts or updates the row of one device (matched by name); returns its id.
fn upsert_row(tx: &rusqlite::Transaction<'_>, d: &DeviceSpec) -> Result<i64, StoreError> {
    let a = AccessColumns::of(&d.access);
    tx.prepare_cached(&upsert_device_sql(
        |i| format!("?{i}"),
        "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')",
    ))
    .map_err(db_err)?
    .query_row(
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
    .map_err(db_err)
}

/// Writes the map of device `id`, row by row, each insert followed by `on_conflict`.
fn write_map(
    tx: &rusqlite::Transaction<'_>,
    id: i64,
    d: &DeviceSpec,
    on_conflict: &str,
) -> Result<(), StoreError> {
    let mut stmt = tx
        .prepare_cached(&format!(
            "INSERT INTO device_register_map (device_id, position, \
                 register_address, register_name, data_type, word_order, scale, \
                 \"offset\", unit, min_value, max_value, not_available, \
                 string_length, poll_interval_ms, scale_factor) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)\
                 {on_conflict}"
        ))
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
                .map(|ms| i64::try_from(ms).unwrap_or(i64::MAX)),
            p.scale_factor
        ])
        .map_err(db_err)?;
    }
    Ok(())
}

/// A `removed_at` text (of a register or a device) as SQLite's `strftime` writes it.
fn parse_removed_at(text: &str) -> Result<chrono::DateTime<chrono::Utc>, StoreError> {
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&chrono::Utc))
        .map_err(|e| StoreError::Corrupt(format!("removed_at {text:?}: {e}")))
}
