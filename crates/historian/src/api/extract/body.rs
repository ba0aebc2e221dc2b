//! The one extractor for JSON request bodies: a body that is not JSON is a 400; one whose
//! fields have the wrong type, or that names fields the endpoint does not know, is a 422
//! listing each field by its path; one over the size limit is a 413, whether it declared
//! its length or came in chunks. Validation of the values is the model's.

use crate::api::error::{ApiError, InvalidField};
use axum::Json;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

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
        let Json(json) = Json::<serde_json::Value>::from_request(req, state)
            .await
            .map_err(|e| match e.status() {
                StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge,
                _ => ApiError::BadRequest(e.body_text()),
            })?;
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
