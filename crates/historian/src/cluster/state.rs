//! This node's part in the cluster, shared by the keeper, the supervisor and the API.

use super::gate::{self, LeaseGate};
use crate::config::ClusterConfig;
use historian_store::StoreError;
use historian_store::postgres::{ClusterView, LeaseSession, NodeInfo};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Changes of owner shown by `GET /api/cluster`.
pub const LAST_CHANGES: i64 = 20;

/// This node's part in the cluster, shared by the keeper, the supervisor and the API.
#[derive(Debug)]
pub struct Cluster {
    /// Lease timing.
    pub config: ClusterConfig,
    /// How the other nodes know this one.
    pub node: NodeInfo,
    pub(super) url: String,
    pub(super) gates: Mutex<HashMap<i64, Arc<LeaseGate>>>,
    /// Woken when the set of devices this node may poll changes, or a poller stopped.
    pub(super) wake: Arc<Notify>,
    /// A session for the API's reads of the cluster tables.
    view: tokio::sync::Mutex<LeaseSession>,
    /// Cancelled when the node should hand its devices over and leave.
    pub(super) leave: CancellationToken,
}

impl Cluster {
    /// This node, on the database at `url`.
    pub fn new(config: ClusterConfig, node: NodeInfo, url: &str) -> Result<Arc<Self>, StoreError> {
        Ok(Arc::new(Self {
            config,
            node,
            url: url.to_string(),
            gates: Mutex::new(HashMap::new()),
            wake: Arc::new(Notify::new()),
            view: tokio::sync::Mutex::new(LeaseSession::new(url)?),
            leave: CancellationToken::new(),
        }))
    }

    pub(super) fn gates(&self) -> std::sync::MutexGuard<'_, HashMap<i64, Arc<LeaseGate>>> {
        self.gates
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The gate of `device`, when this node holds or is handing over its lease.
    pub fn gate(&self, device: i64) -> Option<Arc<LeaseGate>> {
        self.gates().get(&device).cloned()
    }

    /// True when a poller should run here for `device` now.
    pub fn wants_poller(&self, device: i64) -> bool {
        self.gate(device)
            .is_some_and(|g| g.wants_poller(Instant::now(), gate::wall_now_us()))
    }

    /// Devices whose lease this node holds (valid by its clock).
    pub fn held(&self) -> usize {
        let now = Instant::now();
        self.gates().values().filter(|g| g.valid_at(now)).count()
    }

    /// Woken whenever [`Cluster::wants_poller`] may have changed.
    pub fn changes(&self) -> Arc<Notify> {
        Arc::clone(&self.wake)
    }

    /// Asks the keeper to hand every device over and leave (see [`run`]).
    pub fn start_leaving(&self) {
        self.leave.cancel();
    }

    /// The cluster tables as they are now.
    pub async fn view(&self) -> Result<ClusterView, StoreError> {
        self.view.lock().await.view(LAST_CHANGES).await
    }
}
