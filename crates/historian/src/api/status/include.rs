//! The `include` parameter of the device list: which devices besides those polled it
//! shows.

use crate::api::error::ApiError;
use crate::api::params::keywords;
use historian_store::DeviceRecord;
use serde::Deserialize;
use utoipa::IntoParams;

/// What `include` may name.
const ALLOWED: &str = "disabled, removed";

/// Query parameters of the device list.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DeviceListQuery {
    /// Devices listed besides enabled ones, comma-separated: `disabled` (not polled, kept
    /// with their history), `removed` (deleted while they had readings; history by id).
    /// Default `disabled`; empty: enabled devices only.
    #[param(
        pattern = "^((disabled|removed)(,(disabled|removed))*)?$",
        example = "disabled,removed"
    )]
    pub include: Option<String>,
}

/// Which devices the list shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Include {
    /// Disabled devices.
    pub disabled: bool,
    /// Removed devices.
    pub removed: bool,
}

impl Include {
    /// Reads `include`; absent means `disabled` (the list's answer before the parameter).
    pub fn parse(text: Option<&str>) -> Result<Self, ApiError> {
        let Some(text) = text else {
            return Ok(Include {
                disabled: true,
                removed: false,
            });
        };
        let mut out = Include {
            disabled: false,
            removed: false,
        };
        for word in keywords(Some(text)) {
            match word {
                "disabled" => out.disabled = true,
                "removed" => out.removed = true,
                other => {
                    return Err(ApiError::BadRequest(format!(
                        "include={other:?} is not a kind of device to include; write \
                         {ALLOWED} (several separated by commas), or nothing for \
                         enabled devices only"
                    )));
                }
            }
        }
        Ok(out)
    }

    /// Whether `device` is listed.
    pub fn shows(&self, device: &DeviceRecord) -> bool {
        match (device.removed_at.is_some(), device.spec.enabled) {
            (true, _) => self.removed,
            (false, true) => true,
            (false, false) => self.disabled,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use historian_model::DeviceSpec;

    fn device(enabled: bool, removed: bool) -> DeviceRecord {
        let mut d = DeviceRecord::new(
            1,
            DeviceSpec {
                name: "pm".into(),
                host: "127.0.0.1".into(),
                port: 502,
                unit_id: 1,
                poll_interval_ms: 1000,
                enabled,
                registers: Vec::new(),
                access: Default::default(),
            },
        );
        d.removed_at = removed.then(chrono::Utc::now);
        d
    }

    #[test]
    fn absent_lists_enabled_and_disabled_devices() {
        let all = [
            device(true, false),
            device(false, false),
            device(false, true),
        ];
        let shown = |text: Option<&str>| {
            let include = Include::parse(text).expect("valid");
            all.iter().map(|d| include.shows(d)).collect::<Vec<_>>()
        };
        assert_eq!(shown(None), [true, true, false]);
        assert_eq!(shown(Some("")), [true, false, false]);
        assert_eq!(shown(Some("removed")), [true, false, true]);
        assert_eq!(shown(Some("disabled,removed")), [true, true, true]);
    }

    #[test]
    fn an_unknown_word_names_the_parameter_and_the_allowed_values() {
        for text in ["deleted", "disabled,", "removed, disabled"] {
            let Err(ApiError::BadRequest(detail)) = Include::parse(Some(text)) else {
                panic!("{text:?} is refused");
            };
            assert!(
                detail.contains("include=") && detail.contains(ALLOWED),
                "{detail}"
            );
        }
    }
}
