//! The latest value of every register, kept in memory and warmed from the store at start-up,
//! so "what is the value now" never touches the database.

use historian_modbus::RegisterRef;
use historian_store::{Reading, Store, StoreError};
use std::collections::{BTreeMap, HashMap};
use std::sync::RwLock;

/// Latest reading per (device, register).
#[derive(Debug, Default)]
pub struct LatestCache {
    inner: RwLock<HashMap<i64, BTreeMap<RegisterRef, Reading>>>,
}

impl LatestCache {
    /// Records readings, keeping the newer one where a register already has a value.
    pub fn update(&self, readings: &[Reading]) {
        let Ok(mut map) = self.inner.write() else {
            return;
        };
        for r in readings {
            let slot = map.entry(r.device_id).or_default();
            match slot.get(&r.register_address) {
                Some(old) if old.timestamp > r.timestamp => {}
                _ => {
                    slot.insert(r.register_address, r.clone());
                }
            }
        }
    }

    /// The latest reading of every register of a device, in register order.
    pub fn device(&self, device_id: i64) -> Vec<Reading> {
        self.inner
            .read()
            .ok()
            .and_then(|m| {
                m.get(&device_id)
                    .map(|regs| regs.values().cloned().collect())
            })
            .unwrap_or_default()
    }

    /// Loads the stored latest values of `device_ids`.
    pub async fn warm(&self, store: &dyn Store, device_ids: &[i64]) -> Result<usize, StoreError> {
        let mut n = 0;
        for &id in device_ids {
            let readings = store.get_device_readings_latest(id).await?;
            n += readings.len();
            self.update(&readings);
        }
        Ok(n)
    }
}
