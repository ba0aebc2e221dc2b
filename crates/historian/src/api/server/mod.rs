//! The API's HTTP server: HTTP/1.1 (over TLS when configured) on hyper, with the limits a
//! server reachable by untrusted clients needs. A client must send its request headers
//! within `header_timeout`; a connection with no request in flight is closed after
//! `idle_timeout` (an open event stream is a request in flight, so it lives on); at
//! `max_connections`, the connection waiting longest without a request is closed to make
//! room, and when every connection is busy a new one is answered 503 and closed, so a flood
//! of slow clients can neither hold the API nor make it hang.

mod conn;
pub mod tls;

use crate::api::error::{PROBLEM_JSON, Problem};
use crate::config::ApiConfig;
use axum::Router;
use axum::extract::ConnectInfo;
use conn::{Activity, Connections, HeldBody, Slot, Timeouts, Watched};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{Semaphore, mpsc};
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

pub use crate::pem::TlsFileError;

/// At most this many connections are being refused at once; beyond, a new connection is
/// closed without an answer rather than hold one more file open.
const REFUSING: usize = 32;
/// How long a refused connection gets to take its 503.
const REFUSAL_TIME: Duration = Duration::from_secs(2);
/// Pause after an accept error other than a connection's own (such as running out of file
/// descriptors), so the loop does not spin while resources free up.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);
/// The least time between two warnings that the connection limit was reached.
const WARN_EVERY: Duration = Duration::from_secs(10);

/// Connections the kernel queues before the server accepts them; it caps this at
/// `net.core.somaxconn`. Larger than tokio's 1024: a burst beyond the queue has its
/// connection attempts dropped, and a client tries again only a second later.
const BACKLOG: u32 = 4096;

/// Listens on `addr` for the API.
pub fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    #[cfg(unix)]
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(BACKLOG)
}

/// Serves `router` on `listener` until `shutdown`: then it stops accepting, closes the
/// connections with no request in flight, and returns once the requests in flight have
/// been answered (open event streams end with the same token).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    settings: &ApiConfig,
    tls: Option<TlsAcceptor>,
    shutdown: CancellationToken,
) {
    let timeouts = Timeouts {
        header: settings.header_timeout,
        idle: settings.idle_timeout,
    };
    make_room_for(settings.max_connections);
    let connections = Connections::new(settings.max_connections);
    let refusing = Arc::new(Semaphore::new(REFUSING));
    let (mut warned_full, mut warned_accept): (Option<Instant>, Option<Instant>) = (None, None);
    // Each connection task holds a sender; recv() answers None once all have ended.
    let (alive, mut ended) = mpsc::channel::<()>(1);
    let mut http = hyper::server::conn::http1::Builder::new();
    // The time-outs are kept per connection (see `conn`): hyper's header time-out starts
    // as soon as a connection goes idle, so it cannot tell a slow client from an idle one.
    http.header_read_timeout(None);
    loop {
        let (tcp, peer) = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) if is_connection_error(&e) => continue,
                Err(e) => {
                    if due(&mut warned_accept) {
                        tracing::warn!(error = %e, "API cannot accept connections; retrying");
                    }
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
        };
        // Event streams send small writes that should not wait for more.
        let _ = tcp.set_nodelay(true);
        let activity = Activity::accepted(Instant::now());
        let Some(slot) = connections.admit(&activity) else {
            if due(&mut warned_full) {
                tracing::warn!(
                    max_connections = settings.max_connections,
                    "API connection limit reached and no connection can make room; refusing new ones (503)"
                );
            }
            if let Ok(permit) = Arc::clone(&refusing).try_acquire_owned() {
                let tls = tls.clone();
                let alive = alive.clone();
                let limit = settings.max_connections;
                tokio::spawn(async move {
                    let _ = tokio::time::timeout(REFUSAL_TIME, refuse(tcp, tls, limit)).await;
                    drop((permit, alive));
                });
            }
            continue;
        };
        let task = Connection {
            router: router.clone(),
            http: http.clone(),
            tls: tls.clone(),
            activity,
            slot,
            timeouts,
            peer,
            shutdown: shutdown.clone(),
        };
        let alive = alive.clone();
        tokio::spawn(async move {
            task.run(tcp).await;
            drop(alive);
        });
    }
    drop(listener);
    drop(alive);
    let _ = ended.recv().await;
}

/// True, and remembered, when no warning of a kind was logged for [`WARN_EVERY`]: a flood
/// must not flood the log too.
fn due(last: &mut Option<Instant>) -> bool {
    let due = last.is_none_or(|at| at.elapsed() >= WARN_EVERY);
    if due {
        *last = Some(Instant::now());
    }
    due
}

/// Open files the process needs besides the API's connections: devices, the database, the
/// spool, the log.
const OTHER_FILES: u64 = 256;

/// Raises the soft limit of open files (up to the hard one) to fit `max_connections` and
/// the rest, and warns when it cannot: connections beyond it would fail to be accepted,
/// and so would the historian's own files.
fn make_room_for(max_connections: usize) {
    #[cfg(not(unix))]
    let _ = max_connections;
    #[cfg(unix)]
    {
        use nix::sys::resource::{Resource, getrlimit, setrlimit};
        let need = u64::try_from(max_connections)
            .unwrap_or(u64::MAX)
            .saturating_add(OTHER_FILES);
        let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else {
            return;
        };
        if soft >= need {
            return;
        }
        let wanted = need.min(hard);
        let now = if setrlimit(Resource::RLIMIT_NOFILE, wanted, hard).is_ok() {
            tracing::info!(
                from = soft,
                to = wanted,
                "raised the open-files limit for the API's connections"
            );
            wanted
        } else {
            soft
        };
        if now < need {
            tracing::warn!(
                max_connections,
                open_files_limit = now,
                "api.max_connections does not fit the open-files limit; lower it or raise the limit (ulimit -n)"
            );
        }
    }
}

/// Errors of one incoming connection (it reset before being accepted): nothing to wait for.
fn is_connection_error(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    matches!(
        e.kind(),
        ConnectionRefused | ConnectionAborted | ConnectionReset
    )
}

/// One accepted connection and what it needs to be served.
struct Connection {
    router: Router,
    http: hyper::server::conn::http1::Builder,
    tls: Option<TlsAcceptor>,
    activity: Arc<Activity>,
    slot: Slot,
    timeouts: Timeouts,
    peer: SocketAddr,
    shutdown: CancellationToken,
}

impl Connection {
    async fn run(self, tcp: TcpStream) {
        let io = Watched::new(tcp, Arc::clone(&self.activity));
        let Some(tls) = self.tls.clone() else {
            return self.serve(io).await;
        };
        // The handshake is part of the first request's header time.
        let deadline = Instant::now() + self.timeouts.header;
        let handshake = tokio::select! {
            done = tokio::time::timeout_at(deadline, tls.accept(io)) => done,
            () = self.slot.close.cancelled() => return,
            () = self.shutdown.cancelled() => return,
        };
        match handshake {
            Ok(Ok(stream)) => self.serve(stream).await,
            Ok(Err(e)) => tracing::debug!(peer = %self.peer, error = %e, "TLS handshake failed"),
            Err(_) => tracing::debug!(peer = %self.peer, "TLS handshake timed out"),
        }
    }

    async fn serve<I>(self, io: I)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let Connection {
            router,
            http,
            activity,
            slot,
            timeouts,
            peer,
            shutdown,
            ..
        } = self;
        let requests = Arc::clone(&activity);
        let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
            let in_flight = requests.begin();
            req.extensions_mut().insert(ConnectInfo(peer));
            let router = router.clone();
            async move {
                let resp = router.oneshot(req.map(axum::body::Body::new)).await;
                resp.map(|r| r.map(|body| HeldBody::new(body, in_flight)))
            }
        });
        let conn = http.serve_connection(TokioIo::new(io), service);
        tokio::pin!(conn);
        let mut draining = false;
        loop {
            let deadline = activity.deadline(timeouts, draining);
            tokio::select! {
                done = conn.as_mut() => {
                    if let Err(e) = done {
                        tracing::debug!(peer = %peer, error = %e, "API connection ended with an error");
                    }
                    return;
                }
                () = shutdown.cancelled(), if !draining => {
                    draining = true;
                    conn.as_mut().graceful_shutdown();
                }
                () = slot.close.cancelled() => {
                    tracing::debug!(peer = %peer, "closed to make room for a newer connection");
                    return;
                }
                () = activity.changed() => {}
                () = sleep_until(deadline) => {
                    if activity.deadline(timeouts, draining).is_some_and(|d| d <= Instant::now()) {
                        tracing::debug!(peer = %peer, "API connection timed out");
                        return;
                    }
                }
            }
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Answers a connection over the limit 503 and closes it.
async fn refuse(tcp: TcpStream, tls: Option<TlsAcceptor>, limit: usize) {
    let answer = refusal(limit);
    match tls {
        None => answer_and_close(tcp, &answer).await,
        Some(tls) => {
            if let Ok(stream) = tls.accept(tcp).await {
                answer_and_close(stream, &answer).await;
            }
        }
    }
}

/// The 503 as bytes: written before the request is read, which HTTP/1.1 clients accept.
fn refusal(limit: usize) -> Vec<u8> {
    let status = axum::http::StatusCode::SERVICE_UNAVAILABLE;
    let body = serde_json::to_string(&Problem {
        r#type: "about:blank".into(),
        title: status
            .canonical_reason()
            .unwrap_or("Service Unavailable")
            .into(),
        status: status.as_u16(),
        detail: format!(
            "the API has as many connections open as allowed (api.max_connections = {limit}), \
             each with a request in flight; try again shortly"
        ),
        errors: Vec::new(),
    })
    .unwrap_or_default();
    format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: {PROBLEM_JSON}\r\n\
         content-length: {}\r\nretry-after: 1\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

async fn answer_and_close<I: AsyncRead + AsyncWrite + Unpin>(mut io: I, answer: &[u8]) {
    if io.write_all(answer).await.is_err() || io.shutdown().await.is_err() {
        return;
    }
    // Read what the client sent until it closes: closing with its request unread would
    // reset the connection, and the client could lose the answer.
    let mut sink = [0u8; 4096];
    let mut left: usize = 64 * 1024;
    while left > 0 {
        match io.read(&mut sink).await {
            Ok(0) | Err(_) => return,
            Ok(n) => left = left.saturating_sub(n),
        }
    }
}
