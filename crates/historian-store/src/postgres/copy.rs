//! Batch writes with binary COPY. One duplicate key aborts a whole COPY, so a batch that
//! holds rows already stored (a replay) is staged in a temporary table and merged with
//! `ON CONFLICT DO NOTHING`; the fast path is tried first because replays are rare.

use super::columns::register_to_db;
use super::connection::{PgMode, db_err};
use super::late::Touched;
use crate::store::StoreError;
use bytes::{BufMut, BytesMut};
use futures_util::{SinkExt, pin_mut};
use historian_model::Reading;
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, Transaction};

/// The narrow row: a register's name, data type and unit live in its map row.
const COLUMNS: &str = "\"timestamp\", device_id, register_address, value, quality, value_text";
/// Fields per row, in `COLUMNS` order.
const FIELDS: i16 = 6;
/// Binary COPY signature, then flags and header-extension length (both 0).
const HEADER: &[u8] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";
/// Microseconds from the Unix epoch to PostgreSQL's epoch, 2000-01-01 UTC.
const PG_EPOCH_US: i64 = 946_684_800_000_000;

/// Encodes rows in PostgreSQL's binary COPY format, all into one buffer.
///
/// Hand-written because it is the hottest code of a PostgreSQL historian: a profile of
/// tokio-postgres' `BinaryCopyInWriter` showed per-field type checks, one allocation and
/// one channel send per 4 KiB, and most instructions of the write path spent there.
pub fn encode_rows(rows: &[Reading]) -> BytesMut {
    let mut buf = BytesMut::with_capacity(HEADER.len() + 2 + rows.len() * 64);
    buf.put_slice(HEADER);
    for r in rows {
        buf.put_i16(FIELDS);
        buf.put_i32(8);
        buf.put_i64(r.timestamp.timestamp_micros() - PG_EPOCH_US);
        buf.put_i32(8);
        buf.put_i64(r.device_id);
        buf.put_i32(4);
        buf.put_i32(register_to_db(r.register_address));
        match r.value {
            Some(v) => {
                buf.put_i32(8);
                buf.put_f64(v);
            }
            None => buf.put_i32(-1),
        }
        put_text(&mut buf, r.quality.as_str());
        match &r.text {
            Some(t) => put_text(&mut buf, t),
            None => buf.put_i32(-1),
        }
    }
    buf.put_i16(-1);
    buf
}

fn put_text(buf: &mut BytesMut, s: &str) {
    // Map validation keeps every text far below 2 GiB.
    buf.put_i32(i32::try_from(s.len()).unwrap_or(i32::MAX));
    buf.put_slice(s.as_bytes());
}

async fn copy_into(
    tx: &Transaction<'_>,
    table: &str,
    rows: &[Reading],
) -> Result<u64, tokio_postgres::Error> {
    let sink = tx
        .copy_in(&format!("COPY {table} ({COLUMNS}) FROM STDIN BINARY"))
        .await?;
    pin_mut!(sink);
    sink.as_mut().send(encode_rows(rows).freeze()).await?;
    sink.finish().await
}

/// Writes `rows` atomically and returns how many were new; the hours of `late` rows are
/// marked for the roll-ups in the same transaction.
pub async fn write(
    client: &mut Client,
    rows: &[Reading],
    late: Option<(&Touched, &PgMode)>,
) -> Result<usize, StoreError> {
    if rows.is_empty() {
        return Ok(0);
    }
    let tx = client.transaction().await.map_err(db_err)?;
    match copy_into(&tx, "readings", rows).await {
        Ok(n) => {
            if let Some((touched, mode)) = late {
                touched.mark(&tx, mode).await?;
            }
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
        "CREATE TEMPORARY TABLE IF NOT EXISTS readings_stage \
         (LIKE readings INCLUDING DEFAULTS) ON COMMIT DELETE ROWS",
    )
    .await
    .map_err(db_err)?;
    copy_into(&tx, "readings_stage", rows)
        .await
        .map_err(db_err)?;
    let n = tx
        .execute(
            &format!(
                "INSERT INTO readings ({COLUMNS}) SELECT {COLUMNS} \
                 FROM readings_stage ON CONFLICT DO NOTHING"
            ),
            &[],
        )
        .await
        .map_err(db_err)?;
    if let Some((touched, mode)) = late {
        touched.mark(&tx, mode).await?;
    }
    tx.commit().await.map_err(db_err)?;
    Ok(usize::try_from(n).unwrap_or(0))
}
