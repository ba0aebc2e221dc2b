//! The read replica: a pool on a streaming standby that takes history and aggregate reads,
//! a watcher of its replay lag, and the routing that falls back to the primary.

use super::db_error::db_err;
use super::tls::PgLink;
use crate::model::ReplicaStatus;
use crate::options::ReadReplicaOptions;
use crate::store::{StoreError, error_chain};
use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

/// How often the lag is measured: reads look at the last measurement, never query it.
const CHECK_EVERY: Duration = Duration::from_secs(2);
/// A lag query slower than this counts as the replica being down.
const CHECK_TIMEOUT: Duration = Duration::from_secs(5);

/// Replay lag in seconds: 0 when everything received is replayed (an idle primary writes
/// nothing, so the last replayed transaction's age says nothing then) and on a server not in
/// recovery; otherwise the age of the last replayed transaction.
const LAG_SQL: &str = "SELECT CASE \
      WHEN NOT pg_is_in_recovery() THEN 0::float8 \
      WHEN pg_last_wal_receive_lsn() IS NOT DISTINCT FROM pg_last_wal_replay_lsn() THEN 0::float8 \
      ELSE coalesce(extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8, \
                    'Infinity'::float8) END";

/// A streaming replica and what the last lag measurement said about it.
#[derive(Debug)]
pub(super) struct Replica {
    pool: Pool,
    max_lag: Duration,
    /// Reads go here (last measurement within the bound and no failure since).
    usable: AtomicBool,
    /// Last measured lag in seconds (`f64` bits); NaN when it could not be measured.
    lag_bits: AtomicU64,
}

impl Replica {
    /// A pool on the replica (no session is opened yet) and its lag watcher, which starts
    /// at once and ends when the store drops the replica.
    pub(super) fn open(
        options: &ReadReplicaOptions,
        pool_size: usize,
    ) -> Result<Arc<Self>, StoreError> {
        let link = PgLink::new(&options.url)?;
        let manager = Manager::from_config(
            link.config().clone(),
            link.tls(),
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(pool_size)
            .build()
            .map_err(|e| StoreError::open("PostgreSQL read replica pool", e))?;
        let replica = Arc::new(Self {
            pool,
            max_lag: options.max_lag,
            usable: AtomicBool::new(false),
            lag_bits: AtomicU64::new(f64::NAN.to_bits()),
        });
        tokio::spawn(watch(Arc::downgrade(&replica)));
        Ok(replica)
    }

    /// Where reads go now and the last measured lag.
    pub(super) fn status(&self) -> ReplicaStatus {
        let lag = f64::from_bits(self.lag_bits.load(Ordering::Relaxed));
        ReplicaStatus {
            lag_seconds: (!lag.is_nan()).then_some(lag),
            in_use: self.usable.load(Ordering::Relaxed),
        }
    }

    /// Measures the lag once and decides whether reads may go to the replica.
    async fn check(&self) {
        let lag = match tokio::time::timeout(CHECK_TIMEOUT, self.measure()).await {
            Ok(Ok(lag)) => Some(lag),
            Ok(Err(e)) => {
                self.mark_down(&e);
                None
            }
            Err(_) => {
                self.mark_down(&StoreError::database("lag query timed out"));
                None
            }
        };
        self.lag_bits
            .store(lag.unwrap_or(f64::NAN).to_bits(), Ordering::Relaxed);
        let usable = lag.is_some_and(|l| l <= self.max_lag.as_secs_f64());
        let was = self.usable.swap(usable, Ordering::Relaxed);
        if was != usable {
            match lag {
                Some(l) if usable => tracing::info!(lag_s = l, "reads go to the read replica"),
                Some(l) => tracing::warn!(
                    lag_s = l,
                    max_lag_s = self.max_lag.as_secs_f64(),
                    "read replica lags beyond storage.read_max_lag: reads go to the primary"
                ),
                None => {}
            }
        }
    }

    async fn measure(&self) -> Result<f64, StoreError> {
        let client = self.client().await?;
        let row = client.query_one(LAG_SQL, &[]).await.map_err(db_err)?;
        row.try_get(0).map_err(db_err)
    }

    pub(super) async fn client(&self) -> Result<Object, StoreError> {
        self.pool.get().await.map_err(|e| StoreError::Database {
            message: format!("no connection to the read replica: {}", error_chain(&e)),
            source: Some(Box::new(e)),
        })
    }

    /// Sends reads to the primary until the next measurement succeeds.
    pub(super) fn mark_down(&self, why: &StoreError) {
        if self.usable.swap(false, Ordering::Relaxed) {
            tracing::warn!(error = %why, "read replica unavailable: reads go to the primary");
        }
    }
}

/// Measures the lag every [`CHECK_EVERY`] while the replica is in use by a store.
async fn watch(replica: Weak<Replica>) {
    loop {
        let Some(r) = replica.upgrade() else { return };
        r.check().await;
        drop(r);
        tokio::time::sleep(CHECK_EVERY).await;
    }
}
