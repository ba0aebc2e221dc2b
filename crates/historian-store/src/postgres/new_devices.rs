//! Devices the catalogue does not hold yet, written in bulk: every device row in one
//! statement (ids in the order given), every map row in one binary `COPY`.
//!
//! A fleet's first start writes thousands of devices and hundreds of thousands of map
//! rows; device by device, with an upsert per map, that cost the server most of the
//! start-up. A new device has nothing to update or mark removed, so plain inserts do.

use super::columns::register_to_db;
use super::connection::db_err;
use crate::model::{AccessColumns, DEVICE_COLUMNS};
use crate::store::StoreError;
use futures_util::pin_mut;
use historian_model::DeviceSpec;
use std::collections::HashMap;
use tokio_postgres::Transaction;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{ToSql, Type};

/// The map's columns as the `COPY` sends them, with their types.
const MAP_COLUMNS: [(&str, Type); 15] = [
    ("device_id", Type::INT8),
    ("position", Type::INT4),
    ("register_address", Type::INT4),
    ("register_name", Type::TEXT),
    ("data_type", Type::TEXT),
    ("word_order", Type::TEXT),
    ("scale", Type::FLOAT8),
    ("\"offset\"", Type::FLOAT8),
    ("unit", Type::TEXT),
    ("min_value", Type::FLOAT8),
    ("max_value", Type::FLOAT8),
    ("not_available", Type::INT8),
    ("string_length", Type::INT4),
    ("poll_interval_ms", Type::INT8),
    ("scale_factor", Type::TEXT),
];

/// One column of the device rows, as an array parameter.
fn column<T, F: Fn(&DeviceSpec, &AccessColumns) -> T>(
    devices: &[(&DeviceSpec, AccessColumns)],
    f: F,
) -> Vec<T> {
    devices.iter().map(|(d, a)| f(d, a)).collect()
}

/// Inserts the rows of `devices`, none of which the catalogue holds by name; returns their
/// ids, allocated in the order given.
pub(super) async fn insert_rows(
    tx: &Transaction<'_>,
    devices: &[&DeviceSpec],
) -> Result<Vec<i64>, StoreError> {
    if devices.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<(&DeviceSpec, AccessColumns)> = devices
        .iter()
        .map(|d| (*d, AccessColumns::of(&d.access)))
        .collect();
    let names: Vec<&str> = devices.iter().map(|d| d.name.as_str()).collect();
    let hosts: Vec<&str> = devices.iter().map(|d| d.host.as_str()).collect();
    let ports = column(&rows, |d, _| i32::from(d.port));
    let units = column(&rows, |d, _| i16::from(d.unit_id));
    let intervals = column(&rows, |d, _| {
        i64::try_from(d.poll_interval_ms).unwrap_or(i64::MAX)
    });
    let enabled = column(&rows, |d, _| d.enabled);
    let transports = column(&rows, |_, a| a.transport.clone());
    let bauds = column(&rows, |_, a| {
        a.baud_rate.map(|v| i32::try_from(v).unwrap_or(i32::MAX))
    });
    let parities = column(&rows, |_, a| a.parity.clone());
    let stop_bits = column(&rows, |_, a| {
        a.stop_bits.map(|v| i16::try_from(v).unwrap_or(i16::MAX))
    });
    let data_bits = column(&rows, |_, a| {
        a.data_bits.map(|v| i16::try_from(v).unwrap_or(i16::MAX))
    });
    let timeouts = column(&rows, |_, a| {
        a.timeout_ms.map(|v| i32::try_from(v).unwrap_or(i32::MAX))
    });
    let per_read = column(&rows, |_, a| {
        i16::try_from(a.max_registers_per_read).unwrap_or(i16::MAX)
    });
    let gaps = column(&rows, |_, a| i16::try_from(a.max_gap).unwrap_or(i16::MAX));
    let pauses = column(&rows, |_, a| i32::try_from(a.pause_ms).unwrap_or(i32::MAX));
    let params: [&(dyn ToSql + Sync); 15] = [
        &names,
        &hosts,
        &ports,
        &units,
        &intervals,
        &enabled,
        &transports,
        &bauds,
        &parities,
        &stop_bits,
        &data_bits,
        &timeouts,
        &per_read,
        &gaps,
        &pauses,
    ];
    // Sequence values are drawn as the rows leave the ordered SELECT: ids follow the
    // order given, so a fleet's ids follow its config file.
    let sql = format!(
        "INSERT INTO devices ({columns}) \
         SELECT {columns} FROM unnest($1::text[], $2::text[], $3::int4[], $4::int2[], \
             $5::int8[], $6::bool[], $7::text[], $8::int4[], $9::text[], $10::int2[], \
             $11::int2[], $12::int4[], $13::int2[], $14::int2[], $15::int4[]) \
             WITH ORDINALITY AS given({columns}, n) \
         ORDER BY n RETURNING id, name",
        columns = DEVICE_COLUMNS.join(", ")
    );
    let returned = tx.query(&sql, &params).await.map_err(db_err)?;
    let mut by_name: HashMap<String, i64> = HashMap::with_capacity(returned.len());
    for row in &returned {
        by_name.insert(
            row.try_get(1).map_err(db_err)?,
            row.try_get(0).map_err(db_err)?,
        );
    }
    devices
        .iter()
        .map(|d| {
            by_name.get(&d.name).copied().ok_or_else(|| {
                StoreError::database(format!("device {:?} was not inserted", d.name))
            })
        })
        .collect()
}

/// Inserts every map row of `devices` (stored as `ids`, all new) by one binary `COPY`.
pub(super) async fn copy_maps(
    tx: &Transaction<'_>,
    devices: &[&DeviceSpec],
    ids: &[i64],
) -> Result<(), StoreError> {
    if devices.is_empty() {
        return Ok(());
    }
    let names: Vec<&str> = MAP_COLUMNS.iter().map(|(n, _)| *n).collect();
    let types: Vec<Type> = MAP_COLUMNS.iter().map(|(_, t)| t.clone()).collect();
    let sink = tx
        .copy_in(&format!(
            "COPY device_register_map ({}) FROM STDIN BINARY",
            names.join(", ")
        ))
        .await
        .map_err(db_err)?;
    let writer = BinaryCopyInWriter::new(sink, &types);
    pin_mut!(writer);
    for (d, id) in devices.iter().zip(ids) {
        for (position, p) in d.registers.iter().enumerate() {
            let position = i32::try_from(position).unwrap_or(i32::MAX);
            let reference = register_to_db(p.register);
            let not_available = p.limits.not_available.map(|v| v as i64);
            let length = p.length.map(i32::from);
            let interval = p
                .interval_ms
                .map(|ms| i64::try_from(ms).unwrap_or(i64::MAX));
            let row: [&(dyn ToSql + Sync); 15] = [
                id,
                &position,
                &reference,
                &p.name,
                &p.data_type.as_str(),
                &p.word_order.as_str(),
                &p.scale,
                &p.offset,
                &p.unit,
                &p.limits.min,
                &p.limits.max,
                &not_available,
                &length,
                &interval,
                &p.scale_factor,
            ];
            writer.as_mut().write(&row).await.map_err(db_err)?;
        }
    }
    writer.finish().await.map_err(db_err)?;
    Ok(())
}
