//! The discovery resource (`/api/discover`): a read-only scan of a device run in the
//! background, its progress, its proposed map, and cancelling it. The scan is the one
//! `modbus-historian discover` runs ([`crate::discover`]); `request` turns the body into
//! the command's arguments, `jobs` runs and keeps the scans, `response` shows them.

mod handlers;
pub mod jobs;
pub mod request;
pub mod response;

use crate::api::state::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use jobs::DiscoverJobs;
pub use request::DiscoverRequest;
pub use response::{DiscoverJobResponse, DiscoverResult, DiscoveredDevice, ProposedRegister};

/// The discovery routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(handlers::start_discovery))
        .routes(routes!(handlers::discovery, handlers::cancel_discovery))
}
