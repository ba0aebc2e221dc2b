//! What every ingest stage shares: the store and the spool, whether the store takes
//! writes, and the shutdown budget.

use crate::config::IngestConfig;
use crate::spool::{Spool, WhenFull};
use crate::stats::Stats;
use historian_store::Store;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// The durable path's state, shared by the batcher, the writers and the replayer.
pub(super) struct Shared {
    pub(super) store: Arc<dyn Store>,
    pub(super) spool: Arc<Mutex<Spool>>,
    pub(super) when_full: WhenFull,
    pub(super) stats: Arc<Stats>,
    pub(super) cfg: IngestConfig,
    /// False from a failed write until a write goes through again; batches go to the
    /// spool meanwhile.
    pub(super) store_up: AtomicBool,
    /// Woken when a batch is spooled, so the replayer need not poll an empty spool.
    pub(super) spooled: Notify,
    /// Set once polling stops: writes must finish by then or be spooled.
    pub(super) deadline: OnceLock<Instant>,
    pub(super) closing: CancellationToken,
}

impl Shared {
    /// Starts the shutdown budget (once).
    pub(super) fn start_closing(&self) {
        let _ = self
            .deadline
            .set(Instant::now() + self.cfg.shutdown_timeout);
    }

    /// How long the next store write may take: the configured time-out, cut to what is left
    /// of the shutdown budget once closing; `None` when that budget is spent.
    pub(super) fn write_limit(&self) -> Option<Duration> {
        if self.closing.is_cancelled() {
            self.start_closing();
        }
        match self.deadline.get() {
            None => Some(self.cfg.write_timeout),
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                (!left.is_zero()).then(|| left.min(self.cfg.write_timeout))
            }
        }
    }
}
