//! The HTTP JSON API. Latest values come from the in-memory cache, history from the store,
//! devices from the registry. Errors are RFC 9457 problem details. The OpenAPI document is
//! generated from the handlers' annotations, so it cannot drift from the routes.
//!
//! A folder per resource holds its handlers, its request and response types and its
//! routes (`routes()`), which [`app`] merges: `status`, `devices`, `readings`, `stream`,
//! `discover`, `metrics`, `audit`, `cluster`, `dashboard` (with the documentation). The parts they share are
//! modules of their own: the error type, the extractors, access control, the layers, query
//! parameters, paging, CSV answers and timestamp formatting.

pub mod audit;
pub mod auth;
pub mod cluster;
mod csv;
pub mod dashboard;
pub mod devices;
pub mod discover;
pub mod error;
mod extract;
mod layers;
pub mod metrics;
mod paging;
pub mod params;
pub mod readings;
pub mod server;
pub mod state;
pub mod status;
pub mod stored;
pub mod stream;
mod timefmt;

use axum::Router;
use std::sync::Arc;
use utoipa_axum::router::OpenApiRouter;

pub use audit::{AuditEntryResponse, AuditPageResponse, MAX_AUDIT_LIMIT};
pub use csv::NEXT_CURSOR_HEADER;
pub use dashboard::{DOCS_PATH, OPENAPI_PATH};
pub use devices::{DeviceDetailResponse, RegisterMapEntry};
pub use error::{ApiError, InvalidField, Problem};
pub use paging::MAX_SERIES;
pub use params::{DEFAULT_LIMIT, MAX_LIMIT};
pub use readings::{
    BucketResponse, DeviceLatestResponse, MAX_BUCKETS, RegisterReadingResponse,
    RegisterReadingsAggregateResponse, RegisterReadingsPageResponse, RegisterReadingsQueryRequest,
    RegisterReadingsTimeSeriesResponse, RegisterSeriesResponse, TimeSeriesPoint,
};
pub use state::AppState;
pub use status::{
    DeviceResponse, HealthResponse, JobResponse, MqttHealth, ProjectionResponse,
    RemovedRegisterResponse, StorageResponse,
};

/// The routes of every resource with their OpenAPI description, before state is attached.
fn documented() -> OpenApiRouter<AppState> {
    let mut router = OpenApiRouter::with_openapi(dashboard::docs::head())
        .merge(status::routes())
        .merge(cluster::routes())
        .merge(devices::routes())
        .merge(discover::routes())
        .merge(metrics::routes())
        .merge(dashboard::routes())
        .merge(readings::routes())
        .merge(stream::routes())
        .merge(audit::routes());
    auth::document(router.get_openapi_mut());
    router
}

/// The OpenAPI document of every route.
pub fn openapi() -> utoipa::openapi::OpenApi {
    documented().split_for_parts().1
}

/// The API's routes.
pub fn app(state: AppState) -> Router {
    // Installs the recorder when the router is used on its own (tests); a no-op after
    // `Historian::start` has done it.
    let _ = crate::telemetry::handle();
    let (router, doc) = documented().split_for_parts();
    let settings = Arc::clone(&state.settings);
    let state = AppState {
        streams: Arc::new(tokio::sync::Semaphore::new(settings.max_streams)),
        ..state
    };
    let router = router
        .merge(dashboard::docs::ui(doc))
        .fallback(not_found)
        // After every route and the fallback, so that no request, whatever its path or
        // method, reaches a handler without passing the guard.
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::guard,
        ))
        .layer(axum::middleware::from_fn(metrics::track));
    layers::apply(router, &settings).with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::NotFound("no such endpoint".into())
}
