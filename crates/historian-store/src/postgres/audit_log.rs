//! The audit trail on PostgreSQL: appended in the caller's transaction, read newest first.

use super::connection::{PostgresStore, db_err};
use crate::audit::{AuditEntry, AuditQuery, NewAuditEntry};
use crate::store::StoreError;
use tokio_postgres::GenericClient;
use tokio_postgres::types::ToSql;

/// Appends `entry` on `client` (inside the caller's transaction, if any).
pub(super) async fn insert(
    client: &impl GenericClient,
    entry: NewAuditEntry,
) -> Result<AuditEntry, StoreError> {
    // The JSON arrives as text and is checked by the cast: a text parameter cannot be
    // bound to a json column directly.
    let row = client
        .query_one(
            "INSERT INTO audit_log (time, who, peer, action, target, before, after) \
             VALUES ($1, $2, $3, $4, $5, $6::text::json, $7::text::json) RETURNING id",
            &[
                &entry.time,
                &entry.who,
                &entry.peer,
                &entry.action,
                &entry.target,
                &entry.before,
                &entry.after,
            ],
        )
        .await
        .map_err(db_err)?;
    let id: i64 = row.try_get(0).map_err(db_err)?;
    Ok(entry.with_id(id))
}

/// Appends `entry` on its own.
pub(super) async fn append(
    store: &PostgresStore,
    entry: &NewAuditEntry,
) -> Result<AuditEntry, StoreError> {
    let client = store.client().await?;
    let client: &tokio_postgres::Client = &client;
    insert(client, entry.clone()).await
}

/// The entries `q` selects, newest first.
pub(super) async fn query(
    store: &PostgresStore,
    q: &AuditQuery,
) -> Result<Vec<AuditEntry>, StoreError> {
    let limit = q.sql_limit();
    let mut filters: Vec<(&str, &(dyn ToSql + Sync))> = Vec::new();
    if let Some(t) = &q.start {
        filters.push(("time >=", t));
    }
    if let Some(t) = &q.end {
        filters.push(("time <", t));
    }
    if let Some(a) = &q.action {
        filters.push(("action =", a));
    }
    if let Some(t) = &q.target {
        filters.push(("target =", t));
    }
    if let Some(id) = &q.before_id {
        filters.push(("id <", id));
    }
    let conditions: Vec<String> = filters
        .iter()
        .enumerate()
        .map(|(i, (condition, _))| format!("{condition} ${}", i + 1))
        .collect();
    let mut params: Vec<&(dyn ToSql + Sync)> = filters.iter().map(|(_, v)| *v).collect();
    params.push(&limit);
    let filter = if conditions.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", conditions.join(" AND "))
    };
    let sql = format!(
        "SELECT id, time, who, peer, action, target, before::text, after::text \
         FROM audit_log {filter} ORDER BY id DESC LIMIT ${}",
        params.len()
    );
    let client = store.client().await?;
    let rows = client.query(&sql, &params).await.map_err(db_err)?;
    rows.iter()
        .map(|row| {
            Ok(AuditEntry {
                id: row.try_get(0).map_err(db_err)?,
                time: row.try_get(1).map_err(db_err)?,
                who: row.try_get(2).map_err(db_err)?,
                peer: row.try_get(3).map_err(db_err)?,
                action: row.try_get(4).map_err(db_err)?,
                target: row.try_get(5).map_err(db_err)?,
                before: row.try_get(6).map_err(db_err)?,
                after: row.try_get(7).map_err(db_err)?,
            })
        })
        .collect()
}
