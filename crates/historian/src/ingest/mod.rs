//! Ingest: collects readings from every poller into batches (by size or age, whichever
//! comes first) and makes each batch durable: in the store when it takes writes, else in
//! the on-disk spool, from which a replayer feeds the store, oldest first, once it recovers.
//!
//! ```text
//! pollers ─► channel ─► batcher ─┬─► poll sinks (latest cache, Redis, ...): each poll as
//!                                │   it arrives; never wait, skip and count when behind
//!                                └─► durable sink: batches
//!                                      writer queue ─► writer ─► store
//!                                        │ (store down,  │ (write failed)
//!                                        │  writer busy) ▼
//!                                        └──────────► spool ─► replayer ─► store
//! ```
//! Adding a poll sink is one file implementing [`PollSink`] and one line where the
//! historian builds [`IngestParts::sinks`].
//! Live batches keep going straight to the store while the replayer drains the backlog.
//! A reading is never retried in memory for long: a failed or slow write is spooled, so
//! the batcher (and with it the pollers) never waits on a sick database.

use crate::config::IngestConfig;
mod batcher;
mod durable;
mod latest;
pub mod mqtt;
pub mod redis;
mod replay;
mod sink;
mod spooler;
mod state;
mod store_writer;

pub use sink::{Backpressure, PollSink};

use crate::spool::Spool;
use crate::stats::Stats;
use crate::telemetry::events::{Event, StoreRecovered};
use historian_model::Reading;
use historian_store::Store;
use state::Shared;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, OnceLock};
use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;

/// Everything ingest needs to run.
#[derive(Debug)]
pub struct IngestParts {
    /// Where batches go.
    pub store: Arc<dyn Store>,
    /// Sinks offered every poll as it arrives, besides the durable store (latest values,
    /// Redis, ...); each copes with its own back-pressure and never holds the pollers.
    pub sinks: Vec<Arc<dyn PollSink>>,
    /// Batching and time-outs.
    pub cfg: IngestConfig,
    /// The opened spool (may hold batches from an earlier run).
    pub spool: Spool,
    /// Counters.
    pub stats: Arc<Stats>,
    /// Cancelled when polling stops: from then on pending writes have the shutdown budget.
    pub closing: CancellationToken,
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
    StoreRecovered { was_down: false }.emit(&sh.stats);
    spooler::refresh_figures(&sh).await;
    let stop_replay = CancellationToken::new();
    let replayer = tokio::spawn(replay::replay(Arc::clone(&sh), stop_replay.clone()));
    let (wtx, wrx) = mpsc::channel(durable::WRITER_QUEUE);
    let wrx = Arc::new(tokio::sync::Mutex::new(wrx));
    let writers: Vec<_> = (0..sh.cfg.writers.max(1))
        .map(|_| tokio::spawn(durable::write_live(Arc::clone(&sh), Arc::clone(&wrx))))
        .collect();

    batcher::batch(rx, &sh, &parts.sinks, wtx).await;
    // Sinks with a task of their own (Redis) end once their last handle is gone.
    drop(parts.sinks);

    for writer in writers {
        if let Err(e) = writer.await {
            tracing::error!(error = %e, "ingest writer task failed");
        }
    }
    stop_replay.cancel();
    if let Err(e) = replayer.await {
        tracing::error!(error = %e, "spool replayer task failed");
    }
    match spooler::sync(&sh).await {
        Ok(f) if f.batches > 0 => tracing::info!(
            batches = f.batches,
            readings = f.readings,
            bytes = f.bytes,
            "readings left in the spool; they are replayed at the next start"
        ),
        Ok(_) => {}
        Err(e) => tracing::error!(error = %e, "final spool sync failed"),
    }
}
