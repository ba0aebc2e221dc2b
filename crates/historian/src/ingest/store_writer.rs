//! Writing one batch to the store: readings the database refuses for good are isolated and
//! counted so the rest of their batch is stored; anything transient fails the attempt.

use super::state::Shared;
use crate::stats::Stats;
use historian_store::{Reading, StoreError};
use std::time::Duration;
use tokio::time::Instant;

/// Writes a batch. Rows the database refuses (not a connection problem) are isolated by
/// halving the batch until each refused row stands alone; they are counted and logged
/// with the reason and the rest is stored. A transient failure ends the attempt; the
/// caller spools or retries the whole batch (rows already stored come back as skipped
/// duplicates, so nothing is stored twice).
pub(super) async fn write_all(
    sh: &Shared,
    batch: &[Reading],
    limit: Duration,
) -> Result<(), StoreError> {
    let mut pending: Vec<&[Reading]> = vec![batch];
    while let Some(part) = pending.pop() {
        let started = Instant::now();
        let res = tokio::time::timeout(limit, sh.store.insert_register_readings_batch(part)).await;
        match res {
            Err(_) => {
                return Err(StoreError::Database(format!(
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
