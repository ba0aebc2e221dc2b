//! Links shared by every unit behind one endpoint. A gateway (or a serial line) serves one
//! request at a time, so all unit ids at one host:port (or serial port) share one
//! connection, and a unit holds it for one request at a time: polls of different units
//! interleave request by request, and one request is in flight on the link.
//!
//! A unit the gateway reports unreachable (exception 0A/0B) is an answer, not a broken
//! link: the connection stays up for the other units while that unit's plan backs off.
//!
//! A unit that does not answer at all (a time-out) closes the shared link: its answer may
//! still arrive, and on a link without transaction ids (RTU over TCP, serial) it would be
//! taken for the next unit's. The other units reconnect on their next request, and the
//! silent unit backs off like an unreachable one, so it costs the link one time-out and
//! one reconnect per back-off step instead of one per poll.

use crate::client::{DeviceClient, ReadData, ReadError, Transport, UnitReader};
use crate::plan::ReadRequest;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

type Link = Arc<tokio::sync::Mutex<DeviceClient>>;

/// The links of a fleet, one per endpoint, handed out to the units behind each.
#[derive(Debug, Default, Clone)]
pub struct LinkPool {
    links: Arc<Mutex<HashMap<Transport, Link>>>,
}

impl LinkPool {
    /// A handle reading `unit` over the link to `transport`, opened on first use and shared
    /// with every other unit at the same endpoint.
    pub fn unit(&self, transport: Transport, unit: u8, timeout: Duration) -> SharedUnit {
        let link = match self.links.lock() {
            Ok(mut links) => Arc::clone(links.entry(transport.clone()).or_insert_with(|| {
                Arc::new(tokio::sync::Mutex::new(DeviceClient::with_transport(
                    transport, unit, timeout,
                )))
            })),
            // A poisoned map only means another thread panicked while inserting: give this
            // unit a link of its own rather than none.
            Err(_) => Arc::new(tokio::sync::Mutex::new(DeviceClient::with_transport(
                transport, unit, timeout,
            ))),
        };
        SharedUnit {
            link,
            unit,
            timeout,
        }
    }

    /// Drops the links no unit holds any more (their devices were removed or moved), so a
    /// long-running process that reloads devices does not keep dead connections open.
    pub fn prune(&self) -> usize {
        match self.links.lock() {
            Ok(mut links) => {
                let before = links.len();
                links.retain(|_, link| Arc::strong_count(link) > 1);
                before - links.len()
            }
            Err(_) => 0,
        }
    }

    /// Endpoints with a link.
    pub fn len(&self) -> usize {
        self.links.lock().map_or(0, |l| l.len())
    }

    /// True before the first unit is handed out.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One unit's share of a link (not `Clone`: each handle counts as one unit on the link).
#[derive(Debug)]
pub struct SharedUnit {
    link: Link,
    unit: u8,
    timeout: Duration,
}

impl SharedUnit {
    /// True while the shared link is connected.
    pub async fn is_connected(&self) -> bool {
        self.link.lock().await.is_connected()
    }
}

impl UnitReader for SharedUnit {
    async fn read(&mut self, req: &ReadRequest) -> Result<ReadData, ReadError> {
        // Held for exactly one request: the link carries one request at a time.
        let mut client = self.link.lock().await;
        client.set_timeout(self.timeout);
        client.read_unit(self.unit, req).await
    }

    fn shares_link(&self) -> bool {
        // The pool holds one reference; every other one is a unit's handle.
        Arc::strong_count(&self.link) > 2
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_share_a_link_and_unused_links_are_pruned() {
        let pool = LinkPool::default();
        let t = |p: u16| Transport::Tcp(format!("127.0.0.1:{p}"));
        let a = pool.unit(t(1502), 1, Duration::from_secs(1));
        let b = pool.unit(t(1502), 2, Duration::from_secs(1));
        let c = pool.unit(t(1503), 1, Duration::from_secs(1));
        assert!(Arc::ptr_eq(&a.link, &b.link), "one link per endpoint");
        assert!(a.shares_link() && b.shares_link());
        assert!(!c.shares_link(), "alone at its endpoint");
        assert_eq!(pool.len(), 2);
        drop(c);
        assert_eq!(pool.prune(), 1, "the endpoint nobody uses is closed");
        drop(a);
        assert_eq!(pool.prune(), 0, "b still uses the shared link");
        drop(b);
        assert_eq!(pool.prune(), 1);
        assert!(pool.is_empty());
    }
}
