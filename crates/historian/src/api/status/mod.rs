//! The status resource: health, store figures and maintenance (`/api/health`,
//! `/api/storage`), and the device list with live polling status that the devices
//! resource serves at `GET /api/devices`.

mod handlers;
mod include;

// The handlers name the API's shared parts as `super::…`; these imports are those names.
use crate::api::state::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use handlers::*;

/// The status routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(handlers::health))
        .routes(routes!(handlers::storage))
        .routes(routes!(handlers::run_maintenance))
}
