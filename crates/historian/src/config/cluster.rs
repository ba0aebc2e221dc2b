//! `[cluster]`: several historians sharing one fleet through their PostgreSQL database.

use super::checker::{Checker, duration};
use super::raw::RawCluster;
use historian_store::StorageUrl;
use std::time::Duration;

/// How long a lease stays valid after its last renewal, by default.
pub const DEFAULT_LEASE_TTL: Duration = Duration::from_secs(3);
/// How often a node renews its leases and claims its share, by default.
pub const DEFAULT_HEARTBEAT: Duration = Duration::from_secs(1);

/// Cluster mode, when enabled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterConfig {
    /// The node's unique name; `None` = host name and API port, resolved at start.
    pub node: Option<String>,
    /// A lease stays valid this long after its last renewal (the database's clock).
    pub lease_ttl: Duration,
    /// How often the node renews, offers and claims.
    pub heartbeat: Duration,
}

impl ClusterConfig {
    /// How long before its lease expires a node stops polling when it cannot renew: its
    /// own clock may run a little fast, and its last poll needs time to finish.
    pub fn safety_margin(&self) -> Duration {
        (self.lease_ttl / 6).max(Duration::from_millis(100))
    }

    /// How far ahead a planned handover is set: the next owner learns of it at its next
    /// heartbeat, and takes over at that instant on the device's grid.
    pub fn handover_lead(&self) -> Duration {
        self.heartbeat * 2
    }
}

/// Checks `[cluster]`; `None` when it is absent or not enabled.
pub(super) fn check_cluster(
    raw: Option<RawCluster>,
    storage: &StorageUrl,
    c: &mut Checker<'_>,
) -> Option<ClusterConfig> {
    let raw = raw?;
    let mut cfg = ClusterConfig {
        node: None,
        lease_ttl: DEFAULT_LEASE_TTL,
        heartbeat: DEFAULT_HEARTBEAT,
    };
    if let Some(t) = &raw.lease_ttl {
        match duration(t) {
            Ok(d) => cfg.lease_ttl = d,
            Err(e) => c.at(None, "cluster.lease_ttl".into(), e),
        }
    }
    if let Some(t) = &raw.heartbeat {
        match duration(t) {
            Ok(d) => cfg.heartbeat = d,
            Err(e) => c.at(None, "cluster.heartbeat".into(), e),
        }
    }
    if let Some(name) = &raw.node {
        let name = name.trim();
        if name.is_empty() || name.len() > 200 {
            c.at(
                None,
                "cluster.node".into(),
                "must be 1-200 characters, unique among the nodes".into(),
            );
        } else {
            cfg.node = Some(name.to_string());
        }
    }
    // An offer must be claimed and reach its instant while the offering node's lease is
    // still valid, and a lease must outlive a missed heartbeat.
    if cfg.lease_ttl <= cfg.handover_lead() + cfg.safety_margin() {
        c.at(
            None,
            "cluster.lease_ttl".into(),
            format!(
                "{:?} is too short for cluster.heartbeat = {:?}: it must exceed two heartbeats \
                 plus the safety margin (lease_ttl / 6)",
                cfg.lease_ttl, cfg.heartbeat
            ),
        );
    }
    if !raw.enabled.unwrap_or(false) {
        return None;
    }
    if matches!(storage, StorageUrl::Sqlite(_)) {
        c.at(
            None,
            "cluster.enabled".into(),
            "cluster mode needs PostgreSQL storage (storage.url = \"postgres://...\"): nodes \
             share their leases through it, and a SQLite file belongs to one machine"
                .into(),
        );
        return None;
    }
    Some(cfg)
}
