//! The time series of one register (from the store), raw or in buckets, as JSON or CSV.

use super::response::{CSV_READING_COLUMNS, CsvReading};
use crate::api::csv::render as render_csv;
use crate::api::error::{ApiError, PROBLEM_JSON, Problem};
use crate::api::extract::Query;
use crate::api::params::{
    Format, keywords, parse_limit, parse_range, parse_time, register_key_schema,
};
use crate::api::state::AppState;
use crate::api::stored::{find_device, find_register};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Duration as ChronoDuration, SecondsFormat, Utc};
use historian_model::{DataType, Number};
use historian_store::{AggregateBucket, AggregateSource};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use utoipa::{IntoParams, ToSchema};

/// Query parameters of one register's time series.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RegisterSeriesQuery {
    /// Inclusive start, RFC 3339, before `end` (default: one hour before `end`).
    #[param(format = DateTime, example = "2026-11-29T12:00:00Z")]
    pub start: Option<String>,
    /// Exclusive end, RFC 3339, after `start` (default: now).
    #[param(format = DateTime, example = "2026-11-29T13:00:00Z")]
    pub end: Option<String>,
    /// Most readings to return, 1 to 100000 (default 10000). Raw readings only.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100000)]
    pub limit: Option<String>,
    /// Continue after this reading: the `next_cursor` of the previous page.
    #[param(format = DateTime)]
    pub cursor: Option<String>,
    /// Aggregate into buckets this wide (e.g. `15m`, `1h`, `1d`; at most 366 days)
    /// instead of raw readings.
    #[param(schema_with = bucket_schema)]
    pub bucket: Option<String>,
    /// With `bucket`: the figures to return, comma-separated, from avg, min, max, count,
    /// first, last (default: all).
    #[param(
        pattern = "^((avg|min|max|count|first|last)(,(avg|min|max|count|first|last))*)?$",
        example = "avg,max"
    )]
    pub aggregates: Option<String>,
}

/// The path of one register's time series.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct RegisterSeriesPath {
    /// Device id, or device name.
    pub device_id: String,
    /// Register reference (400001, or 40000103 for bit 3 of it), or register name (any key
    /// that is not all digits).
    #[param(schema_with = register_key_schema)]
    pub register_address: String,
}

/// One point of a time series.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TimeSeriesPoint {
    /// When the poll began.
    #[serde(serialize_with = "crate::api::timefmt::serialize")]
    pub timestamp: DateTime<Utc>,
    /// Engineering value; null when the read failed, and for string registers. An unscaled
    /// `int64`/`uint64` register's value is an exact JSON integer.
    #[schema(value_type = Option<f64>)]
    pub value: Option<Number>,
    /// The text of a string register (absent for every other type).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// good, bad or uncertain.
    #[schema(value_type = String)]
    pub quality: Cow<'static, str>,
}

/// Readings of one register over a time range.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RegisterReadingsTimeSeriesResponse {
    /// Device id.
    pub device_id: i64,
    /// Device name.
    pub device_name: String,
    /// Six-digit register reference.
    pub register_address: u32,
    /// Name from the register map.
    pub register_name: String,
    /// Data type from the register map.
    pub data_type: String,
    /// Unit from the register map.
    pub unit: String,
    /// Inclusive start of the range.
    pub start: DateTime<Utc>,
    /// Exclusive end of the range.
    pub end: DateTime<Utc>,
    /// Readings returned.
    pub count: usize,
    /// True when `limit` cut the answer short.
    pub truncated: bool,
    /// Pass as `cursor` to get the next page (present when `truncated`).
    pub next_cursor: Option<DateTime<Utc>>,
    /// Oldest first.
    pub readings: Vec<TimeSeriesPoint>,
}

/// Aggregated readings of one register: one entry per bucket.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RegisterReadingsAggregateResponse {
    /// Device id.
    pub device_id: i64,
    /// Six-digit register reference.
    pub register_address: u32,
    /// Name from the register map.
    pub register_name: String,
    /// Unit from the register map.
    pub unit: String,
    /// Bucket width in seconds.
    pub bucket_seconds: u64,
    /// `raw`, `hourly` or `daily`: the data the buckets were computed from.
    pub source: String,
    /// Inclusive start of the range.
    pub start: DateTime<Utc>,
    /// Exclusive end of the range.
    pub end: DateTime<Utc>,
    /// The figures each bucket carries.
    pub aggregates: Vec<String>,
    /// Oldest first.
    pub buckets: Vec<BucketResponse>,
}

/// One bucket: figures over the readings that had a value. Figures not asked for are
/// left out.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct BucketResponse {
    /// Start of the bucket (aligned to the Unix epoch).
    pub bucket: DateTime<Utc>,
    /// Mean.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub avg: Option<f64>,
    /// Minimum.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    /// Maximum.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    /// Readings with a value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<i64>,
    /// Earliest value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first: Option<f64>,
    /// Latest value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last: Option<f64>,
}

/// A register's time series: raw readings, or buckets when `bucket` was given.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum RegisterSeriesResponse {
    /// Raw readings.
    Raw(RegisterReadingsTimeSeriesResponse),
    /// Buckets.
    Buckets(RegisterReadingsAggregateResponse),
}

/// Most buckets one aggregate query may return.
pub const MAX_BUCKETS: i64 = 100_000;

/// The figures a bucket can carry.
const AGGREGATES: [&str; 6] = ["avg", "min", "max", "count", "first", "last"];

fn parse_aggregates(text: Option<&str>) -> Result<Vec<&'static str>, ApiError> {
    let asked = keywords(text);
    if asked.is_empty() {
        return Ok(AGGREGATES.to_vec());
    }
    asked
        .into_iter()
        .map(|a| {
            AGGREGATES.iter().copied().find(|&k| k == a).ok_or_else(|| {
                ApiError::BadRequest(format!(
                    "aggregates={a:?} is not an aggregate; choose from {}",
                    AGGREGATES.join(", ")
                ))
            })
        })
        .collect()
}

fn bucket_response(b: &AggregateBucket, wanted: &[&str]) -> BucketResponse {
    let pick = |k: &str, v: Option<f64>| if wanted.contains(&k) { v } else { None };
    BucketResponse {
        bucket: b.bucket,
        avg: pick("avg", b.avg),
        min: pick("min", b.min),
        max: pick("max", b.max),
        count: wanted.contains(&"count").then_some(b.count),
        first: pick("first", b.first),
        last: pick("last", b.last),
    }
}

fn bucket_csv_row(b: &AggregateBucket, wanted: &[&str]) -> Vec<String> {
    let num = |v: Option<f64>| v.map(|x| x.to_string()).unwrap_or_default();
    let mut row = vec![b.bucket.to_rfc3339_opts(SecondsFormat::Secs, true)];
    for &k in wanted {
        row.push(match k {
            "avg" => num(b.avg),
            "min" => num(b.min),
            "max" => num(b.max),
            "count" => b.count.to_string(),
            "first" => num(b.first),
            _ => num(b.last),
        });
    }
    row
}

/// The widest bucket, in seconds: 366 days.
const MAX_BUCKET_SECONDS: u64 = 366 * 86_400;

/// The bucket widths, with their length in seconds.
const BUCKET_UNITS: [(char, u64); 4] = [('s', 1), ('m', 60), ('h', 3_600), ('d', 86_400)];

/// The `bucket` parameter: what [`parse_bucket`] accepts.
fn bucket_schema() -> utoipa::openapi::schema::Object {
    let forms: Vec<String> = BUCKET_UNITS
        .iter()
        .map(|&(unit, secs)| {
            format!(
                "{}{unit}",
                historian_model::input::pattern::decimal_range(1, MAX_BUCKET_SECONDS / secs)
            )
        })
        .collect();
    utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .pattern(Some(format!("^(?:{})$", forms.join("|"))))
        .examples(["1h"])
        .build()
}

/// A bucket width: a whole number and one of s, m, h, d (e.g. `90s`, `15m`, `1h`, `1d`),
/// at most [`MAX_BUCKET_SECONDS`].
fn parse_bucket(width: &str) -> Result<u64, ApiError> {
    // Split at the last character, not the last byte: the text is the client's.
    let (digits, unit) = match width.char_indices().last() {
        Some((at, last)) => (
            width.get(..at).unwrap_or_default(),
            BUCKET_UNITS
                .iter()
                .find(|(c, _)| *c == last)
                .map(|(_, secs)| *secs),
        ),
        None => ("", None),
    };
    unit.filter(|_| !digits.starts_with('0') && digits.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|u| digits.parse::<u64>().ok()?.checked_mul(u))
        .filter(|&w| w > 0 && w <= MAX_BUCKET_SECONDS)
        .ok_or_else(|| {
            ApiError::BadRequest(format!(
                "bucket={width:?} is not a bucket width; write a whole number and s, m, h or d, \
                 e.g. 30s, 15m, 1h, 1d, at most 366d"
            ))
        })
}

/// Readings of one register over a time range, oldest first; or, with `bucket`, figures
/// per bucket (from the hourly or daily roll-ups when the width allows).
#[utoipa::path(get, path = "/api/register_readings/{device_id}/{register_address}", tag = "readings",
    params(RegisterSeriesPath, RegisterSeriesQuery),
    responses(
        (status = 200, description = "Raw readings, or buckets when `bucket` is given", content(
            (RegisterSeriesResponse = "application/json"),
            (String = "text/csv"))),
        (status = 400, description = "Malformed parameter", body = Problem, content_type = PROBLEM_JSON),
        (status = 404, description = "No such device or register", body = Problem, content_type = PROBLEM_JSON),
        (status = 500, description = "The store failed", body = Problem, content_type = PROBLEM_JSON)))]
pub async fn register_time_series(
    State(s): State<AppState>,
    Path(RegisterSeriesPath {
        device_id: device,
        register_address: register,
    }): Path<RegisterSeriesPath>,
    headers: HeaderMap,
    Query(q): Query<RegisterSeriesQuery>,
) -> Result<Response, ApiError> {
    let format = Format::negotiate(&headers);
    let dev = find_device(&s.registry, &*s.store, &device).await?;
    let point = find_register(&dev, &register)?;
    let (start, end) = parse_range(q.start.as_deref(), q.end.as_deref())?;
    if let Some(width) = &q.bucket {
        let width = parse_bucket(width)?;
        let wanted = parse_aggregates(q.aggregates.as_deref())?;
        let buckets = (end - start).num_seconds() / i64::try_from(width).unwrap_or(i64::MAX);
        if buckets > MAX_BUCKETS {
            return Err(ApiError::BadRequest(format!(
                "{buckets} buckets requested, at most {MAX_BUCKETS}: widen the bucket or \
                 shorten the range"
            )));
        }
        let rows = s
            .store
            .get_aggregates(
                dev.id,
                &[point.register],
                historian_store::TimeRange::new(start, end),
                width,
            )
            .await?;
        if format == Format::Csv {
            let mut columns = vec!["bucket"];
            columns.extend(&wanted);
            let lines: Vec<Vec<String>> = rows.iter().map(|b| bucket_csv_row(b, &wanted)).collect();
            return render_csv(&columns, &lines, None);
        }
        let source = match AggregateSource::for_width(width) {
            AggregateSource::Raw => "raw",
            AggregateSource::Hourly => "hourly",
            AggregateSource::Daily => "daily",
        };
        return Ok(Json(RegisterSeriesResponse::Buckets(
            RegisterReadingsAggregateResponse {
                device_id: dev.id,
                register_address: point.register.reference(),
                register_name: point.name.clone(),
                unit: point.unit.clone(),
                bucket_seconds: width,
                source: source.to_string(),
                start,
                end,
                aggregates: wanted.iter().map(|a| a.to_string()).collect(),
                buckets: rows.iter().map(|b| bucket_response(b, &wanted)).collect(),
            },
        ))
        .into_response());
    }
    if q.aggregates.is_some() {
        return Err(ApiError::BadRequest(
            "aggregates needs bucket (e.g. bucket=1h&aggregates=avg,max)".into(),
        ));
    }
    let limit = parse_limit(q.limit.as_deref())?;
    // The cursor is the timestamp of the last reading already returned.
    let from = match &q.cursor {
        Some(c) => (parse_time("cursor", c)? + ChronoDuration::microseconds(1)).max(start),
        None => start,
    };
    // One extra row tells whether the answer was cut short.
    if format == Format::Csv {
        let rows = if from < end {
            s.store
                .get_readings_time_range(
                    historian_store::SeriesKey::new(dev.id, point.register),
                    historian_store::TimeRange::new(from, end),
                    limit + 1,
                )
                .await?
        } else {
            Vec::new()
        };
        let (rows, _, next) = page(rows, limit, |r| r.timestamp);
        let next = next.map(|t| t.to_rfc3339_opts(SecondsFormat::Micros, true));
        let lines: Vec<CsvReading> = rows.iter().map(CsvReading::of).collect();
        return render_csv(CSV_READING_COLUMNS, &lines, next.as_deref());
    }
    let rows = if from < end {
        s.store
            .get_series(
                historian_store::SeriesKey::new(dev.id, point.register),
                historian_store::TimeRange::new(from, end),
                limit + 1,
            )
            .await?
    } else {
        Vec::new()
    };
    let (rows, truncated, next_cursor) = page(rows, limit, |r| r.timestamp);
    Ok(Json(RegisterSeriesResponse::Raw(
        RegisterReadingsTimeSeriesResponse {
            device_id: dev.id,
            device_name: dev.spec.name.clone(),
            register_address: point.register.reference(),
            register_name: point.name.clone(),
            data_type: point.data_type.to_string(),
            unit: point.unit.clone(),
            start,
            end,
            count: rows.len(),
            truncated,
            next_cursor,
            readings: rows
                .into_iter()
                .map(|r| TimeSeriesPoint {
                    timestamp: r.timestamp,
                    value: Number::of(point.data_type, r.value, r.text.as_deref()),
                    text: r
                        .text
                        .filter(|_| point.data_type == DataType::String)
                        .as_deref()
                        .map(str::to_string),
                    quality: Cow::Borrowed(r.quality.as_str()),
                })
                .collect(),
        },
    ))
    .into_response())
}

/// Cuts `rows` (fetched with one row beyond `limit`) to `limit`; says whether it cut, and
/// the cursor of the next page: the last kept row's timestamp.
fn page<T>(
    mut rows: Vec<T>,
    limit: usize,
    timestamp: impl Fn(&T) -> DateTime<Utc>,
) -> (Vec<T>, bool, Option<DateTime<Utc>>) {
    let truncated = rows.len() > limit;
    rows.truncate(limit);
    let next = if truncated {
        rows.last().map(timestamp)
    } else {
        None
    };
    (rows, truncated, next)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_widths_are_read_and_anything_else_refused_without_a_panic() {
        assert_eq!(parse_bucket("90s").ok(), Some(90));
        assert_eq!(parse_bucket("15m").ok(), Some(900));
        assert_eq!(parse_bucket("1h").ok(), Some(3_600));
        assert_eq!(parse_bucket("366d").ok(), Some(366 * 86_400));
        // The last three end in a character of more than one byte.
        for bad in [
            "",
            "h",
            "0h",
            "01h",
            "1x",
            "1hh",
            "367d",
            "-1h",
            "1¹",
            "¹",
            "*ù\u{65b8e}pæ¹",
        ] {
            assert!(parse_bucket(bad).is_err(), "{bad:?}");
        }
    }
}
