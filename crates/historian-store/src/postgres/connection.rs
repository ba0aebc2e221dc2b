//! The PostgreSQL store itself: its pool, its mode (TimescaleDB or plain), the device ids
//! it knows, and how driver errors become store errors.

pub(crate) use super::db_error::db_err;
use crate::options::StoreOptions;
use crate::store::{StoreError, error_chain};
use deadpool_postgres::Pool;
use std::collections::HashSet;
use std::sync::RwLock;

/// Connections kept by the pool.
pub(super) const POOL_SIZE: usize = 8;

/// Which flavour of PostgreSQL storage is active, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PgMode {
    /// `readings` is a hypertable.
    TimescaleDb {
        /// Installed extension version.
        version: String,
    },
    /// `readings` is a plain table partitioned by day.
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
    /// The latest hourly roll-up watermark seen (Unix microseconds; plain PostgreSQL):
    /// readings before it make the batch mark the hours it touched.
    pub(super) rollup_watermark: std::sync::atomic::AtomicI64,
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
