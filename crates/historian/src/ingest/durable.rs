//! The durable sink: every batch ends up in the store or, while the store is down or
//! slower than the pollers, in the spool, which the replayer drains into the store. It is
//! the one sink that may hold the pollers back (a full spool with `when_full = "block"`).

use super::spooler;
use super::state::Shared;
use super::store_writer::write_all;
use crate::spool::{SpoolError, WhenFull};
use crate::telemetry::events::{
    BatchSpooled, Event, LiveBatchDurable, ReadingsLost, SpoolFailed, SpoolFull, StoreRecovered,
    StoreWriteFailed,
};
use historian_model::Reading;
use historian_retry::RetryPolicy;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Waits between attempts to write a batch the spool cannot take straight to the store:
/// 100 ms doubling up to 5 s.
pub(super) const STORE_RETRY: RetryPolicy =
    RetryPolicy::exponential(Duration::from_millis(100), Duration::from_secs(5));
/// Batches queued for the writer before further batches are spooled instead: enough to
/// ride out one slow write, small enough that memory stays bounded.
pub(super) const WRITER_QUEUE: usize = 4;
/// How often a blocked batcher looks again for room in a full spool.
const FULL_RETRY: Duration = Duration::from_millis(200);

/// Live path when the store is up and the writer keeps pace; the spool otherwise.
pub(super) async fn dispatch(sh: &Shared, wtx: &mpsc::Sender<Vec<Reading>>, batch: Vec<Reading>) {
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
pub(super) async fn write_live(
    sh: Arc<Shared>,
    wrx: Arc<tokio::sync::Mutex<mpsc::Receiver<Vec<Reading>>>>,
) {
    loop {
        let next = wrx.lock().await.recv().await;
        let Some(batch) = next else {
            break;
        };
        let Some(limit) = sh.write_limit() else {
            spool_batch(&sh, batch).await;
            continue;
        };
        let started = Instant::now();
        match write_all(&sh, &batch, limit).await {
            Ok(()) => LiveBatchDurable {
                batch: &batch,
                took: started.elapsed(),
            }
            .emit(&sh.stats),
            Err(e) => {
                StoreWriteFailed {
                    error: &e,
                    went_down: sh.store_up.swap(false, Ordering::Relaxed),
                    retry_in: None,
                }
                .emit(&sh.stats);
                spool_batch(&sh, batch).await;
            }
        }
    }
}

/// Appends a batch to the spool. At the cap: `block` waits for room (the batcher stops
/// taking readings, so pollers wait and count missed polls), `drop_newest` drops the
/// batch and counts it. When the spool itself fails, the batch goes to the store with
/// retries instead. Only at shutdown, with the budget spent and neither the store nor
/// the spool taking the batch, are readings lost (counted, logged as an error).
pub(super) async fn spool_batch(sh: &Shared, batch: Vec<Reading>) {
    let n = batch.len() as u64;
    let batch = Arc::new(batch);
    let mut told_full = false;
    let mut waits = STORE_RETRY.backoff();
    loop {
        let res = spooler::append(sh, Arc::clone(&batch)).await;
        let err = match res {
            Ok(()) => {
                BatchSpooled {
                    readings: n,
                    was_full: told_full,
                }
                .emit(&sh.stats);
                sh.spooled.notify_one();
                return;
            }
            Err(e) => e,
        };
        match err {
            SpoolError::Full { bytes, max_bytes } => {
                let dropped = sh.when_full == WhenFull::DropNewest;
                if dropped || !told_full {
                    SpoolFull {
                        readings: n,
                        bytes,
                        max_bytes,
                        dropped,
                    }
                    .emit(&sh.stats);
                }
                if dropped {
                    return;
                }
                told_full = true;
            }
            SpoolError::Io { .. } => SpoolFailed {
                error: &err,
                readings: n,
            }
            .emit(&sh.stats),
        }
        // No room or no disk: the store is the only way left for this batch.
        match sh.write_limit() {
            Some(limit) => {
                if write_all(sh, &batch, limit).await.is_ok() {
                    sh.store_up.store(true, Ordering::Relaxed);
                    StoreRecovered { was_down: false }.emit(&sh.stats);
                    return;
                }
            }
            None => {
                ReadingsLost { readings: n }.emit(&sh.stats);
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
