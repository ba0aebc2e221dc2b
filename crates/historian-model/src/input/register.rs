//! One register as written in a map (config file, CSV or TOML map file) into a checked
//! [`RegisterPoint`], reporting every field that is wrong rather than the first.

use super::duration::{self, INTERVAL};
use super::text::{check_name, check_text};
use crate::point::{Addressing, RegisterPoint, ValueLimits};
use crate::types::{DataType, Table, WordOrder};
use serde::{Deserialize, Serialize};

/// A register exactly as written (a config file, an API body, a CSV row or a TOML map):
/// every field optional and loosely typed, so every mistake can be reported at once.
#[derive(Debug, Default, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default)]
pub struct RegisterInput {
    /// Register name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Table name or alias.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub table: Option<String>,
    /// Address in the map's addressing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<i64>,
    /// Data type name or alias.
    #[serde(alias = "type")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_type: Option<String>,
    /// Byte and word order.
    #[serde(alias = "word_order")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub byte_order: Option<String>,
    /// Multiplier.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scale: Option<f64>,
    /// Added after scaling.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset: Option<f64>,
    /// Engineering unit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// Lowest expected engineering value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    /// Highest expected engineering value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    /// Raw "no measurement" marker.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_available: Option<i64>,
    /// Bit of a register holding a bool.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bit: Option<i64>,
    /// Registers a string spans.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub length: Option<i64>,
    /// Slower poll interval of this register, e.g. `"1m"`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interval: Option<String>,
    /// Register holding this one's power-of-ten exponent: its name, or its address (in the
    /// map's addressing, same table).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scale_factor: Option<FactorInput>,
}

/// A scale-factor register as written: by name, or by address in the referring register's
/// table.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum FactorInput {
    /// Its address, in the map's addressing.
    Address(i64),
    /// Its name.
    Name(String),
}

/// Rewrites every scale factor given by address into the name of the register at that
/// address in the same table; one that names no register is left for [`RegisterInput::check`]
/// to report.
pub fn resolve_factor_addresses(inputs: &mut [RegisterInput], addressing: Addressing) {
    let place = |r: &RegisterInput, address: i64| {
        let table = r.table.as_deref().and_then(|t| t.parse::<Table>().ok());
        addressing.resolve(table, address).ok()
    };
    let at: Vec<Option<crate::types::RegisterRef>> = inputs
        .iter()
        .map(|r| r.address.and_then(|a| place(r, a)))
        .collect();
    for i in 0..inputs.len() {
        let Some(FactorInput::Address(a)) = inputs[i].scale_factor else {
            continue;
        };
        let Some(wanted) = place(&inputs[i], a) else {
            continue;
        };
        let found = at.iter().zip(inputs.iter()).find_map(|(r, other)| {
            r.filter(|r| r.table == wanted.table && r.address == wanted.address && r.bit.is_none())
                .and(other.name.clone())
        });
        if let Some(name) = found {
            inputs[i].scale_factor = Some(FactorInput::Name(name));
        }
    }
}

/// One wrong field of a register.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// The field as written in the map (`address`, `data_type`, ...); empty when the
    /// register as a whole is wrong (e.g. it overlaps another).
    pub field: &'static str,
    /// What is wrong.
    pub message: String,
}

impl FieldError {
    /// An error of `field` (empty: the register as a whole).
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            message: message.into(),
        }
    }
}

impl RegisterInput {
    /// Checks this register as written and builds its point; on failure every wrong field.
    pub fn check(self, addressing: Addressing) -> Result<RegisterPoint, Vec<FieldError>> {
        build_point(self, addressing)
    }

    /// The fields of `point` as a map writes them with wire addressing (for export).
    pub fn of(point: &RegisterPoint) -> Self {
        raw_of(point)
    }
}

fn build_point(r: RegisterInput, addressing: Addressing) -> Result<RegisterPoint, Vec<FieldError>> {
    let mut errors = Vec::new();
    let name = match &r.name {
        None => {
            errors.push(FieldError::new("name", "is required"));
            None
        }
        Some(n) => match check_name(n) {
            Ok(()) => Some(n.clone()),
            Err(e) => {
                errors.push(FieldError::new("name", e));
                None
            }
        },
    };
    if let Some(Err(e)) = r.unit.as_deref().map(check_text) {
        errors.push(FieldError::new("unit", e));
    }
    let table = match &r.table {
        None => Ok(None),
        Some(t) => t
            .parse::<Table>()
            .map(Some)
            .map_err(|e| errors.push(FieldError::new("table", e))),
    };
    let register = match (r.address, table) {
        (None, _) => {
            errors.push(FieldError::new("address", "is required"));
            None
        }
        // The table's own error already explains why the address cannot be placed.
        (Some(_), Err(())) => None,
        (Some(a), Ok(table)) => addressing
            .resolve(table, a)
            .map_err(|e| errors.push(FieldError::new("address", e)))
            .ok(),
    };
    let data_type = match &r.data_type {
        None => {
            errors.push(FieldError::new("data_type", "is required"));
            None
        }
        Some(t) => t
            .parse::<DataType>()
            .map_err(|e| errors.push(FieldError::new("data_type", e)))
            .ok(),
    };
    let word_order = match &r.byte_order {
        None => WordOrder::Abcd,
        Some(o) => o.parse().unwrap_or_else(|e| {
            errors.push(FieldError::new("byte_order", e));
            WordOrder::Abcd
        }),
    };
    let scale = r.scale.unwrap_or(1.0);
    if !scale.is_finite() || scale == 0.0 {
        errors.push(FieldError::new(
            "scale",
            format!("{scale} must be a finite, non-zero number"),
        ));
    }
    let offset = r.offset.unwrap_or(0.0);
    if !offset.is_finite() {
        errors.push(FieldError::new(
            "offset",
            format!("{offset} must be a finite number"),
        ));
    }
    let limits = check_limits(&r, data_type, &mut errors);
    let bit = r.bit.and_then(|b| match u8::try_from(b) {
        Ok(b @ 0..=15) => Some(b),
        _ => {
            errors.push(FieldError::new("bit", format!("{b} is out of range 0-15")));
            None
        }
    });
    let length = r.length.and_then(|n| match u16::try_from(n) {
        Ok(n @ 1..=125) => Some(n),
        _ => {
            errors.push(FieldError::new(
                "length",
                format!("{n} is out of range 1-125 (registers, two characters each)"),
            ));
            None
        }
    });
    let interval_ms = r.interval.as_deref().and_then(|t| match INTERVAL.text(t) {
        Ok(d) => Some(u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
        Err(e) => {
            errors.push(FieldError::new("interval", e));
            None
        }
    });
    let scale_factor = match r.scale_factor {
        None => None,
        Some(FactorInput::Name(n)) => match check_name(&n) {
            Ok(()) => Some(n),
            Err(e) => {
                errors.push(FieldError::new("scale_factor", e));
                None
            }
        },
        Some(FactorInput::Address(a)) => {
            errors.push(FieldError::new(
                "scale_factor",
                format!("no register of this map is at address {a} of this register's table"),
            ));
            None
        }
    };
    let (Some(name), Some(register), Some(data_type), true) =
        (name, register, data_type, errors.is_empty())
    else {
        return Err(errors);
    };
    let register = match bit {
        Some(b) => register.with_bit(b),
        None => register,
    };
    let point = RegisterPoint {
        name,
        register,
        data_type,
        word_order,
        scale,
        offset,
        unit: r.unit.unwrap_or_default(),
        limits,
        length,
        interval_ms,
        scale_factor,
    };
    point
        .check()
        .map_err(|e| vec![FieldError::new("", e.to_string())])?;
    Ok(point)
}

fn check_limits(
    r: &RegisterInput,
    data_type: Option<DataType>,
    errors: &mut Vec<FieldError>,
) -> ValueLimits {
    for (name, v) in [("min", r.min), ("max", r.max)] {
        if v.is_some_and(|v| !v.is_finite()) {
            errors.push(FieldError::new(name, "must be a finite number"));
        }
    }
    if let (Some(lo), Some(hi)) = (r.min, r.max)
        && lo > hi
    {
        errors.push(FieldError::new("max", format!("{hi} is below min {lo}")));
    }
    let not_available = r.not_available.and_then(|na| {
        let bits = data_type.map_or(64, |t| u32::from(t.width()) * 16);
        let fits = na >= 0 && (bits >= 64 || (na as u64) < (1u64 << bits));
        if fits && data_type != Some(DataType::Bool) {
            Some(na as u64)
        } else {
            errors.push(FieldError::new(
                "not_available",
                format!(
                    "{na} is not a raw value of this register (0 to 2^{bits}-1, written e.g. 0xFFFF; not for bool)"
                ),
            ));
            None
        }
    });
    ValueLimits {
        min: r.min,
        max: r.max,
        not_available,
    }
}

fn raw_of(point: &RegisterPoint) -> RegisterInput {
    let numeric = point.data_type != DataType::String;
    RegisterInput {
        name: Some(point.name.clone()),
        table: Some(point.register.table.as_str().to_string()),
        address: Some(i64::from(point.register.address)),
        data_type: Some(point.data_type.as_str().to_string()),
        byte_order: Some(point.word_order.as_str().to_string()),
        scale: numeric.then_some(point.scale),
        offset: numeric.then_some(point.offset),
        unit: Some(point.unit.clone()),
        min: point.limits.min,
        max: point.limits.max,
        not_available: point.limits.not_available.map(|v| v as i64),
        bit: point.register.bit.map(i64::from),
        length: point.length.map(i64::from),
        interval: point.interval_ms.map(duration::format_millis),
        scale_factor: point.scale_factor.clone().map(FactorInput::Name),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::RegisterRef;

    #[test]
    fn every_wrong_field_is_reported() {
        let raw = RegisterInput {
            name: Some(" ".into()),
            table: Some("holding".into()),
            address: Some(70_000),
            data_type: Some("float".into()),
            byte_order: Some("ABDC".into()),
            scale: Some(0.0),
            bit: Some(16),
            length: Some(0),
            min: Some(5.0),
            max: Some(1.0),
            ..RegisterInput::default()
        };
        let fields: Vec<&str> = build_point(raw, Addressing::Wire)
            .expect_err("invalid")
            .iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(
            fields,
            [
                "name",
                "address",
                "byte_order",
                "scale",
                "max",
                "bit",
                "length"
            ]
        );
    }

    #[test]
    fn a_point_round_trips_through_its_raw_form() {
        let raw = RegisterInput {
            name: Some("breaker_closed".into()),
            table: Some("HR".into()),
            address: Some(40_101),
            data_type: Some("bit".into()),
            bit: Some(3),
            ..RegisterInput::default()
        };
        let p = build_point(raw, Addressing::Modicon).expect("valid");
        assert_eq!(
            p.register,
            RegisterRef::new(Table::HoldingRegister, 100).with_bit(3)
        );
        assert_eq!(build_point(raw_of(&p), Addressing::Wire), Ok(p));
    }
}
