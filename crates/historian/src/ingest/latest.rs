//! The latest-value cache as a poll sink: the API's "value now" and its event stream.

use super::sink::{Backpressure, PollSink};
use crate::latest::LatestCache;
use historian_model::Reading;

impl PollSink for LatestCache {
    fn name(&self) -> &'static str {
        "latest"
    }

    /// It only updates memory; a slow event-stream subscriber misses batches (and is told
    /// so), the cache itself never falls behind.
    fn backpressure(&self) -> Backpressure {
        Backpressure::Never
    }

    fn offer(&self, poll: &[Reading]) {
        self.update(poll);
    }
}
