//! The rule between a config file's devices and the maps stored in the database: a device
//! whose file entry lists no registers (neither `registers` nor `register_map`) keeps the
//! map stored for it (imported with `devices import` or written through the API); a file
//! entry that lists registers is the device's map and replaces the stored one. Both cases,
//! and a device left with nothing to poll, are said in the log.

use crate::config::DeviceConfig;
use historian_model::RegisterPoint;
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
            Some(map) if *map != d.spec.registers => warn_replaced(name, &d.spec.registers, map),
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

/// Whether the stored catalogue is needed before `devices` are written: only for a device
/// whose file entry lists no registers (reading a large fleet's catalogue takes a second
/// or more, and the sync reads it anyway).
pub fn needs_stored_maps(devices: &[DeviceConfig]) -> bool {
    devices.iter().any(|d| d.spec.registers.is_empty())
}

/// Says, for every device written with a map other than the one stored before (`before`
/// and `after` of the sync), that the file's map replaced the stored one: the same warning
/// as [`adopt_stored_maps`], from the sync itself when the catalogue was not read first.
pub fn warn_replaced_maps(before: &[DeviceRecord], after: &[DeviceRecord]) {
    let by_name: HashMap<&str, &DeviceRecord> =
        before.iter().map(|r| (r.spec.name.as_str(), r)).collect();
    for a in after {
        if let Some(b) = by_name.get(a.spec.name.as_str())
            && !b.spec.registers.is_empty()
            && b.spec.registers != a.spec.registers
        {
            warn_replaced(&a.spec.name, &a.spec.registers, &b.spec.registers);
        }
    }
}

fn warn_replaced(device: &str, file: &[RegisterPoint], stored: &[RegisterPoint]) {
    tracing::warn!(
        device,
        file_registers = file.len(),
        stored_registers = stored.len(),
        "the config file's register map replaces the one stored in the database; \
         leave `registers` and `register_map` out of the file to manage the map there"
    );
}
