//! One task per device, polling on a fixed-rate grid and handing readings to ingest.

use crate::cluster::gate::{LeaseGate, Verdict};
use crate::registry::DeviceRuntime;
use crate::stats::Stats;
use crate::telemetry;
use crate::telemetry::events::{Event, PollDone, PollsMissed};
use chrono::{DateTime, Utc};
use historian_modbus::gateway::SharedUnit;
use historian_modbus::schedule::ScheduledPlan;
use historian_model::Reading;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Phases are whole multiples of this, so that devices share timer wake-ups: a fleet of
/// 1,000 devices polled every second wakes the process 20 times a second instead of
/// 1,000. Each wake-up is a context switch and an epoll round; a profile at 100k
/// readings/s found the kernel's task switching the largest single cost of the process
/// (figures in BENCHMARKS.md).
const PHASE_STEP_MS: u64 = 50;

/// The device's fixed offset inside its interval, so a fleet's polls spread over the
/// interval instead of bursting together, and each device keeps the same phase across
/// restarts.
fn phase(name: &str, interval: Duration) -> Duration {
    let mut h = DefaultHasher::new();
    name.hash(&mut h);
    let ms = u64::try_from(interval.as_millis()).unwrap_or(u64::MAX);
    let steps = (ms / PHASE_STEP_MS).max(1);
    Duration::from_millis(h.finish() % steps * PHASE_STEP_MS)
}

/// The first grid instant after now and its number `k`: grid points are
/// `k * interval + phase` in Unix time (so slower registers, read when `k` is a multiple
/// of their cadence, are read at the same instants across restarts).
fn first_slot(interval: Duration, phase: Duration) -> (Instant, u64) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let (iv, ph, t) = (
        interval.as_micros().max(1),
        phase.as_micros(),
        now.as_micros(),
    );
    let k = t.saturating_sub(ph) / iv + 1;
    let next = k * iv + ph;
    (
        Instant::now() + Duration::from_micros(u64::try_from(next - t).unwrap_or(0)),
        u64::try_from(k).unwrap_or(u64::MAX),
    )
}

/// The wall-clock instant of grid slot `slot`, microseconds since the Unix epoch.
fn slot_wall_us(slot: u64, interval: Duration, phase: Duration) -> i64 {
    let us = u128::from(slot) * interval.as_micros() + phase.as_micros();
    i64::try_from(us).unwrap_or(i64::MAX)
}

/// Polls one device until `cancel`; a poll under way when cancelled still completes and
/// hands its readings on, so stopping or replacing a poller loses nothing in flight.
/// With a lease `gate` (cluster mode) it polls only the slots the gate grants, and ends
/// right after its last one, so that its link closes before the next owner's first slot.
pub(crate) async fn poll_loop(
    dev: Arc<DeviceRuntime>,
    mut client: SharedUnit,
    tx: mpsc::Sender<Vec<Reading>>,
    stats: Arc<Stats>,
    cancel: CancellationToken,
    gate: Option<Arc<LeaseGate>>,
) {
    let spec = &dev.config.spec;
    let interval = Duration::from_millis(spec.poll_interval_ms);
    // The plans adapt to registers the device refuses; they live as long as the poller.
    let mut plan = ScheduledPlan::new(
        &spec.registers,
        interval,
        spec.access.plan,
        spec.access.pause,
    );
    let phase = phase(&spec.name, interval);
    let (mut next, mut slot) = first_slot(interval, phase);
    let metrics = telemetry::PollMetrics::new(dev.name());
    // Shared with the slot watcher, which counts the slots passing while this poller is
    // held up (for instance in the send below) before the poller itself can.
    let cursor = &dev.status.slots;
    cursor.wait_for(next);
    loop {
        if let Some(g) = &gate {
            match g.verdict(slot_wall_us(slot, interval, phase), next) {
                Verdict::Poll => {}
                Verdict::Skip => {
                    // Another node's slot (before a handover instant): not missed, not ours.
                    next += interval;
                    slot += 1;
                    cursor.wait_for(next);
                    continue;
                }
                Verdict::Stop => {
                    g.stopped();
                    break;
                }
            }
        }
        tokio::select! {
            () = cancel.cancelled() => break,
            () = tokio::time::sleep_until(next) => {}
        }
        // The gate may have closed while waiting (a lease lost): asked again at the slot.
        if let Some(g) = &gate
            && g.verdict(slot_wall_us(slot, interval, phase), next) != Verdict::Poll
        {
            g.stopped();
            break;
        }
        let started = Instant::now();
        cursor.begin(next + interval);
        stats
            .timings
            .jitter
            .record(started.saturating_duration_since(next));
        let readings = poll_once(&dev, &mut client, &mut plan, slot, &stats, &metrics).await;
        stats.timings.poll.record(started.elapsed());
        // Back-pressure: when ingest is behind, the poller waits here rather than buffering.
        if tx.send(readings).await.is_err() {
            break;
        }
        // Overran: the slots already past are skipped (counted as missed, here or by the
        // watcher) instead of bunching polls together.
        let (missed, due) = cursor.finish(Instant::now(), interval);
        if missed > 0 {
            PollsMissed {
                device: dev.name(),
                status: &dev.status,
                metrics: Some(&metrics),
                slots: missed,
            }
            .emit(&stats);
        }
        slot += crate::slots::slots_between(next, due, interval);
        next = due;
    }
    cursor.stop();
}

/// Polls the device once at grid slot `slot`; every register due then gets exactly one
/// reading (`bad` if its read failed), stamped with the instant the poll began.
async fn poll_once(
    dev: &DeviceRuntime,
    client: &mut SharedUnit,
    plan: &mut ScheduledPlan,
    slot: u64,
    stats: &Stats,
    metrics: &telemetry::PollMetrics,
) -> Vec<Reading> {
    // Truncated to the store's microsecond precision, so the cache and the store agree.
    let started = Instant::now();
    let now = Utc::now();
    let timestamp: DateTime<Utc> =
        DateTime::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now);
    let points = &dev.config.spec.registers;
    let quarantined_before = plan.quarantined().len();
    let outcome = plan.poll(slot, client, points).await;
    if plan.quarantined().len() != quarantined_before {
        let names: Vec<&str> = plan
            .quarantined()
            .keys()
            .map(|&i| points[i].name.as_str())
            .collect();
        tracing::warn!(
            device = dev.name(),
            quarantined = ?names,
            "registers the device refuses are read on their own and probed again every {} polls",
            historian_modbus::adaptive::DEFAULT_REPROBE_EVERY
        );
    }
    let status = &dev.status;
    let polled_before = dev.polled();
    status
        .last_poll_us
        .store(timestamp.timestamp_micros(), Ordering::Relaxed);
    let reached = outcome.errors.iter().all(|e| !e.is_link_failure());
    let was_up = status.up.swap(reached, Ordering::Relaxed);
    let readings: Vec<Reading> = outcome
        .samples
        .iter()
        .map(|(i, s)| (*i, s))
        .map(|(i, s)| Reading {
            timestamp,
            device_id: dev.id,
            register_address: points[i].register,
            value: s.value,
            quality: s.quality,
            register_name: Arc::clone(&dev.names[i]),
            data_type: points[i].data_type,
            unit: Arc::clone(&dev.units[i]),
            text: s.text.clone(),
        })
        .collect();
    PollDone {
        device: dev.name(),
        endpoint: dev.config.transport().endpoint(),
        unit: dev.config.spec.unit_id,
        reconnected: polled_before && !was_up && reached,
        status,
        metrics,
        readings: &readings,
        errors: &outcome.errors,
        took: started.elapsed(),
    }
    .emit(stats);
    readings
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phase_is_stable_and_inside_the_interval() {
        let iv = Duration::from_secs(5);
        assert_eq!(phase("sim-001", iv), phase("sim-001", iv));
        assert!(phase("sim-001", iv) < iv);
        let phases: std::collections::HashSet<_> =
            (0..30).map(|i| phase(&format!("sim-{i:03}"), iv)).collect();
        assert!(phases.len() > 20, "phases should spread: {phases:?}");
        assert!(
            phases
                .iter()
                .all(|p| p.as_millis() % u128::from(PHASE_STEP_MS) == 0),
            "{phases:?}"
        );
        assert_eq!(phase("sim-001", Duration::from_millis(5)), Duration::ZERO);
    }
}
