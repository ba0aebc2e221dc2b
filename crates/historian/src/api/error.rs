//! The API's one error type, answered as RFC 9457 problem details.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use historian_store::StoreError;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// An error answered as `application/problem+json`.
#[derive(Debug)]
pub enum ApiError {
    /// A malformed or impossible request parameter.
    BadRequest(String),
    /// No such device or register.
    NotFound(String),
    /// The request lacks the bearer token it needs, or carries a wrong one.
    Unauthorized(String),
    /// The request may not do this however it authenticates: a write that is neither
    /// authorized by the token nor provably local.
    Forbidden(String),
    /// The request conflicts with the current state (a name taken, history to keep).
    Conflict(String),
    /// The body is well-formed but holds invalid fields, each with its path.
    Unprocessable(Vec<InvalidField>),
    /// The request body is over `api.max_body_bytes`. Answered bare, like the body-limit
    /// layer's own answer to a declared length: that layer knows the limit and words both.
    PayloadTooLarge,
    /// A limit is reached for now (too many event streams); try again later.
    Unavailable(String),
    /// The caller asks for more than may run at once (discoveries); try again later.
    TooMany(String),
    /// The store failed; details are logged, not sent.
    Internal(StoreError),
    /// An answer could not be encoded (a bug); details are logged, not sent.
    Encode(String),
}

/// An error as RFC 9457 problem details.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "type": "about:blank",
    "title": "Bad Request",
    "status": 400,
    "detail": "end (2026-01-01 00:00:00 UTC) must be after start (2026-01-02 00:00:00 UTC)"
}))]
pub struct Problem {
    /// Always `about:blank`: the status code says it all.
    pub r#type: String,
    /// The status code's reason phrase.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// What was wrong with the request, and where.
    pub detail: String,
    /// For 422: every invalid field with its path.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<InvalidField>,
}

/// One invalid field of a request body.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct InvalidField {
    /// Where: a field path such as `registers[2].data_type`, or `LINE:COL` in an uploaded
    /// file; empty when the body as a whole is wrong.
    pub path: String,
    /// What is wrong.
    pub detail: String,
}

/// The media type of every error answer.
pub const PROBLEM_JSON: &str = "application/problem+json";

impl ApiError {
    fn parts(self) -> (StatusCode, String, Vec<InvalidField>) {
        if let ApiError::Unprocessable(errors) = self {
            let detail = errors
                .iter()
                .map(|e| {
                    if e.path.is_empty() {
                        e.detail.clone()
                    } else {
                        format!("{}: {}", e.path, e.detail)
                    }
                })
                .collect::<Vec<_>>()
                .join("; ");
            return (StatusCode::UNPROCESSABLE_ENTITY, detail, errors);
        }
        let (status, detail) = match self {
            ApiError::BadRequest(d) => (StatusCode::BAD_REQUEST, d),
            ApiError::NotFound(d) => (StatusCode::NOT_FOUND, d),
            ApiError::Unauthorized(d) => (StatusCode::UNAUTHORIZED, d),
            ApiError::Forbidden(d) => (StatusCode::FORBIDDEN, d),
            ApiError::Conflict(d) => (StatusCode::CONFLICT, d),
            ApiError::PayloadTooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "the request body is too large".to_string(),
            ),
            ApiError::Unavailable(d) => (StatusCode::SERVICE_UNAVAILABLE, d),
            ApiError::TooMany(d) => (StatusCode::TOO_MANY_REQUESTS, d),
            ApiError::Unprocessable(_) => (StatusCode::UNPROCESSABLE_ENTITY, String::new()),
            ApiError::Internal(e) => {
                tracing::error!(error = %e, "store query failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "the store could not answer; see the historian's log".to_string(),
                )
            }
            ApiError::Encode(e) => {
                tracing::error!(error = %e, "answer encoding failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "the answer could not be encoded; see the historian's log".to_string(),
                )
            }
        };
        (status, detail, Vec::new())
    }
}

/// A problem-details answer with any status (also used by layers such as the time-out).
pub fn problem(status: StatusCode, detail: String) -> Response {
    problem_with(status, detail, Vec::new())
}

fn problem_with(status: StatusCode, detail: String, errors: Vec<InvalidField>) -> Response {
    let body = Problem {
        r#type: "about:blank".into(),
        title: status.canonical_reason().unwrap_or("Error").into(),
        status: status.as_u16(),
        detail,
        errors,
    };
    let mut resp = (
        status,
        [(header::CONTENT_TYPE, PROBLEM_JSON)],
        serde_json::to_string(&body).unwrap_or_default(),
    )
        .into_response();
    if status == StatusCode::UNAUTHORIZED {
        resp.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Bearer"),
        );
    }
    resp
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::PayloadTooLarge = self {
            return StatusCode::PAYLOAD_TOO_LARGE.into_response();
        }
        let (status, detail, errors) = self.parts();
        problem_with(status, detail, errors)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ApiError::Internal(e)
    }
}
