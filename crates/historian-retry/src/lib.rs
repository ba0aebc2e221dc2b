//! The one retry policy of the workspace: waits that grow by a factor from a first value
//! up to a largest one, each spread at random when many clients that failed together must
//! not retry together. A [`Backoff`] only says how long to wait; callers do the waiting
//! themselves, most of them in a `select!` with a shutdown signal.

use std::fmt::Debug;
use std::time::Duration;

/// A wait the policy can grow and spread: a [`Duration`], or a count (of polls, say).
pub trait Delay: Copy + Ord + Debug {
    /// `self` times `factor`, saturating.
    fn times(self, factor: u32) -> Self;
    /// `self` scaled by `by` (a jitter factor near 1), saturating.
    fn scaled(self, by: f64) -> Self;
}

impl Delay for Duration {
    fn times(self, factor: u32) -> Self {
        self.saturating_mul(factor)
    }

    fn scaled(self, by: f64) -> Self {
        Duration::try_from_secs_f64(self.as_secs_f64() * by).unwrap_or(Duration::MAX)
    }
}

impl Delay for u64 {
    fn times(self, factor: u32) -> Self {
        self.saturating_mul(u64::from(factor))
    }

    fn scaled(self, by: f64) -> Self {
        // Float-to-int `as` saturates, and counts this large never occur.
        (self as f64 * by).round() as u64
    }
}

/// Exponential back-off between bounds: `first`, then `first × factor`, and so on up to
/// `max`; each wait spread at random over ± `jitter_percent` % of that nominal value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy<D = Duration> {
    first: D,
    max: D,
    factor: u32,
    jitter_percent: u8,
}

impl<D: Delay> RetryPolicy<D> {
    /// Waits doubling from `first` up to `max`, without jitter.
    pub const fn exponential(first: D, max: D) -> Self {
        Self {
            first,
            max,
            factor: 2,
            jitter_percent: 0,
        }
    }

    /// Grows each wait by `factor` (at least 1) instead of 2.
    pub const fn with_factor(mut self, factor: u32) -> Self {
        self.factor = if factor == 0 { 1 } else { factor };
        self
    }

    /// Spreads each wait at random over ± `percent` % (at most 100) of its nominal value.
    pub const fn with_jitter_percent(mut self, percent: u8) -> Self {
        self.jitter_percent = if percent > 100 { 100 } else { percent };
        self
    }

    /// The first nominal wait.
    pub const fn first(&self) -> D {
        self.first
    }

    /// The largest nominal wait (jitter may stretch one by its percentage).
    pub const fn max(&self) -> D {
        self.max
    }

    /// A fresh run of waits, starting at `first`.
    pub fn backoff(&self) -> Backoff<D> {
        Backoff {
            policy: *self,
            nominal: self.first.min(self.max),
        }
    }

    fn spread(&self, nominal: D) -> D {
        if self.jitter_percent == 0 {
            return nominal;
        }
        let p = f64::from(self.jitter_percent) / 100.0;
        nominal.scaled(1.0 - p + 2.0 * p * fastrand::f64())
    }
}

/// One run of retries under a [`RetryPolicy`]: each [`Backoff::next_delay`] gives the next
/// wait; [`Backoff::reset`] starts over after a success.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backoff<D = Duration> {
    policy: RetryPolicy<D>,
    nominal: D,
}

impl<D: Delay> Backoff<D> {
    /// The next wait (its nominal value spread by the jitter); the nominal value then grows.
    pub fn next_delay(&mut self) -> D {
        let nominal = self.nominal;
        self.nominal = nominal.times(self.policy.factor).min(self.policy.max);
        self.policy.spread(nominal)
    }

    /// Starts over from the policy's first wait.
    pub fn reset(&mut self) {
        self.nominal = self.policy.first.min(self.policy.max);
    }
}

/// Endless: a run of retries stops when its caller succeeds or gives up.
impl<D: Delay> Iterator for Backoff<D> {
    type Item = D;

    fn next(&mut self) -> Option<D> {
        Some(self.next_delay())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: fn(u64) -> Duration = Duration::from_millis;

    #[test]
    fn waits_grow_by_the_factor_and_stop_at_the_maximum() {
        let policy = RetryPolicy::exponential(MS(100), MS(5_000));
        let waits: Vec<_> = policy.backoff().take(9).collect();
        assert_eq!(
            waits,
            [100, 200, 400, 800, 1_600, 3_200, 5_000, 5_000, 5_000].map(MS)
        );
        let fourfold = RetryPolicy::exponential(MS(20), MS(80)).with_factor(4);
        assert_eq!(
            fourfold.backoff().take(3).collect::<Vec<_>>(),
            [20, 80, 80].map(MS)
        );
    }

    #[test]
    fn reset_starts_over() {
        let mut b = RetryPolicy::exponential(MS(200), MS(10_000)).backoff();
        b.next_delay();
        b.next_delay();
        b.reset();
        assert_eq!(b.next_delay(), MS(200));
    }

    #[test]
    fn a_first_wait_above_the_maximum_is_capped() {
        let mut b = RetryPolicy::exponential(MS(900), MS(300)).backoff();
        assert_eq!(b.next_delay(), MS(300));
        assert_eq!(b.next_delay(), MS(300));
    }

    #[test]
    fn a_zero_factor_counts_as_one() {
        let policy = RetryPolicy::exponential(MS(50), MS(500)).with_factor(0);
        assert!(policy.backoff().take(5).all(|d| d == MS(50)));
    }

    #[test]
    fn jitter_stays_within_its_percentage_of_each_nominal_wait() {
        let policy = RetryPolicy::exponential(MS(500), MS(30_000)).with_jitter_percent(50);
        let nominal: Vec<_> = RetryPolicy::exponential(MS(500), MS(30_000))
            .backoff()
            .take(12)
            .collect();
        for _ in 0..500 {
            for (got, want) in policy.backoff().zip(&nominal) {
                assert!(got >= want.mul_f64(0.5), "{got:?} below half of {want:?}");
                assert!(got < want.mul_f64(1.5), "{got:?} above 1.5 × {want:?}");
            }
        }
    }

    #[test]
    fn jitter_really_spreads_the_waits() {
        let policy = RetryPolicy::exponential(MS(100), MS(5_000)).with_jitter_percent(25);
        let firsts: Vec<_> = (0..200).map(|_| policy.backoff().next_delay()).collect();
        let (lo, hi) = (firsts.iter().min(), firsts.iter().max());
        assert!(lo.zip(hi).is_some_and(|(lo, hi)| hi > lo), "{firsts:?}");
        assert!(firsts.iter().all(|d| *d >= MS(75) && *d < MS(125)));
        // Spread on both sides of the nominal wait, not only above it.
        assert!(firsts.iter().any(|d| *d < MS(100)));
        assert!(firsts.iter().any(|d| *d > MS(100)));
    }

    #[test]
    fn jitter_is_capped_at_a_hundred_percent() {
        let policy = RetryPolicy::exponential(MS(100), MS(100)).with_jitter_percent(250);
        assert!(policy.backoff().take(500).all(|d| d < MS(200)));
    }

    #[test]
    fn counts_back_off_like_durations() {
        let polls = RetryPolicy::exponential(1_u64, 32);
        assert_eq!(
            polls.backoff().take(8).collect::<Vec<_>>(),
            [1, 2, 4, 8, 16, 32, 32, 32]
        );
    }

    #[test]
    fn huge_waits_saturate_instead_of_overflowing() {
        let mut b = RetryPolicy::exponential(Duration::MAX / 2, Duration::MAX)
            .with_factor(3)
            .with_jitter_percent(50)
            .backoff();
        b.next_delay();
        assert!(b.next_delay() >= Duration::MAX / 3);
        let mut n = RetryPolicy::exponential(u64::MAX / 2, u64::MAX)
            .with_factor(3)
            .backoff();
        n.next_delay();
        assert_eq!(n.next_delay(), u64::MAX);
    }
}
