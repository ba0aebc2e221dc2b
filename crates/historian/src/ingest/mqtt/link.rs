//! The link to the broker: a bounded queue of polls that the ingest side fills without
//! ever waiting, and a task that owns the MQTT client, feeds the payload format and
//! publishes what it asks for, reconnecting with back-off.
//!
//! ```text
//! batcher ─offer─► queue (bounded in readings; full: the oldest polls go, counted)
//!                    │
//!                    ▼
//!  link task: format.handle(Poll | Connected | Fleet | Command) ─► client ─► driver task
//!                                                                  (rumqttc event loop)
//! ```
//! Each connection attempt gets a fresh client and event loop, so the format's will is set
//! anew every time (Sparkplug's `bdSeq`), and nothing of a dead session is sent in the next.

use super::format::{Format, Happening, Outgoing, Qos};
use super::tls::{MqttTlsError, client_config};
use crate::config::MqttConfig;
use crate::ingest::sink::{Backpressure, PollSink};
use crate::registry::Registry;
use crate::stats::Stats;
use crate::telemetry::events::{Event, MqttDown, MqttDropped, MqttUp};
use historian_model::Reading;
use historian_retry::RetryPolicy;
use rumqttc::{
    AsyncClient, EventLoop, LastWill, MqttOptions, Packet, QoS, Request, TlsConfiguration,
    Transport,
};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::{Notify, mpsc};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Waits between connection attempts: from half a second up to half a minute.
const RETRY: RetryPolicy =
    RetryPolicy::exponential(Duration::from_millis(500), Duration::from_secs(30))
        .with_jitter_percent(20);
/// How often the fleet is offered to the format besides reloads: devices going down or up
/// show within this.
pub const FLEET_EVERY: Duration = Duration::from_secs(2);
/// Requests between the link task and the event loop: what a broken connection can take
/// with it unsent.
const CLIENT_QUEUE: usize = 256;
/// Largest MQTT packet either way: a Sparkplug birth of a large device is big.
const MAX_PACKET: usize = 16 << 20;
/// Incoming commands waiting for the link task; beyond it they are dropped and logged.
const REPORTS: usize = 1024;
/// At a clean stop, how long the last messages and the DISCONNECT may take to go out.
const GOODBYE: Duration = Duration::from_secs(5);
/// After the DISCONNECT, how long the broker may take to close the connection.
const CLOSING: Duration = Duration::from_secs(2);

/// Polls waiting for the broker, oldest first, bounded in readings.
#[derive(Debug)]
struct Queue {
    waiting: Mutex<Waiting>,
    ready: Notify,
    closed: CancellationToken,
    bound: usize,
    stats: Arc<Stats>,
}

#[derive(Debug, Default)]
struct Waiting {
    polls: VecDeque<Vec<Reading>>,
    readings: usize,
    /// Dropping since the queue last ran empty: only the first drop of a spell is logged.
    dropping: bool,
}

impl Queue {
    fn lock(&self) -> MutexGuard<'_, Waiting> {
        self.waiting.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Appends a poll; drops the oldest polls while the bound is exceeded.
    fn push(&self, poll: Vec<Reading>) {
        let (dropped, first) = {
            let mut w = self.lock();
            w.readings += poll.len();
            w.polls.push_back(poll);
            let mut dropped = 0;
            while w.readings > self.bound && w.polls.len() > 1 {
                if let Some(old) = w.polls.pop_front() {
                    w.readings -= old.len();
                    dropped += old.len();
                }
            }
            let first = dropped > 0 && !w.dropping;
            w.dropping |= dropped > 0;
            Stats::set(&self.stats.mqtt_queued, w.readings as u64);
            (dropped, first)
        };
        if dropped > 0 {
            MqttDropped {
                readings: dropped as u64,
                first,
                why: "the queue in front of the broker is full; the oldest readings go",
            }
            .emit(&self.stats);
        }
        self.ready.notify_one();
    }

    fn pop(&self) -> Option<Vec<Reading>> {
        let mut w = self.lock();
        let poll = w.polls.pop_front()?;
        w.readings -= poll.len();
        if w.polls.is_empty() {
            w.dropping = false;
        }
        Stats::set(&self.stats.mqtt_queued, w.readings as u64);
        Some(poll)
    }
}

/// The ingest side of the link: offers each poll without waiting. Dropping it (when
/// ingest ends) tells the link task to publish what is queued and say goodbye.
#[derive(Debug)]
pub struct MqttSink {
    queue: Arc<Queue>,
}

impl PollSink for MqttSink {
    fn name(&self) -> &'static str {
        "mqtt"
    }

    fn backpressure(&self) -> Backpressure {
        Backpressure::SkipAndCount
    }

    fn offer(&self, poll: &[Reading]) {
        if !poll.is_empty() {
            self.queue.push(poll.to_vec());
        }
    }
}

impl Drop for MqttSink {
    fn drop(&mut self) {
        self.queue.closed.cancel();
        self.queue.ready.notify_one();
    }
}

/// What the event loop's task tells the link task.
#[derive(Debug)]
enum Report {
    /// The broker accepted the connection.
    Up,
    /// A message arrived on a subscription.
    Message {
        topic: String,
        payload: bytes::Bytes,
    },
    /// The connection is gone (`error` is `None` after our own DISCONNECT); `lost` messages
    /// were handed to it and never confirmed.
    Down { error: Option<String>, lost: u64 },
}

/// How a session ended.
#[derive(Debug)]
enum Ended {
    /// The sink was dropped and the goodbye is done.
    Stopped,
    /// The connection failed or broke.
    Lost { error: String, lost: u64 },
}

fn qos(q: Qos) -> QoS {
    match q {
        Qos::AtMostOnce => QoS::AtMostOnce,
        Qos::AtLeastOnce => QoS::AtLeastOnce,
    }
}

/// Polls the event loop until the connection ends; never cancelled, since a write cut short
/// would corrupt the stream.
async fn drive(
    mut events: EventLoop,
    tx: mpsc::Sender<Report>,
    stats: Arc<Stats>,
    progress: Arc<Progress>,
) {
    use rumqttc::{Event as Ev, Outgoing as Out};
    loop {
        match events.poll().await {
            Ok(Ev::Incoming(Packet::ConnAck(_))) => {
                if tx.send(Report::Up).await.is_err() {
                    return;
                }
            }
            Ok(Ev::Incoming(Packet::Publish(p))) => {
                let report = Report::Message {
                    topic: p.topic,
                    payload: p.payload,
                };
                if tx.try_send(report).is_err() {
                    tracing::warn!("mqtt: too many incoming commands waiting; one dropped");
                }
            }
            // Published: QoS 0 once written (packet id 0), QoS 1 once acknowledged.
            Ok(Ev::Incoming(Packet::PubAck(_)) | Ev::Outgoing(Out::Publish(0))) => {
                Stats::add(&stats.mqtt_published, 1);
                progress.done.fetch_add(1, Ordering::Relaxed);
                progress.moved.notify_waiters();
            }
            Ok(Ev::Outgoing(Out::Disconnect)) => {
                // Reads on until the broker closes the connection, as it does after a
                // DISCONNECT: a socket closed with unread data (acknowledgements, pings)
                // is reset, and the broker may then drop what it had not read yet.
                let _ = tokio::time::timeout(CLOSING, async {
                    while let Ok(ev) = events.poll().await {
                        if matches!(ev, Ev::Incoming(Packet::PubAck(_))) {
                            Stats::add(&stats.mqtt_published, 1);
                        }
                    }
                })
                .await;
                drop(events);
                let _ = tx
                    .send(Report::Down {
                        error: None,
                        lost: 0,
                    })
                    .await;
                return;
            }
            Ok(_) => {}
            Err(e) => {
                // The event loop has moved what it had not confirmed into `pending`.
                let lost = events
                    .pending
                    .iter()
                    .filter(|r| matches!(r, Request::Publish(_)))
                    .count() as u64;
                // Dropped before reporting, so that a publish waiting for room fails now.
                drop(events);
                let _ = tx
                    .send(Report::Down {
                        error: Some(e.to_string()),
                        lost,
                    })
                    .await;
                return;
            }
        }
    }
}

/// The broker link's task.
struct Link {
    cfg: MqttConfig,
    broker: String,
    tls: Option<Arc<rustls::ClientConfig>>,
    format: Box<dyn Format>,
    registry: Arc<Registry>,
    stats: Arc<Stats>,
    queue: Arc<Queue>,
}

/// Messages handed to the client that a broken connection took with it.
struct Unsent(u64);

/// Messages of one connection the broker took, counted by the event loop's task.
#[derive(Debug, Default)]
struct Progress {
    done: AtomicU64,
    moved: Notify,
}

/// One connection's client, and how many messages were handed to it.
struct Conn {
    client: AsyncClient,
    handed: u64,
    progress: Arc<Progress>,
}

impl Conn {
    /// Publishes `out` (emptying it). A failure means the connection is gone; what was not
    /// handed over is counted as unsent.
    async fn send(&mut self, out: &mut Vec<Outgoing>) -> Result<(), Unsent> {
        let total = out.len();
        for (i, m) in out.drain(..).enumerate() {
            if self
                .client
                .publish(m.topic, qos(m.qos), m.retain, m.payload)
                .await
                .is_err()
            {
                return Err(Unsent((total - i) as u64));
            }
            self.handed += 1;
        }
        Ok(())
    }

    /// Waits until the broker took every message handed over (QoS 1: acknowledged).
    async fn settled(&self) {
        loop {
            let moved = self.progress.moved.notified();
            tokio::pin!(moved);
            moved.as_mut().enable();
            if self.progress.done.load(Ordering::Relaxed) >= self.handed {
                return;
            }
            moved.await;
        }
    }
}

/// Starts the link task for `cfg` with `format`. Connects in the background: a broker that
/// is away at start-up is not an error; readings queue up until it answers.
pub fn spawn(
    cfg: MqttConfig,
    format: Box<dyn Format>,
    registry: Arc<Registry>,
    stats: Arc<Stats>,
) -> Result<(MqttSink, JoinHandle<()>), MqttTlsError> {
    let tls = client_config(&cfg)?;
    let queue = Arc::new(Queue {
        waiting: Mutex::default(),
        ready: Notify::new(),
        closed: CancellationToken::new(),
        bound: cfg.queue,
        stats: Arc::clone(&stats),
    });
    let link = Link {
        broker: cfg.broker(),
        cfg,
        tls,
        format,
        registry,
        stats,
        queue: Arc::clone(&queue),
    };
    Ok((MqttSink { queue }, tokio::spawn(link.run())))
}

impl Link {
    fn options(&self, will: Option<&Outgoing>) -> MqttOptions {
        let c = &self.cfg;
        let mut o = MqttOptions::new(&c.client_id, &c.host, c.port);
        o.set_keep_alive(c.keep_alive)
            .set_clean_session(true)
            .set_max_packet_size(MAX_PACKET, MAX_PACKET);
        if let Some(user) = &c.username {
            o.set_credentials(user, c.password.clone().unwrap_or_default());
        }
        if let Some(w) = will {
            o.set_last_will(LastWill::new(
                &w.topic,
                w.payload.clone(),
                qos(w.qos),
                w.retain,
            ));
        }
        if let Some(tls) = &self.tls {
            o.set_transport(Transport::Tls(TlsConfiguration::Rustls(Arc::clone(tls))));
        }
        o
    }

    async fn run(mut self) {
        let mut backoff = RETRY.backoff();
        let mut sessions = 0u64;
        // Whether the current outage (or the failure to connect at start) was logged.
        let mut outage_told = false;
        while !self.queue.closed.is_cancelled() {
            let will = self.format.will();
            let (client, events) = AsyncClient::new(self.options(will.as_ref()), CLIENT_QUEUE);
            let (tx, mut reports) = mpsc::channel(REPORTS);
            let progress = Arc::new(Progress::default());
            let driver = tokio::spawn(drive(
                events,
                tx,
                Arc::clone(&self.stats),
                Arc::clone(&progress),
            ));
            let mut conn = Conn {
                client,
                handed: 0,
                progress,
            };
            let first = tokio::select! {
                r = reports.recv() => r,
                () = self.queue.closed.cancelled() => {
                    driver.abort();
                    return;
                }
            };
            let ended = match first {
                Some(Report::Up) => {
                    backoff.reset();
                    MqttUp {
                        broker: &self.broker,
                        reconnect: sessions > 0,
                    }
                    .emit(&self.stats);
                    sessions += 1;
                    outage_told = false;
                    self.session(&mut conn, &mut reports, will).await
                }
                Some(Report::Down { error, lost }) => Ended::Lost {
                    error: error.unwrap_or_default(),
                    lost,
                },
                Some(Report::Message { .. }) | None => Ended::Lost {
                    error: "the connection task ended".into(),
                    lost: 0,
                },
            };
            match ended {
                Ended::Stopped => {
                    // The DISCONNECT went out (or the goodbye timed out): the driver is
                    // done or stuck on a dead socket.
                    driver.abort();
                    Stats::set(&self.stats.mqtt_connected, 0);
                    return;
                }
                Ended::Lost { error, lost } => {
                    let retry_in = backoff.next_delay();
                    MqttDown {
                        broker: &self.broker,
                        error: &error,
                        first: !outage_told,
                        lost,
                        retry_in,
                    }
                    .emit(&self.stats);
                    outage_told = true;
                    tokio::select! {
                        () = tokio::time::sleep(retry_in) => {}
                        () = self.queue.closed.cancelled() => return,
                    }
                }
            }
        }
    }

    /// One session: subscribe, announce, then publish polls and answer commands until the
    /// connection breaks or the sink is dropped.
    async fn session(
        &mut self,
        conn: &mut Conn,
        reports: &mut mpsc::Receiver<Report>,
        will: Option<Outgoing>,
    ) -> Ended {
        for filter in self.format.subscriptions() {
            if conn
                .client
                .subscribe(filter, QoS::AtLeastOnce)
                .await
                .is_err()
            {
                return broken(reports, 0).await;
            }
        }
        let mut out = Vec::new();
        let devices = self.registry.devices();
        self.format
            .handle(Happening::Connected { devices: &devices }, &mut out);
        if let Err(Unsent(n)) = conn.send(&mut out).await {
            return broken(reports, n).await;
        }
        let mut changes = self.registry.changes();
        changes.mark_unchanged();
        let mut tick =
            tokio::time::interval_at(tokio::time::Instant::now() + FLEET_EVERY, FLEET_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let result = tokio::select! {
                biased;
                r = reports.recv() => match r {
                    Some(Report::Message { topic, payload }) => {
                        self.format.handle(
                            Happening::Command { topic: &topic, payload: &payload },
                            &mut out,
                        );
                        conn.send(&mut out).await
                    }
                    Some(Report::Down { error, lost }) => {
                        return Ended::Lost {
                            error: error.unwrap_or_else(|| "disconnected".into()),
                            lost,
                        };
                    }
                    Some(Report::Up) => Ok(()),
                    None => return broken(reports, 0).await,
                },
                Ok(()) = changes.changed() => self.fleet(conn, &mut out).await,
                _ = tick.tick() => self.fleet(conn, &mut out).await,
                () = self.queue.ready.notified() => self.drain(conn, &mut out).await,
                () = self.queue.closed.cancelled() => {
                    return match self.drain(conn, &mut out).await {
                        Ok(()) => self.goodbye(conn, reports, will).await,
                        Err(Unsent(n)) => broken(reports, n).await,
                    };
                }
            };
            if let Err(Unsent(n)) = result {
                return broken(reports, n).await;
            }
        }
    }

    async fn fleet(&mut self, conn: &mut Conn, out: &mut Vec<Outgoing>) -> Result<(), Unsent> {
        let devices = self.registry.devices();
        self.format
            .handle(Happening::Fleet { devices: &devices }, out);
        conn.send(out).await
    }

    /// Hands every queued poll to the format and publishes what it makes of them.
    async fn drain(&mut self, conn: &mut Conn, out: &mut Vec<Outgoing>) -> Result<(), Unsent> {
        while let Some(poll) = self.queue.pop() {
            let Some(id) = poll.first().map(|r| r.device_id) else {
                continue;
            };
            match self.registry.get(id) {
                Some(device) => self.format.handle(
                    Happening::Poll {
                        device: &device,
                        readings: &poll,
                    },
                    out,
                ),
                None => MqttDropped {
                    readings: poll.len() as u64,
                    first: false,
                    why: "the device is no longer configured",
                }
                .emit(&self.stats),
            }
            conn.send(out).await?;
        }
        Ok(())
    }

    /// A clean stop: the will goes out as a message of its own (a DISCONNECT makes the
    /// broker discard it, yet subscribers must learn that the node is gone), then the
    /// DISCONNECT, and whatever is in flight is given [`GOODBYE`] to leave.
    async fn goodbye(
        &mut self,
        conn: &mut Conn,
        reports: &mut mpsc::Receiver<Report>,
        will: Option<Outgoing>,
    ) -> Ended {
        let mut last: Vec<Outgoing> = will.into_iter().collect();
        let said = async {
            conn.send(&mut last).await.ok()?;
            // A DISCONNECT behind unacknowledged messages would leave their fate unknown.
            conn.settled().await;
            conn.client.disconnect().await.ok()?;
            loop {
                match reports.recv().await? {
                    Report::Down { .. } => return Some(()),
                    Report::Up | Report::Message { .. } => {}
                }
            }
        };
        if tokio::time::timeout(GOODBYE, said).await.is_err() {
            tracing::warn!(broker = %self.broker, "mqtt: the broker did not take the last messages within {GOODBYE:?}; closing anyway");
        }
        tracing::info!(broker = %self.broker, "mqtt link closed");
        Ended::Stopped
    }
}

/// The connection broke while publishing: waits for the event loop's last word.
async fn broken(reports: &mut mpsc::Receiver<Report>, unsent: u64) -> Ended {
    while let Some(r) = reports.recv().await {
        if let Report::Down { error, lost } = r {
            return Ended::Lost {
                error: error.unwrap_or_else(|| "disconnected".into()),
                lost: lost + unsent,
            };
        }
    }
    Ended::Lost {
        error: "the connection task ended".into(),
        lost: unsent,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use historian_model::{DataType, Quality, RegisterRef, Table};

    fn poll(device_id: i64, n: usize) -> Vec<Reading> {
        (0..n)
            .map(|i| Reading {
                timestamp: chrono::Utc::now(),
                device_id,
                register_address: RegisterRef::new(Table::HoldingRegister, i as u16),
                value: Some(1.0),
                text: None,
                quality: Quality::Good,
                register_name: Arc::from("r"),
                data_type: DataType::Uint16,
                unit: Arc::from(""),
            })
            .collect()
    }

    #[test]
    fn a_full_queue_drops_the_oldest_polls_and_counts_them() {
        let stats = Arc::new(Stats::default());
        let q = Queue {
            waiting: Mutex::default(),
            ready: Notify::new(),
            closed: CancellationToken::new(),
            bound: 5,
            stats: Arc::clone(&stats),
        };
        for id in 1..=4 {
            q.push(poll(id, 2));
        }
        assert_eq!(Stats::get(&stats.mqtt_dropped), 4);
        assert_eq!(Stats::get(&stats.mqtt_queued), 4);
        let kept: Vec<i64> = std::iter::from_fn(|| q.pop())
            .map(|p| p[0].device_id)
            .collect();
        assert_eq!(kept, [3, 4], "the newest wait");
        assert_eq!(Stats::get(&stats.mqtt_queued), 0);
        q.push(poll(9, 8));
        assert_eq!(
            q.pop().map(|p| p.len()),
            Some(8),
            "a poll larger than the bound still goes"
        );
    }
}
