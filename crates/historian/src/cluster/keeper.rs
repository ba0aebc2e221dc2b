//! The heartbeat task: every `cluster.heartbeat` it renews this node's leases, offers what
//! lies above its fair share (everything while leaving), claims up to its share, and grants
//! each device's gate accordingly. When it cannot renew, the gates run out by themselves
//! before the leases expire in the database.

use super::gate::{LeaseGate, after, wall_now_us};
use super::share::{fair_share, offers};
use super::state::Cluster;
use crate::registry::Registry;
use crate::telemetry::catalog::{
    CLUSTER_DEVICES_UNOWNED, CLUSTER_FAILOVERS, CLUSTER_HANDOVERS, CLUSTER_LEASES_HELD,
    CLUSTER_LEASES_LOST, CLUSTER_NODES_ALIVE, CLUSTER_RENEW_FAILURES, CLUSTER_RENEW_SECONDS,
};
use historian_store::postgres::{HeartbeatOutcome, HeartbeatRequest, LeaseChange, LeaseSession};
use std::collections::HashSet;
use std::sync::Arc;
use tokio::time::Instant;

/// What the keeper remembers between heartbeats.
#[derive(Debug, Default)]
struct Beat {
    first: bool,
    beats: u64,
    held: Vec<i64>,
    offered: Vec<i64>,
    share: i64,
    /// Nodes alive and not leaving, at the last heartbeat.
    others_alive: i64,
    /// Devices handed over whose last slot has not passed yet (counted once).
    handed: HashSet<i64>,
    failing: bool,
}

/// Runs the heartbeats of `cluster` until it has left: after [`Cluster::start_leaving`]
/// it offers every device, waits (at most `lease_ttl` + the handover lead) for them to be
/// claimed and for their last slots here to pass, then frees what is left and leaves.
pub async fn run(cluster: Arc<Cluster>, registry: Arc<Registry>) {
    let cfg = cluster.config.clone();
    let mut session = match LeaseSession::new(&cluster.url) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cluster: cannot use the storage URL; polling nothing");
            return;
        }
    };
    let mut tick = tokio::time::interval(cfg.heartbeat);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut beat = Beat {
        first: true,
        share: i64::MAX,
        ..Beat::default()
    };
    let mut leaving_since: Option<Instant> = None;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = cluster.leave.cancelled(), if leaving_since.is_none() => {
                leaving_since = Some(Instant::now());
                tracing::info!(node = %cluster.node.name, held = beat.held.len(), "cluster: handing every device over before stopping");
            }
        }
        let leaving = leaving_since.is_some();
        heartbeat(&cluster, &registry, &mut session, &mut beat, leaving).await;
        if let Some(since) = leaving_since {
            let alone = beat.others_alive == 0;
            let waited = since.elapsed() > cfg.lease_ttl + cfg.handover_lead();
            if beat.held.is_empty() || alone || waited {
                break;
            }
        }
    }
    // The devices claimed from this node are polled here until their handover instants.
    let last = cluster
        .gates()
        .values()
        .map(|g| g.until_us())
        .filter(|&u| u != i64::MAX)
        .max();
    let bound = Instant::now() + cfg.handover_lead() + cfg.heartbeat;
    while let Some(until) = last
        && wall_now_us() < until
        && Instant::now() < bound
    {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    if let Err(e) = session.leave(&cluster.node.name).await {
        tracing::warn!(error = %e, "cluster: could not free the remaining leases; they expire by themselves");
    }
    for g in cluster.gates().drain().map(|(_, g)| g) {
        g.close();
    }
    cluster.wake.notify_one();
    metrics::gauge!(CLUSTER_LEASES_HELD).set(0.0);
    tracing::info!(node = %cluster.node.name, "cluster: left");
}

async fn heartbeat(
    cluster: &Cluster,
    registry: &Registry,
    session: &mut LeaseSession,
    beat: &mut Beat,
    leaving: bool,
) {
    let cfg = &cluster.config;
    let wanted: Vec<i64> = registry
        .devices()
        .iter()
        .filter(|d| d.config.spec.enabled && !d.config.spec.registers.is_empty())
        .map(|d| d.id)
        .collect();
    let offer = offers(&beat.held, &beat.offered, beat.share, leaving);
    let req = HeartbeatRequest {
        wanted: &wanted,
        offer: &offer,
        claim: beat.beats > 0,
        leaving,
        first: beat.first,
        ttl: cfg.lease_ttl,
        handover_lead: cfg.handover_lead(),
    };
    let sent = Instant::now();
    let got = tokio::time::timeout(cfg.lease_ttl, session.heartbeat(&cluster.node, req)).await;
    let got = match got {
        Ok(r) => r.map_err(|e| e.to_string()),
        Err(_) => Err(format!("no answer within {:?}", cfg.lease_ttl)),
    };
    match got {
        Ok(out) => {
            metrics::histogram!(CLUSTER_RENEW_SECONDS).record(sent.elapsed().as_secs_f64());
            if beat.failing {
                tracing::info!(node = %cluster.node.name, "cluster: renewing leases again");
            }
            beat.failing = false;
            beat.first = false;
            beat.beats += 1;
            grant(cluster, beat, &out, sent);
        }
        Err(e) => {
            metrics::counter!(CLUSTER_RENEW_FAILURES).increment(1);
            if !beat.failing {
                tracing::warn!(node = %cluster.node.name, error = %e, "cluster: cannot renew leases; polling stops before they can expire");
            }
            beat.failing = true;
            expire(cluster, beat);
        }
    }
}

/// Grants the gates of the leases held after a heartbeat sent at `sent`, and closes those
/// of leases lost.
fn grant(cluster: &Cluster, beat: &mut Beat, out: &HeartbeatOutcome, sent: Instant) {
    let cfg = &cluster.config;
    let deadline = after(sent, cfg.lease_ttl.saturating_sub(cfg.safety_margin()));
    let now_wall = wall_now_us();
    let mut gates = cluster.gates();
    let mut returned = HashSet::with_capacity(out.held.len());
    for l in &out.held {
        returned.insert(l.device_id);
        let gate = gates
            .entry(l.device_id)
            .or_insert_with(|| Arc::new(LeaseGate::closed(Arc::clone(&cluster.wake))));
        let from = l.valid_from.map_or(i64::MIN, |t| t.timestamp_micros());
        let until = l.handover_at.map_or(i64::MAX, |t| t.timestamp_micros());
        gate.grant(from, until, deadline);
        match l.change {
            Some(LeaseChange::Handover) => {
                metrics::counter!(CLUSTER_HANDOVERS, "direction" => "in").increment(1);
                tracing::info!(device_id = l.device_id, fencing = l.fencing, from = ?l.valid_from, "cluster: device handed over to this node");
            }
            Some(LeaseChange::Failover) => {
                metrics::counter!(CLUSTER_FAILOVERS).increment(1);
                tracing::warn!(
                    device_id = l.device_id,
                    fencing = l.fencing,
                    "cluster: took over a device whose owner stopped renewing"
                );
            }
            Some(LeaseChange::Claim) => {
                tracing::debug!(
                    device_id = l.device_id,
                    fencing = l.fencing,
                    "cluster: claimed a device"
                );
            }
            None => {}
        }
    }
    let now = Instant::now();
    gates.retain(|id, g| {
        if returned.contains(id) {
            return true;
        }
        let until = g.until_us();
        if until != i64::MAX && g.valid_at(now) && now_wall < until {
            // Offered and claimed: polled here until the handover instant.
            if beat.handed.insert(*id) {
                metrics::counter!(CLUSTER_HANDOVERS, "direction" => "out").increment(1);
                tracing::info!(
                    device_id = id,
                    "cluster: device handed over to another node"
                );
            }
            return true;
        }
        if until == i64::MAX {
            metrics::counter!(CLUSTER_LEASES_LOST).increment(1);
            tracing::warn!(
                device_id = id,
                "cluster: lease lost to another node; stopped polling it"
            );
        }
        beat.handed.remove(id);
        g.close();
        false
    });
    beat.held = out.held.iter().map(|l| l.device_id).collect();
    beat.offered = out
        .held
        .iter()
        .filter(|l| l.handover_at.is_some())
        .map(|l| l.device_id)
        .collect();
    beat.share = fair_share(out.devices, out.nodes_alive);
    // While leaving this node is not counted, so these are the others.
    beat.others_alive = out.nodes_alive;
    drop(gates);
    metrics::gauge!(CLUSTER_LEASES_HELD).set(out.held.len() as f64);
    metrics::gauge!(CLUSTER_NODES_ALIVE).set(out.nodes_alive as f64);
    metrics::gauge!(CLUSTER_DEVICES_UNOWNED).set(out.unowned as f64);
    cluster.wake.notify_one();
}

/// After a failed heartbeat: closes the gates whose lease ran out by this node's clock.
fn expire(cluster: &Cluster, beat: &mut Beat) {
    let now = Instant::now();
    let mut lost = 0u64;
    cluster.gates().retain(|id, g| {
        if g.valid_at(now) {
            return true;
        }
        g.close();
        beat.handed.remove(id);
        lost += 1;
        false
    });
    if lost > 0 {
        metrics::counter!(CLUSTER_LEASES_LOST).increment(lost);
        metrics::gauge!(CLUSTER_LEASES_HELD).set(cluster.held() as f64);
        tracing::warn!(node = %cluster.node.name, devices = lost, "cluster: leases not renewed in time; stopped polling these devices before their leases expire");
        beat.held.clear();
        beat.offered.clear();
        cluster.wake.notify_one();
    }
}
