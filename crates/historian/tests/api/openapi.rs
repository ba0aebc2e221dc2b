//! The OpenAPI document covers every route, and the documentation page is served from
//! assets inside the binary.

use crate::fixture::{call, send, state};
use axum::body::Body;
use axum::http::{Request, StatusCode};

#[tokio::test]
async fn openapi_document_lists_every_route_and_model() {
    let (_d, s) = state().await;
    let (status, ctype, doc) = call(&s, "/api/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    assert!(ctype.starts_with("application/json"), "{ctype}");
    assert!(
        doc["openapi"].as_str().expect("version").starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    let paths: Vec<&str> = doc["paths"]
        .as_object()
        .expect("paths")
        .keys()
        .map(String::as_str)
        .collect();
    for p in [
        "/api/health",
        "/api/devices",
        "/api/storage",
        "/api/storage/maintenance",
        "/api/cluster",
        "/api/discover",
        "/api/discover/{job}",
        "/metrics",
        "/",
        "/api/register_readings/latest/{device_id}",
        "/api/register_readings/range",
        "/api/register_readings/stream",
        "/api/register_readings/{device_id}",
        "/api/register_readings/{device_id}/{register_address}",
    ] {
        assert!(paths.contains(&p), "{p} missing from {paths:?}");
    }
    let schemas = doc["components"]["schemas"].as_object().expect("schemas");
    for name in [
        "RegisterReadingResponse",
        "RegisterReadingsTimeSeriesResponse",
        "RegisterReadingsQueryRequest",
        "RegisterReadingsAggregateResponse",
        "RegisterReadingsPageResponse",
        "DiscoverRequest",
        "DiscoverJobResponse",
        "Problem",
    ] {
        assert!(schemas.contains_key(name), "schema {name} missing");
    }
    let not_found = &doc["paths"]["/api/register_readings/{device_id}"]["get"]["responses"]["404"];
    assert!(
        not_found["content"]["application/problem+json"]["schema"]["$ref"]
            .as_str()
            .is_some_and(|r| r.ends_with("/Problem")),
        "{not_found}"
    );
    // The device list documents which devices `include` adds, and its 400.
    let list = &doc["paths"]["/api/devices"]["get"];
    let include = list["parameters"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["name"] == "include"))
        .expect("include parameter");
    assert_eq!(include["in"], "query");
    let described = include["description"].as_str().unwrap_or_default();
    assert!(
        described.contains("`disabled`") && described.contains("`removed`"),
        "{include}"
    );
    // Its schema admits only what the list accepts, so no schema-valid value gets a 400.
    assert_eq!(
        include["schema"]["pattern"], "^((disabled|removed)(,(disabled|removed))*)?$",
        "{include}"
    );
    assert!(list["responses"].get("400").is_some(), "{list}");
    // The document served and the one built in code are the same.
    let built = serde_json::to_value(modbus_historian::api::openapi()).expect("json");
    assert_eq!(doc, built);
}

/// GETs a Swagger UI asset, which the binary holds (and sends) gzipped; returns its text.
async fn docs_asset(s: &modbus_historian::api::AppState, path: &str) -> (String, String) {
    use std::io::Read;
    let a = send(s, Request::get(path).body(Body::empty()).expect("req")).await;
    assert_eq!(a.status, StatusCode::OK, "{path}");
    let ctype = a.content_type().to_string();
    let bytes = a.bytes;
    if a.headers.get("content-encoding").is_none() {
        return (ctype, String::from_utf8(bytes).expect("utf-8"));
    }
    assert_eq!(a.headers["content-encoding"], "gzip", "{path}");
    let mut text = String::new();
    flate2::read::GzDecoder::new(&bytes[..])
        .read_to_string(&mut text)
        .expect("gzip");
    (ctype, text)
}

#[tokio::test]
async fn docs_page_and_its_assets_come_from_the_binary() {
    let (_d, s) = state().await;
    let (ctype, page) = docs_asset(&s, "/api/docs/").await;
    assert!(ctype.starts_with("text/html"), "{ctype}");
    assert!(page.contains("swagger-ui"), "{page}");
    // No http(s) URL to load anything from: every asset is relative.
    assert!(!page.contains("https://"), "{page}");
    let (_, js) = docs_asset(&s, "/api/docs/swagger-ui-bundle.js").await;
    assert!(js.len() > 1_000_000, "bundle is {} bytes", js.len());
    let (_, init) = docs_asset(&s, "/api/docs/swagger-initializer.js").await;
    assert!(init.contains("/api/openapi.json"), "{init}");
    assert!(init.contains(r#""validatorUrl": "none""#), "{init}");
}

#[tokio::test]
async fn dashboard_is_served_from_the_binary_with_a_same_origin_policy() {
    let (_d, s) = state().await;
    let page = send(&s, Request::get("/").body(Body::empty()).expect("req")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(page.content_type(), "text/html; charset=utf-8");
    assert!(page.text.contains(r#"<script src="/assets/dashboard.js""#));
    // The page's own markup has nothing inline for the policy to refuse.
    assert!(!page.text.contains("<script>") && !page.text.contains("style="));
    let discover = send(
        &s,
        Request::get("/discover").body(Body::empty()).expect("req"),
    )
    .await;
    assert_eq!(discover.status, StatusCode::OK);
    assert!(
        discover
            .text
            .contains(r#"<script src="/assets/discover.js""#)
    );
    assert!(!discover.text.contains("<script>") && !discover.text.contains("style="));
    let csp = page.headers["content-security-policy"]
        .to_str()
        .expect("csp");
    assert!(csp.starts_with("default-src 'self'"), "{csp}");
    for (path, ctype) in [
        ("/assets/dashboard.js", "text/javascript; charset=utf-8"),
        ("/assets/discover.js", "text/javascript; charset=utf-8"),
        ("/assets/dashboard.css", "text/css; charset=utf-8"),
        ("/assets/trend.js", "text/javascript; charset=utf-8"),
        ("/assets/uplot.js", "text/javascript; charset=utf-8"),
        ("/assets/uplot.css", "text/css; charset=utf-8"),
        ("/assets/uplot.LICENSE", "text/plain; charset=utf-8"),
    ] {
        let a = send(&s, Request::get(path).body(Body::empty()).expect("req")).await;
        assert_eq!(a.status, StatusCode::OK, "{path}");
        assert_eq!(a.content_type(), ctype, "{path}");
        assert!(
            !a.text.contains("http://") || path.ends_with(".js"),
            "{path}"
        );
    }
}
