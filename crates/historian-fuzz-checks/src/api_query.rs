//! The API's read endpoints with any path parameters and query string, against a store
//! holding a small fleet: no panic, never a server error, and every refusal a problem
//! document that names its status.

use axum::Router;
use axum::body::Body;
use axum::http::{Request, header};
use chrono::{Duration, Utc};
use historian_model::{DeviceSpec, Quality, Reading};
use historian_sim::fleet::reference_map;
use historian_store::Store;
use historian_store::sqlite::SqliteStore;
use modbus_historian::api::{AppState, app};
use modbus_historian::config::DeviceConfig;
use modbus_historian::latest::LatestCache;
use modbus_historian::registry::Registry;
use modbus_historian::stats::Stats;
use std::sync::{Arc, OnceLock};
use tower::ServiceExt;

/// Read endpoints, with `{d}` and `{r}` for the path parameters the input fills in. The
/// event stream is left out: it never ends (a device named `stream` still reaches it).
const ROUTES: [&str; 8] = [
    "/api/register_readings/range",
    "/api/register_readings/{d}",
    "/api/register_readings/{d}/{r}",
    "/api/register_readings/latest/{d}",
    "/api/devices",
    "/api/devices/{d}",
    "/api/devices/{d}/register_map",
    "/api/audit",
];

/// The server side, built once: a runtime, the router and the folder of its store.
struct Server {
    runtime: tokio::runtime::Runtime,
    router: Router,
    _dir: tempfile::TempDir,
}

fn server() -> &'static Server {
    static SERVER: OnceLock<Server> = OnceLock::new();
    SERVER.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        let dir = tempfile::tempdir().expect("a temp dir");
        let router = runtime.block_on(fleet(&dir));
        Server {
            runtime,
            router,
            _dir: dir,
        }
    })
}

/// Two devices of five registers with a minute of readings, one a second.
async fn fleet(dir: &tempfile::TempDir) -> Router {
    let store: Arc<dyn Store> = Arc::new(
        SqliteStore::open(&dir.path().join("fuzz.db"), &Default::default())
            .await
            .expect("a store"),
    );
    let configs: Vec<DeviceConfig> = ["relay", "meter"]
        .iter()
        .map(|name| DeviceConfig {
            spec: DeviceSpec {
                name: (*name).into(),
                host: "127.0.0.1".into(),
                port: 502,
                unit_id: 1,
                poll_interval_ms: 1000,
                enabled: true,
                registers: reference_map(5),
                access: Default::default(),
            },
            timeout: std::time::Duration::from_secs(1),
        })
        .collect();
    let specs: Vec<DeviceSpec> = configs.iter().map(|c| c.spec.clone()).collect();
    let records = store.sync_devices(&specs).await.expect("devices");
    let now = Utc::now();
    let mut readings = Vec::new();
    for rec in &records {
        for s in 0..60 {
            for (i, p) in rec.spec.registers.iter().enumerate() {
                readings.push(Reading {
                    timestamp: now - Duration::seconds(60 - s),
                    device_id: rec.id,
                    register_address: p.register,
                    value: Some((s * 10 + i as i64) as f64),
                    quality: Quality::Good,
                    register_name: Arc::from(p.name.as_str()),
                    data_type: p.data_type,
                    unit: Arc::from(p.unit.as_str()),
                    text: None,
                });
            }
        }
    }
    store
        .insert_register_readings_batch(&readings)
        .await
        .expect("readings");
    let latest = Arc::new(LatestCache::default());
    latest.update(&readings);
    let registry = Registry::build(&configs, &records);
    app(AppState::new(
        Arc::new(registry),
        store,
        latest,
        Arc::new(Stats::default()),
    ))
}

/// Percent-encodes what a URI may not hold; `%` stays, so broken escapes reach the server.
fn escape(text: &str, keep: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~%".contains(&b) || keep.as_bytes().contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Layout: the route in the first byte, then text: device, register and query string on
/// lines of their own.
pub fn check(data: &[u8]) {
    let Some((&head, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let mut parts = text.splitn(3, '\n');
    let (d, r, q) = (
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
    );
    let route = ROUTES[usize::from(head) % ROUTES.len()];
    let path = route
        .replace("{d}", &escape(d, ""))
        .replace("{r}", &escape(r, ""));
    let uri = if q.is_empty() {
        path
    } else {
        format!("{path}?{}", escape(q, "=&,:+"))
    };
    let Ok(request) = Request::get(&uri).body(Body::empty()) else {
        return;
    };
    let s = server();
    let (status, content_type, body) = s.runtime.block_on(async {
        let answer = s
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("the router answers");
        let status = answer.status();
        let content_type = answer
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        // A path that names the event stream (a device called "stream") opens it: its
        // status is checked, its endless body is not read.
        let body = if content_type.starts_with("text/event-stream") {
            Default::default()
        } else {
            axum::body::to_bytes(answer.into_body(), usize::MAX)
                .await
                .expect("the body reads")
        };
        (status, content_type, body)
    });
    assert!(!status.is_server_error(), "{uri}: {status} {body:?}");
    if !status.is_success() {
        assert_eq!(content_type, "application/problem+json", "{uri}: {status}");
        let problem: serde_json::Value =
            serde_json::from_slice(&body).expect("a problem document is JSON");
        assert_eq!(
            problem["status"].as_u64(),
            Some(u64::from(status.as_u16())),
            "{uri}: {problem}"
        );
    }
}
