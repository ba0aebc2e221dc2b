//! The metrics resource: `GET /metrics` for Prometheus, and the middleware that times
//! every request of the API.

mod handlers;

// The handlers name the API's shared parts as `super::…`; these imports are those names.
use super::{AppState, error};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use handlers::*;

/// The metrics route.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(handlers::metrics))
}
