//! The devices resource (`/api/devices`): list, get, create, replace and delete devices,
//! and replace a register map from a CSV file. The list with live polling status is the
//! status module's.

mod handlers;
pub mod response;

use super::status;
use crate::api::state::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use response::{DeviceDetailResponse, RegisterMapEntry, SerialLine};

/// The devices routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(status::devices, handlers::create_device))
        .routes(routes!(
            handlers::get_device,
            handlers::replace_device,
            handlers::delete_device
        ))
        .routes(routes!(handlers::import_register_map))
}
