//! The bearer token on write endpoints, CORS off unless configured, the body limit, and
//! the refusal to listen on the network without a token.

use crate::fixture::{send, state};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use modbus_historian::api::AppState;
use modbus_historian::app::{Historian, StartError};
use modbus_historian::config::{ApiConfig, Config};
use std::sync::Arc;

const TOKEN: &str = "test-token-0123456789";

/// `s` with `cfg`, bound (as far as it knows) to [`BOUND`].
fn with(s: AppState, cfg: ApiConfig) -> AppState {
    AppState {
        settings: Arc::new(cfg),
        api_addr: Some(BOUND.parse().expect("addr")),
        ..s
    }
}

const BOUND: &str = "127.0.0.1:8080";

fn maintenance(auth: Option<&str>) -> Request<Body> {
    let mut r = Request::post("/api/storage/maintenance").header("host", BOUND);
    if let Some(a) = auth {
        r = r.header("authorization", a);
    }
    r.body(Body::empty()).expect("request")
}

#[tokio::test]
async fn writes_need_the_token_once_one_is_configured() {
    let (_d, s) = state().await;
    // A router that does not know where it listens cannot tell a local write.
    let a = send(&s, maintenance(None)).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.text);
    // No token configured (loopback only): open to this machine.
    let s = with(s, ApiConfig::default());
    let a = send(&s, maintenance(None)).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    assert!(a.json["rows_deleted"].is_u64(), "{}", a.text);

    let s = with(
        s,
        ApiConfig {
            token: Some(TOKEN.into()),
            ..ApiConfig::default()
        },
    );
    let missing = send(&s, maintenance(None)).await;
    assert_eq!(missing.status, StatusCode::UNAUTHORIZED);
    assert_eq!(missing.content_type(), "application/problem+json");
    assert_eq!(missing.headers["www-authenticate"], "Bearer");
    assert!(
        missing.json["detail"]
            .as_str()
            .expect("detail")
            .contains("Authorization: Bearer")
    );
    for wrong in [
        "Bearer nope",
        "Basic dGVzdA==",
        &format!("Bearer {TOKEN}x"),
        TOKEN,
    ] {
        let a = send(&s, maintenance(Some(wrong))).await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{wrong}");
    }
    for right in [format!("Bearer {TOKEN}"), format!("bearer {TOKEN}")] {
        let a = send(&s, maintenance(Some(&right))).await;
        assert_eq!(a.status, StatusCode::OK, "{right}: {}", a.text);
    }
    // Reads stay open.
    let a = send(
        &s,
        Request::get("/api/health")
            .body(Body::empty())
            .expect("req"),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK);
}

#[tokio::test]
async fn cors_is_off_unless_origins_are_configured() {
    let (_d, s) = state().await;
    let from = |origin: &str| {
        Request::get("/api/health")
            .header("origin", origin)
            .body(Body::empty())
            .expect("req")
    };
    let preflight = |origin: &str| {
        Request::options("/api/health")
            .header("origin", origin)
            .header("access-control-request-method", "GET")
            .body(Body::empty())
            .expect("req")
    };
    let a = send(&s, from("https://evil.example")).await;
    assert!(!a.headers.contains_key("access-control-allow-origin"));
    let a = send(&s, preflight("https://evil.example")).await;
    assert!(!a.headers.contains_key("access-control-allow-origin"));

    let s = with(
        s,
        ApiConfig {
            cors_origins: vec!["https://grafana.example".into()],
            ..ApiConfig::default()
        },
    );
    let a = send(&s, from("https://grafana.example")).await;
    assert_eq!(
        a.headers["access-control-allow-origin"],
        "https://grafana.example"
    );
    let a = send(&s, preflight("https://grafana.example")).await;
    assert_eq!(
        a.headers["access-control-allow-origin"],
        "https://grafana.example"
    );
    let a = send(&s, from("https://evil.example")).await;
    assert!(!a.headers.contains_key("access-control-allow-origin"));
}

#[tokio::test]
async fn bodies_over_the_limit_are_refused() {
    let (_d, s) = state().await;
    let s = with(
        s,
        ApiConfig {
            max_body_bytes: 16,
            ..ApiConfig::default()
        },
    );
    let req = Request::post("/api/storage/maintenance")
        .header("content-length", "17")
        .body(Body::from(vec![b'x'; 17]))
        .expect("req");
    let a = send(&s, req).await;
    assert_eq!(a.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(a.content_type(), "application/problem+json");
    assert_eq!(a.json["detail"], "the request body is larger than 16 bytes");
}

#[tokio::test]
async fn refuses_to_listen_on_the_network_without_a_token() {
    let dir = tempfile::tempdir().expect("dir");
    let env = |_: &str| None;
    let mut config = Config::built_in("test", Vec::new(), &env).expect("config");
    config.storage = historian_store::StorageUrl::Sqlite(dir.path().join("x.db"));
    config.api_bind = "0.0.0.0:0".parse().expect("addr");
    match Historian::start(&config).await {
        Err(e @ StartError::Exposed(_)) => {
            let msg = e.to_string();
            assert!(
                msg.contains("0.0.0.0:0 is reachable from other hosts"),
                "{msg}"
            );
            assert!(msg.contains("HISTORIAN_API_TOKEN"), "{msg}");
        }
        Err(e) => panic!("wrong error: {e}"),
        Ok(_) => panic!("started on 0.0.0.0 without a token"),
    }
    assert!(
        !dir.path().join("x.db").exists(),
        "nothing may start before the check"
    );
}
