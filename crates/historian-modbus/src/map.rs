//! One device's register map: the points to read and how to turn their words into values.

use crate::types::{DataType, RegisterRef, Table, WordOrder};
use std::collections::HashMap;
use thiserror::Error;

/// One mapped quantity of a device, validated and ready to plan and decode.
#[derive(Debug, Clone, PartialEq)]
pub struct RegisterPoint {
    /// Human name, unique within its device (e.g. `phase_a_current`).
    pub name: String,
    /// Table and 0-based wire address of the first register (or bit).
    pub register: RegisterRef,
    /// How the words are interpreted.
    pub data_type: DataType,
    /// Word and byte order of multi-register values.
    pub word_order: WordOrder,
    /// Engineering value = raw * scale + offset.
    pub scale: f64,
    /// Added after scaling.
    pub offset: f64,
    /// Engineering unit (free text, may be empty).
    pub unit: String,
    /// Expected range and "not available" marker.
    pub limits: ValueLimits,
}

/// What a register's value is expected to be, for its quality flag.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ValueLimits {
    /// Engineering values below this are stored `uncertain`.
    pub min: Option<f64>,
    /// Engineering values above this are stored `uncertain`.
    pub max: Option<f64>,
    /// A raw value the device sends for "no measurement" (e.g. 0xFFFF or 0x8000), compared
    /// with the register bits before scaling; such a reading is stored `bad`, value null.
    pub not_available: Option<u64>,
}

/// A register map that cannot be polled as written.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MapError {
    /// A bit table holds a multi-bit type, or a word table holds `bool`.
    #[error("data type {data_type} cannot be read from the {table} table")]
    TypeNotInTable {
        /// The offending type.
        data_type: DataType,
        /// The table it was mapped into.
        table: Table,
    },
    /// The value would run past wire address 65535.
    #[error(
        "{data_type} at wire address {address} needs {width} registers and runs past address 65535"
    )]
    PastEnd {
        /// The first wire address.
        address: u16,
        /// Its data type.
        data_type: DataType,
        /// Registers it spans.
        width: u16,
    },
    /// Two points share a register (or bit).
    #[error("overlaps {other:?}, which also uses {table} address {address}")]
    Overlap {
        /// The point already holding the register.
        other: String,
        /// The shared table.
        table: Table,
        /// The shared wire address.
        address: u16,
    },
    /// Two points share a name.
    #[error("duplicate register name {0:?}")]
    DuplicateName(String),
}

impl RegisterPoint {
    /// Checks this point on its own: type fits its table and stays inside the address space.
    pub fn check(&self) -> Result<(), MapError> {
        let table = self.register.table;
        if table.is_bit() != (self.data_type == DataType::Bool) {
            return Err(MapError::TypeNotInTable {
                data_type: self.data_type,
                table,
            });
        }
        let width = self.data_type.width();
        if u32::from(self.register.address) + u32::from(width) > 65_536 {
            return Err(MapError::PastEnd {
                address: self.register.address,
                data_type: self.data_type,
                width,
            });
        }
        Ok(())
    }
}

/// Checks a whole map: every point on its own, then names and overlaps across points.
/// Returns each problem with the index of the point it belongs to.
pub fn check_map(points: &[RegisterPoint]) -> Vec<(usize, MapError)> {
    let mut errors = Vec::new();
    let mut names: HashMap<&str, usize> = HashMap::new();
    let mut used: HashMap<(Table, u16), usize> = HashMap::new();
    for (i, p) in points.iter().enumerate() {
        if let Err(e) = p.check() {
            errors.push((i, e));
            continue;
        }
        if names.insert(p.name.as_str(), i).is_some() {
            errors.push((i, MapError::DuplicateName(p.name.clone())));
        }
        for k in 0..p.data_type.width() {
            let address = p.register.address + k;
            if let Some(&other) = used.get(&(p.register.table, address)) {
                errors.push((
                    i,
                    MapError::Overlap {
                        other: points[other].name.clone(),
                        table: p.register.table,
                        address,
                    },
                ));
                break;
            }
            used.insert((p.register.table, address), i);
        }
    }
    errors
}

/// How a register map writes addresses; set once per map, never guessed per register.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Addressing {
    /// 0-based wire addresses (what goes in the request); needs a table.
    #[default]
    Wire,
    /// 1-based register numbers as many manuals print them (1 = wire 0); needs a table.
    OneBased,
    /// Modicon reference numbers that carry the table: five-digit (40001 = holding wire 0,
    /// 30001 = input, 10001 = discrete input, 1-9999 = coil) or six-digit (400001-465536,
    /// 300001-365536, 100001-165536). Six-digit coils above 9999 cannot be told from
    /// five-digit numbers: write those with `wire` or `one_based` and a table.
    Modicon,
}

impl std::str::FromStr for Addressing {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().replace('-', "_").as_str() {
            "wire" | "zero_based" | "0" => Ok(Addressing::Wire),
            "one_based" | "1" => Ok(Addressing::OneBased),
            "modicon" | "reference" => Ok(Addressing::Modicon),
            _ => Err(format!(
                "unknown addressing {s:?} (expected wire, one_based or modicon)"
            )),
        }
    }
}

impl Addressing {
    /// Resolves an address as written in a map into table and wire address.
    pub fn resolve(self, table: Option<Table>, address: i64) -> Result<RegisterRef, String> {
        let in_table = |wire: i64, range: &str| -> Result<RegisterRef, String> {
            let table = table.ok_or_else(|| {
                "a table is needed with this addressing (coil, discrete_input, \
                 input_register or holding_register)"
                    .to_string()
            })?;
            let wire = u16::try_from(wire)
                .map_err(|_| format!("address {address} is out of range {range}"))?;
            Ok(RegisterRef::new(table, wire))
        };
        match self {
            Addressing::Wire => in_table(address, "0-65535 (wire addressing)"),
            Addressing::OneBased => in_table(address - 1, "1-65536 (one_based addressing)"),
            Addressing::Modicon => {
                let r = match address {
                    1..=49_999 => {
                        let (prefix, offset) = (address / 10_000, address % 10_000);
                        let t = Table::ALL
                            .into_iter()
                            .find(|t| i64::from(t.prefix()) == prefix);
                        match (t, offset) {
                            (Some(t), 1..) => Ok(RegisterRef::new(t, (offset - 1) as u16)),
                            _ => Err(()),
                        }
                    }
                    100_001..=465_536 => {
                        RegisterRef::from_reference(address as u32).map_err(|_| ())
                    }
                    _ => Err(()),
                }
                .map_err(|()| {
                    format!(
                        "address {address} is not a Modicon reference (00001-09999, \
                         10001-19999, 30001-39999, 40001-49999 or six-digit \
                         100001-165536, 300001-365536, 400001-465536)"
                    )
                })?;
                match table {
                    Some(t) if t != r.table => Err(format!(
                        "address {address} is in the {} table but the table is given as {t}",
                        r.table
                    )),
                    _ => Ok(r),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addressing_modes_resolve_to_wire_addresses() {
        use Addressing::*;
        let hr = Some(Table::HoldingRegister);
        assert_eq!(
            Wire.resolve(hr, 0),
            Ok(RegisterRef::new(Table::HoldingRegister, 0))
        );
        assert_eq!(
            OneBased.resolve(hr, 1),
            Ok(RegisterRef::new(Table::HoldingRegister, 0))
        );
        assert_eq!(
            Modicon.resolve(None, 40_001),
            Ok(RegisterRef::new(Table::HoldingRegister, 0))
        );
        assert_eq!(
            Modicon.resolve(None, 30_100),
            Ok(RegisterRef::new(Table::InputRegister, 99))
        );
        assert_eq!(
            Modicon.resolve(None, 465_536),
            Ok(RegisterRef::new(Table::HoldingRegister, 65_535))
        );
        assert_eq!(
            Modicon.resolve(None, 5),
            Ok(RegisterRef::new(Table::Coil, 4))
        );
        assert!(Wire.resolve(hr, 65_536).is_err());
        assert!(Wire.resolve(None, 1).is_err());
        assert!(OneBased.resolve(hr, 0).is_err());
        assert!(Modicon.resolve(None, 20_001).is_err());
        assert!(Modicon.resolve(None, 40_000).is_err());
        assert!(Modicon.resolve(Some(Table::InputRegister), 40_001).is_err());
    }

    fn point(name: &str, table: Table, address: u16, data_type: DataType) -> RegisterPoint {
        RegisterPoint {
            limits: Default::default(),
            name: name.into(),
            register: RegisterRef::new(table, address),
            data_type,
            word_order: WordOrder::Abcd,
            scale: 1.0,
            offset: 0.0,
            unit: String::new(),
        }
    }

    #[test]
    fn impossible_maps_are_reported_point_by_point() {
        let map = vec![
            point("a", Table::HoldingRegister, 0, DataType::Float32),
            point("b", Table::HoldingRegister, 1, DataType::Uint16),
            point("a", Table::InputRegister, 0, DataType::Uint16),
            point("c", Table::Coil, 0, DataType::Float32),
            point("d", Table::InputRegister, 65_534, DataType::Float64),
            point("e", Table::InputRegister, 65_535, DataType::Uint16),
        ];
        let errors = check_map(&map);
        let rendered: Vec<(usize, String)> =
            errors.iter().map(|(i, e)| (*i, e.to_string())).collect();
        assert_eq!(
            rendered,
            vec![
                (
                    1,
                    "overlaps \"a\", which also uses holding_register address 1".to_string()
                ),
                (2, "duplicate register name \"a\"".to_string()),
                (
                    3,
                    "data type float32 cannot be read from the coil table".to_string()
                ),
                (
                    4,
                    "float64 at wire address 65534 needs 4 registers and runs past address 65535"
                        .to_string()
                ),
            ]
        );
    }
}
