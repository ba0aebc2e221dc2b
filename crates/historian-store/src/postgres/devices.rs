//! Device catalogue on PostgreSQL: devices and their register maps, written in one
//! transaction, and the cache of known device ids that guards batch writes.

use super::audit_log;
use super::columns::register_to_db;
use super::connection::{PostgresStore, db_err};
use super::new_devices;
use crate::audit::{Audited, DeviceAudit, NewAuditEntry};
use crate::model::{
    AccessColumns, DeviceRecord, MAP_UPSERT, MapRow, REMOVED_AT_COLUMN, RemovedRegister,
    select_devices_where_sql, upsert_device_sql, with_created,
};
use crate::store::{DeleteOutcome, StoreError};
use chrono::{DateTime, Utc};
use historian_model::{DeviceSpec, RegisterPoint};
use std::collections::{HashMap, HashSet};
use tokio_postgres::GenericClient;
use tokio_postgres::types::ToSql;

/// Writes `devices` (matched by name); when `disable_others`, disables every other device.
/// With `audit`, the entry it makes of the touched devices is appended in the same
/// transaction.
pub(super) async fn write(
    store: &PostgresStore,
    devices: &[DeviceSpec],
    disable_others: bool,
    audit: Option<DeviceAudit>,
) -> Result<Audited<Vec<DeviceRecord>>, StoreError> {
    let mut client = store.client().await?;
    let tx = client.transaction().await.map_err(db_err)?;
    let names: Vec<String> = devices.iter().map(|d| d.name.clone()).collect();
    let touched = (!disable_others).then_some(names.as_slice());
    // Other writers of the catalogue wait, so what is read here stays true until the
    // commit; readers do not conflict with this mode.
    tx.batch_execute("LOCK TABLE devices IN SHARE ROW EXCLUSIVE MODE")
        .await
        .map_err(db_err)?;
    // With an audit, every device named or, when others are disabled, every device: what
    // the entry's "before" holds; without, the named ones, to compare with.
    let before = load_named(
        &*tx,
        if audit.is_some() {
            touched
        } else {
            Some(&names)
        },
    )
    .await?;
    // A device stored as given is left alone: a fleet's start-up names thousands, nearly
    // all unchanged, and rewriting each map cost seconds.
    let (updated, created): (Vec<&DeviceSpec>, Vec<&DeviceSpec>) = {
        let current: HashMap<&str, &DeviceSpec> = before
            .iter()
            .map(|r| (r.spec.name.as_str(), &r.spec))
            .collect();
        devices
            .iter()
            .filter(|d| current.get(d.name.as_str()) != Some(d))
            .partition(|d| current.contains_key(d.name.as_str()))
    };
    let disabled = disable_others
        && tx
            .execute(
                "UPDATE devices SET enabled = false WHERE enabled AND NOT (name = ANY($1))",
                &[&names],
            )
            .await
            .map_err(db_err)?
            > 0;
    let ids = new_devices::insert_rows(&tx, &created).await?;
    // Reading the catalogue back is most of a large fleet's start-up: a write that only
    // added devices knows their records already, and makes its audit entry (a first
    // start's whole fleet as JSON, tens of MB) while the server stores their maps.
    let mut before = Some(before);
    let audit = match audit {
        Some(make) if !disabled && updated.is_empty() => {
            let before = before.take().unwrap_or_default();
            let created = created
                .iter()
                .zip(&ids)
                .map(|(d, id)| DeviceRecord::new(*id, (*d).clone()))
                .collect();
            Some(AuditJob::Made(tokio::task::spawn_blocking(move || {
                let after = with_created(&before, created);
                let entry = make(&before, &after);
                (after, entry)
            })))
        }
        other => other.map(AuditJob::AfterReading),
    };
    new_devices::copy_maps(&tx, &created, &ids).await?;
    for d in &updated {
        write_one(&tx, d).await?;
    }
    let (after, entry) = match audit {
        None => (None, None),
        Some(AuditJob::Made(job)) => {
            let (after, entry) = job
                .await
                .map_err(|e| StoreError::database(format!("making the audit entry: {e}")))?;
            (Some(after), entry)
        }
        Some(AuditJob::AfterReading(make)) => {
            let before = before.take().unwrap_or_default();
            let after = load_named(&*tx, touched).await?;
            let entry = make(&before, &after);
            (Some(after), entry)
        }
    };
    let entry = match entry {
        Some(e) => Some(audit_log::insert(&*tx, e).await?),
        None => None,
    };
    tx.commit().await.map_err(db_err)?;
    let records = match after {
        // Every device was read in the transaction just committed.
        Some(after) if touched.is_none() => after,
        _ => load(&client).await?,
    };
    // Removed devices are not among `records` but their ids stay known: a batch of their
    // readings still on its way is history, not a reading of an unknown device.
    let ids = all_ids(&client).await?;
    if let Ok(mut known) = store.device_ids.write() {
        *known = ids;
    }
    Ok(Audited {
        value: records,
        entry,
    })
}

/// How an audited write makes its entry: from records it already knows, on a thread of its
/// own while the write goes on, or from the catalogue read back at the end.
enum AuditJob {
    /// The catalogue after the write and the entry, being made.
    Made(tokio::task::JoinHandle<(Vec<DeviceRecord>, Option<NewAuditEntry>)>),
    /// To make once the catalogue is read back.
    AfterReading(DeviceAudit),
}

/// Every device of the catalogue, and with `removed` the removed ones too, ordered by id.
pub(super) async fn list(
    store: &PostgresStore,
    removed: bool,
) -> Result<Vec<DeviceRecord>, StoreError> {
    let client = store.client().await?;
    match removed {
        true => load_where(&**client, "TRUE", &[]).await,
        false => load(&client).await,
    }
}

/// Deletes a device that has no readings, or marks one that has readings removed; with
/// `audit`, appends the entry it makes of the device in the same transaction.
pub(super) async fn delete(
    store: &PostgresStore,
    name: &str,
    audit: Option<DeviceAudit>,
) -> Result<Audited<DeleteOutcome>, StoreError> {
    let unaudited = |value| Audited { value, entry: None };
    let mut client = store.client().await?;
    let mut tx = client.transaction().await.map_err(db_err)?;
    let Some(row) = tx
        .query_opt(
            "SELECT id FROM devices WHERE name = $1 AND removed_at IS NULL FOR UPDATE",
            &[&name],
        )
        .await
        .map_err(db_err)?
    else {
        return Ok(unaudited(DeleteOutcome::NotFound));
    };
    let id: i64 = row.try_get(0).map_err(db_err)?;
    let has_readings = tx
        .query_opt(
            "SELECT 1 FROM readings WHERE device_id = $1 LIMIT 1",
            &[&id],
        )
        .await
        .map_err(db_err)?
        .is_some();
    // The row lock above holds the device (and so its map) still until the commit.
    let before = match audit {
        Some(_) => load_named(&*tx, Some(&[name.to_string()])).await?,
        None => Vec::new(),
    };
    let outcome = if has_readings {
        mark_removed(&tx, id).await?
    } else {
        let deleting = tx.savepoint("delete_device").await.map_err(db_err)?;
        deleting
            .execute(
                "DELETE FROM device_register_map WHERE device_id = $1",
                &[&id],
            )
            .await
            .map_err(db_err)?;
        match deleting
            .execute("DELETE FROM devices WHERE id = $1", &[&id])
            .await
        {
            Ok(_) => {
                deleting.commit().await.map_err(db_err)?;
                DeleteOutcome::Deleted
            }
            // A batch of its readings landed after the check above: the database's
            // trigger keeps the device, which is then removed as the check would have.
            Err(e) if e.code() == Some(&tokio_postgres::error::SqlState::FOREIGN_KEY_VIOLATION) => {
                deleting.rollback().await.map_err(db_err)?;
                mark_removed(&tx, id).await?
            }
            Err(e) => return Err(db_err(e)),
        }
    };
    let entry = match audit.and_then(|make| make(&before, &[])) {
        Some(e) => Some(audit_log::insert(&*tx, e).await?),
        None => None,
    };
    tx.commit().await.map_err(db_err)?;
    if outcome == DeleteOutcome::Deleted
        && let Ok(mut known) = store.device_ids.write()
    {
        known.remove(&id);
    }
    Ok(Audited {
        value: outcome,
        entry,
    })
}

/// Marks device `id` removed: it keeps its row (readings name it by id) and its map, and
/// leaves the catalogue, so its name is free.
async fn mark_removed(
    tx: &tokio_postgres::Transaction<'_>,
    id: i64,
) -> Result<DeleteOutcome, StoreError> {
    tx.execute(
        "UPDATE devices SET removed_at = now(), enabled = false, updated_at = now() \
         WHERE id = $1",
        &[&id],
    )
    .await
    .map_err(db_err)?;
    Ok(DeleteOutcome::Removed)
}

/// The ids of every stored device, removed ones included.
async fn all_ids(client: &tokio_postgres::Client) -> Result<HashSet<i64>, StoreError> {
    client
        .query("SELECT id FROM devices", &[])
        .await
        .map_err(db_err)?
        .iter()
        .map(|r| r.try_get(0).map_err(db_err))
        .collect()
}

/// Reloads the cache of known device ids.
pub(super) async fn refresh_ids(store: &PostgresStore) -> Result<(), StoreError> {
    let client = store.client().await?;
    let ids = all_ids(&client).await?;
    if let Ok(mut known) = store.device_ids.write() {
        *known = ids;
    }
    Ok(())
}

/// Every device of the catalogue (not removed) with its register map, ordered by id.
async fn load(client: &tokio_postgres::Client) -> Result<Vec<DeviceRecord>, StoreError> {
    load_named(client, None).await
}

/// The devices of the catalogue named in `names` (every one when `None`) with their
/// register maps, ordered by id. Removed devices are not in the catalogue: a name is
/// matched only by the device that holds it now.
async fn load_named(
    client: &impl GenericClient,
    names: Option<&[String]>,
) -> Result<Vec<DeviceRecord>, StoreError> {
    let condition = match names {
        None => "removed_at IS NULL",
        Some(_) => "removed_at IS NULL AND name = ANY($1)",
    };
    let param: [&(dyn ToSql + Sync); 1] = [&names];
    let params: &[&(dyn ToSql + Sync)] = if names.is_some() { &param } else { &[] };
    load_where(client, condition, params).await
}

/// The devices matching `condition` (over `params`) with their register maps, by id.
async fn load_where(
    client: &impl GenericClient,
    condition: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Vec<DeviceRecord>, StoreError> {
    let maps = client
        .query(
            &format!(
                "SELECT device_id, register_address, register_name, data_type, word_order, \
                 scale, \"offset\", unit, min_value, max_value, not_available, \
                 string_length, poll_interval_ms, scale_factor, removed_at \
                 FROM device_register_map \
                 WHERE device_id IN (SELECT id FROM devices WHERE {condition}) \
                 ORDER BY device_id, position"
            ),
            params,
        )
        .await
        .map_err(db_err)?;
    let mut by_device: HashMap<i64, Vec<RegisterPoint>> = HashMap::new();
    let mut removed: HashMap<i64, Vec<RemovedRegister>> = HashMap::new();
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
            scale_factor: row.try_get(13).map_err(db_err)?,
        }
        .into_point()?;
        let device: i64 = row.try_get(0).map_err(db_err)?;
        match row
            .try_get::<_, Option<DateTime<Utc>>>(14)
            .map_err(db_err)?
        {
            None => by_device.entry(device).or_default().push(point),
            Some(removed_at) => removed
                .entry(device)
                .or_default()
                .push(RemovedRegister { point, removed_at }),
        }
    }
    let rows = client
        .query(&select_devices_where_sql(condition), params)
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
                removed_registers: removed.remove(&id).unwrap_or_default(),
                removed_at: row.try_get(REMOVED_AT_COLUMN).map_err(db_err)?,
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
    scale_factor: Vec<Option<&'a str>>,
}

/// Inserts or updates one device (matched by name) and replaces its map; returns its id.
async fn write_one(
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
    // Registers left out of the new map are kept, marked removed, so their history stays
    // addressable (and their readings joined to their names); those in it are written back
    // as current below.
    tx.execute(
        "UPDATE device_register_map SET removed_at = now() \
         WHERE device_id = $1 AND removed_at IS NULL",
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
        cols.scale_factor.push(p.scale_factor.as_deref());
    }
    if !d.registers.is_empty() {
        tx.execute(
            &format!(
                "INSERT INTO device_register_map (device_id, position, register_address, \
                     register_name, data_type, word_order, scale, \"offset\", unit, \
                     min_value, max_value, not_available, string_length, poll_interval_ms, \
                     scale_factor) \
                 SELECT $1, * FROM unnest($2::int4[], $3::int4[], $4::text[], $5::text[], \
                     $6::text[], $7::float8[], $8::float8[], $9::text[], $10::float8[], \
                     $11::float8[], $12::int8[], $13::int4[], $14::int8[], $15::text[]){MAP_UPSERT}"
            ),
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
                &cols.scale_factor,
            ],
        )
        .await
        .map_err(db_err)?;
    }

    Ok(id)
}
