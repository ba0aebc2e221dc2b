//! The audit trail on SQLite: appended in the writer's transaction, read newest first.

use super::connection::{SqliteStore, db_err, micros};
use crate::audit::{AuditEntry, AuditQuery, NewAuditEntry};
use crate::store::StoreError;
use chrono::DateTime;
use rusqlite::types::Value;
use rusqlite::{Connection, params};

/// Appends `entry` on `conn` (inside the caller's transaction, if any).
pub(super) fn insert(conn: &Connection, entry: NewAuditEntry) -> Result<AuditEntry, StoreError> {
    let id: i64 = conn
        .prepare_cached(
            "INSERT INTO audit_log (time, who, peer, action, target, before, after) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) RETURNING id",
        )
        .map_err(db_err)?
        .query_row(
            params![
                micros(entry.time),
                entry.who,
                entry.peer,
                entry.action,
                entry.target,
                entry.before,
                entry.after
            ],
            |r| r.get(0),
        )
        .map_err(db_err)?;
    Ok(entry.with_id(id))
}

/// Appends `entry` on its own.
pub(super) async fn append(
    store: &SqliteStore,
    entry: &NewAuditEntry,
) -> Result<AuditEntry, StoreError> {
    let entry = entry.clone();
    store.write(move |conn| insert(conn, entry)).await
}

/// The entries `q` selects, newest first.
pub(super) async fn query(
    store: &SqliteStore,
    q: &AuditQuery,
) -> Result<Vec<AuditEntry>, StoreError> {
    let mut conditions = Vec::new();
    let mut values: Vec<Value> = Vec::new();
    let mut with = |condition: &str, value: Value| {
        values.push(value);
        conditions.push(format!("{condition} ?{}", values.len()));
    };
    if let Some(t) = q.start {
        with("time >=", Value::Integer(micros(t)));
    }
    if let Some(t) = q.end {
        with("time <", Value::Integer(micros(t)));
    }
    if let Some(a) = &q.action {
        with("action =", Value::Text(a.clone()));
    }
    if let Some(t) = &q.target {
        with("target =", Value::Text(t.clone()));
    }
    if let Some(id) = q.before_id {
        with("id <", Value::Integer(id));
    }
    values.push(Value::Integer(q.sql_limit()));
    let limit = format!("LIMIT ?{}", values.len());
    let filter = if conditions.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", conditions.join(" AND "))
    };
    let sql = format!(
        "SELECT id, time, who, peer, action, target, before, after FROM audit_log \
         {filter} ORDER BY id DESC {limit}"
    );
    store
        .read(move |conn| {
            let mut stmt = conn.prepare_cached(&sql).map_err(db_err)?;
            let mut rows = stmt
                .query(rusqlite::params_from_iter(values))
                .map_err(db_err)?;
            let mut out = Vec::new();
            while let Some(row) = rows.next().map_err(db_err)? {
                let at: i64 = row.get(1).map_err(db_err)?;
                out.push(AuditEntry {
                    id: row.get(0).map_err(db_err)?,
                    time: DateTime::from_timestamp_micros(at).ok_or_else(|| {
                        StoreError::Corrupt(format!("audit entry time {at} is out of range"))
                    })?,
                    who: row.get(2).map_err(db_err)?,
                    peer: row.get(3).map_err(db_err)?,
                    action: row.get(4).map_err(db_err)?,
                    target: row.get(5).map_err(db_err)?,
                    before: row.get(6).map_err(db_err)?,
                    after: row.get(7).map_err(db_err)?,
                });
            }
            Ok(out)
        })
        .await
}
