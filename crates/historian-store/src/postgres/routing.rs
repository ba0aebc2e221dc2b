//! Which server a read runs on: history and aggregates on the read replica while it is
//! usable, everything else on the primary.

use super::connection::PostgresStore;
use crate::model::ReplicaStatus;
use crate::store::StoreError;
use deadpool_postgres::Object;
use std::future::Future;

impl PostgresStore {
    /// Runs a history or aggregate read on the replica when it is usable, else on the
    /// primary; a read the replica fails for a reason other than the data is run once more
    /// on the primary, so a replica going away fails no request.
    pub(super) async fn read<T, F, Fut>(&self, run: F) -> Result<T, StoreError>
    where
        F: Fn(Object) -> Fut,
        Fut: Future<Output = Result<T, StoreError>>,
    {
        if let Some(replica) = self.replica.as_ref().filter(|r| r.status().in_use) {
            let outcome = match replica.client().await {
                Ok(client) => run(client).await,
                Err(e) => Err(e),
            };
            match outcome {
                Ok(value) => return Ok(value),
                Err(e) if !e.is_transient() => return Err(e),
                Err(e) => replica.mark_down(&e),
            }
        }
        run(self.client().await?).await
    }

    /// The read replica's state, when one is configured.
    pub fn replica_status(&self) -> Option<ReplicaStatus> {
        self.replica.as_ref().map(|r| r.status())
    }
}
