//! The batcher: collects readings from every poller and writes them to the store in
//! batches, by size or age, whichever comes first.

use crate::config::IngestConfig;
use crate::latest::LatestCache;
use crate::stats::Stats;
use historian_store::{Reading, Store};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// How long a failing write is retried once polling has stopped, before giving up loudly.
const SHUTDOWN_RETRY_BUDGET: Duration = Duration::from_secs(10);
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Runs until every sender is dropped and the last batch is written.
pub async fn run_batcher(
    mut rx: mpsc::Receiver<Vec<Reading>>,
    store: Arc<dyn Store>,
    cache: Arc<LatestCache>,
    cfg: IngestConfig,
    stats: Arc<Stats>,
) {
    let mut batch: Vec<Reading> = Vec::with_capacity(cfg.batch_size);
    let mut open = true;
    while open {
        let Some(first) = rx.recv().await else {
            break;
        };
        cache.update(&first);
        batch.extend(first);
        let deadline = Instant::now() + cfg.batch_max_age;
        while batch.len() < cfg.batch_size {
            tokio::select! {
                msg = rx.recv() => match msg {
                    Some(m) => {
                        cache.update(&m);
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
        write(&*store, &batch, &stats, !open).await;
        batch.clear();
    }
}

/// Writes one batch, retrying failures with exponential back-off. While polling runs it
/// retries until the store recovers (pollers wait meanwhile: back-pressure); during
/// shutdown it gives up after [`SHUTDOWN_RETRY_BUDGET`] and counts the readings as lost.
async fn write(store: &dyn Store, batch: &[Reading], stats: &Stats, closing: bool) {
    let started = Instant::now();
    let mut backoff = FIRST_BACKOFF;
    loop {
        match store.insert_register_readings_batch(batch).await {
            Ok(outcome) => {
                Stats::add(&stats.readings_stored, outcome.inserted as u64);
                Stats::add(&stats.readings_duplicate, outcome.duplicates as u64);
                Stats::add(&stats.readings_rejected, outcome.rejected.len() as u64);
                Stats::add(&stats.batches_written, 1);
                if let Some(first) = outcome.rejected.first() {
                    tracing::error!(
                        rejected = outcome.rejected.len(),
                        first_reason = %first.reason,
                        device_id = first.reading.device_id,
                        register = %first.reading.register_address,
                        "the store refused readings; the rest of the batch is stored"
                    );
                }
                return;
            }
            Err(e) => {
                Stats::add(&stats.write_errors, 1);
                if closing && started.elapsed() > SHUTDOWN_RETRY_BUDGET {
                    tracing::error!(
                        readings = batch.len(),
                        error = %e,
                        "giving up on a batch at shutdown: these readings are lost"
                    );
                    Stats::add(&stats.readings_lost, batch.len() as u64);
                    return;
                }
                tracing::warn!(readings = batch.len(), error = %e, retry_in = ?backoff, "batch write failed");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}
