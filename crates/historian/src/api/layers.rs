//! Cross-cutting HTTP behaviour: CORS (off unless origins are configured), the request
//! body limit, the handler time-out, problem details for the bare error answers those
//! layers (and the router) produce, and the headers that keep a browser from
//! second-guessing content types or framing a page.

use super::error::problem;
use crate::config::ApiConfig;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use std::time::Duration;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;

/// The Content-Security-Policy of an HTML page that does not set its own: the dashboard
/// and the API documentation load scripts, style sheets and data from this origin only,
/// have no inline script or style, and show images of their own or `data:` URLs; no page
/// may be framed (clickjacking), no plug-in loaded, no form sent elsewhere.
pub const PAGE_CSP: &str = "default-src 'self'; img-src 'self' data:; style-src 'self'; \
                            script-src 'self'; connect-src 'self'; object-src 'none'; \
                            base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Wraps `router` in the layers `cfg` asks for.
pub fn apply<S: Clone + Send + Sync + 'static>(router: Router<S>, cfg: &ApiConfig) -> Router<S> {
    let (limit, timeout) = (cfg.max_body_bytes, cfg.request_timeout);
    let router = router
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            timeout,
        ))
        .layer(RequestBodyLimitLayer::new(limit))
        // The limit above is the one: axum's own default (2 MiB) would cut larger settings.
        .layer(DefaultBodyLimit::disable())
        .layer(axum::middleware::map_response(move |resp: Response| {
            explain(resp, limit, timeout)
        }));
    let router = if cfg.cors_origins.is_empty() {
        router
    } else {
        router.layer(cors(&cfg.cors_origins))
    };
    // Outermost, so that answers from the layers above (413, 503, CORS) get them too.
    router
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            page_csp as fn(&Response) -> Option<HeaderValue>,
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_FRAME_OPTIONS,
            no_frames as fn(&Response) -> Option<HeaderValue>,
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
}

fn cors(origins: &[String]) -> CorsLayer {
    let origins: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o.trim_end_matches('/')).ok())
        .collect();
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_methods([Method::GET, Method::POST, Method::PUT, Method::DELETE])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE, header::ACCEPT])
        .expose_headers([HeaderName::from_static(crate::api::csv::NEXT_CURSOR_HEADER)])
}

fn is_html(resp: &Response) -> bool {
    resp.headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/html"))
}

fn page_csp(resp: &Response) -> Option<HeaderValue> {
    is_html(resp).then(|| HeaderValue::from_static(PAGE_CSP))
}

fn no_frames(resp: &Response) -> Option<HeaderValue> {
    is_html(resp).then(|| HeaderValue::from_static("DENY"))
}

/// Gives an error answer without a body, or with a plain-text one (from a layer, an
/// extractor or the router), a problem-details body that says what happened.
async fn explain(resp: Response, limit: usize, timeout: Duration) -> Response {
    let status = resp.status();
    let plain = match resp.headers().get(header::CONTENT_TYPE) {
        None => true,
        Some(v) => v.as_bytes().starts_with(b"text/plain"),
    };
    if !(status.is_client_error() || status.is_server_error()) || !plain {
        return resp;
    }
    let (parts, body) = resp.into_parts();
    let text = axum::body::to_bytes(body, 4096)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .unwrap_or_default();
    let detail = match status {
        StatusCode::PAYLOAD_TOO_LARGE => format!("the request body is larger than {limit} bytes"),
        StatusCode::SERVICE_UNAVAILABLE if text.is_empty() => format!(
            "the request took longer than {} and was abandoned",
            humantime::format_duration(timeout)
        ),
        StatusCode::METHOD_NOT_ALLOWED => "this endpoint does not accept that method".into(),
        _ if !text.is_empty() => text,
        other => other.canonical_reason().unwrap_or("error").to_string(),
    };
    let mut out = problem(status, detail);
    // Keep headers such as `Allow` on 405.
    for (k, v) in &parts.headers {
        if k != header::CONTENT_TYPE && k != header::CONTENT_LENGTH {
            out.headers_mut().entry(k).or_insert_with(|| v.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use axum::routing::get;
    use tower::ServiceExt;

    #[tokio::test]
    async fn slow_handlers_and_wrong_methods_get_problem_details() {
        let cfg = ApiConfig {
            request_timeout: Duration::from_millis(50),
            ..ApiConfig::default()
        };
        let router: Router = apply(
            Router::new().route(
                "/slow",
                get(|| async { tokio::time::sleep(Duration::from_secs(5)).await }),
            ),
            &cfg,
        );
        let resp = router
            .clone()
            .oneshot(Request::get("/slow").body(Body::empty()).expect("req"))
            .await
            .expect("resp");
        assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            resp.headers()[header::CONTENT_TYPE],
            "application/problem+json"
        );
        let resp = router
            .oneshot(Request::post("/slow").body(Body::empty()).expect("req"))
            .await
            .expect("resp");
        assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(
            resp.headers()[header::CONTENT_TYPE],
            "application/problem+json"
        );
        assert_eq!(resp.headers()[header::ALLOW], "GET,HEAD");
    }
}
