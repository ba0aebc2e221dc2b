//! The complete map of a SunSpec device: every top-level point of every model of its chain
//! whose definition is known, named `<model>_<point>` with its type, unit and SunSpec's
//! "not implemented" value, then the points of its groups: a group that appears once as
//! `<model>_<group>_<point>`, a repeating one (such as model 160's MPPT modules) as
//! `<model>_<group>_<n>_<point>` for n = 1, 2, ... as many times as the model's length
//! holds. The definitions are the official SunSpec models (`sunspec_models.json`, written by
//! `scripts/sunspec-models` from <https://github.com/sunspec/models>, Apache-2.0). Groups
//! that hold groups of their own (the curves of the 700-series models), and the groups
//! after them, are left out: their sizes depend on counts read from the device.

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
    #[serde(default)]
    groups: Vec<GroupDef>,
}

/// How often a group appears: a number (0: repeats to the model's end), a count point's
/// name, or once when absent.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Count {
    Times(u32),
    /// A count point, by name: the map needs only to know there is one.
    Point(serde::de::IgnoredAny),
}

#[derive(Debug, Deserialize)]
struct GroupDef {
    name: String,
    count: Option<Count>,
    points: Vec<PointDef>,
    nested: bool,
}

/// How many times a group of `size` registers appears with `room` registers left in the
/// model; `None` when that cannot be known without reading the device.
fn repetitions(count: Option<&Count>, last: bool, size: u32, room: u32) -> Option<u32> {
    match count {
        None => Some(1),
        Some(Count::Times(n)) if *n > 0 => Some(*n),
        // A repeating group, or one counted by a point, that ends the model fills it.
        Some(Count::Times(_) | Count::Point(_)) if last => Some(room / size),
        Some(_) => None,
    }
}

/// The map point of SunSpec point `def` at `address`, named `name`, scaled by the point
/// named `factor` (or a fixed power of ten).
fn point_at(
    name: String,
    (_, t, size, units, sf): &PointDef,
    address: u32,
    factor: impl Fn(&str) -> String,
) -> Option<RegisterPoint> {
    let ((data_type, na), address) = (map_type(t)?, u16::try_from(address).ok()?);
    if data_type != DataType::String && *size != data_type.width() {
        return None;
    }
    // A number is a fixed power of ten; a name, a register read with the value.
    let fixed = sf.parse::<i32>().ok();
    Some(RegisterPoint {
        name,
        register: RegisterRef::new(Table::HoldingRegister, address),
        data_type,
        unit: units.clone(),
        scale: fixed.map_or(1.0, |e| 10f64.powi(e)),
        length: (data_type == DataType::String).then_some(*size),
        limits: ValueLimits {
            not_available: na,
            ..ValueLimits::default()
        },
        scale_factor: (!sf.is_empty() && fixed.is_none()).then(|| factor(sf)),
        ..RegisterPoint::default()
    })
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
        for def in &def.points {
            let here = at;
            at += u32::from(def.2);
            if at > end {
                break;
            }
            let name = format!("{prefix}_{}", def.0);
            if let Some(p) = point_at(name, def, here, |sf| format!("{prefix}_{sf}")) {
                out.push((p, None));
            }
        }
        group_points(&mut out, &def.groups, &prefix, at, end);
    }
    unresolved_factors_as_comments(&mut out);
    out
}

/// The points of a model's `groups`, from `at` to the model's `end`.
fn group_points(
    out: &mut Vec<(RegisterPoint, Option<String>)>,
    groups: &[GroupDef],
    prefix: &str,
    mut at: u32,
    end: u32,
) {
    for (i, g) in groups.iter().enumerate() {
        let size: u32 = g.points.iter().map(|p| u32::from(p.2)).sum();
        if g.nested || size == 0 {
            return;
        }
        let last = i + 1 == groups.len();
        let Some(times) = repetitions(g.count.as_ref(), last, size, end.saturating_sub(at)) else {
            return;
        };
        let own: std::collections::HashSet<&str> = g.points.iter().map(|p| p.0.as_str()).collect();
        for n in 1..=times {
            let group = if g.count.is_none() {
                format!("{prefix}_{}", g.name)
            } else {
                format!("{prefix}_{}_{n}", g.name)
            };
            for def in &g.points {
                let here = at;
                at += u32::from(def.2);
                if at > end {
                    return;
                }
                // A factor is the group's own point when it has one so named, else the
                // model's.
                let factor = |sf: &str| {
                    if own.contains(sf) {
                        format!("{group}_{sf}")
                    } else {
                        format!("{prefix}_{sf}")
                    }
                };
                if let Some(p) = point_at(format!("{group}_{}", def.0), def, here, factor) {
                    out.push((p, None));
                }
            }
        }
    }
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

    #[test]
    fn groups_repeat_to_the_model_end_and_nested_ones_are_left_out() {
        assert_eq!(repetitions(None, false, 20, 100), Some(1));
        assert_eq!(repetitions(Some(&Count::Times(3)), false, 20, 100), Some(3));
        assert_eq!(repetitions(Some(&Count::Times(0)), true, 20, 45), Some(2));
        assert_eq!(
            repetitions(Some(&Count::Point(serde::de::IgnoredAny)), false, 20, 45),
            None
        );
        // Model 705 (volt-var) holds curves of points, counted by registers of the device:
        // only its own points are mapped.
        let map = SunSpecMap {
            base: 40_000,
            models: vec![SunSpecModel {
                id: 705,
                address: 40_002,
                len: 200,
            }],
            complete: true,
        };
        let points = sunspec_points(&map);
        assert!(points.len() > 5);
        assert!(
            points.iter().all(|(p, _)| !p.name.contains("_Crv_")),
            "{points:?}"
        );
    }
}
