//! What a browser opens: the dashboard at `/` with its scripts and style sheets, and the
//! API's documentation (the OpenAPI document and the page that shows it).

pub mod docs;
mod pages;

use crate::api::state::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use docs::{DOCS_PATH, OPENAPI_PATH};

/// The dashboard routes (the documentation is mounted by `app`, once the document is
/// complete).
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(pages::index))
        .routes(routes!(pages::script))
        .routes(routes!(pages::discover_page))
        .routes(routes!(pages::discover_script))
        .routes(routes!(pages::style))
        .routes(routes!(pages::trend))
        .routes(routes!(pages::uplot_script))
        .routes(routes!(pages::uplot_style))
        .routes(routes!(pages::uplot_license))
}
