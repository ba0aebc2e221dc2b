//! Concurrent client connections per endpoint, and the most seen at once: a device that
//! allows one master at a time must never see two.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The connections open at one endpoint now, and the peak.
#[derive(Debug, Default)]
pub struct ConnectionGauge {
    open: AtomicUsize,
    peak: AtomicUsize,
}

impl ConnectionGauge {
    /// Connections open now.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::Acquire)
    }

    /// The most connections that were open at the same time.
    pub fn peak(&self) -> usize {
        self.peak.load(Ordering::Acquire)
    }

    /// Counts a connection until the returned guard is dropped.
    pub(crate) fn connect(self: &Arc<Self>) -> OpenConnection {
        let now = self.open.fetch_add(1, Ordering::AcqRel) + 1;
        self.peak.fetch_max(now, Ordering::AcqRel);
        OpenConnection(Arc::clone(self))
    }
}

/// One open connection, counted while it lives.
#[derive(Debug)]
pub(crate) struct OpenConnection(Arc<ConnectionGauge>);

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_peak_is_the_most_open_at_once() {
        let g = Arc::new(ConnectionGauge::default());
        let a = g.connect();
        drop(a);
        let b = g.connect();
        let c = g.connect();
        assert_eq!((g.open(), g.peak()), (2, 2));
        drop(b);
        drop(c);
        assert_eq!((g.open(), g.peak()), (0, 2));
    }
}
