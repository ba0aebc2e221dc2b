//! The dashboard at `/`: one HTML page, its script and its style sheet, compiled into the
//! binary so it works with no network and no files beside the executable. The page gets
//! the same-origin Content-Security-Policy of every HTML answer (`layers::PAGE_CSP`).

use axum::http::header;
use axum::response::IntoResponse;

const INDEX_HTML: &str = include_str!("../../../assets/dashboard/index.html");
const DASHBOARD_JS: &str = include_str!("../../../assets/dashboard/dashboard.js");
const DASHBOARD_CSS: &str = include_str!("../../../assets/dashboard/dashboard.css");

/// The dashboard page.
#[utoipa::path(get, path = "/", tag = "dashboard",
    responses((status = 200, description = "The dashboard", content_type = "text/html", body = String)))]
pub async fn index() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        INDEX_HTML,
    )
}

/// The dashboard's script.
#[utoipa::path(get, path = "/assets/dashboard.js", tag = "dashboard",
    responses((status = 200, description = "Script", content_type = "text/javascript", body = String)))]
pub async fn script() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        DASHBOARD_JS,
    )
}

/// The dashboard's style sheet.
#[utoipa::path(get, path = "/assets/dashboard.css", tag = "dashboard",
    responses((status = 200, description = "Style sheet", content_type = "text/css", body = String)))]
pub async fn style() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        DASHBOARD_CSS,
    )
}
