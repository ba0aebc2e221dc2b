//! The one extractor for JSON request bodies: a body that is not JSON is a 400; one whose
//! fields have the wrong type, or that names fields the endpoint does not know, is a 422
//! listing each field by its path; one over the size limit is a 413, whether it declared
//! its length or came in chunks. Validation of the values is the model's.

use crate::api::error::{ApiError, InvalidField};
use axum::Json;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

/// Rewrites every number with no fractional part (`5.0`, `-0.0`, `1e3`) as an integer. JSON
/// has one number type and JSON Schema calls `5.0` an integer, so a field the document
/// types as an integer takes it; serde alone would refuse a float there.
fn whole_numbers_as_integers(value: &mut serde_json::Value) {
    use serde_json::{Number, Value};
    match value {
        Value::Number(n) if n.is_f64() => {
            const TWO_TO_63: f64 = 9_223_372_036_854_775_808.0;
            let f = n.as_f64().unwrap_or(f64::NAN);
            let whole = f.fract() == 0.0;
            if whole && (-TWO_TO_63..TWO_TO_63).contains(&f) {
                *n = Number::from(f as i64);
            } else if whole && (0.0..2.0 * TWO_TO_63).contains(&f) {
                *n = Number::from(f as u64);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(whole_numbers_as_integers),
        Value::Object(fields) => fields.values_mut().for_each(whole_numbers_as_integers),
        _ => {}
    }
}

/// A JSON body read as `T`, with every unknown field and the first mistyped one reported.
#[derive(Debug)]
pub struct Body<T> {
    /// The value.
    pub value: T,
    /// The top-level field names as the client wrote them, to answer in its words.
    pub keys: Vec<String>,
}

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let Json(mut json) = Json::<serde_json::Value>::from_request(req, state)
            .await
            .map_err(|e| match e.status() {
                StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge,
                _ => ApiError::BadRequest(e.body_text()),
            })?;
        whole_numbers_as_integers(&mut json);
        let keys = json
            .as_object()
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default();
        let mut unknown = Vec::new();
        let mut track = serde_path_to_error::Track::new();
        let value = serde_ignored::deserialize(
            serde_path_to_error::Deserializer::new(json, &mut track),
            |p| unknown.push(crate::config::unknown_field_path(&p)),
        )
        .map_err(|e| {
            ApiError::Unprocessable(vec![InvalidField {
                path: track.path().to_string().trim_start_matches('.').to_string(),
                detail: e.to_string(),
            }])
        })?;
        if !unknown.is_empty() {
            return Err(ApiError::Unprocessable(
                unknown
                    .into_iter()
                    .map(|path| InvalidField {
                        path,
                        detail: "unknown field".into(),
                    })
                    .collect(),
            ));
        }
        Ok(Body { value, keys })
    }
}

#[cfg(test)]
mod tests {
    use super::whole_numbers_as_integers;
    use serde_json::json;

    #[test]
    fn whole_numbers_become_integers_and_fractions_stay() {
        let mut v =
            json!({"port": 502.0, "a": [1e3, -0.0, 0.5, 1.5e300], "big": 9223372036854775808.0});
        whole_numbers_as_integers(&mut v);
        assert_eq!(
            v,
            json!({"port": 502, "a": [1000, 0, 0.5, 1.5e300], "big": 9223372036854775808u64})
        );
        assert!(v["port"].is_i64());
    }
}
