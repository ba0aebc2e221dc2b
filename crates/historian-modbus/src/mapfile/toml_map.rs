//! TOML register maps: an optional `addressing` (it overrides the one the map is read
//! with), then one `[[registers]]` table per register with the same keys as a register in
//! the configuration file. Errors point at the key or value they are about.

use super::csv_map::column;
use super::reader::{Errors, MapFileError, Positions, assemble};
use historian_model::{Addressing, RegisterPoint};
use historian_model::{FactorInput, RegisterInput};
use serde::Serialize;
use toml::de::{DeTable, DeValue};

fn set_value(
    raw: &mut RegisterInput,
    field: &'static str,
    value: &DeValue<'_>,
    at: usize,
    errors: &mut Errors<'_>,
) {
    let text = || value.as_str().map(str::to_string);
    let int = || {
        value
            .as_integer()
            .and_then(|i| i64::from_str_radix(i.as_str(), i.radix()).ok())
    };
    let float = || match value {
        DeValue::Float(f) => f.as_str().replace('_', "").parse::<f64>().ok(),
        _ => int().map(|i| i as f64),
    };
    let (ok, expected) = match field {
        "name" | "table" | "data_type" | "byte_order" | "unit" | "interval" => {
            let v = text();
            let ok = v.is_some();
            match field {
                "name" => raw.name = v,
                "table" => raw.table = v,
                "data_type" => raw.data_type = v,
                "byte_order" => raw.byte_order = v,
                "interval" => raw.interval = v,
                _ => raw.unit = v,
            }
            (ok, "a string")
        }
        "scale_factor" => {
            let v = match value {
                DeValue::String(_) => text().map(FactorInput::Name),
                _ => int().map(FactorInput::Address),
            };
            let ok = v.is_some();
            raw.scale_factor = v;
            (ok, "a register name or address")
        }
        "address" | "not_available" | "bit" | "length" => {
            let v = int();
            let ok = v.is_some();
            match field {
                "address" => raw.address = v,
                "not_available" => raw.not_available = v,
                "bit" => raw.bit = v,
                _ => raw.length = v,
            }
            (ok, "a whole number")
        }
        _ => {
            let v = float();
            let ok = v.is_some();
            match field {
                "scale" => raw.scale = v,
                "offset" => raw.offset = v,
                "min" => raw.min = v,
                _ => raw.max = v,
            }
            (ok, "a number")
        }
    };
    if !ok {
        errors.at(
            at,
            format!("{field}: expected {expected}, found {}", value.type_str()),
        );
    }
}

/// Reads a TOML map; its own `addressing`, if any, replaces `addressing`.
pub fn parse(text: &str, addressing: Addressing) -> Result<Vec<RegisterPoint>, Vec<MapFileError>> {
    let mut errors = Errors::new(text);
    let doc = match DeTable::parse(text) {
        Ok(doc) => doc,
        Err(e) => {
            let at = e.span().map_or(0, |s| s.start);
            errors.at(at, e.message().trim().to_string());
            return Err(errors.finish());
        }
    };
    let mut addressing = addressing;
    let mut rows = Vec::new();
    let mut saw_registers = false;
    for (key, value) in doc.get_ref().iter() {
        let value_at = value.span().start;
        match key.get_ref().as_ref() {
            "addressing" => match value.get_ref().as_str().map(str::parse::<Addressing>) {
                Some(Ok(a)) => addressing = a,
                Some(Err(e)) => errors.at(value_at, format!("addressing: {e}")),
                None => errors.at(
                    value_at,
                    format!(
                        "addressing: expected a string, found {}",
                        value.get_ref().type_str()
                    ),
                ),
            },
            "registers" => {
                saw_registers = true;
                let Some(list) = value.get_ref().as_array() else {
                    errors.at(value_at, "registers: expected [[registers]] tables");
                    continue;
                };
                for entry in list {
                    let register_at = entry.span().start;
                    let Some(table) = entry.get_ref().as_table() else {
                        errors.at(register_at, "registers: expected a table per register");
                        continue;
                    };
                    let mut raw = RegisterInput::default();
                    let mut pos = Positions {
                        register: register_at,
                        ..Positions::default()
                    };
                    for (k, v) in table.iter() {
                        let key_at = k.span().start;
                        let Some(field) = column(k.get_ref()) else {
                            errors.at(
                                key_at,
                                format!(
                                    "unknown key {:?} (expected: {})",
                                    k.get_ref(),
                                    super::csv_map::CSV_COLUMNS.join(", ")
                                ),
                            );
                            continue;
                        };
                        pos.fields.push((field, v.span().start));
                        let before = errors.list.len();
                        set_value(&mut raw, field, v.get_ref(), v.span().start, &mut errors);
                        if errors.list.len() != before {
                            pos.reported.push(field);
                        }
                    }
                    rows.push((raw, pos));
                }
            }
            other => errors.at(
                key.span().start,
                format!("unknown key {other:?} (expected addressing or [[registers]])"),
            ),
        }
    }
    if !saw_registers {
        errors.at(0, "the file has no [[registers]]");
    }
    assemble(rows, addressing, errors)
}

#[derive(Serialize)]
struct MapFile {
    addressing: &'static str,
    registers: Vec<RegisterInput>,
}

/// Writes `points` as a TOML map with wire addressing.
pub fn to_toml(points: &[RegisterPoint]) -> String {
    let file = MapFile {
        addressing: "wire",
        registers: points.iter().map(RegisterInput::of).collect(),
    };
    // Strings, numbers and tables only: serialising them cannot fail.
    toml::to_string(&file).expect("a register map serialises to TOML")
}
