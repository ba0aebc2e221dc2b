//! What each connection is doing, for its time-outs and for choosing which one to close
//! when the connection limit is reached.

use http_body::{Body, Frame, SizeHint};
use std::collections::HashMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// The time-outs a connection is held to.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// From connecting, or from a later request's first byte, to its complete headers.
    pub header: Duration,
    /// With no request in flight, or with an answer its client does not read.
    pub idle: Duration,
}

#[derive(Debug, Clone, Copy)]
enum Phase {
    /// No request in flight since `since`; `started` is when the next request began to
    /// arrive (a new connection counts as begun).
    Waiting {
        since: Instant,
        started: Option<Instant>,
    },
    /// `requests` in flight (an event stream stays in flight for its whole life);
    /// `stalled` is since when the client has not taken the bytes of the answer.
    Busy {
        requests: usize,
        stalled: Option<Instant>,
    },
}

/// One connection's phase, shared by its I/O, its requests and its watcher.
#[derive(Debug)]
pub struct Activity {
    phase: Mutex<Phase>,
    changed: Notify,
    /// The server has tried to read from it: until then, a request the client sent may be
    /// waiting unread, and closing the connection would drop it.
    polled: AtomicBool,
}

impl Activity {
    /// A connection accepted at `now`: its first request's headers are due.
    pub fn accepted(now: Instant) -> Arc<Self> {
        Arc::new(Self {
            phase: Mutex::new(Phase::Waiting {
                since: now,
                started: Some(now),
            }),
            changed: Notify::new(),
            polled: AtomicBool::new(false),
        })
    }

    fn phase(&self) -> MutexGuard<'_, Phase> {
        self.phase.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Since when no request has been in flight, once the server has read from the
    /// connection; `None` while a request is in flight or before the first read.
    pub fn waiting_since(&self) -> Option<Instant> {
        if !self.polled.load(Ordering::Relaxed) {
            return None;
        }
        match *self.phase() {
            Phase::Waiting { since, .. } => Some(since),
            Phase::Busy { .. } => None,
        }
    }

    /// When the connection is to be closed as things stand; `None`: not for now. While the
    /// server drains, a connection with no request in flight is closed at once.
    pub fn deadline(&self, t: Timeouts, draining: bool) -> Option<Instant> {
        match *self.phase() {
            Phase::Waiting { .. } if draining => Some(Instant::now()),
            Phase::Waiting {
                started: Some(at), ..
            } => Some(at + t.header),
            Phase::Waiting { since, .. } => Some(since + t.idle),
            Phase::Busy {
                stalled: Some(at), ..
            } => Some(at + t.idle),
            Phase::Busy { stalled: None, .. } => None,
        }
    }

    /// Resolves when the phase changed in a way that may move the deadline earlier.
    pub async fn changed(&self) {
        self.changed.notified().await;
    }

    /// A request arrived: the connection is busy until the returned guard (kept by the
    /// answer's body) is dropped.
    pub fn begin(self: &Arc<Self>) -> InFlight {
        let mut phase = self.phase();
        *phase = match *phase {
            Phase::Waiting { .. } => Phase::Busy {
                requests: 1,
                stalled: None,
            },
            Phase::Busy { requests, stalled } => Phase::Busy {
                requests: requests + 1,
                stalled,
            },
        };
        InFlight(Arc::clone(self))
    }

    fn end(&self) {
        let mut phase = self.phase();
        if let Phase::Busy { requests, stalled } = *phase {
            *phase = if requests > 1 {
                Phase::Busy {
                    requests: requests - 1,
                    stalled,
                }
            } else {
                Phase::Waiting {
                    since: Instant::now(),
                    started: None,
                }
            };
            drop(phase);
            self.changed.notify_one();
        }
    }

    fn read_some(&self) {
        let mut phase = self.phase();
        if let Phase::Waiting {
            since,
            started: None,
        } = *phase
        {
            *phase = Phase::Waiting {
                since,
                started: Some(Instant::now()),
            };
            drop(phase);
            self.changed.notify_one();
        }
    }

    fn wrote(&self, progressed: bool) {
        let mut phase = self.phase();
        if let Phase::Busy { requests, stalled } = *phase {
            match (progressed, stalled) {
                (true, Some(_)) => {
                    *phase = Phase::Busy {
                        requests,
                        stalled: None,
                    }
                }
                (false, None) => {
                    *phase = Phase::Busy {
                        requests,
                        stalled: Some(Instant::now()),
                    };
                    drop(phase);
                    self.changed.notify_one();
                }
                _ => {}
            }
        }
    }
}

/// A request in flight on a connection; dropping it ends the request.
#[derive(Debug)]
pub struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.end();
    }
}

/// An answer's body that keeps its request in flight until the server has sent it all
/// (or the connection is gone): an event stream is never idle while it is open.
#[derive(Debug)]
pub struct HeldBody<B> {
    body: B,
    _request: InFlight,
}

impl<B> HeldBody<B> {
    /// `body`, keeping `request` in flight while it lives.
    pub fn new(body: B, request: InFlight) -> Self {
        Self {
            body,
            _request: request,
        }
    }
}

impl<B: Body + Unpin> Body for HeldBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// A connection's byte stream, reporting to its [`Activity`] when a request begins to
/// arrive and when the client stops taking what is written.
#[derive(Debug)]
pub struct Watched<I> {
    io: I,
    activity: Arc<Activity>,
}

impl<I> Watched<I> {
    /// `io`, reporting to `activity`.
    pub fn new(io: I, activity: Arc<Activity>) -> Self {
        Self { io, activity }
    }
}

impl<I: AsyncRead + Unpin> AsyncRead for Watched<I> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        this.activity.polled.store(true, Ordering::Relaxed);
        let before = buf.filled().len();
        let res = Pin::new(&mut this.io).poll_read(cx, buf);
        if matches!(res, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.activity.read_some();
        }
        res
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Watched<I> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let res = Pin::new(&mut this.io).poll_write(cx, buf);
        this.activity.wrote(!res.is_pending());
        res
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let res = Pin::new(&mut this.io).poll_write_vectored(cx, bufs);
        this.activity.wrote(!res.is_pending());
        res
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let res = Pin::new(&mut this.io).poll_flush(cx);
        this.activity.wrote(!res.is_pending());
        res
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

struct Entry {
    activity: Arc<Activity>,
    close: CancellationToken,
}

/// The open connections, up to a limit.
pub struct Connections {
    limit: usize,
    open: Mutex<(u64, HashMap<u64, Entry>)>,
}

impl std::fmt::Debug for Connections {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connections")
            .field("limit", &self.limit)
            .finish_non_exhaustive()
    }
}

/// A place among the open connections, given up when dropped.
#[derive(Debug)]
pub struct Slot {
    connections: Arc<Connections>,
    id: u64,
    /// Cancelled when the connection is closed to make room for a newer one.
    pub close: CancellationToken,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.connections.lock().1.remove(&self.id);
    }
}

impl Connections {
    /// No connections yet, at most `limit`.
    pub fn new(limit: usize) -> Arc<Self> {
        Arc::new(Self {
            limit,
            open: Mutex::new((0, HashMap::new())),
        })
    }

    fn lock(&self) -> MutexGuard<'_, (u64, HashMap<u64, Entry>)> {
        self.open.lock().unwrap_or_else(|e| e.into_inner())
    }

    #[cfg(test)]
    fn open_count(&self) -> usize {
        self.lock().1.len()
    }

    /// A place for a new connection. At the limit, the connection that has waited longest
    /// with no request in flight (a slow or idle client) is closed to make room: a flood of
    /// connections that never send a request cannot keep out one that does. A connection
    /// not yet read from is spared, as its request may be there unread. `None` when no
    /// connection can be closed.
    pub fn admit(self: &Arc<Self>, activity: &Arc<Activity>) -> Option<Slot> {
        let mut guard = self.lock();
        let (next, open) = &mut *guard;
        if open.len() >= self.limit {
            let oldest = open
                .iter()
                .filter_map(|(id, e)| e.activity.waiting_since().map(|at| (at, *id)))
                .min()?;
            if let Some(e) = open.remove(&oldest.1) {
                e.close.cancel();
            }
        }
        *next += 1;
        let id = *next;
        let close = CancellationToken::new();
        open.insert(
            id,
            Entry {
                activity: Arc::clone(activity),
                close: close.clone(),
            },
        );
        Some(Slot {
            connections: Arc::clone(self),
            id,
            close,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Timeouts = Timeouts {
        header: Duration::from_secs(10),
        idle: Duration::from_secs(60),
    };

    #[test]
    fn the_deadline_follows_what_the_connection_does() {
        let start = Instant::now();
        let a = Activity::accepted(start);
        assert_eq!(a.deadline(T, false), Some(start + T.header));
        let request = a.begin();
        assert_eq!(a.deadline(T, false), None, "no limit while a request runs");
        let before = Instant::now();
        a.wrote(false);
        let stalled = a
            .deadline(T, false)
            .expect("a reader that stalls has a limit");
        assert!(stalled >= before + T.idle);
        a.wrote(true);
        assert_eq!(
            a.deadline(T, false),
            None,
            "and loses it when it reads again"
        );
        let before = Instant::now();
        drop(request);
        let idle = a
            .deadline(T, false)
            .expect("an idle connection has a limit");
        assert!(idle >= before + T.idle);
        assert!(
            a.deadline(T, true).is_some_and(|d| d <= Instant::now()),
            "closed at once when draining"
        );
        let before = Instant::now();
        a.read_some();
        let header = a.deadline(T, false).expect("a request begun has a limit");
        assert!(header >= before + T.header && header < before + T.idle);
    }

    #[test]
    fn at_the_limit_the_longest_waiting_connection_makes_room() {
        let base = Instant::now();
        let at = |s: u64| Activity::accepted(base + Duration::from_secs(s));
        let c = Connections::new(2);
        let busy = at(0);
        let _busy_slot = c.admit(&busy).expect("room");
        let _request = busy.begin();
        let slow = at(1);
        let slow_slot = c.admit(&slow).expect("room");
        assert!(
            c.admit(&at(2)).is_none(),
            "a connection not yet read from is spared"
        );
        slow.polled.store(true, Ordering::Relaxed);
        let fresh = at(3);
        let fresh_slot = c.admit(&fresh).expect("the slow one makes room");
        assert!(slow_slot.close.is_cancelled());
        assert!(!fresh_slot.close.is_cancelled());
        assert_eq!(c.open_count(), 2);
        drop(slow_slot);
        assert_eq!(c.open_count(), 2, "a closed slot is not given up twice");
        fresh.polled.store(true, Ordering::Relaxed);
        let _fresh_request = fresh.begin();
        assert!(c.admit(&at(4)).is_none(), "every connection is busy");
    }
}
