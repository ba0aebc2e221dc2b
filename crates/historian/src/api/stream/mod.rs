//! The stream resource (`/api/register_readings/stream`): new readings as Server-Sent
//! Events while they are polled.

mod handlers;

use crate::api::state::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use handlers::StreamQuery;

/// The stream route.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(handlers::stream_readings))
}
