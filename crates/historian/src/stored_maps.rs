//! The rule between a config file's devices and the maps stored in the database: a device
//! whose file entry lists no registers (neither `registers` nor `register_map`) keeps the
//! map stored for it (imported with `devices import` or written through the API); a file
//! entry that lists registers is the device's map and replaces the stored one. Both cases,
//! and a device left with nothing to poll, are said in the log.

use crate::config::DeviceConfig;
use historian_store::DeviceRecord;
use std::collections::HashMap;

/// Applies the rule to `devices` (from the file) against `stored` (from the database).
pub fn adopt_stored_maps(devices: &mut [DeviceConfig], stored: &[DeviceRecord]) {
    let by_name: HashMap<&str, &DeviceRecord> =
        stored.iter().map(|r| (r.spec.name.as_str(), r)).collect();
    for d in devices.iter_mut() {
        let name = d.spec.name.as_str();
        let kept = by_name.get(name);
        let stored_map = kept.map(|r| &r.spec.registers).filter(|m| !m.is_empty());
        match stored_map {
            Some(map) if d.spec.registers.is_empty() => {
                tracing::info!(
                    device = name,
                    registers = map.len(),
                    "the config file lists no registers for this device: polling the map stored in the database"
                );
                d.spec.registers = map.clone();
            }
            Some(map) if *map != d.spec.registers => tracing::warn!(
                device = name,
                file_registers = d.spec.registers.len(),
                stored_registers = map.len(),
                "the config file's register map replaces the one stored in the database; \
                 leave `registers` and `register_map` out of the file to manage the map there"
            ),
            _ => {}
        }
        if d.spec.registers.is_empty() {
            tracing::warn!(
                device = name,
                "device has no registers: nothing to poll (add `registers` or `register_map` \
                 to the config file, or import a map with `devices import`)"
            );
        }
    }
}
