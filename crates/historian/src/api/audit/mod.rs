//! The audit trail resource (`GET /api/audit`), and who a write is attributed to: the
//! caller [`WriteAccess`](crate::api::auth::WriteAccess) accepted and, when the server
//! recorded it, the client's address.

mod handlers;

use crate::api::auth::Caller;
use crate::api::state::AppState;
use crate::audit::Actor;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use std::convert::Infallible;
use std::net::SocketAddr;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use handlers::{AuditEntryResponse, AuditPageResponse, AuditQueryParams, MAX_AUDIT_LIMIT};

/// The client's address, when the server put it in the request's extensions (as
/// `ConnectInfo`); absent otherwise, never a reason to refuse a request.
#[derive(Debug, Clone, Copy, Default)]
pub struct Peer(pub Option<SocketAddr>);

impl<S: Send + Sync> FromRequestParts<S> for Peer {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Infallible> {
        Ok(Peer(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0),
        ))
    }
}

impl Peer {
    /// Who made a write: `caller`, from this address.
    pub fn actor(self, caller: Caller) -> Actor {
        Actor {
            who: caller.name().to_string(),
            peer: self.0.map(|a| a.to_string()),
        }
    }
}

/// The audit routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(handlers::audit_entries))
}
