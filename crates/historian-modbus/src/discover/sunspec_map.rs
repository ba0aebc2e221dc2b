//! The complete map of a SunSpec device: every top-level point of every model of its chain
//! whose definition is known, named `<model>_<point>` with its type, unit and SunSpec's
//! "not implemented" value. The definitions are the official SunSpec models
//! (`sunspec_models.json`, written by `scripts/sunspec-models` from
//! <https://github.com/sunspec/models>, Apache-2.0); repeating groups are not included.

use super::sunspec::SunSpecMap;
use historian_model::{DataType, RegisterPoint, RegisterRef, Table, ValueLimits};
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::OnceLock;

const MODELS: &str = include_str!("sunspec_models.json");

#[derive(Debug, Deserialize)]
struct Definitions {
    models: HashMap<String, ModelDef>,
}

/// A point as (name, type, size in registers, units, scale-factor point or a fixed
/// power of ten).
type PointDef = (String, String, u16, String, String);

#[derive(Debug, Deserialize)]
struct ModelDef {
    name: String,
    points: Vec<PointDef>,
}

fn definitions() -> Option<&'static Definitions> {
    static DEFS: OnceLock<Option<Definitions>> = OnceLock::new();
    DEFS.get_or_init(|| serde_json::from_str(MODELS).ok())
        .as_ref()
}

/// The map type of a SunSpec point type, and the raw value SunSpec sends for "not
/// implemented"; `None` for types the map cannot hold (padding, IPv6, EUI-48).
fn map_type(t: &str) -> Option<(DataType, Option<u64>)> {
    Some(match t {
        "int16" | "sunssf" => (DataType::Int16, Some(0x8000)),
        "uint16" | "enum16" | "bitfield16" => (DataType::Uint16, Some(0xFFFF)),
        "acc16" => (DataType::Uint16, Some(0)),
        "count" => (DataType::Uint16, None),
        "int32" => (DataType::Int32, Some(0x8000_0000)),
        "uint32" | "enum32" | "bitfield32" | "ipaddr" => (DataType::Uint32, Some(0xFFFF_FFFF)),
        "acc32" => (DataType::Uint32, Some(0)),
        "int64" => (DataType::Int64, Some(0x8000_0000_0000_0000)),
        "uint64" => (DataType::Uint64, Some(u64::MAX)),
        "acc64" => (DataType::Uint64, Some(0)),
        "float32" => (DataType::Float32, None),
        "float64" => (DataType::Float64, None),
        "string" => (DataType::String, None),
        _ => return None,
    })
}

/// The points of `map`'s models, each with a comment where a note is due (a scale factor
/// whose register the model does not hold; a model without a known definition). A point
/// scaled by a `*_SF` point refers to it as its `scale_factor`.
pub fn sunspec_points(map: &SunSpecMap) -> Vec<(RegisterPoint, Option<String>)> {
    let mut out = vec![(
        RegisterPoint {
            name: "sunspec_marker".into(),
            register: RegisterRef::new(Table::HoldingRegister, map.base),
            data_type: DataType::String,
            length: Some(2),
            ..RegisterPoint::default()
        },
        None,
    )];
    let Some(defs) = definitions() else {
        return out;
    };
    let mut seen: HashMap<u16, usize> = HashMap::new();
    for model in &map.models {
        let Some(def) = defs.models.get(&model.id.to_string()) else {
            out.push((
                RegisterPoint {
                    name: format!("sunspec_model_{}_at_{}", model.id, model.address),
                    register: RegisterRef::new(Table::HoldingRegister, model.address),
                    ..RegisterPoint::default()
                },
                Some(format!(
                    "SunSpec model {} ({} registers) has no known definition: only its id is mapped",
                    model.id, model.len
                )),
            ));
            continue;
        };
        let n = seen.entry(model.id).or_default();
        *n += 1;
        let prefix = if *n == 1 {
            def.name.clone()
        } else {
            format!("{}_{}", def.name, n)
        };
        let end = u32::from(model.address) + 2 + u32::from(model.len);
        let mut at = u32::from(model.address);
        for (name, t, size, units, sf) in &def.points {
            let here = at;
            at += u32::from(*size);
            if at > end {
                break;
            }
            let (Some((data_type, na)), Ok(address)) = (map_type(t), u16::try_from(here)) else {
                continue;
            };
            if data_type != DataType::String && *size != data_type.width() {
                continue;
            }
            // A number is a fixed power of ten; a name, a register read with the value.
            let fixed = sf.parse::<i32>().ok();
            let point = RegisterPoint {
                name: format!("{prefix}_{name}"),
                register: RegisterRef::new(Table::HoldingRegister, address),
                data_type,
                unit: units.clone(),
                scale: fixed.map_or(1.0, |e| 10f64.powi(e)),
                length: (data_type == DataType::String).then_some(*size),
                limits: ValueLimits {
                    not_available: na,
                    ..ValueLimits::default()
                },
                scale_factor: (!sf.is_empty() && fixed.is_none()).then(|| format!("{prefix}_{sf}")),
                ..RegisterPoint::default()
            };
            out.push((point, None));
        }
    }
    unresolved_factors_as_comments(&mut out);
    out
}

/// A scale-factor point the model's registers do not hold (cut off by a short model) cannot
/// be referred to: such a point stays raw, with a comment saying what to apply.
fn unresolved_factors_as_comments(out: &mut [(RegisterPoint, Option<String>)]) {
    let names: std::collections::HashSet<String> =
        out.iter().map(|(p, _)| p.name.clone()).collect();
    for (point, comment) in out.iter_mut() {
        if let Some(sf) = point
            .scale_factor
            .take_if(|sf| !names.contains(sf.as_str()))
        {
            *comment = Some(format!(
                "SunSpec {}: raw value; engineering value = raw x 10^{sf}",
                point.name
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::discover::sunspec::SunSpecModel;

    #[test]
    fn the_embedded_definitions_parse() {
        let defs = definitions().expect("sunspec_models.json parses");
        assert!(defs.models.len() > 100);
        assert_eq!(defs.models["103"].name, "inverter_three_phase");
    }

    #[test]
    fn an_inverter_maps_point_by_point() {
        let map = SunSpecMap {
            base: 40_000,
            models: vec![
                SunSpecModel {
                    id: 1,
                    address: 40_002,
                    len: 66,
                },
                SunSpecModel {
                    id: 103,
                    address: 40_070,
                    len: 50,
                },
            ],
            complete: true,
        };
        let points = sunspec_points(&map);
        let points: Vec<RegisterPoint> = points.into_iter().map(|(p, _)| p).collect();
        assert!(historian_model::check_map(&points).is_empty());
        let at = |name: &str| {
            points
                .iter()
                .find(|p| p.name == name)
                .unwrap_or_else(|| panic!("{name} in {points:#?}"))
        };
        assert_eq!(at("common_Mn").register.address, 40_004);
        assert_eq!(at("common_Mn").length, Some(16));
        let amps = at("inverter_three_phase_A");
        assert_eq!(
            (amps.register.address, amps.data_type),
            (40_072, DataType::Uint16)
        );
        assert_eq!(amps.unit, "A");
        assert_eq!(amps.limits.not_available, Some(0xFFFF));
        assert_eq!(
            amps.scale_factor.as_deref(),
            Some("inverter_three_phase_A_SF")
        );
        let sf = at("inverter_three_phase_A_SF");
        assert_eq!(
            (sf.register.address, sf.data_type),
            (40_076, DataType::Int16)
        );
        let energy = at("inverter_three_phase_WH");
        assert_eq!(energy.data_type, DataType::Uint32);
    }
}
