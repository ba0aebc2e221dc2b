//! Bearer-token check for write endpoints: add a [`WriteAccess`] argument to a handler and
//! it answers 401 unless the request carries `Authorization: Bearer <token>` whenever a
//! token is configured. (Without a token the historian only listens on loopback; the
//! configuration refuses anything else.)

use super::error::ApiError;
use crate::api::state::AppState;
use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use subtle::ConstantTimeEq;

/// Who made an accepted write, as the audit trail records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller {
    /// The request carried the configured bearer token.
    Token,
    /// No token is configured and the request came from this machine.
    Local,
}

impl Caller {
    /// The name kept in logs and the audit trail.
    pub fn name(self) -> &'static str {
        match self {
            Caller::Token => "token",
            Caller::Local => "local",
        }
    }
}

/// Proof that the caller may write: extracting it checks the bearer token.
#[derive(Debug, Clone, Copy)]
pub struct WriteAccess(pub Caller);

impl FromRequestParts<AppState> for WriteAccess {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Some(token) = state.settings.token.as_deref() else {
            return Ok(WriteAccess(Caller::Local));
        };
        let given = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                let (scheme, rest) = v.split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
            });
        match given {
            // Constant time, so the answer's timing does not reveal a matching prefix.
            Some(g) if bool::from(g.as_bytes().ct_eq(token.as_bytes())) => {
                Ok(WriteAccess(Caller::Token))
            }
            Some(_) => Err(ApiError::Unauthorized("the bearer token is wrong".into())),
            None => Err(ApiError::Unauthorized(
                "this endpoint changes data and needs an `Authorization: Bearer <token>` header"
                    .into(),
            )),
        }
    }
}
