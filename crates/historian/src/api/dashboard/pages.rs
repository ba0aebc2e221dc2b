//! The dashboard at `/`: one HTML page, its scripts and style sheets (the trend chart is
//! drawn by the vendored uPlot, MIT, whose licence is served beside it), compiled into the
//! binary so it works with no network and no files beside the executable. The page gets
//! the same-origin Content-Security-Policy of every HTML answer (`layers::PAGE_CSP`).

use axum::http::header;
use axum::response::IntoResponse;

const INDEX_HTML: &str = include_str!("../../../assets/dashboard/index.html");
const DISCOVER_HTML: &str = include_str!("../../../assets/dashboard/discover.html");
const DISCOVER_JS: &str = include_str!("../../../assets/dashboard/discover.js");
const DASHBOARD_JS: &str = include_str!("../../../assets/dashboard/dashboard.js");
const TREND_JS: &str = include_str!("../../../assets/dashboard/trend.js");
const DASHBOARD_CSS: &str = include_str!("../../../assets/dashboard/dashboard.css");
const UPLOT_JS: &str = include_str!("../../../assets/dashboard/vendor/uPlot.iife.min.js");
const UPLOT_CSS: &str = include_str!("../../../assets/dashboard/vendor/uPlot.min.css");
const UPLOT_LICENSE: &str = include_str!("../../../assets/dashboard/vendor/uPlot.LICENSE");

const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

fn asset(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
}

/// The dashboard page.
#[utoipa::path(get, path = "/", tag = "dashboard",
    responses((status = 200, description = "The dashboard", content_type = "text/html", body = String)))]
pub async fn index() -> impl IntoResponse {
    asset("text/html; charset=utf-8", INDEX_HTML)
}

/// The discovery page: scan a device, see the proposed map, create the device.
#[utoipa::path(get, path = "/discover", tag = "dashboard",
    responses((status = 200, description = "The discovery page", content_type = "text/html", body = String)))]
pub async fn discover_page() -> impl IntoResponse {
    asset("text/html; charset=utf-8", DISCOVER_HTML)
}

/// The discovery page's script: start, follow, show the map, create the device.
#[utoipa::path(get, path = "/assets/discover.js", tag = "dashboard",
    responses((status = 200, description = "Script", content_type = "text/javascript", body = String)))]
pub async fn discover_script() -> impl IntoResponse {
    asset(JS, DISCOVER_JS)
}

/// The dashboard's script: device list, register picker, view state.
#[utoipa::path(get, path = "/assets/dashboard.js", tag = "dashboard",
    responses((status = 200, description = "Script", content_type = "text/javascript", body = String)))]
pub async fn script() -> impl IntoResponse {
    asset(JS, DASHBOARD_JS)
}

/// The trend chart's script: series, gaps, quality marks and min/max bands on uPlot.
#[utoipa::path(get, path = "/assets/trend.js", tag = "dashboard",
    responses((status = 200, description = "Script", content_type = "text/javascript", body = String)))]
pub async fn trend() -> impl IntoResponse {
    asset(JS, TREND_JS)
}

/// The dashboard's style sheet.
#[utoipa::path(get, path = "/assets/dashboard.css", tag = "dashboard",
    responses((status = 200, description = "Style sheet", content_type = "text/css", body = String)))]
pub async fn style() -> impl IntoResponse {
    asset(CSS, DASHBOARD_CSS)
}

/// The charting library (uPlot, MIT).
#[utoipa::path(get, path = "/assets/uplot.js", tag = "dashboard",
    responses((status = 200, description = "Script", content_type = "text/javascript", body = String)))]
pub async fn uplot_script() -> impl IntoResponse {
    asset(JS, UPLOT_JS)
}

/// The charting library's style sheet.
#[utoipa::path(get, path = "/assets/uplot.css", tag = "dashboard",
    responses((status = 200, description = "Style sheet", content_type = "text/css", body = String)))]
pub async fn uplot_style() -> impl IntoResponse {
    asset(CSS, UPLOT_CSS)
}

/// The charting library's licence.
#[utoipa::path(get, path = "/assets/uplot.LICENSE", tag = "dashboard",
    responses((status = 200, description = "Licence text", content_type = "text/plain", body = String)))]
pub async fn uplot_license() -> impl IntoResponse {
    asset("text/plain; charset=utf-8", UPLOT_LICENSE)
}
