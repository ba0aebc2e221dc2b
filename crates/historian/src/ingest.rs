//! Ingest: collects readings from every poller into batches (by size or age, whichever
//! comes first) and makes each batch durable: in the store when it takes writes, else in
//! the on-disk spool, from which a replayer feeds the store, oldest first, once it recovers.
//!
//! ```text
//! pollers ─► channel ─► batcher ─► writer queue ─► writer ─► store
//!                          │  (store down, or        │ (write failed)
//!                          │   writer busy)          ▼
//!                          └───────────────────────► spool ─► replayer ─► store
//! ```
//! Live batches keep going straight to the store while the replayer drains the backlog.
//! A reading is never retried in memory for long: a failed or slow write is spooled, so
//! the batcher (and with it the pollers) never waits on a sick database.

use crate::config::IngestConfig;
use crate::latest::LatestCache;
use crate::redis_latest::RedisLatest;
use crate::spool::{Spool, SpoolError, SpooledBatch, WhenFull};
use crate::stats::Stats;
use historian_retry::RetryPolicy;
use historian_store::{Reading, Store, StoreError};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio::sync::{Notify, mpsc};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Waits between attempts to write a batch the spool cannot take straight to the store:
/// 100 ms doubling up to 5 s.
const STORE_RETRY: RetryPolicy =
    RetryPolicy::exponential(Duration::from_millis(100), Duration::from_secs(5));
/// Waits between replay attempts while the store is down: the same bounds, spread by ±25 %
/// so many historians do not hammer a recovering database in step.
const REPLAY_RETRY: RetryPolicy = STORE_RETRY.with_jitter_percent(25);
/// Batches queued for the writer before further batches are spooled instead: enough to
/// ride out one slow write, small enough that memory stays bounded.
const WRITER_QUEUE: usize = 4;
/// How often a blocked batcher looks again for room in a full spool.
const FULL_RETRY: Duration = Duration::from_millis(200);

/// Everything ingest needs to run.
#[derive(Debug)]
pub struct IngestParts {
    /// Where batches go.
    pub store: Arc<dyn Store>,
    /// Latest values, updated as readings arrive.
    pub cache: Arc<LatestCache>,
    /// Batching and time-outs.
    pub cfg: IngestConfig,
    /// The opened spool (may hold batches from an earlier run).
    pub spool: Spool,
    /// Counters.
    pub stats: Arc<Stats>,
    /// Latest values to Redis, when configured.
    pub redis: Option<RedisLatest>,
    /// Cancelled when polling stops: from then on pending writes have the shutdown budget.
    pub closing: CancellationToken,
}

struct Shared {
    store: Arc<dyn Store>,
    spool: Arc<Mutex<Spool>>,
    when_full: WhenFull,
    stats: Arc<Stats>,
    cfg: IngestConfig,
    store_up: AtomicBool,
    spooled: Notify,
    /// Set once polling stops: writes must finish by then or be spooled.
    deadline: OnceLock<Instant>,
    closing: CancellationToken,
}

/// Runs until every poller's sender is dropped, every polled reading is in the store or
/// the spool, and the spool is synced.
pub async fn run_ingest(rx: mpsc::Receiver<Vec<Reading>>, parts: IngestParts) {
    let when_full = parts.spool.config().when_full;
    let sh = Arc::new(Shared {
        store: parts.store,
        spool: Arc::new(Mutex::new(parts.spool)),
        when_full,
        stats: parts.stats,
        cfg: parts.cfg,
        store_up: AtomicBool::new(true),
        spooled: Notify::new(),
        deadline: OnceLock::new(),
        closing: parts.closing,
    });
    Stats::set(&sh.stats.store_up, 1);
    refresh_figures(&sh).await;
    let stop_replay = CancellationToken::new();
    let replayer = tokio::spawn(replay(Arc::clone(&sh), stop_replay.clone()));
    let (wtx, wrx) = mpsc::channel(WRITER_QUEUE);
    let wrx = Arc::new(tokio::sync::Mutex::new(wrx));
    let writers: Vec<_> = (0..sh.cfg.writers.max(1))
        .map(|_| tokio::spawn(write_live(Arc::clone(&sh), Arc::clone(&wrx))))
        .collect();

    batch(rx, &sh, &parts.cache, parts.redis.as_ref(), wtx).await;
    drop(parts.redis);

    for writer in writers {
        if let Err(e) = writer.await {
            tracing::error!(error = %e, "ingest writer task failed");
        }
    }
    stop_replay.cancel();
    if let Err(e) = replayer.await {
        tracing::error!(error = %e, "spool replayer task failed");
    }
    let spool = Arc::clone(&sh.spool);
    let synced = tokio::task::spawn_blocking(move || match spool.lock() {
        Ok(mut s) => s.sync().map(|()| s.figures()),
        Err(_) => Err(std::io::Error::other("spool lock poisoned")),
    })
    .await;
    match synced {
        Ok(Ok(f)) if f.batches > 0 => tracing::info!(
            batches = f.batches,
            readings = f.readings,
            bytes = f.bytes,
            "readings left in the spool; they are replayed at the next start"
        ),
        Ok(Ok(_)) => {}
        Ok(Err(e)) => tracing::error!(error = %e, "final spool sync failed"),
        Err(e) => tracing::error!(error = %e, "final spool sync task failed"),
    }
}

/// Collects readings into batches and hands each to the writer or the spool.
async fn batch(
    mut rx: mpsc::Receiver<Vec<Reading>>,
    sh: &Arc<Shared>,
    cache: &LatestCache,
    redis: Option<&RedisLatest>,
    wtx: mpsc::Sender<Vec<Reading>>,
) {
    let arrived = |poll: &[Reading]| {
        cache.update(poll);
        if let Some(r) = redis {
            r.offer(poll);
        }
    };
    let cap = sh.cfg.batch_size;
    let mut batch: Vec<Reading> = Vec::with_capacity(cap);
    let mut open = true;
    while open {
        let first = tokio::select! {
            msg = rx.recv() => msg,
            () = sh.closing.cancelled(), if sh.deadline.get().is_none() => {
                start_closing(sh);
                continue;
            }
        };
        let Some(first) = first else {
            break;
        };
        arrived(&first);
        batch.extend(first);
        let deadline = Instant::now() + sh.cfg.batch_max_age;
        while batch.len() < cap {
            tokio::select! {
                msg = rx.recv() => match msg {
                    Some(m) => {
                        arrived(&m);
                        batch.extend(m);
                    }
                    None => {
                        open = false;
                        break;
                    }
                },
                () = tokio::time::sleep_until(deadline) => break,
            }
        }
        let full = std::mem::replace(&mut batch, Vec::with_capacity(cap));
        dispatch(sh, &wtx, full).await;
    }
    start_closing(sh);
}

fn start_closing(sh: &Shared) {
    let _ = sh.deadline.set(Instant::now() + sh.cfg.shutdown_timeout);
}

/// Live path when the store is up and the writer keeps pace; the spool otherwise.
async fn dispatch(sh: &Arc<Shared>, wtx: &mpsc::Sender<Vec<Reading>>, batch: Vec<Reading>) {
    if !sh.store_up.load(Ordering::Relaxed) {
        spool_batch(sh, batch).await;
        return;
    }
    match wtx.try_send(batch) {
        Ok(()) => {}
        Err(mpsc::error::TrySendError::Full(batch)) => {
            tracing::debug!(
                readings = batch.len(),
                "store slower than the pollers; spooling a batch"
            );
            spool_batch(sh, batch).await;
        }
        Err(mpsc::error::TrySendError::Closed(batch)) => spool_batch(sh, batch).await,
    }
}

/// Writes live batches; a failure marks the store down and spools the batch.
/// Several run side by side (`ingest.writers`): PostgreSQL takes concurrent COPYs faster
/// than one session can feed it.
async fn write_live(sh: Arc<Shared>, wrx: Arc<tokio::sync::Mutex<mpsc::Receiver<Vec<Reading>>>>) {
    loop {
        let next = wrx.lock().await.recv().await;
        let Some(batch) = next else {
            break;
        };
        let Some(limit) = write_limit(&sh) else {
            spool_batch(&sh, batch).await;
            continue;
        };
        let started = Instant::now();
        match write_all(&sh, &batch, limit).await {
            Ok(()) => {
                let took = started.elapsed();
                sh.stats.timings.write.record(took);
                metrics::histogram!(crate::telemetry::BATCH_WRITE_SECONDS)
                    .record(took.as_secs_f64());
                metrics::histogram!(crate::telemetry::BATCH_ROWS).record(batch.len() as f64);
                if let Some(oldest) = batch.iter().map(|r| r.timestamp).min() {
                    let age = chrono::Utc::now() - oldest;
                    sh.stats
                        .timings
                        .durable
                        .record(age.to_std().unwrap_or_default());
                }
            }
            Err(e) => {
                Stats::add(&sh.stats.write_errors, 1);
                if sh.store_up.swap(false, Ordering::Relaxed) {
                    tracing::warn!(error = %e, "store write failed; spooling until it recovers");
                }
                Stats::set(&sh.stats.store_up, 0);
                spool_batch(&sh, batch).await;
            }
        }
    }
}

/// How long the next store write may take: the configured time-out, cut to what is left
/// of the shutdown budget once closing; `None` when that budget is spent.
fn write_limit(sh: &Shared) -> Option<Duration> {
    if sh.closing.is_cancelled() {
        start_closing(sh);
    }
    match sh.deadline.get() {
        None => Some(sh.cfg.write_timeout),
        Some(d) => {
            let left = d.saturating_duration_since(Instant::now());
            (!left.is_zero()).then(|| left.min(sh.cfg.write_timeout))
        }
    }
}

/// Writes a batch. Rows the database refuses (not a connection problem) are isolated by
/// halving the batch until each refused row stands alone; they are counted and logged
/// with the reason and the rest is stored. A transient failure ends the attempt; the
/// caller spools or retries the whole batch (rows already stored come back as skipped
/// duplicates, so nothing is stored twice).
async fn write_all(sh: &Shared, batch: &[Reading], limit: Duration) -> Result<(), StoreError> {
    let mut pending: Vec<&[Reading]> = vec![batch];
    while let Some(part) = pending.pop() {
        let started = Instant::now();
        let res = tokio::time::timeout(limit, sh.store.insert_register_readings_batch(part)).await;
        match res {
            Err(_) => {
                return Err(StoreError::database(format!(
                    "write of {} readings timed out after {limit:?}",
                    part.len()
                )));
            }
            Ok(Ok(outcome)) => {
                let s = &sh.stats;
                Stats::add(&s.readings_stored, outcome.inserted as u64);
                Stats::add(&s.readings_duplicate, outcome.duplicates as u64);
                Stats::add(&s.readings_rejected, outcome.rejected.len() as u64);
                Stats::add(&s.batches_written, 1);
                tracing::trace!(rows = part.len(), took = ?started.elapsed(), "batch written");
                if let Some(first) = outcome.rejected.first() {
                    tracing::error!(
                        rejected = outcome.rejected.len(),
                        first_reason = %first.reason,
                        device_id = first.reading.device_id,
                        register = %first.reading.register_address,
                        "the store refused readings; the rest of the batch is stored"
                    );
                }
            }
            Ok(Err(e)) if !e.is_transient() => {
                if let [only] = part {
                    Stats::add(&sh.stats.readings_rejected, 1);
                    tracing::error!(
                        reason = %e,
                        device_id = only.device_id,
                        register = %only.register_address,
                        timestamp = %only.timestamp,
                        "the store refused a reading; it is not stored"
                    );
                } else {
                    let (a, b) = part.split_at(part.len() / 2);
                    pending.push(b);
                    pending.push(a);
                }
            }
            Ok(Err(e)) => return Err(e),
        }
    }
    Ok(())
}

/// Appends a batch to the spool. At the cap: `block` waits for room (the batcher stops
/// taking readings, so pollers wait and count missed polls), `drop_newest` drops the
/// batch and counts it. When the spool itself fails, the batch goes to the store with
/// retries instead. Only at shutdown, with the budget spent and neither the store nor
/// the spool taking the batch, are readings lost (counted, logged as an error).
async fn spool_batch(sh: &Arc<Shared>, batch: Vec<Reading>) {
    let n = batch.len() as u64;
    let batch = Arc::new(batch);
    let mut told_full = false;
    let mut waits = STORE_RETRY.backoff();
    loop {
        let spool = Arc::clone(&sh.spool);
        let b = Arc::clone(&batch);
        let res = tokio::task::spawn_blocking(move || match spool.lock() {
            Ok(mut s) => s.append(&b).map(|_| s.figures()),
            Err(_) => Err(SpoolError::Io {
                path: "spool".into(),
                source: std::io::Error::other("spool lock poisoned"),
            }),
        })
        .await;
        let err = match res {
            Ok(Ok(figures)) => {
                Stats::add(&sh.stats.readings_spooled, n);
                set_figures(&sh.stats, &figures);
                sh.spooled.notify_one();
                if told_full {
                    tracing::info!("spool has room again; polling resumes");
                }
                return;
            }
            Ok(Err(e)) => e,
            Err(join) => SpoolError::Io {
                path: "spool".into(),
                source: std::io::Error::other(join.to_string()),
            },
        };
        match err {
            SpoolError::Full { bytes, max_bytes } => match sh.when_full {
                WhenFull::DropNewest => {
                    Stats::add(&sh.stats.readings_dropped, n);
                    tracing::error!(
                        readings = n,
                        bytes,
                        max_bytes,
                        "spool full (when_full = drop_newest): dropping the newest batch"
                    );
                    return;
                }
                WhenFull::Block => {
                    if !told_full {
                        tracing::error!(
                            bytes,
                            max_bytes,
                            "spool full (when_full = block): holding readings; pollers wait and count missed polls"
                        );
                        told_full = true;
                    }
                }
            },
            SpoolError::Io { .. } => {
                Stats::add(&sh.stats.spool_errors, 1);
                tracing::error!(error = %err, readings = n, "cannot spool a batch; trying the store instead");
            }
        }
        // No room or no disk: the store is the only way left for this batch.
        match write_limit(sh) {
            Some(limit) => {
                if write_all(sh, &batch, limit).await.is_ok() {
                    sh.store_up.store(true, Ordering::Relaxed);
                    Stats::set(&sh.stats.store_up, 1);
                    return;
                }
            }
            None => {
                Stats::add(&sh.stats.readings_lost, n);
                tracing::error!(
                    readings = n,
                    "shutdown budget spent with neither the store nor the spool taking a batch: these readings are lost"
                );
                return;
            }
        }
        let wait = waits.next_delay();
        let pause = if matches!(err, SpoolError::Full { .. }) {
            FULL_RETRY
        } else {
            wait
        };
        tokio::time::sleep(pause).await;
    }
}

/// Feeds spooled batches to the store, oldest first, and marks the store up again when
/// one goes through. Stops at shutdown; what is left waits on disk for the next start.
async fn replay(sh: Arc<Shared>, stop: CancellationToken) {
    let mut waits = REPLAY_RETRY.backoff();
    let mut last_sync = std::time::Instant::now();
    loop {
        if stop.is_cancelled() {
            return;
        }
        if let crate::spool::FsyncPolicy::Interval(every) = spool_fsync(&sh)
            && last_sync.elapsed() >= every
        {
            sync_spool(&sh).await;
            last_sync = std::time::Instant::now();
        }
        let next = next_spooled(&sh).await;
        let batch = match next {
            Ok(Some(b)) => b,
            Ok(None) => {
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = sh.spooled.notified() => {}
                    () = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
                continue;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot read the spool; retrying");
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep(REPLAY_RETRY.max()) => {}
                }
                continue;
            }
        };
        let res = tokio::select! {
            () = stop.cancelled() => {
                rewind(&sh, batch).await;
                return;
            }
            r = write_all(&sh, &batch.readings, sh.cfg.write_timeout) => r,
        };
        match res {
            Ok(()) => {
                waits.reset();
                Stats::add(&sh.stats.readings_replayed, batch.readings.len() as u64);
                ack(&sh, batch).await;
                if !sh.store_up.swap(true, Ordering::Relaxed) {
                    tracing::info!("store takes writes again; replaying the spool");
                }
                Stats::set(&sh.stats.store_up, 1);
            }
            Err(e) => {
                Stats::add(&sh.stats.write_errors, 1);
                sh.store_up.store(false, Ordering::Relaxed);
                Stats::set(&sh.stats.store_up, 0);
                let pause = waits.next_delay();
                tracing::debug!(error = %e, retry_in = ?pause, "spool replay failed");
                rewind(&sh, batch).await;
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep(pause) => {}
                }
            }
        }
    }
}

fn spool_fsync(sh: &Shared) -> crate::spool::FsyncPolicy {
    sh.spool
        .lock()
        .map_or(crate::spool::FsyncPolicy::Always, |s| s.config().fsync)
}

async fn with_spool<T: Send + 'static>(
    sh: &Shared,
    f: impl FnOnce(&mut Spool) -> Result<T, SpoolError> + Send + 'static,
) -> Result<T, SpoolError> {
    let spool = Arc::clone(&sh.spool);
    let stats = Arc::clone(&sh.stats);
    tokio::task::spawn_blocking(move || {
        let mut s = spool.lock().map_err(|_| SpoolError::Io {
            path: "spool".into(),
            source: std::io::Error::other("spool lock poisoned"),
        })?;
        let out = f(&mut s);
        set_figures(&stats, &s.figures());
        out
    })
    .await
    .map_err(|e| SpoolError::Io {
        path: "spool".into(),
        source: std::io::Error::other(e.to_string()),
    })?
}

async fn next_spooled(sh: &Shared) -> Result<Option<SpooledBatch>, SpoolError> {
    with_spool(sh, |s| s.next_batch()).await
}

async fn ack(sh: &Shared, batch: SpooledBatch) {
    if let Err(e) = with_spool(sh, move |s| s.ack(&batch)).await {
        tracing::error!(error = %e, "cannot acknowledge a replayed batch; it may be replayed again (skipped as duplicates)");
    }
}

async fn rewind(sh: &Shared, batch: SpooledBatch) {
    let _ = with_spool(sh, move |s| {
        s.rewind(batch);
        Ok(())
    })
    .await;
}

async fn sync_spool(sh: &Shared) {
    if let Err(e) = with_spool(sh, |s| {
        s.sync().map_err(|source| SpoolError::Io {
            path: s.config().dir.clone(),
            source,
        })
    })
    .await
    {
        tracing::error!(error = %e, "spool fsync failed");
    }
}

async fn refresh_figures(sh: &Shared) {
    let _ = with_spool(sh, |_| Ok(())).await;
}

fn set_figures(stats: &Stats, f: &crate::spool::SpoolFigures) {
    Stats::set(&stats.spool_bytes, f.bytes);
    Stats::set(&stats.spool_batches, f.batches);
    Stats::set(&stats.spool_readings, f.readings);
    let oldest = f
        .oldest
        .map_or(0, |t| u64::try_from(t.timestamp_micros()).unwrap_or(0));
    Stats::set(&stats.spool_oldest_us, oldest);
}
