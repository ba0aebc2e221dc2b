//! `GET /api/audit`: the audit trail, newest first, paged by cursor.

use crate::api::auth::WriteAccess;
use crate::api::error::{ApiError, PROBLEM_JSON, Problem};
use crate::api::extract::Query;
use crate::api::params::parse_time;
use crate::api::state::AppState;
use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use historian_store::{AuditEntry, AuditQuery};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// Entries returned when the client sets no limit.
pub const DEFAULT_AUDIT_LIMIT: usize = 100;
/// The most entries one page may hold (each may carry two whole devices).
pub const MAX_AUDIT_LIMIT: usize = 1_000;

/// Query parameters of the audit trail.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQueryParams {
    /// Only entries at or after this time, RFC 3339 (default: from the first entry).
    #[param(format = DateTime, example = "2026-11-29T12:00:00Z")]
    pub start: Option<String>,
    /// Only entries before this time, RFC 3339 (default: up to the newest).
    #[param(format = DateTime, example = "2026-11-29T13:00:00Z")]
    pub end: Option<String>,
    /// Only entries of this action, e.g. `device.update` (the whole name).
    #[param(example = "device.update")]
    pub action: Option<String>,
    /// Only entries about this target: a device name, or a config file for `config.*`.
    pub target: Option<String>,
    /// Most entries to return, 1 to 1000 (default 100).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    pub limit: Option<String>,
    /// Continue where the previous page stopped: its `next_cursor`, unchanged.
    #[param(schema_with = crate::api::params::id_cursor_schema)]
    pub cursor: Option<String>,
}

/// One accepted change.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AuditEntryResponse {
    /// Position in the trail; a later change has a higher id.
    pub id: i64,
    /// When the change was made.
    pub time: DateTime<Utc>,
    /// Who made it: `token` (the API token), `local` (no token configured, a local
    /// client), `config` (the config file), `cli` (the command line).
    pub who: String,
    /// The client's address, when the server knew it.
    pub peer: Option<String>,
    /// What was done: `device.create`, `device.update`, `device.enable`,
    /// `device.disable`, `device.delete`, `device.register_map`, `storage.maintenance`,
    /// `config.load`, `config.reload`.
    pub action: String,
    /// What it was done to: a device name, `storage`, or the config file.
    pub target: String,
    /// The state before, as the API shows it (a device; for `config.*` an array of the
    /// devices that changed); null for a creation and for maintenance.
    #[schema(value_type = Option<serde_json::Value>)]
    pub before: Option<serde_json::Value>,
    /// The state after, as the API shows it (an array for `config.*`); null for a deletion.
    #[schema(value_type = Option<serde_json::Value>)]
    pub after: Option<serde_json::Value>,
}

impl From<AuditEntry> for AuditEntryResponse {
    fn from(e: AuditEntry) -> Self {
        // The store checks the JSON on the way in; text that still does not parse is
        // shown as the text it is rather than hiding the entry.
        let state = |text: Option<String>| {
            text.map(|t| serde_json::from_str(&t).unwrap_or(serde_json::Value::String(t)))
        };
        AuditEntryResponse {
            id: e.id,
            time: e.time,
            who: e.who,
            peer: e.peer,
            action: e.action,
            target: e.target,
            before: state(e.before),
            after: state(e.after),
        }
    }
}

/// One page of the audit trail, newest first.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AuditPageResponse {
    /// Entries on this page.
    pub count: usize,
    /// True when older entries follow: ask again with `cursor` = `next_cursor`.
    pub truncated: bool,
    /// Opaque position to continue from; null on the last page.
    pub next_cursor: Option<String>,
    /// The entries, newest first.
    pub entries: Vec<AuditEntryResponse>,
}

fn parse_limit(limit: Option<&str>) -> Result<usize, ApiError> {
    match limit {
        None => Ok(DEFAULT_AUDIT_LIMIT),
        Some(l) => match l.parse::<usize>() {
            Ok(n @ 1..=MAX_AUDIT_LIMIT) => Ok(n),
            _ => Err(ApiError::BadRequest(format!(
                "limit={l:?} must be a whole number from 1 to {MAX_AUDIT_LIMIT}"
            ))),
        },
    }
}

fn parse_cursor(cursor: Option<&str>) -> Result<Option<i64>, ApiError> {
    cursor
        .map(|c| match c.parse::<i64>() {
            Ok(id) if id >= 0 && c.bytes().all(|b| b.is_ascii_digit()) => Ok(id),
            _ => Err(ApiError::BadRequest(format!(
                "cursor={c:?} is not a cursor; pass the next_cursor of the previous page \
                 unchanged"
            ))),
        })
        .transpose()
}

/// The audit trail: every accepted change of devices (through the API or the config
/// file) and every maintenance run asked for, with who made it and the state before and
/// after, newest first. It reveals the configuration, so it needs the same access as a
/// write (the bearer token when one is configured).
#[utoipa::path(get, path = "/api/audit", tag = "audit",
    security((), ("bearer" = [])),
    params(AuditQueryParams),
    responses(
        (status = 200, description = "One page of entries, newest first", body = AuditPageResponse),
        (status = 400, description = "Malformed parameter", body = Problem, content_type = PROBLEM_JSON),
        (status = 401, description = "Token missing or wrong", body = Problem, content_type = PROBLEM_JSON),
        (status = 500, description = "The store failed", body = Problem, content_type = PROBLEM_JSON)))]
pub async fn audit_entries(
    _: WriteAccess,
    State(s): State<AppState>,
    Query(q): Query<AuditQueryParams>,
) -> Result<Json<AuditPageResponse>, ApiError> {
    let start = q
        .start
        .as_deref()
        .map(|t| parse_time("start", t))
        .transpose()?;
    let end = q.end.as_deref().map(|t| parse_time("end", t)).transpose()?;
    if let (Some(start), Some(end)) = (start, end)
        && end <= start
    {
        return Err(ApiError::BadRequest(format!(
            "end ({end}) must be after start ({start})"
        )));
    }
    let limit = parse_limit(q.limit.as_deref())?;
    // One more than the page holds tells whether another page follows.
    let mut entries = s
        .store
        .audit_entries(&AuditQuery {
            start,
            end,
            action: q.action,
            target: q.target,
            before_id: parse_cursor(q.cursor.as_deref())?,
            limit: limit + 1,
        })
        .await?;
    let truncated = entries.len() > limit;
    entries.truncate(limit);
    let next_cursor = truncated
        .then(|| entries.last().map(|e| e.id.to_string()))
        .flatten();
    Ok(Json(AuditPageResponse {
        count: entries.len(),
        truncated,
        next_cursor,
        entries: entries.into_iter().map(AuditEntryResponse::from).collect(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_and_cursor_are_checked() {
        assert_eq!(parse_limit(None).ok(), Some(DEFAULT_AUDIT_LIMIT));
        assert_eq!(parse_limit(Some("1000")).ok(), Some(1000));
        for bad in ["0", "1001", "x", "-1", ""] {
            assert!(parse_limit(Some(bad)).is_err(), "{bad:?}");
        }
        assert_eq!(parse_cursor(None).ok(), Some(None));
        assert_eq!(parse_cursor(Some("42")).ok(), Some(Some(42)));
        for bad in ["", "-1", "+4", "4_2", "x", "99999999999999999999"] {
            assert!(parse_cursor(Some(bad)).is_err(), "{bad:?}");
        }
    }
}
