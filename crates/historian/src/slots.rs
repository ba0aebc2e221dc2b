//! Missed polls counted as their grid slots pass. A slot is missed when its instant comes
//! while the device's poller is still busy with an earlier one (a slow device, or ingest
//! holding the poller back on a full spool). The poller itself only learns that when it
//! is free again, which may be minutes later; so one watcher task ([`crate::slot_watch`]) also looks at
//! every device once a second and counts the slots that have passed. Each device has one cursor
//! (the next slot not yet counted, and whether its poller is busy) that both move by
//! compare-and-swap, so every slot is counted exactly once, by whichever sees it first.

use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::time::Instant;

/// The cursor's origin: slot instants are kept as microseconds of the monotonic clock since
/// then, so they fit one atomic together with the busy bit.
static ORIGIN: LazyLock<std::time::Instant> = LazyLock::new(std::time::Instant::now);

/// The cursor of a device without a running poller.
const IDLE: u64 = u64::MAX;
/// Low bit of the cursor: set while the poller is busy.
const BUSY: u64 = 1;

fn micros(t: Instant) -> u64 {
    let since = t.into_std().saturating_duration_since(*ORIGIN);
    u64::try_from(since.as_micros()).unwrap_or(u64::MAX >> 2)
}

fn instant(us: u64) -> Instant {
    Instant::from_std(*ORIGIN + Duration::from_micros(us))
}

fn interval_us(interval: Duration) -> u64 {
    u64::try_from(interval.as_micros())
        .unwrap_or(u64::MAX)
        .max(1)
}

/// Grid slots from the one at `from` to the one at `to` (`to` on the same grid, later).
pub(crate) fn slots_between(from: Instant, to: Instant, interval: Duration) -> u64 {
    micros(to).saturating_sub(micros(from)) / interval_us(interval)
}

/// Slots from the one due at `due` up to `now`, both in cursor microseconds.
fn passed(due: u64, now: u64, every: u64) -> u64 {
    if now < due {
        0
    } else {
        (now - due) / every + 1
    }
}

/// One device's place on its grid, shared by its poller and the watcher.
#[derive(Debug)]
pub struct SlotCursor(AtomicU64);

impl Default for SlotCursor {
    fn default() -> Self {
        SlotCursor(AtomicU64::new(IDLE))
    }
}

impl SlotCursor {
    /// The poller waits for the slot due at `due`. Not counted while waiting: a poller
    /// that wakes a little late still polls that slot.
    pub(crate) fn wait_for(&self, due: Instant) {
        self.0.store(micros(due) << 1, Ordering::Release);
    }

    /// The poller starts a poll; the slot due at `next` is missed if it comes before
    /// [`finish`](Self::finish).
    pub(crate) fn begin(&self, next: Instant) {
        self.0.store(micros(next) << 1 | BUSY, Ordering::Release);
    }

    /// The poller is free again at `now`: counts the slots that passed meanwhile and not
    /// yet counted by the watcher, and waits for the first slot still ahead. Returns the
    /// slots counted here and that slot's instant.
    pub(crate) fn finish(&self, now: Instant, interval: Duration) -> (u64, Instant) {
        let (now, every) = (micros(now), interval_us(interval));
        let mut cur = self.0.load(Ordering::Acquire);
        loop {
            let due = cur >> 1;
            let missed = passed(due, now, every);
            let next = due + missed * every;
            match self
                .0
                .compare_exchange(cur, next << 1, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return (missed, instant(next)),
                Err(seen) => cur = seen,
            }
        }
    }

    /// The poller has stopped.
    pub(crate) fn stop(&self) {
        self.0.store(IDLE, Ordering::Release);
    }

    /// Counts the slots passed by `now` while the poller is busy (0 when it waits or is
    /// stopped).
    pub(crate) fn count_passed(&self, now: Instant, interval: Duration) -> u64 {
        let (now, every) = (micros(now), interval_us(interval));
        let mut cur = self.0.load(Ordering::Acquire);
        loop {
            if cur == IDLE || cur & BUSY == 0 {
                return 0;
            }
            let due = cur >> 1;
            let missed = passed(due, now, every);
            if missed == 0 {
                return 0;
            }
            let next = (due + missed * every) << 1 | BUSY;
            match self
                .0
                .compare_exchange(cur, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return missed,
                Err(seen) => cur = seen,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IV: Duration = Duration::from_millis(100);

    /// Now, once the cursors' origin is set (instants before it all read as the origin).
    fn t0() -> Instant {
        LazyLock::force(&ORIGIN);
        Instant::now()
    }

    #[test]
    fn a_waiting_poller_is_never_counted() {
        let c = SlotCursor::default();
        let t0 = t0();
        assert_eq!(c.count_passed(t0 + IV * 50, IV), 0, "idle");
        c.wait_for(t0);
        assert_eq!(c.count_passed(t0 + IV * 50, IV), 0, "waiting, even late");
    }

    #[test]
    fn slots_passing_while_busy_are_counted_once_by_watcher_and_poller_together() {
        let c = SlotCursor::default();
        let t0 = t0();
        c.wait_for(t0);
        c.begin(t0 + IV);
        // Before the next slot comes, nothing is missed.
        assert_eq!(c.count_passed(t0 + IV / 2, IV), 0);
        // Slots 1, 2 and 3 have come by 3.5 intervals.
        assert_eq!(c.count_passed(t0 + IV * 7 / 2, IV), 3);
        assert_eq!(c.count_passed(t0 + IV * 7 / 2, IV), 0, "not twice");
        assert_eq!(c.count_passed(t0 + IV * 4, IV), 1, "slot 4 at its instant");
        // The poller gets free at 5.2: only slot 5 is left for it, and it waits for 6.
        let (missed, next) = c.finish(t0 + IV * 26 / 5, IV);
        assert_eq!(missed, 1);
        assert_eq!(micros(next), micros(t0 + IV * 6));
        assert_eq!(slots_between(t0, next, IV), 6);
        assert_eq!(c.count_passed(t0 + IV * 9, IV), 0, "waiting again");
    }

    #[test]
    fn a_poller_free_before_the_next_slot_misses_nothing() {
        let c = SlotCursor::default();
        let t0 = t0();
        c.begin(t0 + IV);
        let (missed, next) = c.finish(t0 + IV / 3, IV);
        assert_eq!((missed, micros(next)), (0, micros(t0 + IV)));
    }
}
