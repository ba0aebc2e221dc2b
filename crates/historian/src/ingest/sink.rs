//! Sinks that see every poll as it arrives, beside the durable store: the latest-value
//! cache, Redis, and any later publisher. None of them may slow storage down.

use historian_model::Reading;

/// What a sink does when it cannot keep up with the pollers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backpressure {
    /// It never falls behind: it only updates memory.
    Never,
    /// It skips what it cannot take at once and counts what it skipped.
    SkipAndCount,
}

/// A consumer of polls that never holds the pollers back; only the durable store may.
pub trait PollSink: Send + Sync + std::fmt::Debug {
    /// A short name for logs.
    fn name(&self) -> &'static str;
    /// How it copes with a backlog.
    fn backpressure(&self) -> Backpressure;
    /// Takes one poll's readings without waiting.
    fn offer(&self, poll: &[Reading]);
}
