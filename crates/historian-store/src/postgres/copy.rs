//! Batch writes with binary COPY. One duplicate key aborts a whole COPY, so a batch that
//! holds rows already stored (a replay) is staged in a temporary table and merged with
//! `ON CONFLICT DO NOTHING`; the fast path is tried first because replays are rare.

use super::{db_err, register_to_db};
use crate::model::Reading;
use crate::store::StoreError;
use futures_util::pin_mut;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Client, Transaction};

const COLUMNS: &str = "\"timestamp\", device_id, register_address, value, quality, register_name, data_type, unit, \
     value_text";
const TYPES: [Type; 9] = [
    Type::TIMESTAMPTZ,
    Type::INT8,
    Type::INT4,
    Type::FLOAT8,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
];

async fn copy_into(
    tx: &Transaction<'_>,
    table: &str,
    rows: &[Reading],
) -> Result<u64, tokio_postgres::Error> {
    let sink = tx
        .copy_in(&format!("COPY {table} ({COLUMNS}) FROM STDIN BINARY"))
        .await?;
    let writer = BinaryCopyInWriter::new(sink, &TYPES);
    pin_mut!(writer);
    for r in rows {
        let reference = register_to_db(r.register_address);
        let text = r.text.as_deref();
        let row: [&(dyn ToSql + Sync); 9] = [
            &r.timestamp,
            &r.device_id,
            &reference,
            &r.value,
            &r.quality.as_str(),
            &&*r.register_name,
            &r.data_type.as_str(),
            &&*r.unit,
            &text,
        ];
        writer.as_mut().write(&row).await?;
    }
    writer.finish().await
}

/// Writes `rows` atomically and returns how many were new.
pub async fn write(client: &mut Client, rows: &[Reading]) -> Result<usize, StoreError> {
    if rows.is_empty() {
        return Ok(0);
    }
    let tx = client.transaction().await.map_err(db_err)?;
    match copy_into(&tx, "register_readings", rows).await {
        Ok(n) => {
            tx.commit().await.map_err(db_err)?;
            return Ok(usize::try_from(n).unwrap_or(rows.len()));
        }
        Err(e) if e.code() == Some(&SqlState::UNIQUE_VIOLATION) => {
            tx.rollback().await.map_err(db_err)?;
        }
        Err(e) => return Err(db_err(e)),
    }
    // Slow path: stage, then merge skipping rows already stored.
    let tx = client.transaction().await.map_err(db_err)?;
    tx.batch_execute(
        "CREATE TEMPORARY TABLE IF NOT EXISTS register_readings_stage \
         (LIKE register_readings INCLUDING DEFAULTS) ON COMMIT DELETE ROWS",
    )
    .await
    .map_err(db_err)?;
    copy_into(&tx, "register_readings_stage", rows)
        .await
        .map_err(db_err)?;
    let n = tx
        .execute(
            &format!(
                "INSERT INTO register_readings ({COLUMNS}) SELECT {COLUMNS} \
                 FROM register_readings_stage ON CONFLICT DO NOTHING"
            ),
            &[],
        )
        .await
        .map_err(db_err)?;
    tx.commit().await.map_err(db_err)?;
    Ok(usize::try_from(n).unwrap_or(0))
}
