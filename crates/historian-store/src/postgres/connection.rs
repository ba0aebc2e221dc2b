//! The PostgreSQL store itself: its pool, its mode (TimescaleDB or plain), the device ids
//! it knows, and how driver errors become store errors.

use crate::options::StoreOptions;
use crate::store::{ErrorSource, StoreError, error_chain};
use deadpool_postgres::Pool;
use std::collections::HashSet;
use std::sync::RwLock;

/// Connections kept by the pool.
pub(super) const POOL_SIZE: usize = 8;

/// Which flavour of PostgreSQL storage is active, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PgMode {
    /// `register_readings` is a hypertable.
    TimescaleDb {
        /// Installed extension version.
        version: String,
    },
    /// `register_readings` is a plain table partitioned by day.
    Plain {
        /// Why TimescaleDB is not in use.
        reason: String,
    },
}

/// A PostgreSQL-backed [`Store`].
#[derive(Debug)]
pub struct PostgresStore {
    pub(super) pool: Pool,
    pub(super) mode: PgMode,
    pub(super) options: StoreOptions,
    /// Known device ids: rows for other ids are refused before they can abort a COPY.
    pub(super) device_ids: RwLock<HashSet<i64>>,
    /// For sessions outside the pool (LISTEN).
    pub(super) link: super::tls::PgLink,
    /// Where history and aggregate reads go when it is healthy.
    pub(super) replica: Option<std::sync::Arc<super::replica::Replica>>,
}

/// A driver error as a store error, its causes flattened into the message.
pub(crate) fn db_err<E: std::error::Error + Send + Sync + 'static>(e: E) -> StoreError {
    // SQLSTATE classes 22 (data exception) and 23 (integrity constraint) blame the rows,
    // not the connection: retrying them cannot help.
    let refused = (&e as &dyn std::error::Error)
        .downcast_ref::<tokio_postgres::Error>()
        .and_then(|pg| pg.code())
        .is_some_and(|c| c.code().starts_with("22") || c.code().starts_with("23"));
    let message = error_chain(&e);
    let source: Option<ErrorSource> = Some(Box::new(e));
    if refused {
        StoreError::Refused { message, source }
    } else {
        StoreError::Database { message, source }
    }
}

impl PostgresStore {
    /// The active storage mode.
    pub fn mode(&self) -> &PgMode {
        &self.mode
    }

    /// The options the store was opened with.
    pub fn options(&self) -> &StoreOptions {
        &self.options
    }

    pub(crate) async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        self.pool.get().await.map_err(|e| StoreError::Database {
            message: format!("no connection: {}", error_chain(&e)),
            source: Some(Box::new(e)),
        })
    }
}
