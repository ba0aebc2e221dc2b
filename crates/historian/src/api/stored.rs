//! Devices and registers as the store keeps them, which is what history is asked by: a
//! disabled device, or a register taken out of its map, keeps its history and its name.

use super::error::ApiError;
use super::params::RegisterKey;
use historian_model::{RegisterPoint, RegisterRef};
use historian_store::{DeviceRecord, Store};

/// Every stored device, disabled ones included.
pub async fn stored_devices(store: &dyn Store) -> Result<Vec<DeviceRecord>, ApiError> {
    Ok(store.list_devices().await?)
}

/// The stored device with id `key`, or (when `key` is not a number) the newest one named
/// `key`.
pub fn pick_device<'a>(
    devices: &'a [DeviceRecord],
    key: &str,
) -> Result<&'a DeviceRecord, ApiError> {
    let found = match key.parse::<i64>() {
        Ok(id) => devices.iter().find(|d| d.id == id),
        Err(_) => devices
            .iter()
            .filter(|d| d.spec.name == key)
            .max_by_key(|d| d.id),
    };
    found.ok_or_else(|| ApiError::NotFound(format!("no device with id or name {key:?}")))
}

/// The stored device with id or name `key`.
pub async fn find_device(store: &dyn Store, key: &str) -> Result<DeviceRecord, ApiError> {
    let devices = stored_devices(store).await?;
    pick_device(&devices, key).cloned()
}

/// The stored devices named by `keys` (ids or names), or every enabled one when there are
/// none.
pub async fn find_devices(store: &dyn Store, keys: &[&str]) -> Result<Vec<DeviceRecord>, ApiError> {
    let devices = stored_devices(store).await?;
    if keys.is_empty() {
        return Ok(devices.into_iter().filter(|d| d.spec.enabled).collect());
    }
    keys.iter()
        .map(|k| pick_device(&devices, k).cloned())
        .collect()
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
}
