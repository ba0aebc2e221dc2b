//! The watcher task that counts, once a second, the grid slots busy pollers let pass (see
//! [`crate::slots`] for how the poller and the watcher share each device's cursor).

use crate::registry::{DeviceRuntime, Registry};
use crate::stats::Stats;
use crate::telemetry::PollMetrics;
use crate::telemetry::events::{Event, PollsMissed};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// How often the watcher counts the slots passed by busy pollers: one pass over the
/// registry is a couple of atomic loads per device, so even 3,200 devices cost little.
pub const WATCH_EVERY: Duration = Duration::from_secs(1);

/// Counts, once now, the slots every busy poller of `registry` has let pass.
pub fn count_passed_slots(registry: &Registry, stats: &Stats) {
    let now = Instant::now();
    for dev in registry.devices() {
        count_device(&dev, now, stats);
    }
}

fn count_device(dev: &DeviceRuntime, now: Instant, stats: &Stats) {
    let interval = Duration::from_millis(dev.config.spec.poll_interval_ms);
    let missed = dev.status.slots.count_passed(now, interval);
    if missed > 0 {
        PollsMissed {
            device: dev.name(),
            status: &dev.status,
            metrics: None::<&PollMetrics>,
            slots: missed,
        }
        .emit(stats);
    }
}

/// Counts passed slots every [`WATCH_EVERY`] until `stop`.
pub async fn watch(registry: Arc<Registry>, stats: Arc<Stats>, stop: CancellationToken) {
    let mut tick = tokio::time::interval(WATCH_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = tick.tick() => count_passed_slots(&registry, &stats),
        }
    }
}
