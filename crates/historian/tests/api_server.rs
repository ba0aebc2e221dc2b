//! The API's server over real sockets: a flood of slow clients, the header and idle
//! time-outs, the connection and event-stream limits, the body limit for chunked bodies,
//! HTTPS and its certificate reload, and the graceful stop.

mod common;

use common::TestHistorian;
use futures_util::StreamExt;
use historian_testkit::{PATIENCE, TestPki, eventually};
use modbus_historian::app::{Historian, StartError};
use modbus_historian::config::{Config, TlsFiles};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

const SHORT: Duration = Duration::from_millis(300);

/// One HTTP/1.1 answer read off a raw connection.
#[derive(Debug)]
struct Answer {
    status: u16,
    /// Header lines, names lower-cased.
    headers: Vec<(String, String)>,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Reads an answer's head (and its body when it has a `content-length`).
async fn read_answer(s: &mut TcpStream) -> Answer {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        let n = tokio::time::timeout(PATIENCE, s.read(&mut byte))
            .await
            .expect("an answer in time")
            .expect("read");
        assert_eq!(n, 1, "closed before the end of the head: {buf:?}");
        buf.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&buf).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|c| c.parse().ok())
        .expect("status line");
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let mut answer = Answer {
        status,
        headers,
        body: String::new(),
    };
    if let Some(len) = answer.header("content-length") {
        let mut body = vec![0u8; len.parse().expect("length")];
        tokio::time::timeout(PATIENCE, s.read_exact(&mut body))
            .await
            .expect("a body in time")
            .expect("body");
        answer.body = String::from_utf8_lossy(&body).into_owned();
    }
    answer
}

/// Waits until the server closes `s` (bytes it sends first are skipped).
async fn wait_closed(s: &mut TcpStream, what: &str) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
            Err(_) => panic!("{what}: still open after {PATIENCE:?}"),
            Ok(Ok(0) | Err(_)) => return,
            Ok(Ok(_)) => {}
        }
    }
}

fn get(path: &str, addr: SocketAddr) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n").into_bytes()
}

/// A client that opens a connection per request, so each request is a new connection.
fn fresh_client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .expect("client")
}

/// Lets this process hold the flood's sockets and the server's together.
fn raise_open_files(want: u64) {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).expect("getrlimit");
    if soft < want {
        setrlimit(Resource::RLIMIT_NOFILE, want.min(hard), hard).expect("setrlimit");
    }
}

/// How many slow clients connected, and how many of them the server closed.
#[derive(Default)]
struct Flood {
    opened: AtomicUsize,
    closed: AtomicUsize,
}

/// A slow client: connects, sends part of a request line and never finishes it; holds the
/// connection until the server closes it (or the test ends).
async fn slow_client(addr: SocketAddr, stop: CancellationToken, flood: Arc<Flood>) {
    let mut s = TcpStream::connect(addr)
        .await
        .expect("a slow client connects");
    flood.opened.fetch_add(1, Ordering::Relaxed);
    let mut buf = [0u8; 64];
    if s.write_all(b"GET /api/health HTT").await.is_ok() {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = s.read(&mut buf) => {}
        }
    }
    flood.closed.fetch_add(1, Ordering::Relaxed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_answers_while_2000_clients_never_finish_their_headers() {
    const SLOW: usize = 2000;
    const PROBES: usize = 200;
    raise_open_files(8192);
    let h = TestHistorian::new("slow-flood").start().await;
    let max_connections = h.config.api.max_connections;
    let addr = h.historian.api_addr;
    let stop = CancellationToken::new();
    let flood = Arc::new(Flood::default());
    let clients: Vec<_> = (0..SLOW)
        .map(|_| tokio::spawn(slow_client(addr, stop.clone(), Arc::clone(&flood))))
        .collect();
    eventually("every slow client connected", PATIENCE, async || {
        let n = flood.opened.load(Ordering::Relaxed);
        (n >= SLOW).then_some(()).ok_or(format!("{n} of {SLOW}"))
    })
    .await;

    // While the server works through the flood, and after.
    let client = fresh_client();
    let url = format!("{}/api/health", h.base);
    let mut took = Vec::with_capacity(PROBES);
    for i in 0..PROBES {
        let started = Instant::now();
        let resp = tokio::time::timeout(Duration::from_secs(2), client.get(&url).send())
            .await
            .unwrap_or_else(|_| panic!("probe {i}: no answer within 2 s"))
            .unwrap_or_else(|e| panic!("probe {i}: {e:?}"));
        assert_eq!(resp.status(), 200, "probe {i}");
        took.push(started.elapsed());
    }
    eventually(
        "the server holds at most max_connections",
        PATIENCE,
        async || {
            let closed = flood.closed.load(Ordering::Relaxed);
            (closed >= SLOW - max_connections)
                .then_some(())
                .ok_or(format!("{closed} of {SLOW} slow connections closed"))
        },
    )
    .await;
    stop.cancel();
    for task in clients {
        task.await.expect("slow client");
    }
    took.sort();
    eprintln!(
        "MEASURED /api/health with {SLOW} slow clients: {PROBES} probes, median {:?}, p90 {:?}, \
         p99 {:?}, max {:?}",
        took[PROBES / 2],
        took[PROBES * 9 / 10],
        took[PROBES * 99 / 100],
        took[PROBES - 1]
    );
    h.stop().await;
}

#[tokio::test]
async fn headers_not_finished_in_time_close_the_connection_an_idle_one_waits_longer() {
    let h = TestHistorian::new("header-timeout")
        .configure(|c| c.api.header_timeout = SHORT)
        .start()
        .await;
    let addr = h.historian.api_addr;
    // A keep-alive connection that answered once and is now idle: the idle time-out
    // (60 s by default) applies to it, not the header time-out.
    let mut idle = TcpStream::connect(addr).await.expect("connect");
    idle.write_all(&get("/api/health", addr))
        .await
        .expect("send");
    assert_eq!(read_answer(&mut idle).await.status, 200);

    let mut partial = TcpStream::connect(addr).await.expect("connect");
    partial
        .write_all(b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        .await
        .expect("send");
    let mut silent = TcpStream::connect(addr).await.expect("connect");
    wait_closed(&mut partial, "a request whose headers never end").await;
    wait_closed(&mut silent, "a connection that never sends").await;

    // Idle for longer than the header time-out by now, and still served.
    idle.write_all(&get("/api/health", addr))
        .await
        .expect("send");
    assert_eq!(read_answer(&mut idle).await.status, 200);
    h.stop().await;
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_idle_timeout() {
    let h = TestHistorian::new("idle-timeout")
        .configure(|c| {
            c.api.idle_timeout = SHORT;
            c.api.header_timeout = Duration::from_secs(3600);
        })
        .start()
        .await;
    let addr = h.historian.api_addr;
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(&get("/api/health", addr)).await.expect("send");
    let a = read_answer(&mut s).await;
    assert_eq!(a.status, 200);
    assert_ne!(a.header("connection"), Some("close"), "kept alive at first");
    wait_closed(&mut s, "an idle keep-alive connection").await;
    h.stop().await;
}

/// Opens an event stream on a raw connection and reads its head.
async fn open_stream(addr: SocketAddr) -> TcpStream {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(&get("/api/register_readings/stream", addr))
        .await
        .expect("send");
    let a = read_answer(&mut s).await;
    assert_eq!(a.status, 200, "{a:?}");
    assert_eq!(a.header("content-type"), Some("text/event-stream"));
    s
}

#[tokio::test]
async fn with_every_connection_busy_a_new_one_gets_503_and_is_closed() {
    let h = TestHistorian::new("connection-cap")
        .configure(|c| {
            c.api.max_connections = 3;
            c.api.max_streams = 2;
        })
        .start()
        .await;
    let addr = h.historian.api_addr;
    let first = open_stream(addr).await;
    let _second = open_stream(addr).await;
    // A write whose body is on its way: "100 Continue" says the handler is reading it.
    let mut upload = TcpStream::connect(addr).await.expect("connect");
    upload
        .write_all(
            format!(
                "POST /api/devices HTTP/1.1\r\nHost: {addr}\r\ncontent-type: application/json\r\n\
                 content-length: 100\r\nexpect: 100-continue\r\n\r\n"
            )
            .as_bytes(),
        )
        .await
        .expect("send");
    assert_eq!(read_answer(&mut upload).await.status, 100);
    upload.write_all(b"{").await.expect("part of the body");

    let mut refused = TcpStream::connect(addr).await.expect("connect");
    refused
        .write_all(&get("/api/health", addr))
        .await
        .expect("send");
    let a = read_answer(&mut refused).await;
    assert_eq!(a.status, 503, "{a:?}");
    assert_eq!(a.header("connection"), Some("close"));
    assert_eq!(a.header("content-type"), Some("application/problem+json"));
    assert!(a.body.contains("api.max_connections"), "{}", a.body);
    wait_closed(&mut refused, "a refused connection").await;

    drop(first);
    let client = fresh_client();
    eventually("health once a stream closed", PATIENCE, async || {
        let resp = client
            .get(format!("{}/api/health", h.base))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        (resp.status() == 200)
            .then_some(())
            .ok_or(format!("{}", resp.status()))
    })
    .await;
    // A stop waits for requests in flight (up to request_timeout): let the upload go.
    drop(upload);
    h.stop().await;
}

#[tokio::test]
async fn an_event_stream_lives_past_the_idle_timeout_and_streams_have_their_own_cap() {
    let h = TestHistorian::new("stream-idle")
        .fleet(1, 4)
        .interval(Duration::from_millis(100))
        .configure(|c| {
            c.api.idle_timeout = SHORT;
            c.api.header_timeout = SHORT;
            c.api.max_streams = 1;
        })
        .start()
        .await;
    let client = reqwest::Client::new();
    let url = format!("{}/api/register_readings/stream", h.base);
    let resp = client.get(&url).send().await.expect("stream");
    assert_eq!(resp.status(), 200);

    let other = fresh_client()
        .get(&url)
        .send()
        .await
        .expect("second stream");
    assert_eq!(other.status(), 503);
    let problem: serde_json::Value = other.json().await.expect("problem");
    assert!(
        problem["detail"]
            .as_str()
            .is_some_and(|d| d.contains("api.max_streams")),
        "{problem}"
    );

    // Readings keep coming for several idle time-outs.
    let mut body = resp.bytes_stream();
    let mut first = None;
    let outlived = SHORT * 4;
    tokio::time::timeout(PATIENCE, async {
        loop {
            let chunk = body
                .next()
                .await
                .expect("the stream was closed")
                .expect("chunk");
            if String::from_utf8_lossy(&chunk).contains("event: readings") {
                let at = *first.get_or_insert_with(Instant::now);
                if at.elapsed() > outlived {
                    return;
                }
            }
        }
    })
    .await
    .expect("readings for longer than the idle time-out");

    drop(body);
    eventually("a new stream once the first closed", PATIENCE, async || {
        let resp = fresh_client()
            .get(&url)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        (resp.status() == 200)
            .then_some(())
            .ok_or(format!("{}", resp.status()))
    })
    .await;
    h.stop().await;
}

/// A body of `len` bytes that is a JSON object (`{}` after spaces), in chunks of 64 KiB,
/// without a declared length.
fn chunked(len: usize) -> reqwest::Body {
    const CHUNK: usize = 64 * 1024;
    let chunks = len.div_ceil(CHUNK);
    let parts = (0..chunks).map(move |i| {
        let size = CHUNK.min(len - i * CHUNK);
        let mut part = vec![b' '; size];
        if i == chunks - 1 {
            part[size - 2..].copy_from_slice(b"{}");
        }
        Ok::<_, std::io::Error>(part)
    });
    reqwest::Body::wrap_stream(futures_util::stream::iter(parts))
}

async fn post_device(base: &str, body: reqwest::Body) -> (u16, serde_json::Value) {
    let resp = fresh_client()
        .post(format!("{base}/api/devices"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("answer");
    let status = resp.status().as_u16();
    let ct = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    assert_eq!(ct.as_deref(), Some("application/problem+json"));
    (status, resp.json().await.expect("problem"))
}

#[tokio::test]
async fn bodies_over_the_limit_get_413_whether_chunked_or_not() {
    let h = TestHistorian::new("body-limit")
        .configure(|c| c.api.max_body_bytes = 1024)
        .start()
        .await;
    let mut declared = vec![b' '; 4096];
    declared.extend_from_slice(b"{}");
    for (what, body) in [
        ("declared length", reqwest::Body::from(declared)),
        ("chunked", chunked(4096)),
    ] {
        let (status, problem) = post_device(&h.base, body).await;
        assert_eq!(status, 413, "{what}: {problem}");
        assert_eq!(
            problem["detail"], "the request body is larger than 1024 bytes",
            "{what}"
        );
    }
    h.stop().await;

    // The default limit (1 MiB) against 50 MB sent in chunks.
    let h = TestHistorian::new("body-limit-default").start().await;
    let (status, problem) = post_device(&h.base, chunked(50_000_000)).await;
    assert_eq!(status, 413, "{problem}");
    h.stop().await;

    // A limit above 2 MiB is the one applied, not a framework default below it.
    let h = TestHistorian::new("body-limit-large")
        .configure(|c| c.api.max_body_bytes = 4 << 20)
        .start()
        .await;
    let (status, problem) = post_device(&h.base, chunked(3 << 20)).await;
    assert_eq!(
        status, 422,
        "read and checked, not refused for size: {problem}"
    );
    h.stop().await;
}

fn trusting(ca: &Path) -> reqwest::Client {
    let pem = std::fs::read(ca).expect("CA");
    reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).expect("CA certificate"))
        .pool_max_idle_per_host(0)
        .build()
        .expect("client")
}

async fn health(client: &reqwest::Client, url: &str) -> Result<u16, String> {
    client
        .get(format!("{url}/api/health"))
        .send()
        .await
        .map(|r| r.status().as_u16())
        .map_err(|e| format!("{e:?}"))
}

fn tls_files(cert: &Path, key: &Path) -> TlsFiles {
    TlsFiles {
        cert: cert.to_path_buf(),
        key: key.to_path_buf(),
    }
}

#[tokio::test]
async fn https_serves_the_configured_certificate_to_clients_that_trust_its_ca() {
    let pki = TestPki::new(&["localhost", "127.0.0.1"]).expect("pki");
    let files = tls_files(&pki.cert_path(), &pki.key_path());
    let h = TestHistorian::new("https")
        .configure(move |c| c.api.tls = Some(files))
        .start()
        .await;
    let port = h.historian.api_addr.port();
    assert_eq!(h.base, format!("https://127.0.0.1:{port}"));
    let trusted = trusting(&pki.ca_path());
    assert_eq!(health(&trusted, &h.base).await, Ok(200));
    assert_eq!(
        health(&trusted, &format!("https://localhost:{port}")).await,
        Ok(200)
    );
    let stranger = trusting(&pki.other_ca_path());
    let refused = health(&stranger, &h.base).await;
    assert!(
        refused.as_ref().is_err_and(|e| e.contains("UnknownIssuer")),
        "{refused:?}"
    );
    let plain = health(&fresh_client(), &format!("http://127.0.0.1:{port}")).await;
    assert!(plain.is_err(), "plain HTTP on the HTTPS port: {plain:?}");
    // A plain-HTTP client does not disturb the TLS ones.
    assert_eq!(health(&trusted, &h.base).await, Ok(200));
    h.stop().await;
}

#[tokio::test]
async fn a_renewed_certificate_is_served_without_a_restart_and_a_broken_one_is_not() {
    let logs = common::captured_logs();
    let first = TestPki::new(&["127.0.0.1"]).expect("pki");
    let renewed = TestPki::new(&["127.0.0.1"]).expect("pki");
    let dir = tempfile::tempdir().expect("dir");
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert, &first.cert_pem).expect("cert");
    std::fs::write(&key, &first.key_pem).expect("key");
    let files = tls_files(&cert, &key);
    let h = TestHistorian::new("https-reload")
        .configure(move |c| c.api.tls = Some(files))
        .start()
        .await;
    let (old, new) = (trusting(&first.ca_path()), trusting(&renewed.ca_path()));
    assert_eq!(health(&old, &h.base).await, Ok(200));
    assert!(health(&new, &h.base).await.is_err());

    std::fs::write(&key, &renewed.key_pem).expect("key");
    std::fs::write(&cert, &renewed.cert_pem).expect("cert");
    eventually("the renewed certificate served", PATIENCE, async || {
        health(&new, &h.base).await.map(|_| ())
    })
    .await;
    // A new client: the old one could resume its earlier session without a certificate.
    let old = trusting(&first.ca_path());
    assert!(health(&old, &h.base).await.is_err(), "the old one is gone");

    std::fs::write(&cert, "not a certificate").expect("cert");
    eventually("the broken file noticed", PATIENCE, async || {
        assert_eq!(health(&new, &h.base).await, Ok(200));
        logs.contains("still serving the previous certificate")
            .then_some(())
            .ok_or("no warning yet".into())
    })
    .await;
    assert_eq!(health(&new, &h.base).await, Ok(200));
    h.stop().await;
}

#[tokio::test]
async fn a_key_that_does_not_match_the_certificate_stops_the_start() {
    let pki = TestPki::new(&["127.0.0.1"]).expect("pki");
    let other = TestPki::new(&["127.0.0.1"]).expect("pki");
    let mut config = Config::built_in("tls-mismatch", Vec::new(), &|_| None).expect("config");
    config.api_bind = "127.0.0.1:0".parse().expect("addr");
    config.api.tls = Some(tls_files(&pki.cert_path(), &other.key_path()));
    let err = Historian::start(&config).await.expect_err("refused");
    assert!(matches!(err, StartError::Tls(_)), "{err}");
    let text = err.to_string();
    assert!(
        text.contains(&other.key_path().display().to_string())
            && text.contains("does not belong to the certificate"),
        "{text}"
    );
}

#[test]
fn run_check_names_the_tls_setting_at_fault() {
    let pki = TestPki::new(&["127.0.0.1"]).expect("pki");
    let other = TestPki::new(&["127.0.0.1"]).expect("pki");
    std::fs::copy(other.key_path(), pki.dir().join("other-key.pem")).expect("copy");
    let check = |api: &str| {
        let path = pki.dir().join("historian.toml");
        std::fs::write(&path, format!("[api]\n{api}\n")).expect("config");
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_modbus-historian"))
            .args(["run", "--check", "--config"])
            .arg(&path)
            .env_remove("HISTORIAN_API_BIND")
            .env_remove("HISTORIAN_DATABASE_URL")
            .output()
            .expect("run");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    };
    let (ok, text) = check("tls_cert = \"cert.pem\"\ntls_key = \"key.pem\"");
    assert!(ok, "{text}");
    let (ok, text) = check("tls_cert = \"cert.pem\"");
    assert!(
        !ok && text.contains("api.tls_cert: is set but api.tls_key is not"),
        "{text}"
    );
    let (ok, text) = check("tls_cert = \"cert.pem\"\ntls_key = \"other-key.pem\"");
    assert!(
        !ok && text.contains("api.tls_key:") && text.contains("does not belong"),
        "{text}"
    );
    let (ok, text) = check("tls_cert = \"absent.pem\"\ntls_key = \"key.pem\"");
    assert!(!ok && text.contains("api.tls_cert: cannot read"), "{text}");
    let (ok, text) = check("tls_cert = \"key.pem\"\ntls_key = \"key.pem\"");
    assert!(
        !ok && text.contains("api.tls_cert:") && text.contains("no PEM certificate"),
        "{text}"
    );
}

#[tokio::test]
async fn a_stop_ends_event_streams_and_idle_connections() {
    let h = TestHistorian::new("graceful").start().await;
    let addr = h.historian.api_addr;
    let mut stream = open_stream(addr).await;
    let mut idle = TcpStream::connect(addr).await.expect("connect");
    idle.write_all(&get("/api/health", addr))
        .await
        .expect("send");
    assert_eq!(read_answer(&mut idle).await.status, 200);
    let stopped = tokio::time::timeout(PATIENCE, h.stop()).await;
    assert!(stopped.is_ok(), "the stop waited on open connections");
    wait_closed(&mut stream, "an event stream at the stop").await;
    wait_closed(&mut idle, "an idle connection at the stop").await;
}
