//! The latest value of every register, kept in memory and warmed from the store at start-up,
//! so "what is the value now" never touches the database.

use historian_modbus::RegisterRef;
use historian_store::{Reading, Store, StoreError};
use std::collections::btree_map::Entry;
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
        // Readings arrive as whole polls: look each device up once per run, and each
        // register once (a profile had this cache at a fifth of all instructions).
        let mut rest = readings;
        while let Some(first) = rest.first() {
            let n = rest
                .iter()
                .take_while(|r| r.device_id == first.device_id)
                .count();
            let (run, tail) = rest.split_at(n);
            let slot = map.entry(first.device_id).or_default();
            for r in run {
                match slot.entry(r.register_address) {
                    Entry::Occupied(mut e) => {
                        if e.get().timestamp <= r.timestamp {
                            e.insert(r.clone());
                        }
                    }
                    Entry::Vacant(e) => {
                        e.insert(r.clone());
                    }
                }
            }
            rest = tail;
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
