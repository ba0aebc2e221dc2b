//! The spool as ingest uses it: blocking file work moved off the async threads, and the
//! spool's figures copied to the counters after each change.

use super::state::Shared;
use crate::spool::{FsyncPolicy, Spool, SpoolError, SpoolFigures, SpooledBatch};
use crate::telemetry::events::{Event, SpoolChanged, SpoolDamageSetAside};
use historian_model::Reading;
use std::sync::Arc;

/// Appends a batch (the spool's gauges follow, as after every change).
pub(super) async fn append(sh: &Shared, batch: Arc<Vec<Reading>>) -> Result<(), SpoolError> {
    with_spool(sh, move |s| s.append(&batch).map(|_| ())).await
}

/// How often the spool is synced to disk.
pub(super) fn fsync_policy(sh: &Shared) -> FsyncPolicy {
    sh.spool
        .lock()
        .map_or(FsyncPolicy::Always, |s| s.config().fsync)
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
        for aside in s.take_set_aside() {
            SpoolDamageSetAside(&aside).emit(&stats);
        }
        SpoolChanged(&s.figures()).emit(&stats);
        out
    })
    .await
    .map_err(|e| SpoolError::Io {
        path: "spool".into(),
        source: std::io::Error::other(e.to_string()),
    })?
}

/// The oldest batch not yet handed out.
pub(super) async fn next_spooled(sh: &Shared) -> Result<Option<SpooledBatch>, SpoolError> {
    with_spool(sh, |s| s.next_batch()).await
}

/// Drops a replayed batch from the spool.
pub(super) async fn ack(sh: &Shared, batch: SpooledBatch) {
    if let Err(e) = with_spool(sh, move |s| s.ack(&batch)).await {
        tracing::error!(error = %e, "cannot acknowledge a replayed batch; it may be replayed again (skipped as duplicates)");
    }
}

/// Hands a batch out again later (its replay failed or was stopped).
pub(super) async fn rewind(sh: &Shared, batch: SpooledBatch) {
    let _ = with_spool(sh, move |s| {
        s.rewind(batch);
        Ok(())
    })
    .await;
}

/// Syncs the spool's files to disk; the spool's figures after it.
pub(super) async fn sync(sh: &Shared) -> Result<SpoolFigures, SpoolError> {
    with_spool(sh, |s| {
        s.sync().map_err(|source| SpoolError::Io {
            path: s.config().dir.clone(),
            source,
        })?;
        Ok(s.figures())
    })
    .await
}

/// Syncs the spool's files to disk, logging a failure (the next sync tries again).
pub(super) async fn sync_spool(sh: &Shared) {
    if let Err(e) = sync(sh).await {
        tracing::error!(error = %e, "spool fsync failed");
    }
}

/// Copies the spool's figures to the counters.
pub(super) async fn refresh_figures(sh: &Shared) {
    let _ = with_spool(sh, |_| Ok(())).await;
}
