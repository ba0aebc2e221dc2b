//! The cluster resource (`GET /api/cluster`): the nodes sharing the fleet, their leases and
//! the latest changes of owner, as the database holds them.

mod handlers;

use crate::api::state::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use handlers::{ClusterNodeResponse, ClusterResponse, OwnerChangeResponse};

/// The cluster routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(handlers::cluster))
}
