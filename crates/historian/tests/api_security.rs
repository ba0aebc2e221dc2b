//! The API as an attacker reaches it, over real sockets: writes from a page the operator
//! happens to open (a rebound DNS name, a cross-site form) refused without a token; the
//! token required and enough with one; the read token; `/metrics` not growing with odd
//! methods; and the headers that keep browsers from sniffing or framing answers.

mod common;

use common::TestHistorian;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Client, Method, StatusCode};
use serde_json::json;
use std::collections::BTreeSet;

const TOKEN: &str = "write-token-0123456789";
const READ_TOKEN: &str = "read-token-0123456789";

/// An answer: status, headers and body text.
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    text: String,
}

impl Answer {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// The `detail` of a problem-details body.
    fn detail(&self) -> String {
        serde_json::from_str::<serde_json::Value>(&self.text)
            .ok()
            .and_then(|v| v["detail"].as_str().map(str::to_string))
            .unwrap_or_default()
    }
}

/// Sends `method` to `url` with `headers` (a `Host` among them replaces reqwest's own)
/// and `body`.
async fn send(
    http: &Client,
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Answer {
    let mut req = http.request(
        Method::from_bytes(method.as_bytes()).expect("method"),
        url.to_string(),
    );
    for (k, v) in headers {
        req = req.header(
            HeaderName::from_bytes(k.as_bytes()).expect("name"),
            HeaderValue::from_str(v).expect("value"),
        );
    }
    if !body.is_empty() {
        req = req.body(body.to_string());
    }
    let resp = req.send().await.expect("answer");
    let status = resp.status();
    let headers = resp.headers().clone();
    let text = resp.text().await.expect("body");
    Answer {
        status,
        headers,
        text,
    }
}

/// A device body that is valid and never polled.
fn device(name: &str) -> String {
    json!({"name": name, "host": "127.0.0.1", "port": 1, "enabled": false,
           "registers": [{"name": "a", "table": "holding_register", "address": 0,
                          "data_type": "uint16"}]})
    .to_string()
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// The documented operations that are not GET, as (method, path with `1` for each
/// parameter).
async fn documented_writes(
    http: &Client,
    base: &str,
    auth: &[(&str, &str)],
) -> Vec<(String, String)> {
    let doc = send(http, "GET", &format!("{base}/api/openapi.json"), auth, "").await;
    assert_eq!(doc.status, StatusCode::OK, "{}", doc.text);
    let doc: serde_json::Value = serde_json::from_str(&doc.text).expect("json");
    let mut writes = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("item").keys() {
            if method != "get" && method != "parameters" {
                let mut concrete = String::new();
                let mut in_param = false;
                for ch in path.chars() {
                    match ch {
                        '{' => in_param = true,
                        '}' => {
                            in_param = false;
                            concrete.push('1');
                        }
                        _ if !in_param => concrete.push(ch),
                        _ => {}
                    }
                }
                writes.push((method.to_uppercase(), concrete));
            }
        }
    }
    writes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_token_only_provably_local_writes_pass() {
    let h = TestHistorian::new("sec-local").start().await;
    let base = h.base.clone();
    let port = h.historian.api_addr.port();
    let http = Client::new();
    let own = format!("127.0.0.1:{port}");
    let rebound = format!("rebind.evil.example:{port}");
    let maintenance = format!("{base}/api/storage/maintenance");
    let devices = format!("{base}/api/devices");
    let json_type = ("content-type", "application/json");

    // DNS rebinding: the browser names the attacker's host, which now points here.
    let a = send(
        &http,
        "POST",
        &devices,
        &[("host", &rebound), json_type],
        &device("rebound"),
    )
    .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.text);
    assert_eq!(a.header("content-type"), "application/problem+json");
    assert!(a.detail().contains("rebind.evil.example"), "{}", a.text);
    assert!(a.detail().contains("[api] token"), "{}", a.text);
    // A cross-site form: text/plain needs no preflight, so the browser just sends it.
    let a = send(
        &http,
        "POST",
        &maintenance,
        &[
            ("origin", "http://evil.example"),
            ("content-type", "text/plain"),
        ],
        "x=y",
    )
    .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.text);
    assert!(a.detail().contains("http://evil.example"), "{}", a.text);
    for headers in [
        vec![("origin", "null")],
        vec![("sec-fetch-site", "cross-site")],
        vec![("origin", "http://localhost:1")],
    ] {
        let a = send(&http, "POST", &maintenance, &headers, "").await;
        assert_eq!(a.status, StatusCode::FORBIDDEN, "{headers:?}: {}", a.text);
    }
    let wrong_port = format!("127.0.0.1:{}", port.wrapping_add(1).max(1));
    let a = send(&http, "POST", &maintenance, &[("host", &wrong_port)], "").await;
    assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.text);
    let listed = send(&http, "GET", &devices, &[], "").await;
    assert_eq!(listed.text, "[]", "a refused write changed nothing");

    // The same requests, addressed to the historian by its own name and origin.
    let a = send(
        &http,
        "POST",
        &devices,
        &[("host", &own), json_type],
        &device("made-here"),
    )
    .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
    let localhost = format!("localhost:{port}");
    let own_origin = format!("http://localhost:{port}");
    let a = send(
        &http,
        "POST",
        &maintenance,
        &[
            ("host", &localhost),
            ("origin", &own_origin),
            ("content-type", "text/plain"),
            ("sec-fetch-site", "same-origin"),
        ],
        "x=y",
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    let a = send(&http, "POST", &maintenance, &[], "").await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);

    // Every documented write, and an unknown method on a path of none, refused cross-site
    // and through a rebound name, before any handler runs.
    let mut writes = documented_writes(&http, &base, &[]).await;
    assert!(writes.len() >= 5, "documented writes: {writes:?}");
    writes.push(("M1X".into(), "/api/nothing-here".into()));
    for (method, path) in &writes {
        let url = format!("{base}{path}");
        let a = send(
            &http,
            method,
            &url,
            &[("origin", "http://evil.example")],
            "x",
        )
        .await;
        assert_eq!(
            a.status,
            StatusCode::FORBIDDEN,
            "{method} {path} cross-site: {}",
            a.text
        );
        let a = send(&http, method, &url, &[("host", &rebound)], "x").await;
        assert_eq!(
            a.status,
            StatusCode::FORBIDDEN,
            "{method} {path} rebound: {}",
            a.text
        );
    }
    let listed = send(&http, "GET", &devices, &[], "").await;
    let names: Vec<String> = serde_json::from_str::<Vec<serde_json::Value>>(&listed.text)
        .expect("devices")
        .iter()
        .map(|d| d["name"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(names, ["made-here"]);
    // Reads stay open on loopback, whatever the Host.
    let a = send(&http, "GET", &devices, &[("host", &rebound)], "").await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_token_the_token_is_needed_and_enough_whatever_the_host() {
    let h = TestHistorian::new("sec-token")
        .configure(|c| c.api.token = Some(TOKEN.into()))
        .start()
        .await;
    let base = h.base.clone();
    let port = h.historian.api_addr.port();
    let http = Client::new();
    let maintenance = format!("{base}/api/storage/maintenance");
    let auth = bearer(TOKEN);
    let rebound = format!("rebind.evil.example:{port}");

    let a = send(&http, "POST", &maintenance, &[], "").await;
    assert_eq!(
        a.status,
        StatusCode::UNAUTHORIZED,
        "local is not enough: {}",
        a.text
    );
    assert_eq!(a.header("www-authenticate"), "Bearer");
    let wrong = bearer("not-the-token-0123456789");
    let a = send(
        &http,
        "POST",
        &maintenance,
        &[("authorization", &wrong)],
        "",
    )
    .await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{}", a.text);
    for headers in [
        vec![("authorization", auth.as_str())],
        vec![("authorization", auth.as_str()), ("host", rebound.as_str())],
        vec![
            ("authorization", auth.as_str()),
            ("origin", "http://evil.example"),
            ("sec-fetch-site", "cross-site"),
        ],
    ] {
        let a = send(&http, "POST", &maintenance, &headers, "").await;
        assert_eq!(a.status, StatusCode::OK, "{headers:?}: {}", a.text);
    }
    // Reads need nothing without a read token.
    let a = send(&http, "GET", &format!("{base}/api/devices"), &[], "").await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_token_protects_every_read_but_health() {
    let h = TestHistorian::new("sec-read")
        .configure(|c| {
            c.api.token = Some(TOKEN.into());
            c.api.read_token = Some(READ_TOKEN.into());
        })
        .start()
        .await;
    let base = h.base.clone();
    let http = Client::new();
    let read = bearer(READ_TOKEN);
    let write = bearer(TOKEN);
    for path in [
        "/api/devices",
        "/api/storage",
        "/api/register_readings/range",
        "/metrics",
        "/api/openapi.json",
        "/",
        "/api/no-such-thing",
    ] {
        let url = format!("{base}{path}");
        let a = send(&http, "GET", &url, &[], "").await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{path}: {}", a.text);
        assert_eq!(a.header("content-type"), "application/problem+json");
        let wrong = bearer("not-the-token-0123456789");
        let a = send(&http, "GET", &url, &[("authorization", &wrong)], "").await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{path}: {}", a.text);
        for token in [&read, &write] {
            let a = send(&http, "GET", &url, &[("authorization", token)], "").await;
            let want = if path == "/api/no-such-thing" {
                StatusCode::NOT_FOUND
            } else {
                StatusCode::OK
            };
            assert_eq!(a.status, want, "{path}: {}", a.text);
        }
    }
    let a = send(&http, "GET", &format!("{base}/api/health"), &[], "").await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    // The read token reads only.
    let maintenance = format!("{base}/api/storage/maintenance");
    let a = send(&http, "POST", &maintenance, &[("authorization", &read)], "").await;
    assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.text);
    assert!(
        a.detail().contains("read token does not allow writes"),
        "{}",
        a.text
    );
    // The document says which operations take the token.
    let writes = documented_writes(&http, &base, &[("authorization", &read)]).await;
    assert!(!writes.is_empty());
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_token_without_a_write_token_closes_local_writes_too() {
    let h = TestHistorian::new("sec-read-local")
        .configure(|c| c.api.read_token = Some(READ_TOKEN.into()))
        .start()
        .await;
    let http = Client::new();
    let maintenance = format!("{}/api/storage/maintenance", h.base);
    let a = send(&http, "POST", &maintenance, &[], "").await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{}", a.text);
    let read = bearer(READ_TOKEN);
    let a = send(&http, "POST", &maintenance, &[("authorization", &read)], "").await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    // Still local only.
    let a = send(
        &http,
        "POST",
        &maintenance,
        &[("authorization", &read), ("origin", "http://evil.example")],
        "",
    )
    .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.text);
    h.stop().await;
}

/// The value of label `name` in a series key such as `m{method="GET",route="/x"}`.
fn label<'a>(series: &'a str, name: &str) -> Option<&'a str> {
    let start = series.find(&format!("{name}=\""))? + name.len() + 2;
    let len = series[start..].find('"')?;
    Some(&series[start..start + len])
}

/// The series of `/metrics` (each line's name and labels, without its value).
fn series(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| l.rsplit_once(' ').map(|(key, _)| key.to_string()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn odd_methods_and_raw_paths_add_no_series() {
    let h = TestHistorian::new("sec-metrics").start().await;
    let base = h.base.clone();
    let http = Client::new();
    let odd = |i: usize| -> (String, String) {
        let method = if i.is_multiple_of(2) {
            format!("M{i}X")
        } else {
            format!("FOO{i}")
        };
        let path = match i % 3 {
            0 => format!("/api/devices/{i}"),
            1 => format!("/no/such/path/{i}"),
            _ => format!("/api/register_readings/{i}/{i}"),
        };
        (method, path)
    };
    // Once each way first, so that the series those requests make already exist.
    for i in 0..6 {
        let (method, path) = odd(i);
        send(&http, &method, &format!("{base}{path}"), &[], "").await;
    }
    let metrics = format!("{base}/metrics");
    send(&http, "GET", &metrics, &[], "").await;
    let before = send(&http, "GET", &metrics, &[], "").await;
    assert_eq!(before.status, StatusCode::OK);
    for i in 6..206 {
        let (method, path) = odd(i);
        let a = send(&http, &method, &format!("{base}{path}"), &[], "").await;
        assert!(a.status.is_client_error(), "{method} {path}: {}", a.status);
    }
    let after = send(&http, "GET", &metrics, &[], "").await;
    // The recorder is shared by every test of this binary, and the others add series of
    // their own meanwhile; so rather than comparing whole pages, check that no series
    // carries anything the client made up, and that every method label is one of a fixed
    // few: a bounded set whatever clients send.
    let (b, a) = (series(&before.text), series(&after.text));
    let made_up: Vec<&String> = a
        .iter()
        .filter(|s| {
            s.contains("/no/such/path")
                || s.contains("register_readings/1")
                || s.contains("register_readings/2")
                || s.contains("devices/1")
                || s.contains("devices/2")
                || label(s, "method").is_some_and(|m| m.starts_with('M') && m.ends_with('X'))
                || label(s, "method").is_some_and(|m| m.starts_with("FOO"))
        })
        .collect();
    assert!(
        made_up.is_empty(),
        "series with client-made labels: {made_up:#?}"
    );
    for s in &a {
        if let Some(m) = label(s, "method") {
            assert!(
                [
                    "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "other"
                ]
                .contains(&m),
                "{s}"
            );
        }
    }
    // The series that 200 odd requests could add are those the first six already made.
    let odd_after: BTreeSet<&String> = a
        .iter()
        .filter(|s| label(s, "method") == Some("other"))
        .collect();
    let odd_before: BTreeSet<&String> = b
        .iter()
        .filter(|s| label(s, "method") == Some("other"))
        .collect();
    let status_of = |s: &&String| label(s, "status").map(str::to_string);
    let new_odd: Vec<&&String> = odd_after
        .difference(&odd_before)
        // Another test's refused writes (403) may add their own `other` series meanwhile.
        .filter(|s| status_of(s).as_deref() != Some("403"))
        .collect();
    assert!(new_odd.is_empty(), "{new_odd:#?}");
    let http_series: Vec<&String> = a
        .iter()
        .filter(|s| s.starts_with("historian_http_request_duration_seconds_count"))
        .collect();
    assert!(
        http_series
            .iter()
            .any(|s| s.contains("method=\"other\"") && s.contains("route=\"unmatched\"")),
        "{http_series:#?}"
    );
    assert!(
        http_series.iter().any(|s| s.contains("method=\"other\"")
            && s.contains("route=\"/api/register_readings/{device_id}/{register_address}\"")),
        "{http_series:#?}"
    );
    assert!(
        !after.text.contains("M7X") && !after.text.contains("/no/such/path"),
        "a raw method or path became a label"
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answer_says_nosniff_and_pages_refuse_frames() {
    let h = TestHistorian::new("sec-headers").fleet(1, 2).start().await;
    let base = h.base.clone();
    let http = Client::new();
    let get = |path: &str, accept: &str| {
        let (http, url, accept) = (http.clone(), format!("{base}{path}"), accept.to_string());
        async move { send(&http, "GET", &url, &[("accept", &accept)], "").await }
    };
    let answers = [
        ("/api/devices", "application/json", "application/json"),
        ("/api/register_readings/sim-000", "text/csv", "text/csv"),
        ("/metrics", "*/*", "text/plain"),
        ("/api/no-such-thing", "*/*", "application/problem+json"),
        ("/assets/dashboard.js", "*/*", "text/javascript"),
        ("/api/openapi.json", "*/*", "application/json"),
        ("/", "text/html", "text/html"),
        ("/api/docs/", "text/html", "text/html"),
    ];
    for (path, accept, kind) in answers {
        let a = get(path, accept).await;
        assert!(
            a.header("content-type").starts_with(kind),
            "{path}: {}",
            a.header("content-type")
        );
        assert_eq!(a.header("x-content-type-options"), "nosniff", "{path}");
        let html = kind == "text/html";
        let csp = a.header("content-security-policy");
        if html {
            assert_eq!(a.status, StatusCode::OK, "{path}");
            assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
            assert!(csp.contains("script-src 'self';"), "{path}: {csp}");
            assert!(!csp.contains("unsafe"), "{path}: {csp}");
            assert_eq!(a.header("x-frame-options"), "DENY", "{path}");
        } else {
            assert_eq!(a.header("x-frame-options"), "", "{path}");
        }
    }
    // A refused write and a body over the limit, answered by the layers, too.
    let a = send(
        &http,
        "POST",
        &format!("{base}/api/devices"),
        &[("origin", "http://evil.example")],
        "",
    )
    .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    assert_eq!(a.header("x-content-type-options"), "nosniff");
    let big = "x".repeat(h.config.api.max_body_bytes + 1);
    let a = send(&http, "POST", &format!("{base}/api/devices"), &[], &big).await;
    assert_eq!(a.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", a.text);
    assert_eq!(a.header("x-content-type-options"), "nosniff");
    h.stop().await;
}
