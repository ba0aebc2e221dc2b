//! One device's register map: the points to read and how to turn their words into values,
//! and the checks that make a map pollable.

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
    /// For a `string`: how many registers it spans (two characters each).
    pub length: Option<u16>,
    /// Poll this register less often than its device: every this many milliseconds,
    /// rounded up to a whole number of device polls (`None`: at every device poll).
    pub interval_ms: Option<u64>,
    /// Name of an integer register of the same map holding a power-of-ten exponent (SunSpec
    /// `*_SF`), read in the same poll: engineering value = raw × 10^exponent × scale + offset.
    pub scale_factor: Option<String>,
}

impl Default for RegisterPoint {
    /// A uint16 holding register at wire address 0 with no name, scale 1 and offset 0.
    fn default() -> Self {
        Self {
            name: String::new(),
            register: RegisterRef::new(Table::HoldingRegister, 0),
            data_type: DataType::Uint16,
            word_order: WordOrder::Abcd,
            scale: 1.0,
            offset: 0.0,
            unit: String::new(),
            limits: ValueLimits::default(),
            length: None,
            interval_ms: None,
            scale_factor: None,
        }
    }
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
    /// Two points use the same bit of one register.
    #[error("overlaps {other:?}, which also uses bit {bit} of {table} address {address}")]
    OverlapBit {
        /// The point already holding the bit.
        other: String,
        /// The shared table.
        table: Table,
        /// The shared wire address.
        address: u16,
        /// The shared bit.
        bit: u8,
    },
    /// Two points share a name.
    #[error("duplicate register name {0:?}")]
    DuplicateName(String),
    /// A `bool` in a register table without a bit number.
    #[error("bool in the {0} table needs a bit (0-15): which bit of the register holds it")]
    BitMissing(Table),
    /// A bit number on something that is not a `bool` in a register table.
    #[error("{0}")]
    BitMisplaced(&'static str),
    /// A bit number past the register's 16 bits.
    #[error("bit {0} is out of range 0-15")]
    BitOutOfRange(u8),
    /// A string without a usable length.
    #[error("string needs a length of 1-125 registers (two characters each)")]
    StringLength,
    /// A length on a type whose width is fixed.
    #[error("length applies to string only; {0} has a fixed width")]
    LengthNotString(DataType),
    /// A string with a register order that swaps words.
    #[error(
        "byte order {0} reorders registers; a string takes ABCD (first character in the high \
         byte of each register) or BADC (first character in the low byte)"
    )]
    StringWordOrder(WordOrder),
    /// Scaling or limits on a string.
    #[error("{0} does not apply to a string")]
    NotForString(&'static str),
    /// A scale factor on a type that has no numeric value to scale.
    #[error("scale_factor applies to numbers; {0} has none to scale")]
    ScaleFactorType(DataType),
    /// A scale-factor register that is not in the map.
    #[error("scale_factor {0:?} is not a register of this map")]
    ScaleFactorMissing(String),
    /// A scale-factor register that cannot hold an exponent.
    #[error("scale_factor {name:?} is {data_type}; an exponent register must be an integer type")]
    ScaleFactorNotInteger {
        /// The referenced register.
        name: String,
        /// Its type.
        data_type: DataType,
    },
    /// A scale-factor register that is scaled by a factor itself.
    #[error("scale_factor {0:?} has a scale_factor of its own; an exponent must be read as it is")]
    ScaleFactorChained(String),
}

impl RegisterPoint {
    /// Registers (or bits) the point spans: its type's width, or its length for a string.
    pub fn width(&self) -> u16 {
        match (self.data_type, self.length) {
            (DataType::String, Some(n)) => n.max(1),
            (t, _) => t.width(),
        }
    }

    /// Checks this point on its own: type fits its table, type-specific fields are where they
    /// belong, and it stays inside the address space.
    pub fn check(&self) -> Result<(), MapError> {
        let table = self.register.table;
        let is_bool = self.data_type == DataType::Bool;
        if table.is_bit() && !is_bool {
            return Err(MapError::TypeNotInTable {
                data_type: self.data_type,
                table,
            });
        }
        match self.register.bit {
            Some(_) if table.is_bit() => {
                return Err(MapError::BitMisplaced(
                    "bit applies to registers; a coil or discrete input is a single bit already",
                ));
            }
            Some(_) if !is_bool => {
                return Err(MapError::BitMisplaced("bit applies to data type bool only"));
            }
            Some(b) if b > 15 => return Err(MapError::BitOutOfRange(b)),
            None if is_bool && !table.is_bit() => return Err(MapError::BitMissing(table)),
            _ => {}
        }
        if self.data_type == DataType::String {
            if !matches!(self.length, Some(1..=125)) {
                return Err(MapError::StringLength);
            }
            if self.word_order.swaps_words() {
                return Err(MapError::StringWordOrder(self.word_order));
            }
            let l = &self.limits;
            let unused = [
                (self.scale != 1.0, "scale"),
                (self.offset != 0.0, "offset"),
                (l.min.is_some(), "min"),
                (l.max.is_some(), "max"),
                (l.not_available.is_some(), "not_available"),
            ];
            if let Some((_, field)) = unused.into_iter().find(|(set, _)| *set) {
                return Err(MapError::NotForString(field));
            }
        } else if self.length.is_some() {
            return Err(MapError::LengthNotString(self.data_type));
        }
        if self.scale_factor.is_some()
            && matches!(self.data_type, DataType::String | DataType::Bool)
        {
            return Err(MapError::ScaleFactorType(self.data_type));
        }
        let width = self.width();
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

/// The registers whose name an earlier register already has, as (index, name): checked on
/// the names as written, so a duplicate is reported even when either register has other
/// mistakes (which keep it out of [`check_map`]).
pub fn duplicate_names<'a>(
    names: impl IntoIterator<Item = Option<&'a str>>,
) -> Vec<(usize, MapError)> {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    let mut dups = Vec::new();
    for (i, name) in names.into_iter().enumerate() {
        if let Some(name) = name
            && seen.insert(name, i).is_some()
        {
            dups.push((i, MapError::DuplicateName(name.to_string())));
        }
    }
    dups
}

/// Checks a whole map: every point on its own, then names and overlaps across points.
/// Returns each problem with the index of the point it belongs to.
pub fn check_map(points: &[RegisterPoint]) -> Vec<(usize, MapError)> {
    let mut errors = Vec::new();
    let mut names: HashMap<&str, usize> = HashMap::new();
    // Registers used whole, bits used one by one, and the first bit user of each register.
    let mut whole: HashMap<(Table, u16), usize> = HashMap::new();
    let mut bits: HashMap<(Table, u16, u8), usize> = HashMap::new();
    let mut bit_registers: HashMap<(Table, u16), usize> = HashMap::new();
    for (i, p) in points.iter().enumerate() {
        if let Err(e) = p.check() {
            errors.push((i, e));
            continue;
        }
        if names.insert(p.name.as_str(), i).is_some() {
            errors.push((i, MapError::DuplicateName(p.name.clone())));
        }
        let table = p.register.table;
        if let (Some(bit), false) = (p.register.bit, table.is_bit()) {
            let address = p.register.address;
            let clash = if let Some(&other) = whole.get(&(table, address)) {
                Some(MapError::Overlap {
                    other: points[other].name.clone(),
                    table,
                    address,
                })
            } else if let Some(&other) = bits.get(&(table, address, bit)) {
                Some(MapError::OverlapBit {
                    other: points[other].name.clone(),
                    table,
                    address,
                    bit,
                })
            } else {
                bits.insert((table, address, bit), i);
                bit_registers.entry((table, address)).or_insert(i);
                None
            };
            errors.extend(clash.map(|e| (i, e)));
            continue;
        }
        for k in 0..p.width() {
            let address = p.register.address + k;
            let other = whole
                .get(&(table, address))
                .or_else(|| bit_registers.get(&(table, address)));
            if let Some(&other) = other {
                errors.push((
                    i,
                    MapError::Overlap {
                        other: points[other].name.clone(),
                        table,
                        address,
                    },
                ));
                break;
            }
            whole.insert((table, address), i);
        }
    }
    for (i, p) in points.iter().enumerate() {
        if let Some(e) = p
            .scale_factor
            .as_deref()
            .and_then(|sf| check_factor(&names, points, sf))
        {
            errors.push((i, e));
        }
    }
    errors
}

/// Why the register `name` cannot serve as a scale-factor register of `points`, if it cannot.
fn check_factor(
    names: &HashMap<&str, usize>,
    points: &[RegisterPoint],
    name: &str,
) -> Option<MapError> {
    let Some(f) = names.get(name).map(|&j| &points[j]) else {
        return Some(MapError::ScaleFactorMissing(name.to_string()));
    };
    if !f.data_type.is_integer() || f.register.bit.is_some() {
        return Some(MapError::ScaleFactorNotInteger {
            name: name.to_string(),
            data_type: f.data_type,
        });
    }
    f.scale_factor
        .is_some()
        .then(|| MapError::ScaleFactorChained(name.to_string()))
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
        let word = s.trim().to_ascii_lowercase().replace('-', "_");
        Addressing::WORDS
            .iter()
            .find(|(w, _)| *w == word)
            .map(|(_, a)| *a)
            .ok_or_else(|| {
                format!("unknown addressing {s:?} (expected wire, one_based or modicon)")
            })
    }
}

impl Addressing {
    /// Every spelling `FromStr` accepts (after trimming, lower-casing, and reading `-` as
    /// `_`).
    pub const WORDS: [(&'static str, Addressing); 7] = [
        ("wire", Addressing::Wire),
        ("zero_based", Addressing::Wire),
        ("0", Addressing::Wire),
        ("one_based", Addressing::OneBased),
        ("1", Addressing::OneBased),
        ("modicon", Addressing::Modicon),
        ("reference", Addressing::Modicon),
    ];

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
            name: name.into(),
            register: RegisterRef::new(table, address),
            data_type,
            ..RegisterPoint::default()
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

    #[test]
    fn strings_and_register_bits_are_checked() {
        let hr = |address| RegisterRef::new(Table::HoldingRegister, address);
        let bit = |name: &str, address, b| RegisterPoint {
            name: name.into(),
            register: hr(address).with_bit(b),
            data_type: DataType::Bool,
            ..RegisterPoint::default()
        };
        let text = |name: &str, address, length| RegisterPoint {
            name: name.into(),
            register: hr(address),
            data_type: DataType::String,
            length,
            ..RegisterPoint::default()
        };
        let map = vec![
            bit("trip", 0, 0),
            bit("close", 0, 1),
            bit("again", 0, 1),
            point("whole", Table::HoldingRegister, 0, DataType::Uint16),
            bit("high", 0, 16),
            bit("coil_bit", 0, 3),
            text("model", 1, Some(4)),
            text("no_length", 10, None),
            text("too_long", 10, Some(126)),
            RegisterPoint {
                word_order: WordOrder::Cdab,
                ..text("swapped", 20, Some(2))
            },
            RegisterPoint {
                scale: 0.1,
                ..text("scaled", 30, Some(2))
            },
            RegisterPoint {
                length: Some(2),
                ..point("sized", Table::HoldingRegister, 40, DataType::Uint32)
            },
            RegisterPoint {
                register: hr(50),
                ..bit("bitless", 50, 0)
            },
            RegisterPoint {
                register: hr(60).with_bit(2),
                ..point("u16bit", Table::HoldingRegister, 60, DataType::Uint16)
            },
            bit("inside_string", 2, 4),
        ];
        let mut map = map;
        map[5].register = RegisterRef::new(Table::Coil, 0).with_bit(3);
        let rendered: Vec<(usize, String)> = check_map(&map)
            .iter()
            .map(|(i, e)| (*i, e.to_string()))
            .collect();
        let want: Vec<(usize, &str)> = vec![
            (
                2,
                "overlaps \"close\", which also uses bit 1 of holding_register address 0",
            ),
            (
                3,
                "overlaps \"trip\", which also uses holding_register address 0",
            ),
            (4, "bit 16 is out of range 0-15"),
            (
                5,
                "bit applies to registers; a coil or discrete input is a single bit already",
            ),
            (
                7,
                "string needs a length of 1-125 registers (two characters each)",
            ),
            (
                8,
                "string needs a length of 1-125 registers (two characters each)",
            ),
            (
                9,
                "byte order CDAB reorders registers; a string takes ABCD (first character in the \
                 high byte of each register) or BADC (first character in the low byte)",
            ),
            (10, "scale does not apply to a string"),
            (
                11,
                "length applies to string only; uint32 has a fixed width",
            ),
            (
                12,
                "bool in the holding_register table needs a bit (0-15): which bit of the register holds it",
            ),
            (13, "bit applies to data type bool only"),
            (
                14,
                "overlaps \"model\", which also uses holding_register address 2",
            ),
        ];
        let want: Vec<(usize, String)> = want.into_iter().map(|(i, m)| (i, m.into())).collect();
        assert_eq!(rendered, want);
        assert_eq!(map[6].width(), 4);
    }
}
