//! One device's permission to poll, shared by the node's lease keeper (which sets it at
//! every heartbeat) and the device's poller (which asks it before every slot).

use std::sync::Arc;
use std::sync::LazyLock;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::Notify;
use tokio::time::Instant;

/// Origin of the monotonic deadlines kept as microseconds.
static ORIGIN: LazyLock<std::time::Instant> = LazyLock::new(std::time::Instant::now);

fn micros(t: Instant) -> u64 {
    let since = t.into_std().saturating_duration_since(*ORIGIN);
    u64::try_from(since.as_micros()).unwrap_or(u64::MAX)
}

/// What the poller does with a slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The slot is this node's: poll it.
    Poll,
    /// The slot comes before this node's first one (a handover instant ahead): let it pass.
    Skip,
    /// The slot is no longer this node's (handed over, or the lease cannot be renewed in
    /// time): stop polling.
    Stop,
}

/// The slots a node may poll for one device: those whose wall-clock instant lies in
/// `[from, until)`, and only while its own clock says the lease is valid.
#[derive(Debug)]
pub struct LeaseGate {
    /// First wall-clock instant that is this node's, microseconds since the Unix epoch.
    from_us: AtomicI64,
    /// First wall-clock instant that is no longer this node's.
    until_us: AtomicI64,
    /// The monotonic instant (micros since [`ORIGIN`]) the lease is valid until, less the
    /// safety margin.
    deadline_us: AtomicU64,
    /// Set by the poller when it stopped for this gate; cleared at the next grant.
    stopped: AtomicBool,
    /// Woken when a poller stops, so that its link is closed at once.
    wake: Arc<Notify>,
}

impl LeaseGate {
    /// A gate that lets nothing through until granted.
    pub(crate) fn closed(wake: Arc<Notify>) -> Self {
        Self {
            from_us: AtomicI64::new(i64::MAX),
            until_us: AtomicI64::new(i64::MIN),
            deadline_us: AtomicU64::new(0),
            stopped: AtomicBool::new(false),
            wake,
        }
    }

    /// Grants the slots in `[from_us, until_us)` until the monotonic `deadline`.
    pub(crate) fn grant(&self, from_us: i64, until_us: i64, deadline: Instant) {
        self.from_us.store(from_us, Ordering::Release);
        self.until_us.store(until_us, Ordering::Release);
        self.deadline_us.store(micros(deadline), Ordering::Release);
        self.stopped.store(false, Ordering::Release);
    }

    /// Takes back every slot from now on.
    pub(crate) fn close(&self) {
        self.until_us.store(i64::MIN, Ordering::Release);
        self.deadline_us.store(0, Ordering::Release);
    }

    /// The end of the granted slots, microseconds since the Unix epoch (`i64::MAX`: none).
    pub(crate) fn until_us(&self) -> i64 {
        self.until_us.load(Ordering::Acquire)
    }

    /// True while the lease is valid by this node's clock.
    pub(crate) fn valid_at(&self, now: Instant) -> bool {
        micros(now) < self.deadline_us.load(Ordering::Acquire)
    }

    /// True while a poller should run for this gate: valid, slots left, and its poller has
    /// not stopped for it since the last grant.
    pub(crate) fn wants_poller(&self, now: Instant, now_wall_us: i64) -> bool {
        !self.stopped.load(Ordering::Acquire)
            && self.valid_at(now)
            && now_wall_us < self.until_us.load(Ordering::Acquire)
    }

    /// What to do with the slot at wall-clock `slot_us`, due at the monotonic `due`.
    pub fn verdict(&self, slot_us: i64, due: Instant) -> Verdict {
        if slot_us >= self.until_us.load(Ordering::Acquire) || !self.valid_at(due) {
            Verdict::Stop
        } else if slot_us < self.from_us.load(Ordering::Acquire) {
            Verdict::Skip
        } else {
            Verdict::Poll
        }
    }

    /// The poller has stopped for this gate.
    pub fn stopped(&self) {
        self.stopped.store(true, Ordering::Release);
        self.wake.notify_one();
    }
}

/// Microseconds since the Unix epoch now.
pub(crate) fn wall_now_us() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

/// The monotonic instant `d` after `t`, saturating.
pub(crate) fn after(t: Instant, d: Duration) -> Instant {
    t.checked_add(d).unwrap_or(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_before_from_pass_slots_from_until_stop() {
        let g = LeaseGate::closed(Arc::new(Notify::new()));
        let now = Instant::now();
        assert_eq!(g.verdict(0, now), Verdict::Stop, "closed");
        g.grant(1_000, 5_000, now + Duration::from_secs(2));
        assert_eq!(g.verdict(999, now), Verdict::Skip);
        assert_eq!(g.verdict(1_000, now), Verdict::Poll);
        assert_eq!(g.verdict(4_999, now), Verdict::Poll);
        assert_eq!(g.verdict(5_000, now), Verdict::Stop);
        assert_eq!(
            g.verdict(2_000, now + Duration::from_secs(3)),
            Verdict::Stop,
            "after the deadline"
        );
        assert!(g.wants_poller(now, 4_000));
        g.stopped();
        assert!(!g.wants_poller(now, 4_000), "its poller stopped");
        g.grant(1_000, 9_000, now + Duration::from_secs(2));
        assert!(g.wants_poller(now, 4_000), "granted again");
    }
}
