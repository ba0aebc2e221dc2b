//! Writing one batch to the store: readings the database refuses for good are isolated and
//! counted so the rest of their batch is stored; anything transient fails the attempt.

use super::state::Shared;
use crate::telemetry::events::{BatchStored, Event, ReadingRefused};
use historian_model::Reading;
use historian_store::StoreError;
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
                return Err(StoreError::database(format!(
                    "write of {} readings timed out after {limit:?}",
                    part.len()
                )));
            }
            Ok(Ok(outcome)) => BatchStored {
                rows: part.len(),
                inserted: outcome.inserted,
                duplicates: outcome.duplicates,
                rejected: &outcome.rejected,
                took: started.elapsed(),
            }
            .emit(&sh.stats),
            Ok(Err(e)) if !e.is_transient() => {
                if let [only] = part {
                    ReadingRefused {
                        reading: only,
                        reason: &e,
                    }
                    .emit(&sh.stats);
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
