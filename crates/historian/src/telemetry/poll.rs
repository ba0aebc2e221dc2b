//! One device's poll metrics, as handles made once per poller.

use super::catalog::{POLL_SECONDS, POLLS, POLLS_MISSED, READINGS_POLLED};
use historian_model::{Quality, Reading};
use metrics::{Counter, Histogram, counter, histogram};
use std::time::Duration;

/// One device's poll metrics. Made once per poller: looking a labelled metric up hashes
/// and compares its labels, which a profile at 100k readings/s showed on every poll.
pub struct PollMetrics {
    ok: Counter,
    failed: Counter,
    seconds: Histogram,
    /// Readings polled by quality: good, bad, uncertain.
    polled: [Counter; 3],
    missed: Counter,
}

impl std::fmt::Debug for PollMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PollMetrics").finish_non_exhaustive()
    }
}

impl PollMetrics {
    /// The handles of `device`'s series.
    pub fn new(device: &str) -> Self {
        let polled = |quality: &'static str| counter!(READINGS_POLLED, "device" => device.to_string(), "quality" => quality);
        Self {
            ok: counter!(POLLS, "device" => device.to_string(), "result" => "ok"),
            failed: counter!(POLLS, "device" => device.to_string(), "result" => "failed"),
            seconds: histogram!(POLL_SECONDS, "device" => device.to_string()),
            polled: [polled("good"), polled("bad"), polled("uncertain")],
            missed: counter!(POLLS_MISSED, "device" => device.to_string()),
        }
    }

    /// Records one finished poll and the readings it produced.
    pub fn poll_done(&self, ok: bool, took: Duration, readings: &[Reading]) {
        let mut qualities = [0u64; 3];
        for r in readings {
            qualities[match r.quality {
                Quality::Good => 0,
                Quality::Bad => 1,
                Quality::Uncertain => 2,
            }] += 1;
        }
        if ok { &self.ok } else { &self.failed }.increment(1);
        self.seconds.record(took.as_secs_f64());
        for (counter, n) in self.polled.iter().zip(qualities) {
            if n > 0 {
                counter.increment(n);
            }
        }
    }

    /// Records grid slots skipped.
    pub fn missed(&self, n: u64) {
        self.missed.increment(n);
    }

    /// Records grid slots skipped by `device`, without its poller's handles.
    pub fn missed_of(device: &str, n: u64) {
        counter!(POLLS_MISSED, "device" => device.to_string()).increment(n);
    }
}
