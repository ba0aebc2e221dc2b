//! Devices and registers as the store keeps them, which is what history is asked by: a
//! disabled device, or a register taken out of its map, keeps its history and its name; a
//! removed device keeps its history and its id, and its name until a new device takes it.

use super::error::ApiError;
use super::params::RegisterKey;
use crate::registry::Registry;
use historian_model::{RegisterPoint, RegisterRef};
use historian_store::{DeviceRecord, Store};

/// Every stored device, disabled and removed ones included, as the store holds it now.
pub async fn stored_devices(store: &dyn Store) -> Result<Vec<DeviceRecord>, ApiError> {
    Ok(store.list_devices_including_removed().await?)
}

/// The stored device with id `key`, or (when `key` is not a number) the one holding the
/// name `key`: the device of the catalogue so named, else the newest removed one.
pub fn pick_device<'a>(
    devices: &'a [DeviceRecord],
    key: &str,
) -> Result<&'a DeviceRecord, ApiError> {
    let found = match key.parse::<i64>() {
        Ok(id) => devices.iter().find(|d| d.id == id),
        Err(_) => devices
            .iter()
            .filter(|d| d.spec.name == key)
            .max_by_key(|d| (d.removed_at.is_none(), d.id)),
    };
    found.ok_or_else(|| ApiError::NotFound(format!("no device with id or name {key:?}")))
}

/// The stored device with id or name `key`: from the registry's copy of the catalogue,
/// which every reload renews; from the store only when the copy lacks it (a removed
/// device, a device made a moment ago whose change notification is still on its way, or
/// a 404).
pub async fn find_device(
    registry: &Registry,
    store: &dyn Store,
    key: &str,
) -> Result<DeviceRecord, ApiError> {
    if let Ok(found) = pick_device(&registry.stored(), key) {
        return Ok(found.clone());
    }
    let devices = stored_devices(store).await?;
    pick_device(&devices, key).cloned()
}

/// The stored devices named by `keys` (ids or names), or every enabled one when there are
/// none; looked up as [`find_device`] does.
pub async fn find_devices(
    registry: &Registry,
    store: &dyn Store,
    keys: &[&str],
) -> Result<Vec<DeviceRecord>, ApiError> {
    let known = registry.stored();
    if keys.is_empty() {
        return Ok(known.iter().filter(|d| d.spec.enabled).cloned().collect());
    }
    // The store is read at most once, and only for keys the copy lacks.
    let mut fresh: Option<Vec<DeviceRecord>> = None;
    let mut found = Vec::with_capacity(keys.len());
    for key in keys {
        if let Ok(d) = pick_device(&known, key) {
            found.push(d.clone());
            continue;
        }
        let devices = match &mut fresh {
            Some(d) => d,
            None => fresh.insert(stored_devices(store).await?),
        };
        found.push(pick_device(devices, key)?.clone());
    }
    Ok(found)
}

/// A register of `dev` by six-digit reference (400001) or by name: a current register, or
/// else one removed from the map whose name no current register has taken.
pub fn find_register<'a>(dev: &'a DeviceRecord, key: &str) -> Result<&'a RegisterPoint, ApiError> {
    let wanted = RegisterKey::parse(key)?;
    dev.find_register(|p| wanted.names(p)).ok_or_else(|| {
        ApiError::NotFound(format!(
            "device {:?} has no register {key:?} (give a six-digit reference such as \
             400001, or a register name)",
            dev.spec.name
        ))
    })
}

/// The registers of `dev` named in `registers` (its current map when the list is empty).
pub fn select_registers(
    dev: &DeviceRecord,
    registers: &[&str],
) -> Result<Vec<RegisterRef>, ApiError> {
    if registers.is_empty() {
        return Ok(dev.spec.registers.iter().map(|p| p.register).collect());
    }
    registers
        .iter()
        .map(|key| find_register(dev, key).map(|p| p.register))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use historian_model::{DeviceSpec, RegisterPoint};
    use historian_store::RemovedRegister;

    fn point(name: &str, reference: u32) -> RegisterPoint {
        RegisterPoint {
            name: name.into(),
            register: RegisterRef::from_reference(reference).expect("reference"),
            ..RegisterPoint::default()
        }
    }

    fn device(id: i64, name: &str, enabled: bool) -> DeviceRecord {
        DeviceRecord::new(
            id,
            DeviceSpec {
                name: name.into(),
                host: "127.0.0.1".into(),
                port: 502,
                unit_id: 1,
                poll_interval_ms: 1000,
                enabled,
                registers: vec![point("power", 400001)],
                access: Default::default(),
            },
        )
    }

    #[test]
    fn a_name_is_taken_by_the_newest_device_and_ids_reach_every_one() {
        let devices = [device(3, "pm", false), device(9, "pm", true)];
        assert_eq!(pick_device(&devices, "pm").map(|d| d.id).ok(), Some(9));
        assert_eq!(pick_device(&devices, "3").map(|d| d.id).ok(), Some(3));
        assert!(pick_device(&devices, "nope").is_err());
    }

    #[test]
    fn a_name_is_held_by_the_listed_device_before_any_removed_one() {
        let mut old = device(12, "pm", false);
        old.removed_at = Some(chrono::Utc::now());
        let mut older = device(2, "pm", false);
        older.removed_at = Some(chrono::Utc::now());
        let removed_only = [older.clone(), old.clone()];
        assert_eq!(
            pick_device(&removed_only, "pm").map(|d| d.id).ok(),
            Some(12)
        );
        let devices = [older, device(5, "pm", true), old];
        assert_eq!(pick_device(&devices, "pm").map(|d| d.id).ok(), Some(5));
        assert_eq!(pick_device(&devices, "12").map(|d| d.id).ok(), Some(12));
    }

    #[test]
    fn a_removed_register_answers_to_its_name_until_a_current_one_takes_it() {
        let mut dev = device(1, "pm", true);
        dev.removed_registers.push(RemovedRegister {
            point: point("energy", 400010),
            removed_at: chrono::Utc::now(),
        });
        let found = find_register(&dev, "energy").map(|p| p.register.reference());
        assert_eq!(found.ok(), Some(400010));
        assert_eq!(
            find_register(&dev, "400010").map(|p| p.name.clone()).ok(),
            Some("energy".to_string())
        );
        dev.spec.registers.push(point("energy", 400020));
        let found = find_register(&dev, "energy").map(|p| p.register.reference());
        assert_eq!(found.ok(), Some(400020));
        assert!(select_registers(&dev, &[]).is_ok_and(|r| r.len() == 2));
    }

    /// History requests name devices by the registry's copy of the catalogue, so they do not
    /// read every device and map from the store each time; a device the copy lacks (made
    /// since the last reload) is still found in the store.
    #[tokio::test]
    async fn devices_are_found_in_the_registry_copy_first_and_in_the_store_after() {
        use historian_store::sqlite::SqliteStore;
        let dir = tempfile::tempdir().expect("temp dir");
        let store = SqliteStore::open(&dir.path().join("s.db"), &Default::default())
            .await
            .expect("store");
        let stored = store
            .sync_devices(&[device(0, "in-store", true).spec])
            .await
            .expect("sync");
        // The registry's copy holds a device the store does not: the copy answers.
        let registry = Registry::build(&[], &[device(77, "in-copy", false)]);
        let found = find_device(&registry, &store, "in-copy").await;
        assert_eq!(found.map(|d| d.id).ok(), Some(77));
        let found = find_devices(&registry, &store, &["77"]).await;
        assert_eq!(found.map(|d| d.len()).ok(), Some(1));
        // Not in the copy: the store answers, by name and by id.
        let found = find_device(&registry, &store, "in-store").await;
        assert_eq!(found.map(|d| d.id).ok(), Some(stored[0].id));
        let id = stored[0].id.to_string();
        let found = find_devices(&registry, &store, &["in-copy", &id]).await;
        let names = found.map(|d| d.into_iter().map(|r| r.spec.name).collect::<Vec<_>>());
        assert_eq!(
            names.ok(),
            Some(vec!["in-copy".to_string(), "in-store".to_string()])
        );
        assert!(find_device(&registry, &store, "nowhere").await.is_err());
    }
}
