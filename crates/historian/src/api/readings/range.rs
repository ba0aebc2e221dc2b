//! Readings of many registers in time order: every register of one device, or chosen
//! registers of chosen devices; filtered by quality, paged by cursor, JSON or CSV.

use super::response::{CSV_READING_COLUMNS, CsvReading, RegisterReadingResponse};
use crate::api::csv::render as render_csv;
use crate::api::error::{ApiError, PROBLEM_JSON, Problem};
use crate::api::extract::Query;
use crate::api::paging::{Cursor, MAX_SERIES, Series, read_page};
use crate::api::params::{
    Format, RegisterKey, cursor_schema, list, parse_limit, parse_qualities, parse_range,
    register_list_schema,
};
use crate::api::state::AppState;
use crate::api::stored::{find_device, find_devices, select_registers};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use historian_model::Quality;
use historian_store::DeviceRecord;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// Query parameters of the readings of one device.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DeviceReadingsQuery {
    /// Registers to include, comma-separated references (400001) or names (default: all).
    #[param(schema_with = register_list_schema)]
    pub registers: Option<String>,
    /// Qualities to include, comma-separated from good, bad, uncertain (default: all).
    #[param(
        pattern = "^((good|bad|uncertain)(,(good|bad|uncertain))*)?$",
        example = "bad,uncertain"
    )]
    pub quality: Option<String>,
    /// Inclusive start, RFC 3339, before `end` (default: one hour before `end`).
    #[param(format = DateTime, example = "2026-11-29T12:00:00Z")]
    pub start: Option<String>,
    /// Exclusive end, RFC 3339, after `start` (default: now).
    #[param(format = DateTime, example = "2026-11-29T13:00:00Z")]
    pub end: Option<String>,
    /// Most readings to return, 1 to 100000 (default 10000).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100000)]
    pub limit: Option<String>,
    /// Continue where the previous page stopped: its `next_cursor`, unchanged.
    #[param(schema_with = cursor_schema)]
    pub cursor: Option<String>,
}

/// Query parameters of a query over devices, registers and a time range.
#[derive(Debug, Default, Deserialize, IntoParams, ToSchema)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RegisterReadingsQueryRequest {
    /// Devices, comma-separated ids or names (default: all).
    pub devices: Option<String>,
    /// Registers, comma-separated references (400001) or names, taken from every chosen
    /// device that has them (default: all).
    #[param(schema_with = register_list_schema)]
    #[schema(schema_with = register_list_schema)]
    pub registers: Option<String>,
    /// Qualities to include, comma-separated from good, bad, uncertain (default: all).
    #[param(
        pattern = "^((good|bad|uncertain)(,(good|bad|uncertain))*)?$",
        example = "bad,uncertain"
    )]
    pub quality: Option<String>,
    /// Inclusive start, RFC 3339, before `end` (default: one hour before `end`).
    #[param(format = DateTime, example = "2026-11-29T12:00:00Z")]
    pub start: Option<String>,
    /// Exclusive end, RFC 3339, after `start` (default: now).
    #[param(format = DateTime, example = "2026-11-29T13:00:00Z")]
    pub end: Option<String>,
    /// Most readings to return, 1 to 100000 (default 10000).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100000)]
    pub limit: Option<String>,
    /// Continue where the previous page stopped: its `next_cursor`, unchanged.
    #[param(schema_with = cursor_schema)]
    #[schema(schema_with = cursor_schema)]
    pub cursor: Option<String>,
}

/// One page of readings of several registers, in (timestamp, device, register) order.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RegisterReadingsPageResponse {
    /// Inclusive start of the range.
    pub start: DateTime<Utc>,
    /// Exclusive end of the range.
    pub end: DateTime<Utc>,
    /// Readings on this page.
    pub count: usize,
    /// True when more readings may follow: ask again with `cursor` = `next_cursor`.
    /// A page may then hold fewer than `limit` readings (even none, when a quality
    /// filter removed them); keep following the cursor until it is null.
    pub truncated: bool,
    /// Opaque position to continue from; null on the last page.
    pub next_cursor: Option<String>,
    /// The readings.
    pub readings: Vec<RegisterReadingResponse>,
}

/// Readings of every register of one device (or those in `registers`) in a time range.
#[utoipa::path(get, path = "/api/register_readings/{device_id}", tag = "readings",
    params(("device_id" = String, Path, description = "Device id, or device name"), DeviceReadingsQuery),
    responses(
        (status = 200, description = "One page of readings", content(
            (RegisterReadingsPageResponse = "application/json"),
            (String = "text/csv"))),
        (status = 400, description = "Malformed parameter", body = Problem, content_type = PROBLEM_JSON),
        (status = 404, description = "No such device or register", body = Problem, content_type = PROBLEM_JSON),
        (status = 500, description = "The store failed", body = Problem, content_type = PROBLEM_JSON)))]
pub async fn device_readings(
    State(s): State<AppState>,
    Path(device): Path<String>,
    headers: HeaderMap,
    Query(q): Query<DeviceReadingsQuery>,
) -> Result<Response, ApiError> {
    let dev = find_device(&s.registry, &*s.store, &device).await?;
    let series: Vec<Series> = select_registers(&dev, &list(q.registers.as_deref()))?
        .into_iter()
        .map(|register| Series {
            device_id: dev.id,
            register,
        })
        .collect();
    let page = PageQuery {
        quality: q.quality.as_deref(),
        start: q.start.as_deref(),
        end: q.end.as_deref(),
        limit: q.limit.as_deref(),
        cursor: q.cursor.as_deref(),
    };
    answer(&s, &series, page, Format::negotiate(&headers)).await
}

/// Readings of chosen registers of chosen devices in a time range.
#[utoipa::path(get, path = "/api/register_readings/range", tag = "readings",
    params(RegisterReadingsQueryRequest),
    responses(
        (status = 200, description = "One page of readings", content(
            (RegisterReadingsPageResponse = "application/json"),
            (String = "text/csv"))),
        (status = 400, description = "Malformed parameter", body = Problem, content_type = PROBLEM_JSON),
        (status = 404, description = "No such device or register", body = Problem, content_type = PROBLEM_JSON),
        (status = 500, description = "The store failed", body = Problem, content_type = PROBLEM_JSON)))]
pub async fn range_readings(
    State(s): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<RegisterReadingsQueryRequest>,
) -> Result<Response, ApiError> {
    let device_keys = list(q.devices.as_deref());
    let devices = find_devices(&s.registry, &*s.store, &device_keys).await?;
    let series = range_series(&devices, &list(q.registers.as_deref()))?;
    let page = PageQuery {
        quality: q.quality.as_deref(),
        start: q.start.as_deref(),
        end: q.end.as_deref(),
        limit: q.limit.as_deref(),
        cursor: q.cursor.as_deref(),
    };
    answer(&s, &series, page, Format::negotiate(&headers)).await
}

/// The registers named by `keys` on each device that has them (removed registers too): a key no device has is a
/// 404, a malformed reference a 400.
pub(crate) fn range_series(
    devices: &[DeviceRecord],
    keys: &[&str],
) -> Result<Vec<Series>, ApiError> {
    let mut series = Vec::new();
    if keys.is_empty() {
        for d in devices {
            series.extend(d.spec.registers.iter().map(|p| Series {
                device_id: d.id,
                register: p.register,
            }));
        }
        return Ok(series);
    }
    for key in keys {
        let wanted = RegisterKey::parse(key)?;
        let before = series.len();
        for d in devices {
            let found = d.find_register(|p| wanted.names(p));
            if let Some(p) = found {
                series.push(Series {
                    device_id: d.id,
                    register: p.register,
                });
            }
        }
        if series.len() == before {
            return Err(ApiError::NotFound(format!(
                "no chosen device has register {key:?} (give six-digit references such as \
                 400001, or register names)"
            )));
        }
    }
    series.sort_by_key(|s| (s.device_id, s.register.reference()));
    series.dedup();
    Ok(series)
}

/// The paging parameters both endpoints share.
struct PageQuery<'a> {
    quality: Option<&'a str>,
    start: Option<&'a str>,
    end: Option<&'a str>,
    limit: Option<&'a str>,
    cursor: Option<&'a str>,
}

async fn answer(
    s: &AppState,
    series: &[Series],
    q: PageQuery<'_>,
    format: Format,
) -> Result<Response, ApiError> {
    if series.len() > MAX_SERIES {
        return Err(ApiError::BadRequest(format!(
            "{} registers chosen, at most {MAX_SERIES} per query: choose fewer devices or \
             registers",
            series.len()
        )));
    }
    let qualities: Vec<Quality> = parse_qualities(q.quality)?;
    let (start, end) = parse_range(q.start, q.end)?;
    let limit = parse_limit(q.limit)?;
    let cursor = q
        .cursor
        .map(Cursor::parse)
        .transpose()
        .map_err(ApiError::BadRequest)?;
    let page = read_page(&*s.store, series, start, end, cursor, limit, |r| {
        qualities.is_empty() || qualities.contains(&r.quality)
    })
    .await?;
    let next_cursor = page.next.map(|c| c.encode());
    if format == Format::Csv {
        let lines: Vec<CsvReading> = page.rows.iter().map(CsvReading::of).collect();
        return render_csv(CSV_READING_COLUMNS, &lines, next_cursor.as_deref());
    }
    Ok(Json(RegisterReadingsPageResponse {
        start,
        end,
        count: page.rows.len(),
        truncated: next_cursor.is_some(),
        next_cursor,
        readings: page
            .rows
            .iter()
            .map(|r| RegisterReadingResponse::from_reading(r, None))
            .collect(),
    })
    .into_response())
}
