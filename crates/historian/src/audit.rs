//! The audit trail of configuration changes: who made each accepted change, what it is
//! called, the state before and after (devices as the API shows them), and the `audit`
//! log line. The store keeps the entry in the change's own transaction where it makes the
//! change (devices); other changes append theirs right after, and a change that cannot be
//! recorded is reported as failed.

use crate::api::devices::response::DeviceDetailResponse;
use chrono::Utc;
use historian_store::{AuditEntry, DeviceAudit, DeviceRecord, NewAuditEntry};

/// The tracing target of audit lines (`RUST_LOG=audit=info` keeps just them).
pub const TARGET: &str = "audit";

/// The names of the actions the trail records.
pub mod action {
    /// A device was created.
    pub const DEVICE_CREATE: &str = "device.create";
    /// A device was changed in more than whether it is polled.
    pub const DEVICE_UPDATE: &str = "device.update";
    /// A device was enabled and nothing else changed.
    pub const DEVICE_ENABLE: &str = "device.enable";
    /// A device was disabled and nothing else changed.
    pub const DEVICE_DISABLE: &str = "device.disable";
    /// A device was deleted.
    pub const DEVICE_DELETE: &str = "device.delete";
    /// A device's register map was replaced from a map file.
    pub const DEVICE_REGISTER_MAP: &str = "device.register_map";
    /// A discovery of a device was started.
    pub const DISCOVER_START: &str = "discover.start";
    /// Store maintenance was run on request.
    pub const STORAGE_MAINTENANCE: &str = "storage.maintenance";
    /// The config file's devices differed from the stored ones at start-up.
    pub const CONFIG_LOAD: &str = "config.load";
    /// An edit of the config file changed devices while running.
    pub const CONFIG_RELOAD: &str = "config.reload";
}

/// Who changes made by the config file are attributed to.
pub const BY_CONFIG: &str = "config";
/// Who changes made on the command line are attributed to.
pub const BY_CLI: &str = "cli";

/// Who made a change, and from where when known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// `token`, `local`, `config` or `cli`.
    pub who: String,
    /// The client's address, when the server knew it.
    pub peer: Option<String>,
}

impl Actor {
    /// `who`, from nowhere in particular.
    pub fn named(who: &str) -> Self {
        Actor {
            who: who.to_string(),
            peer: None,
        }
    }

    /// An entry by this actor, made now.
    pub fn entry(
        &self,
        action: &str,
        target: &str,
        before: Option<String>,
        after: Option<String>,
    ) -> NewAuditEntry {
        NewAuditEntry {
            time: Utc::now(),
            who: self.who.clone(),
            peer: self.peer.clone(),
            action: action.to_string(),
            target: target.to_string(),
            before,
            after,
        }
    }
}

/// Writes the `audit` log line of a kept entry (its states are in the trail, not the log).
pub fn log(entry: &AuditEntry) {
    tracing::info!(
        target: TARGET,
        id = entry.id,
        who = %entry.who,
        peer = entry.peer.as_deref(),
        action = %entry.action,
        object = %entry.target,
        "{} {} by {}",
        entry.action,
        entry.target,
        entry.who
    );
}

/// Any value as JSON text. Encoding the API's own answer types cannot fail; if it ever
/// did, the entry still says so rather than being lost.
pub fn json(value: &impl serde::Serialize) -> String {
    serde_json::to_string(value).unwrap_or_else(|e| {
        serde_json::json!({ "unrecorded": format!("the state could not be encoded: {e}") })
            .to_string()
    })
}

/// A device as the API shows it, as JSON text.
pub fn device_json(record: &DeviceRecord) -> String {
    json(&DeviceDetailResponse::from(record.clone()))
}

/// What a change of one device from `before` to `after` is called.
fn device_action(
    before: Option<&DeviceRecord>,
    after: Option<&DeviceRecord>,
) -> Option<&'static str> {
    Some(match (before, after) {
        (None, None) => return None,
        (None, Some(_)) => action::DEVICE_CREATE,
        (Some(_), None) => action::DEVICE_DELETE,
        (Some(b), Some(a)) => {
            let mut only_switched = b.spec.clone();
            only_switched.enabled = a.spec.enabled;
            match (b.spec.enabled, a.spec.enabled) {
                (false, true) if only_switched == a.spec => action::DEVICE_ENABLE,
                (true, false) if only_switched == a.spec => action::DEVICE_DISABLE,
                _ => action::DEVICE_UPDATE,
            }
        }
    })
}

/// The entry of a change of device `name` by `actor`: `action`, or when `None` what the
/// change turns out to be (create, enable, disable, update, delete), decided inside the
/// store's transaction, so a race with another writer is recorded as what happened.
pub fn device_change(actor: Actor, name: &str, action: Option<&'static str>) -> DeviceAudit {
    let name = name.to_string();
    Box::new(move |before, after| {
        let before = before.iter().find(|r| r.spec.name == name);
        let after = after.iter().find(|r| r.spec.name == name);
        let action = action.or_else(|| device_action(before, after))?;
        Some(actor.entry(
            action,
            &name,
            before.map(device_json),
            after.map(device_json),
        ))
    })
}

/// The entry of writing the devices of a config file (`source`) to the store: `action`
/// with, before and after, the devices that changed (an array each); none when no device
/// changed.
pub fn config_sync(action: &'static str, source: &str) -> DeviceAudit {
    let source = source.to_string();
    Box::new(move |before, after| {
        // By name through a map: a fleet's start-up compares thousands of devices.
        let by_name: std::collections::HashMap<&str, &DeviceRecord> =
            before.iter().map(|b| (b.spec.name.as_str(), b)).collect();
        let changed: Vec<(Option<&DeviceRecord>, &DeviceRecord)> = after
            .iter()
            .map(|a| (by_name.get(a.spec.name.as_str()).copied(), a))
            .filter(|(b, a)| *b != Some(*a))
            .collect();
        if changed.is_empty() {
            return None;
        }
        let was: Vec<DeviceDetailResponse> = changed
            .iter()
            .filter_map(|(b, _)| b.map(|b| b.clone().into()))
            .collect();
        let is: Vec<DeviceDetailResponse> =
            changed.iter().map(|(_, a)| (*a).clone().into()).collect();
        Some(Actor::named(BY_CONFIG).entry(action, &source, Some(json(&was)), Some(json(&is))))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use historian_model::DeviceSpec;

    fn record(enabled: bool, port: u16) -> DeviceRecord {
        DeviceRecord {
            id: 7,
            spec: DeviceSpec {
                name: "pm".into(),
                host: "127.0.0.1".into(),
                port,
                unit_id: 1,
                poll_interval_ms: 1000,
                enabled,
                registers: Vec::new(),
                access: Default::default(),
            },
            removed_registers: Vec::new(),
            removed_at: None,
        }
    }

    #[test]
    fn a_device_change_is_named_by_what_changed() {
        let on = record(true, 502);
        let off = record(false, 502);
        let moved_off = record(false, 1502);
        assert_eq!(device_action(None, None), None);
        assert_eq!(device_action(None, Some(&on)), Some(action::DEVICE_CREATE));
        assert_eq!(device_action(Some(&on), None), Some(action::DEVICE_DELETE));
        assert_eq!(
            device_action(Some(&on), Some(&off)),
            Some(action::DEVICE_DISABLE)
        );
        assert_eq!(
            device_action(Some(&off), Some(&on)),
            Some(action::DEVICE_ENABLE)
        );
        assert_eq!(
            device_action(Some(&on), Some(&moved_off)),
            Some(action::DEVICE_UPDATE)
        );
        assert_eq!(
            device_action(Some(&on), Some(&on)),
            Some(action::DEVICE_UPDATE)
        );
    }

    #[test]
    fn a_config_sync_records_only_the_devices_that_changed() {
        let make = || config_sync(action::CONFIG_RELOAD, "/etc/historian.toml");
        let on = record(true, 502);
        let mut other = record(true, 503);
        other.spec.name = "other".into();
        other.id = 8;
        assert_eq!(
            make()(&[on.clone(), other.clone()], &[on.clone(), other.clone()]),
            None
        );
        let entry = make()(
            &[on.clone(), other.clone()],
            &[record(false, 502), other.clone()],
        )
        .expect("a change");
        assert_eq!(
            (entry.who.as_str(), entry.target.as_str()),
            ("config", "/etc/historian.toml")
        );
        let before: serde_json::Value =
            serde_json::from_str(entry.before.as_deref().expect("before")).expect("json");
        let after: serde_json::Value =
            serde_json::from_str(entry.after.as_deref().expect("after")).expect("json");
        assert_eq!(before.as_array().map(Vec::len), Some(1));
        assert_eq!(
            (before[0]["name"].as_str(), before[0]["enabled"].as_bool()),
            (Some("pm"), Some(true))
        );
        assert_eq!(after[0]["enabled"], false);
        // A new device has no before.
        let entry = make()(&[], &[on]).expect("a creation");
        assert_eq!(entry.before.as_deref(), Some("[]"));
    }
}
