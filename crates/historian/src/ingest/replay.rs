//! The replayer: feeds spooled batches to the store, oldest first, and marks the store up
//! again when one goes through.

use super::durable::STORE_RETRY;
use super::spooler;
use super::state::Shared;
use super::store_writer::write_all;
use crate::spool::FsyncPolicy;
use crate::telemetry::events::{BatchReplayed, Event, StoreRecovered, StoreWriteFailed};
use historian_retry::RetryPolicy;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Waits between replay attempts while the store is down: the same bounds, spread by ±25 %
/// so many historians do not hammer a recovering database in step.
const REPLAY_RETRY: RetryPolicy = STORE_RETRY.with_jitter_percent(25);

/// Feeds spooled batches to the store, oldest first, and marks the store up again when
/// one goes through. Stops at shutdown; what is left waits on disk for the next start.
pub(super) async fn replay(sh: Arc<Shared>, stop: CancellationToken) {
    let mut waits = REPLAY_RETRY.backoff();
    let mut last_sync = std::time::Instant::now();
    loop {
        if stop.is_cancelled() {
            return;
        }
        if let FsyncPolicy::Interval(every) = spooler::fsync_policy(&sh)
            && last_sync.elapsed() >= every
        {
            spooler::sync_spool(&sh).await;
            last_sync = std::time::Instant::now();
        }
        let next = spooler::next_spooled(&sh).await;
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
                spooler::rewind(&sh, batch).await;
                return;
            }
            r = write_all(&sh, &batch.readings, sh.cfg.write_timeout) => r,
        };
        match res {
            Ok(()) => {
                waits.reset();
                BatchReplayed {
                    readings: batch.readings.len() as u64,
                }
                .emit(&sh.stats);
                spooler::ack(&sh, batch).await;
                StoreRecovered {
                    was_down: !sh.store_up.swap(true, Ordering::Relaxed),
                }
                .emit(&sh.stats);
            }
            Err(e) => {
                sh.store_up.store(false, Ordering::Relaxed);
                let pause = waits.next_delay();
                StoreWriteFailed {
                    error: &e,
                    went_down: false,
                    retry_in: Some(pause),
                }
                .emit(&sh.stats);
                spooler::rewind(&sh, batch).await;
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep(pause) => {}
                }
            }
        }
    }
}
