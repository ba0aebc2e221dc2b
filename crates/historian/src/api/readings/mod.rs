//! The readings resource (`/api/register_readings`): latest values from the cache, the
//! time series of one register (raw or in buckets), and pages of many registers over a
//! time range (one device's, or chosen registers of chosen devices).

mod latest;
mod range;
mod response;
mod series;

use crate::api::state::AppState;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use latest::DeviceLatestResponse;
pub(crate) use range::range_series;
pub use range::{DeviceReadingsQuery, RegisterReadingsPageResponse, RegisterReadingsQueryRequest};
pub use response::RegisterReadingResponse;
pub use series::{
    BucketResponse, MAX_BUCKETS, RegisterReadingsAggregateResponse,
    RegisterReadingsTimeSeriesResponse, RegisterSeriesQuery, RegisterSeriesResponse,
    TimeSeriesPoint,
};

/// The range query's parameters also as one schema, for clients that build the query
/// from a model (the route lists them one by one).
#[derive(OpenApi)]
#[openapi(components(schemas(RegisterReadingsQueryRequest)))]
struct ReadingsDoc;

/// The readings routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ReadingsDoc::openapi())
        .routes(routes!(latest::device_latest))
        .routes(routes!(range::range_readings))
        .routes(routes!(range::device_readings))
        .routes(routes!(series::register_time_series))
}
