//! The latest value of every register, kept in memory and warmed from the store at start-up,
//! so "what is the value now" never touches the database. Every update is also published
//! to live subscribers (the API's event stream).

use historian_model::Reading;
use historian_store::{Store, StoreError};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use tokio::sync::broadcast;

/// Polled batches kept for a slow subscriber before it starts missing some.
pub const DEFAULT_LIVE_CAPACITY: usize = 1_024;

/// Latest reading per (device, register), and a feed of new readings.
#[derive(Debug)]
pub struct LatestCache {
    /// Per device, the latest reading of each register, in the order first polled.
    inner: RwLock<HashMap<i64, Vec<Reading>>>,
    live: broadcast::Sender<Arc<[Reading]>>,
}

impl Default for LatestCache {
    fn default() -> Self {
        Self::with_live_capacity(DEFAULT_LIVE_CAPACITY)
    }
}

impl LatestCache {
    /// A cache whose live feed keeps `capacity` batches for each subscriber.
    pub fn with_live_capacity(capacity: usize) -> Self {
        Self {
            inner: RwLock::default(),
            live: broadcast::channel(capacity.max(1)).0,
        }
    }

    /// Records readings, keeping the newer one where a register already has a value, and
    /// publishes them to subscribers. Never waits: a subscriber that falls more than the
    /// live capacity behind loses the oldest batches (and is told so), ingest never slows.
    pub fn update(&self, readings: &[Reading]) {
        self.merge(readings);
        if self.live.receiver_count() > 0 && !readings.is_empty() {
            // Err only means every subscriber left meanwhile.
            let _ = self.live.send(Arc::from(readings));
        }
    }

    /// Records readings, keeping the newer one where a register already has a value,
    /// without publishing them.
    fn merge(&self, readings: &[Reading]) {
        if let Ok(mut map) = self.inner.write() {
            // Readings arrive as whole polls, in the same register order poll after poll,
            // and each device's slot keeps them in the order first seen: the slot after the
            // last one written is nearly always the next register, so a poll is written
            // without searching (a profile at 100k readings/s had this cache as the
            // costliest function of the process when it searched a tree and cloned every
            // reading).
            let mut rest = readings;
            while let Some(first) = rest.first() {
                let n = rest
                    .iter()
                    .take_while(|r| r.device_id == first.device_id)
                    .count();
                let (run, tail) = rest.split_at(n);
                let slot = map.entry(first.device_id).or_default();
                let mut hint = 0;
                for r in run {
                    let at = match slot.get(hint) {
                        Some(s) if s.register_address == r.register_address => Some(hint),
                        // A poll of fewer registers (slower groups skipped) resumes
                        // further on; search from there first.
                        _ => {
                            let reg = r.register_address;
                            let from = hint.min(slot.len());
                            slot[from..]
                                .iter()
                                .position(|s| s.register_address == reg)
                                .map(|p| p + from)
                                .or_else(|| {
                                    slot[..from].iter().position(|s| s.register_address == reg)
                                })
                        }
                    };
                    hint = match at {
                        Some(i) => {
                            if slot[i].timestamp <= r.timestamp {
                                refresh(&mut slot[i], r);
                            }
                            i + 1
                        }
                        None => {
                            slot.push(r.clone());
                            slot.len()
                        }
                    };
                }
                rest = tail;
            }
        }
    }

    /// New readings from now on, one batch per poll.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<[Reading]>> {
        self.live.subscribe()
    }

    /// The latest reading of every register of a device, in register order.
    pub fn device(&self, device_id: i64) -> Vec<Reading> {
        self.inner
            .read()
            .ok()
            .and_then(|m| {
                m.get(&device_id).map(|regs| {
                    let mut out = regs.clone();
                    out.sort_by_key(|r| r.register_address);
                    out
                })
            })
            .unwrap_or_default()
    }

    /// Loads the stored latest values of `device_ids`. Safe beside polling: a stored value
    /// never replaces a newer polled one, and stored values are not published as live.
    pub async fn warm(&self, store: &dyn Store, device_ids: &[i64]) -> Result<usize, StoreError> {
        let mut n = 0;
        for &id in device_ids {
            let readings = store.get_device_readings_latest(id).await?;
            n += readings.len();
            self.merge(&readings);
        }
        Ok(n)
    }
}

/// Overwrites `dst` with the newer reading `src` of the same register, without touching
/// the shared name and unit when they are the same ones (the usual case).
fn refresh(dst: &mut Reading, src: &Reading) {
    dst.timestamp = src.timestamp;
    dst.value = src.value;
    dst.quality = src.quality;
    dst.data_type = src.data_type;
    if dst.text != src.text {
        dst.text.clone_from(&src.text);
    }
    if !Arc::ptr_eq(&dst.register_name, &src.register_name) {
        dst.register_name = Arc::clone(&src.register_name);
    }
    if !Arc::ptr_eq(&dst.unit, &src.unit) {
        dst.unit = Arc::clone(&src.unit);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, TimeZone, Utc};
    use historian_model::{DataType, Quality, RegisterRef, Table};

    fn reading(device: i64, address: u16, t: DateTime<Utc>, value: f64) -> Reading {
        Reading {
            timestamp: t,
            device_id: device,
            register_address: RegisterRef::new(Table::HoldingRegister, address),
            value: Some(value),
            text: None,
            quality: Quality::Good,
            register_name: Arc::from(format!("r{address}")),
            data_type: DataType::Uint16,
            unit: Arc::from(""),
        }
    }

    #[test]
    fn keeps_the_newest_value_per_register_in_register_order() {
        let cache = LatestCache::default();
        let t = |s: i64| Utc.timestamp_opt(1_700_000_000 + s, 0).unwrap();
        // Out of register order, two devices in one batch.
        cache.update(&[
            reading(1, 5, t(0), 5.0),
            reading(1, 2, t(0), 2.0),
            reading(2, 9, t(0), 9.0),
            reading(1, 7, t(0), 7.0),
        ]);
        // A later poll of a subset, a new register, and an older value that must lose.
        cache.update(&[
            reading(1, 2, t(1), 20.0),
            reading(1, 3, t(1), 30.0),
            reading(1, 7, t(-1), -7.0),
        ]);
        let got: Vec<(u16, f64)> = cache
            .device(1)
            .iter()
            .map(|r| (r.register_address.address, r.value.unwrap_or(f64::NAN)))
            .collect();
        assert_eq!(got, [(2, 20.0), (3, 30.0), (5, 5.0), (7, 7.0)]);
        assert_eq!(cache.device(2).len(), 1);
        assert!(cache.device(3).is_empty());
    }

    #[tokio::test]
    async fn warming_beside_polling_keeps_polled_values_and_publishes_nothing() {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = historian_store::StorageUrl::Sqlite(dir.path().join("h.db"));
        let store = historian_store::open(&url, &Default::default())
            .await
            .expect("store");
        let point = historian_model::RegisterPoint {
            name: "r2".into(),
            register: RegisterRef::new(Table::HoldingRegister, 2),
            ..Default::default()
        };
        let other = historian_model::RegisterPoint {
            name: "r3".into(),
            register: RegisterRef::new(Table::HoldingRegister, 3),
            ..Default::default()
        };
        let spec = historian_model::DeviceSpec {
            name: "pm".into(),
            host: "127.0.0.1".into(),
            port: 502,
            unit_id: 1,
            poll_interval_ms: 1000,
            enabled: true,
            registers: vec![point, other],
            access: Default::default(),
        };
        let id = store.write_devices(&[spec], false).await.expect("device")[0].id;
        let t = |s: i64| Utc.timestamp_opt(1_700_000_000 + s, 0).unwrap();
        store
            .insert_register_readings_batch(&[reading(id, 2, t(0), 1.0), reading(id, 3, t(0), 3.0)])
            .await
            .expect("stored");

        let cache = LatestCache::default();
        // Polled before the warm-up reaches the device: newer than what is stored.
        cache.update(&[reading(id, 2, t(5), 2.0)]);
        let mut live = cache.subscribe();
        assert_eq!(cache.warm(&*store, &[id]).await.expect("warm"), 2);
        let got: Vec<(u16, f64)> = cache
            .device(id)
            .iter()
            .map(|r| (r.register_address.address, r.value.unwrap_or(f64::NAN)))
            .collect();
        assert_eq!(got, [(2, 2.0), (3, 3.0)]);
        assert!(
            live.try_recv().is_err(),
            "stored values are not live readings"
        );
    }
}
