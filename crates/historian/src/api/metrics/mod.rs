//! The metrics resource: `GET /metrics` for Prometheus, and the middleware that times
//! every request of the API.

mod handlers;

// The handlers name the API's shared parts as `super::…`; these imports are those names.
use crate::api::state::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use handlers::*;

/// The metrics route.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(handlers::metrics))
}
