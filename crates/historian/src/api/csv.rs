//! CSV answers of the time-series endpoints (`Accept: text/csv`): a header row, then one
//! row per reading or bucket; the next-page cursor travels in a response header.

use super::error::ApiError;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// Response header carrying the cursor of the next page of a CSV answer.
pub const NEXT_CURSOR_HEADER: &str = "x-next-cursor";

/// Renders `rows` (structs of scalar fields, in `columns` order) as CSV under a header
/// row, which is written even when there are no rows.
pub fn render<T: Serialize>(
    columns: &[&str],
    rows: &[T],
    next_cursor: Option<&str>,
) -> Result<Response, ApiError> {
    let encode = |e: csv::Error| ApiError::Encode(format!("cannot write CSV: {e}"));
    let mut w = csv::WriterBuilder::new()
        .has_headers(false)
        .from_writer(Vec::new());
    w.write_record(columns).map_err(encode)?;
    for row in rows {
        w.serialize(row).map_err(encode)?;
    }
    let body = w
        .into_inner()
        .map_err(|e| ApiError::Encode(format!("cannot write CSV: {e}")))?;
    let mut resp = (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/csv; charset=utf-8")],
        body,
    )
        .into_response();
    if let Some(c) = next_cursor.and_then(|c| HeaderValue::from_str(c).ok()) {
        resp.headers_mut()
            .insert(HeaderName::from_static(NEXT_CURSOR_HEADER), c);
    }
    Ok(resp)
}
