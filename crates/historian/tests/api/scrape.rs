//! `/metrics` through the router: the text format, store figures and route labels.

use crate::fixture::{send, state};
use axum::body::Body;
use axum::http::{Request, StatusCode};

#[tokio::test]
async fn metrics_render_with_store_figures() {
    let (_d, s) = state().await;
    send(
        &s,
        Request::get("/api/devices")
            .body(Body::empty())
            .expect("req"),
    )
    .await;
    let a = send(
        &s,
        Request::get("/metrics").body(Body::empty()).expect("req"),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(
        a.content_type().starts_with("text/plain; version=0.0.4"),
        "{}",
        a.content_type()
    );
    assert!(
        a.text.contains("historian_store_database_bytes "),
        "{}",
        a.text
    );
    assert!(a.text.contains("historian_devices 2"), "{}", a.text);
    assert!(
        a.text.contains(r#"route="/api/devices",status="200""#),
        "{}",
        a.text
    );
}
