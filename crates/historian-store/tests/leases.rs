//! Device leases on a real PostgreSQL database, 1,000 devices and five nodes, driven
//! heartbeat by heartbeat: fair shares that never overlap, a sixth node taking over offers
//! at their handover instants, disabled devices without a lease, and a silent node's
//! devices failing over once its leases expire.

use historian_model::DeviceSpec;
use historian_store::postgres::{
    HeartbeatOutcome, HeartbeatRequest, LeaseChange, LeaseSession, NodeInfo, PostgresStore,
};
use historian_store::{Store, StoreOptions, TimescaleMode};
use historian_testkit::{PATIENCE, PgTestDb, require};
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

const DEVICES: usize = 1_000;
const TTL: Duration = Duration::from_secs(2);
const LEAD: Duration = Duration::from_millis(800);

struct Node {
    info: NodeInfo,
    session: LeaseSession,
    held: Vec<i64>,
    offer: Vec<i64>,
    beats: u32,
}

impl Node {
    fn new(name: &str, url: &str) -> Self {
        Node {
            info: NodeInfo {
                name: name.into(),
                api_address: "127.0.0.1:0".into(),
                version: "test".into(),
            },
            session: LeaseSession::new(url).expect("session"),
            held: Vec::new(),
            offer: Vec::new(),
            beats: 0,
        }
    }

    /// One heartbeat; offers what it holds above `share` (the highest ids).
    async fn beat(&mut self, wanted: &[i64], share: Option<i64>) -> HeartbeatOutcome {
        if let Some(share) = share {
            let mut held = self.held.clone();
            held.sort_unstable_by(|a, b| b.cmp(a));
            let excess = usize::try_from(held.len() as i64 - share).unwrap_or(0);
            self.offer = held.into_iter().take(excess).collect();
        }
        let out = self
            .session
            .heartbeat(
                &self.info,
                HeartbeatRequest {
                    wanted,
                    offer: &self.offer,
                    claim: self.beats > 0,
                    leaving: false,
                    first: self.beats == 0,
                    ttl: TTL,
                    handover_lead: LEAD,
                },
            )
            .await
            .expect("heartbeat");
        self.beats += 1;
        self.held = out.held.iter().map(|l| l.device_id).collect();
        out
    }
}

fn spec(i: usize) -> DeviceSpec {
    DeviceSpec {
        name: format!("dev-{i:04}"),
        host: "127.0.0.1".into(),
        port: 502,
        unit_id: 1,
        poll_interval_ms: 1000,
        enabled: true,
        registers: Vec::new(),
        access: Default::default(),
    }
}

fn assert_disjoint(nodes: &[Node]) {
    let mut seen = HashSet::new();
    for n in nodes {
        for d in &n.held {
            assert!(seen.insert(*d), "device {d} held twice");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_devices_are_shared_by_five_nodes_rebalanced_and_failed_over() {
    let test = "a_thousand_devices_are_shared_by_five_nodes_rebalanced_and_failed_over";
    let Some(db) = require(test, PgTestDb::create().await) else {
        return;
    };
    let options = StoreOptions {
        timescaledb: TimescaleMode::Off,
        ..StoreOptions::default()
    };
    let store = PostgresStore::open(&db.url, &options).await.expect("open");
    let specs: Vec<DeviceSpec> = (0..DEVICES).map(spec).collect();
    let records = store.write_devices(&specs, false).await.expect("devices");
    let mut wanted: Vec<i64> = records.iter().map(|r| r.id).collect();

    let mut nodes: Vec<Node> = (0..5)
        .map(|i| Node::new(&format!("n{i}"), &db.url))
        .collect();
    for n in &mut nodes {
        n.beat(&wanted, None).await;
    }
    let mut took = Vec::new();
    for n in &mut nodes {
        let t = Instant::now();
        let out = n.beat(&wanted, None).await;
        took.push(t.elapsed());
        assert_eq!(out.nodes_alive, 5);
    }
    let held: Vec<usize> = nodes.iter().map(|n| n.held.len()).collect();
    assert_eq!(held, vec![200; 5], "fair shares");
    assert_disjoint(&nodes);
    // Renewals alone, the steady state: timed for the record, never asserted.
    for n in &mut nodes {
        let t = Instant::now();
        let out = n.beat(&wanted, Some(200)).await;
        took.push(t.elapsed());
        assert_eq!(out.unowned, 0);
    }
    eprintln!("heartbeats with {DEVICES} devices and 5 nodes took {took:?}");

    // A sixth node: each of the five offers 33 (share 167), and the newcomer claims them
    // from their handover instants on.
    nodes.push(Node::new("n5", &db.url));
    nodes[5].beat(&wanted, None).await;
    let mut offered_at = HashMap::new();
    for n in nodes.iter_mut().take(5) {
        let out = n.beat(&wanted, Some(167)).await;
        for l in out.held.iter().filter(|l| l.handover_at.is_some()) {
            offered_at.insert(l.device_id, l.handover_at);
        }
    }
    assert_eq!(offered_at.len(), 5 * 33);
    let out = nodes[5].beat(&wanted, None).await;
    assert_eq!(out.held.len(), 165);
    for l in &out.held {
        assert_eq!(l.change, Some(LeaseChange::Handover));
        assert_eq!(
            Some(&l.valid_from),
            offered_at.get(&l.device_id),
            "the offer's instant"
        );
        assert_eq!(l.fencing, 2, "fencing grows at the change of owner");
    }
    for n in nodes.iter_mut().take(5) {
        n.beat(&wanted, Some(167)).await;
        assert_eq!(n.held.len(), 167);
    }
    assert_disjoint(&nodes);

    // Disabled devices hold no lease.
    let client = db.client().await.expect("client");
    let disabled: Vec<i64> = wanted[..10].to_vec();
    client
        .execute(
            "UPDATE devices SET enabled = false WHERE id = ANY($1)",
            &[&disabled],
        )
        .await
        .expect("disable");
    wanted.retain(|d| !disabled.contains(d));
    let out = nodes[0].beat(&wanted, None).await;
    assert_eq!(out.devices, (DEVICES - 10) as i64);
    let rows: i64 = client
        .query_one(
            "SELECT count(*) FROM device_leases WHERE device_id = ANY($1)",
            &[&disabled],
        )
        .await
        .expect("count")
        .get(0);
    assert_eq!(rows, 0);

    // n0 falls silent: once its leases expire, the others take its devices over.
    let silent: HashSet<i64> = nodes.remove(0).held.into_iter().collect();
    let deadline = Instant::now() + PATIENCE;
    let mut failed_over = HashSet::new();
    while failed_over.len() < silent.len() {
        assert!(
            Instant::now() < deadline,
            "{} of {} failed over",
            failed_over.len(),
            silent.len()
        );
        for n in &mut nodes {
            let out = n.beat(&wanted, None).await;
            for l in &out.held {
                if l.change == Some(LeaseChange::Failover) {
                    assert!(
                        silent.contains(&l.device_id),
                        "only the silent node's devices"
                    );
                    failed_over.insert(l.device_id);
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_disjoint(&nodes);
}
