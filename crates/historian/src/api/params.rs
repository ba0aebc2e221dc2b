//! Parsing of query parameters shared by the reading endpoints: every bad value becomes a
//! 400 that names the parameter and shows a valid spelling.

use super::error::ApiError;
use axum::http::{HeaderMap, header};
use chrono::{DateTime, Duration as ChronoDuration, Utc};
use historian_model::input::pattern::decimal_range;
use historian_model::input::text::white_space_class;
use historian_model::{Quality, RegisterPoint, RegisterRef};
use utoipa::openapi::schema::{Object, ObjectBuilder, Type};

/// Readings returned by one time-range query when the client sets no limit.
pub const DEFAULT_LIMIT: usize = 10_000;
/// The most readings one time-range query may return.
pub const MAX_LIMIT: usize = 100_000;
/// Time range used when the client gives no `start`.
const DEFAULT_RANGE_HOURS: i64 = 1;

/// Parses an RFC 3339 timestamp named `name`.
pub fn parse_time(name: &str, text: &str) -> Result<DateTime<Utc>, ApiError> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| {
            ApiError::BadRequest(format!(
                "{name}={text:?} is not an RFC 3339 timestamp ({e}); \
                 write e.g. 2026-11-29T12:00:00Z"
            ))
        })
}

/// The `[start, end)` range: `end` defaults to now, `start` to an hour before `end`.
pub fn parse_range(
    start: Option<&str>,
    end: Option<&str>,
) -> Result<(DateTime<Utc>, DateTime<Utc>), ApiError> {
    let end = match end {
        Some(t) => parse_time("end", t)?,
        None => Utc::now(),
    };
    let start = match start {
        Some(t) => parse_time("start", t)?,
        None => end - ChronoDuration::hours(DEFAULT_RANGE_HOURS),
    };
    if end <= start {
        return Err(ApiError::BadRequest(format!(
            "end ({end}) must be after start ({start})"
        )));
    }
    Ok((start, end))
}

/// The `limit` parameter: 1 to [`MAX_LIMIT`], [`DEFAULT_LIMIT`] when absent.
pub fn parse_limit(limit: Option<&str>) -> Result<usize, ApiError> {
    match limit {
        None => Ok(DEFAULT_LIMIT),
        Some(l) => match l.parse::<usize>() {
            Ok(n @ 1..=MAX_LIMIT) => Ok(n),
            _ => Err(ApiError::BadRequest(format!(
                "limit={l:?} must be a whole number from 1 to {MAX_LIMIT}"
            ))),
        },
    }
}

/// A register as a request names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegisterKey<'a> {
    /// By reference number: a key of ASCII digits only.
    Reference(RegisterRef),
    /// By name: any other key.
    Name(&'a str),
}

impl<'a> RegisterKey<'a> {
    /// Reads `key`: digits are a reference number (a 400 when no register has it), anything
    /// else a name.
    pub fn parse(key: &'a str) -> Result<Self, ApiError> {
        if key.is_empty() || !key.bytes().all(|b| b.is_ascii_digit()) {
            return Ok(RegisterKey::Name(key));
        }
        key.parse::<u32>()
            .map_err(|_| format!("register address {key} is not a reference number"))
            .and_then(RegisterRef::from_reference)
            .map(RegisterKey::Reference)
            .map_err(|e| ApiError::BadRequest(format!("register {key:?}: {e}")))
    }

    /// Whether `p` is the register named.
    pub fn names(&self, p: &RegisterPoint) -> bool {
        match self {
            RegisterKey::Reference(r) => p.register == *r,
            RegisterKey::Name(n) => p.name == *n,
        }
    }
}

/// The reference numbers [`RegisterKey::parse`] accepts, leading zeros allowed.
fn reference_pattern() -> String {
    let ir = decimal_range(300_001, 365_536);
    let hr = decimal_range(400_001, 465_536);
    format!(
        "0*(?:{}|{}|{ir}|{hr}|(?:{ir}|{hr})(?:0[0-9]|1[0-5]))",
        decimal_range(1, 65_536),
        decimal_range(100_001, 165_536),
    )
}

/// A string parameter with a pattern.
fn pattern_schema(pattern: String, example: &str) -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(pattern))
        .examples([example])
        .build()
}

/// The `register_address` path parameter: a reference number, or a name (anything but
/// digits only).
pub fn register_key_schema() -> Object {
    pattern_schema(
        format!("^(?:{}|[\\s\\S]*[^0-9][\\s\\S]*)$", reference_pattern()),
        "400001",
    )
}

/// The `registers` list parameter: items that are, once trimmed, empty, a reference
/// number, or a name.
pub fn register_list_schema() -> Object {
    let ws = white_space_class();
    let ws_chars = &ws[1..ws.len() - 1];
    let item = format!(
        "(?:{ws}*(?:{})?{ws}*|[^,]*[^0-9,{ws_chars}][^,]*)",
        reference_pattern()
    );
    pattern_schema(format!("^{item}(?:,{item})*$"), "400001,400003")
}

/// The audit trail's cursor: an entry id, a whole number that fits 63 bits (leading
/// zeros allowed, as the server reads them).
pub fn id_cursor_schema() -> Object {
    pattern_schema(format!("^0*{}$", decimal_range(0, i64::MAX as u64)), "42")
}

/// The cursor of the many-register queries, as [`crate::api::paging::Cursor`] parses it.
pub fn cursor_schema() -> Object {
    let i64_text = format!(
        "(?:0*{}|-0*{})",
        decimal_range(0, i64::MAX as u64),
        decimal_range(0, i64::MIN.unsigned_abs())
    );
    let u32_text = format!("0*{}", decimal_range(0, u64::from(u32::MAX)));
    pattern_schema(
        format!("^{i64_text}_{i64_text}_{u32_text}$"),
        "1764417600000000_1_400001",
    )
}

/// Splits a comma-separated list parameter, skipping empty items.
pub fn list(text: Option<&str>) -> Vec<&str> {
    text.map(|t| {
        t.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect()
    })
    .unwrap_or_default()
}

/// Splits a comma-separated list of keywords strictly: no spaces, no empty items (they
/// fail as unknown words), empty text is an empty list.
pub fn keywords(text: Option<&str>) -> Vec<&str> {
    match text {
        None | Some("") => Vec::new(),
        Some(t) => t.split(',').collect(),
    }
}

/// The `quality` filter: a comma-separated list of good, bad, uncertain (empty: all).
pub fn parse_qualities(text: Option<&str>) -> Result<Vec<Quality>, ApiError> {
    keywords(text)
        .into_iter()
        .map(|q| {
            q.parse::<Quality>().map_err(|_| {
                ApiError::BadRequest(format!(
                    "quality={q:?} is not a quality; write good, bad or uncertain \
                     (several separated by commas)"
                ))
            })
        })
        .collect()
}

/// The answer formats of the time-series endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `application/json` (the default).
    Json,
    /// `text/csv`, one row per reading or bucket.
    Csv,
}

impl Format {
    /// CSV when the client's `Accept` header prefers `text/csv` (by q-value, then order)
    /// to every JSON type; JSON otherwise.
    pub fn negotiate(headers: &HeaderMap) -> Format {
        let mut best: Option<(f32, Format)> = None;
        let ranges = headers
            .get_all(header::ACCEPT)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','));
        for range in ranges {
            let mut parts = range.split(';');
            let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let q = parts
                .filter_map(|p| p.trim().strip_prefix("q="))
                .find_map(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            let format = match media.as_str() {
                "text/csv" => Format::Csv,
                "application/json" | "application/*" | "*/*" => Format::Json,
                _ => continue,
            };
            if q > 0.0 && best.is_none_or(|(b, _)| q > b) {
                best = Some((q, format));
            }
        }
        best.map_or(Format::Json, |(_, f)| f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(v: &str) -> Format {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT, v.parse().expect("header"));
        Format::negotiate(&h)
    }

    #[test]
    fn csv_only_when_preferred() {
        assert_eq!(Format::negotiate(&HeaderMap::new()), Format::Json);
        assert_eq!(accept("text/csv"), Format::Csv);
        assert_eq!(accept("text/csv, application/json"), Format::Csv);
        assert_eq!(accept("application/json, text/csv"), Format::Json);
        assert_eq!(accept("text/csv;q=0.5, application/json"), Format::Json);
        assert_eq!(
            accept("application/json;q=0.2, text/csv;q=0.9"),
            Format::Csv
        );
        assert_eq!(accept("text/csv;q=0, */*"), Format::Json);
        assert_eq!(accept("text/html, */*;q=0.8"), Format::Json);
        assert_eq!(accept("TEXT/CSV"), Format::Csv);
    }
}
