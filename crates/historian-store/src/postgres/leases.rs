//! Device leases shared by the historians of one fleet (tables of migration V010): each node
//! renews what it holds, offers what it should give up, and claims up to its fair share, in
//! five statements per heartbeat whatever the number of devices.

use super::connection::db_err;
use super::tls::PgLink;
use crate::store::StoreError;
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::time::Duration;
use tokio_postgres::Client;

/// How a node is known to the others.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeInfo {
    /// Unique node name.
    pub name: String,
    /// Where its API listens.
    pub api_address: String,
    /// The historian's version.
    pub version: String,
}

/// What one heartbeat asks for.
#[derive(Debug, Clone, Copy)]
pub struct HeartbeatRequest<'a> {
    /// Devices this node can poll (enabled, with registers).
    pub wanted: &'a [i64],
    /// Devices this node offers to others (it polls them until their handover instant).
    pub offer: &'a [i64],
    /// True from the node's second heartbeat on: the first only announces the node, so
    /// that nodes starting together see each other before they share out the devices.
    pub claim: bool,
    /// The node is stopping: it claims nothing and other nodes stop counting it.
    pub leaving: bool,
    /// True for the first heartbeat of this process (restarts the node's `started_at`).
    pub first: bool,
    /// How long a lease stays valid after a renewal.
    pub ttl: Duration,
    /// How far ahead of now an offer's handover instant is kept.
    pub handover_lead: Duration,
}

/// How a lease came to its owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaseChange {
    /// It had no owner.
    Claim,
    /// Its owner offered it (a planned handover).
    Handover,
    /// Its owner's lease had expired.
    Failover,
}

impl LeaseChange {
    fn parse(s: &str) -> Option<Self> {
        match s {
            "claim" => Some(Self::Claim),
            "handover" => Some(Self::Handover),
            "failover" => Some(Self::Failover),
            _ => None,
        }
    }

    /// The name stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Claim => "claim",
            Self::Handover => "handover",
            Self::Failover => "failover",
        }
    }
}

/// A lease this node holds after the heartbeat.
#[derive(Debug, Clone, PartialEq)]
pub struct HeldLease {
    /// The device.
    pub device_id: i64,
    /// Grows at every change of owner.
    pub fencing: i64,
    /// Slots from this instant on are this node's (a handover's instant, or the claim).
    pub valid_from: Option<DateTime<Utc>>,
    /// When offered: the slots from this instant on are no longer this node's.
    pub handover_at: Option<DateTime<Utc>>,
    /// Set when the lease was claimed in this heartbeat, and how.
    pub change: Option<LeaseChange>,
}

/// What one heartbeat found.
#[derive(Debug, Clone, Default)]
pub struct HeartbeatOutcome {
    /// Every lease the node holds now (renewed and newly claimed).
    pub held: Vec<HeldLease>,
    /// Nodes alive and not leaving.
    pub nodes_alive: i64,
    /// Devices with a lease row (enabled ones that some node can poll).
    pub devices: i64,
    /// Devices whose lease has no valid owner.
    pub unowned: i64,
}

/// One node as the cluster table shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeRow {
    /// Unique name.
    pub name: String,
    /// Where its API listens.
    pub api_address: String,
    /// Its version.
    pub version: String,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// Its last heartbeat.
    pub heartbeat_at: DateTime<Utc>,
    /// `active`, `leaving`, or `dead` once its heartbeat has expired.
    pub state: String,
    /// Devices it holds a valid lease on.
    pub devices_held: i64,
}

/// One change of owner.
#[derive(Debug, Clone, PartialEq)]
pub struct OwnerChange {
    /// The device.
    pub device_id: i64,
    /// The owner before (none for a first claim).
    pub from: Option<String>,
    /// The owner after.
    pub to: String,
    /// When.
    pub at: DateTime<Utc>,
    /// `claim`, `handover` or `failover`.
    pub kind: String,
    /// The fencing number after the change.
    pub fencing: i64,
}

/// The whole cluster as the database sees it now.
#[derive(Debug, Clone, Default)]
pub struct ClusterView {
    /// Every node that ever joined, newest heartbeat first.
    pub nodes: Vec<NodeRow>,
    /// Each leased device's valid owner (devices without one are absent).
    pub owners: HashMap<i64, String>,
    /// Devices with a lease row.
    pub devices: i64,
    /// Devices without a valid owner.
    pub unowned: i64,
    /// The latest changes of owner, newest first.
    pub last_changes: Vec<OwnerChange>,
}

/// A session of its own for lease traffic, so that renewals never queue behind readings
/// in the pool; reopened on the next call after it breaks.
#[derive(Debug)]
pub struct LeaseSession {
    link: PgLink,
    client: Option<Client>,
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

const UPSERT_NODE: &str = "\
INSERT INTO cluster_nodes (name, api_address, version, started_at, heartbeat_at, expires_at, state)
VALUES ($1, $2, $3, now(), now(), now() + make_interval(secs => $4), $5)
ON CONFLICT (name) DO UPDATE SET
    api_address = EXCLUDED.api_address,
    version = EXCLUDED.version,
    heartbeat_at = now(),
    expires_at = EXCLUDED.expires_at,
    state = EXCLUDED.state,
    started_at = CASE WHEN $6 THEN now() ELSE cluster_nodes.started_at END";

/// Lease rows for the devices some node can poll; none for disabled devices.
const LEASE_ROWS: &str = "\
WITH added AS (
    INSERT INTO device_leases (device_id) SELECT unnest($1::bigint[]) ON CONFLICT DO NOTHING
)
DELETE FROM device_leases l USING devices d WHERE l.device_id = d.id AND NOT d.enabled";

/// Renews every lease of the node; keeps the handover instant of each offered device at
/// least the lead ahead (an unclaimed offer must not run out) and withdraws the others.
const RENEW: &str = "\
UPDATE device_leases SET
    expires_at = now() + make_interval(secs => $2),
    handover_at = CASE WHEN device_id = ANY($3::bigint[])
        THEN greatest(handover_at, now() + make_interval(secs => $4)) END
WHERE owner = $1
RETURNING device_id, fencing, valid_from, handover_at";

/// Claims up to the node's fair share: free or expired leases first, then offers of other
/// nodes, whose handover instant becomes the claimer's first slot.
const CLAIM: &str = "\
WITH live AS (
    SELECT count(*) AS n FROM cluster_nodes WHERE expires_at > now() AND state = 'active'
), total AS (
    SELECT count(*) AS n FROM device_leases
), mine AS (
    SELECT count(*) AS n FROM device_leases WHERE owner = $1 AND handover_at IS NULL
), room AS (
    SELECT greatest(0, ceil(total.n::numeric / greatest(live.n, 1))::bigint - mine.n) AS n
    FROM live, total, mine
), cand AS (
    SELECT device_id FROM device_leases
    WHERE device_id = ANY($2::bigint[])
      AND (owner IS NULL OR expires_at <= now() OR (handover_at IS NOT NULL AND owner <> $1))
    ORDER BY (owner IS NOT NULL AND expires_at > now()), device_id
    LIMIT (SELECT n FROM room)
    FOR UPDATE SKIP LOCKED
)
UPDATE device_leases l SET
    owner = $1,
    previous_owner = l.owner,
    fencing = l.fencing + 1,
    changed_at = now(),
    valid_from = CASE WHEN l.owner IS NOT NULL AND l.expires_at > now()
        THEN l.handover_at ELSE now() END,
    change_kind = CASE WHEN l.owner IS NULL THEN 'claim'
        WHEN l.expires_at > now() THEN 'handover' ELSE 'failover' END,
    expires_at = now() + make_interval(secs => $3),
    handover_at = NULL
FROM cand WHERE l.device_id = cand.device_id
RETURNING l.device_id, l.fencing, l.valid_from, l.change_kind";

const COUNTS: &str = "\
SELECT (SELECT count(*) FROM cluster_nodes WHERE expires_at > now() AND state = 'active'),
       (SELECT count(*) FROM device_leases),
       (SELECT count(*) FROM device_leases WHERE owner IS NULL OR expires_at <= now())";

impl LeaseSession {
    /// A session to the database at `url`, opened on first use.
    pub fn new(url: &str) -> Result<Self, StoreError> {
        Ok(Self {
            link: PgLink::new(url)?,
            client: None,
        })
    }

    async fn client(&mut self) -> Result<&Client, StoreError> {
        if self.client.as_ref().is_none_or(Client::is_closed) {
            self.client = Some(self.link.connect().await?);
        }
        self.client.as_ref().ok_or_else(|| StoreError::Database {
            message: "no lease session".into(),
            source: None,
        })
    }

    /// Forgets a session that failed, so that the next call opens a new one.
    fn check<T>(&mut self, got: Result<T, StoreError>) -> Result<T, StoreError> {
        if got.is_err() {
            self.client = None;
        }
        got
    }

    /// One heartbeat of `node`: announce it, keep the lease rows in line with the devices,
    /// renew, offer, and claim up to the fair share.
    pub async fn heartbeat(
        &mut self,
        node: &NodeInfo,
        req: HeartbeatRequest<'_>,
    ) -> Result<HeartbeatOutcome, StoreError> {
        let got = self.heartbeat_inner(node, req).await;
        self.check(got)
    }

    async fn heartbeat_inner(
        &mut self,
        node: &NodeInfo,
        req: HeartbeatRequest<'_>,
    ) -> Result<HeartbeatOutcome, StoreError> {
        let client = self.client().await?;
        let state = if req.leaving { "leaving" } else { "active" };
        client
            .execute(
                UPSERT_NODE,
                &[
                    &node.name,
                    &node.api_address,
                    &node.version,
                    &secs(req.ttl),
                    &state,
                    &req.first,
                ],
            )
            .await
            .map_err(db_err)?;
        client
            .execute(LEASE_ROWS, &[&req.wanted])
            .await
            .map_err(db_err)?;
        let mut held: Vec<HeldLease> = client
            .query(
                RENEW,
                &[
                    &node.name,
                    &secs(req.ttl),
                    &req.offer,
                    &secs(req.handover_lead),
                ],
            )
            .await
            .map_err(db_err)?
            .iter()
            .map(|r| {
                Ok(HeldLease {
                    device_id: r.try_get(0)?,
                    fencing: r.try_get(1)?,
                    valid_from: r.try_get(2)?,
                    handover_at: r.try_get(3)?,
                    change: None,
                })
            })
            .collect::<Result<_, tokio_postgres::Error>>()
            .map_err(db_err)?;
        if req.claim && !req.leaving {
            let claimed = client
                .query(CLAIM, &[&node.name, &req.wanted, &secs(req.ttl)])
                .await
                .map_err(db_err)?;
            for r in &claimed {
                let kind: Option<String> = r.try_get(3).map_err(db_err)?;
                held.push(HeldLease {
                    device_id: r.try_get(0).map_err(db_err)?,
                    fencing: r.try_get(1).map_err(db_err)?,
                    valid_from: r.try_get(2).map_err(db_err)?,
                    handover_at: None,
                    change: kind.as_deref().and_then(LeaseChange::parse),
                });
            }
        }
        let row = client.query_one(COUNTS, &[]).await.map_err(db_err)?;
        Ok(HeartbeatOutcome {
            held,
            nodes_alive: row.try_get(0).map_err(db_err)?,
            devices: row.try_get(1).map_err(db_err)?,
            unowned: row.try_get(2).map_err(db_err)?,
        })
    }

    /// The node stops: its remaining leases are freed and it leaves the node table.
    pub async fn leave(&mut self, node: &str) -> Result<(), StoreError> {
        let got = async {
            let client = self.client().await?;
            client
                .execute(
                    "UPDATE device_leases SET owner = NULL, expires_at = NULL, \
                     handover_at = NULL WHERE owner = $1",
                    &[&node],
                )
                .await
                .map_err(db_err)?;
            client
                .execute("DELETE FROM cluster_nodes WHERE name = $1", &[&node])
                .await
                .map_err(db_err)?;
            Ok(())
        }
        .await;
        self.check(got)
    }

    /// The nodes, the owner of every device, and the latest `changes` changes of owner.
    pub async fn view(&mut self, changes: i64) -> Result<ClusterView, StoreError> {
        let got = self.view_inner(changes).await;
        self.check(got)
    }

    async fn view_inner(&mut self, changes: i64) -> Result<ClusterView, StoreError> {
        let client = self.client().await?;
        let nodes = client
            .query(
                "SELECT n.name, n.api_address, n.version, n.started_at, n.heartbeat_at, \
                   CASE WHEN n.expires_at <= now() THEN 'dead' ELSE n.state END, \
                   (SELECT count(*) FROM device_leases l \
                    WHERE l.owner = n.name AND l.expires_at > now()) \
                 FROM cluster_nodes n ORDER BY n.heartbeat_at DESC, n.name",
                &[],
            )
            .await
            .map_err(db_err)?
            .iter()
            .map(|r| {
                Ok(NodeRow {
                    name: r.try_get(0)?,
                    api_address: r.try_get(1)?,
                    version: r.try_get(2)?,
                    started_at: r.try_get(3)?,
                    heartbeat_at: r.try_get(4)?,
                    state: r.try_get(5)?,
                    devices_held: r.try_get(6)?,
                })
            })
            .collect::<Result<Vec<_>, tokio_postgres::Error>>()
            .map_err(db_err)?;
        let mut owners = HashMap::new();
        for r in client
            .query(
                "SELECT device_id, owner FROM device_leases \
                 WHERE owner IS NOT NULL AND expires_at > now()",
                &[],
            )
            .await
            .map_err(db_err)?
        {
            owners.insert(
                r.try_get::<_, i64>(0).map_err(db_err)?,
                r.try_get::<_, String>(1).map_err(db_err)?,
            );
        }
        let last_changes = client
            .query(
                "SELECT device_id, previous_owner, owner, changed_at, change_kind, fencing \
                 FROM device_leases WHERE changed_at IS NOT NULL AND owner IS NOT NULL \
                 ORDER BY changed_at DESC, device_id LIMIT $1",
                &[&changes],
            )
            .await
            .map_err(db_err)?
            .iter()
            .map(|r| {
                Ok(OwnerChange {
                    device_id: r.try_get(0)?,
                    from: r.try_get(1)?,
                    to: r.try_get(2)?,
                    at: r.try_get(3)?,
                    kind: r.try_get::<_, Option<String>>(4)?.unwrap_or_default(),
                    fencing: r.try_get(5)?,
                })
            })
            .collect::<Result<Vec<_>, tokio_postgres::Error>>()
            .map_err(db_err)?;
        let row = client.query_one(COUNTS, &[]).await.map_err(db_err)?;
        Ok(ClusterView {
            nodes,
            owners,
            devices: row.try_get(1).map_err(db_err)?,
            unowned: row.try_get(2).map_err(db_err)?,
            last_changes,
        })
    }
}
