//! Checked protocol vocabulary: Modbus tables, data types, word orders, quality and the
//! unambiguous register reference used everywhere outside the wire.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// One of the four Modbus data tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Table {
    /// Read/write single bits, function code 1.
    Coil,
    /// Read-only single bits, function code 2.
    DiscreteInput,
    /// Read-only 16-bit words, function code 4.
    InputRegister,
    /// Read/write 16-bit words, function code 3.
    HoldingRegister,
}

impl Table {
    /// Every table, in reference-number order.
    pub const ALL: [Table; 4] = [
        Table::Coil,
        Table::DiscreteInput,
        Table::InputRegister,
        Table::HoldingRegister,
    ];

    /// The leading digit of the six-digit Modicon reference (0xxxxx, 1xxxxx, 3xxxxx, 4xxxxx).
    pub const fn prefix(self) -> u32 {
        match self {
            Table::Coil => 0,
            Table::DiscreteInput => 1,
            Table::InputRegister => 3,
            Table::HoldingRegister => 4,
        }
    }

    /// True for the single-bit tables (coils and discrete inputs).
    pub const fn is_bit(self) -> bool {
        matches!(self, Table::Coil | Table::DiscreteInput)
    }

    /// The Modbus function code that reads this table.
    pub const fn read_function_code(self) -> u8 {
        match self {
            Table::Coil => 1,
            Table::DiscreteInput => 2,
            Table::HoldingRegister => 3,
            Table::InputRegister => 4,
        }
    }

    /// The canonical spelling used in config files, CSV and the API.
    pub const fn as_str(self) -> &'static str {
        match self {
            Table::Coil => "coil",
            Table::DiscreteInput => "discrete_input",
            Table::InputRegister => "input_register",
            Table::HoldingRegister => "holding_register",
        }
    }
}

impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Table {
    /// Every spelling `FromStr` accepts (after trimming, lower-casing, and reading `-` and
    /// ` ` as `_`): the canonical names and the aliases found in device manuals.
    pub const WORDS: [(&'static str, Table); 15] = [
        ("coil", Table::Coil),
        ("coils", Table::Coil),
        ("co", Table::Coil),
        ("discrete_input", Table::DiscreteInput),
        ("discrete_inputs", Table::DiscreteInput),
        ("discrete", Table::DiscreteInput),
        ("di", Table::DiscreteInput),
        ("input_register", Table::InputRegister),
        ("input_registers", Table::InputRegister),
        ("input", Table::InputRegister),
        ("ir", Table::InputRegister),
        ("holding_register", Table::HoldingRegister),
        ("holding_registers", Table::HoldingRegister),
        ("holding", Table::HoldingRegister),
        ("hr", Table::HoldingRegister),
    ];
}

impl FromStr for Table {
    type Err = String;
    /// Accepts the canonical names and the aliases found in device manuals.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let word = s.trim().to_ascii_lowercase().replace(['-', ' '], "_");
        Table::WORDS
            .iter()
            .find(|(w, _)| *w == word)
            .map(|(_, t)| *t)
            .ok_or_else(|| {
                format!(
                    "unknown table {s:?} (expected one of: coil, discrete_input, input_register, holding_register)"
                )
            })
    }
}

/// Largest valid six-digit reference offset: wire address 65535 is reference x65536.
const REFERENCE_SPAN: u32 = 100_000;
/// The smallest bit reference (bit 0 of input register 0); anything below is six-digit.
const BIT_REFERENCE_START: u32 = 30_000_100;

/// A register's identity: its table, its 0-based wire address and, for a boolean kept in
/// one bit of a register, the bit.
///
/// Outside the wire it is written as the six-digit Modicon reference number
/// `table_prefix * 100000 + wire_address + 1`, so holding register 0 is `400001` and
/// input register 0 is `300001`: one integer that is never ambiguous across tables.
/// A bit of a register appends two digits, `reference * 100 + bit`: bit 3 of holding
/// register 0 is `40000103` (read "400001.03"). Those eight-digit numbers start at
/// 30000100, above every six-digit reference, so the two forms never collide.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RegisterRef {
    /// The Modbus table.
    pub table: Table,
    /// The 0-based address sent on the wire.
    pub address: u16,
    /// For a boolean kept in one bit of a register: the bit (0 = least significant).
    pub bit: Option<u8>,
}

impl RegisterRef {
    /// Builds a reference from a table and a 0-based wire address.
    pub const fn new(table: Table, address: u16) -> Self {
        Self {
            table,
            address,
            bit: None,
        }
    }

    /// The same register, naming one of its bits.
    pub const fn with_bit(self, bit: u8) -> Self {
        Self {
            bit: Some(bit),
            ..self
        }
    }

    /// The reference number: six digits (`400001` for holding register 0), or eight for a
    /// bit of a register (`40000103` for its bit 3).
    pub const fn reference(self) -> u32 {
        let whole = self.table.prefix() * REFERENCE_SPAN + self.address as u32 + 1;
        match self.bit {
            Some(bit) => whole * 100 + bit as u32,
            None => whole,
        }
    }

    /// Parses a six-digit reference number, or an eight-digit bit reference, back into
    /// table, wire address and bit.
    pub fn from_reference(reference: u32) -> Result<Self, String> {
        if reference >= BIT_REFERENCE_START {
            let (whole, bit) = (reference / 100, reference % 100);
            return match Self::from_whole_reference(whole) {
                Ok(r) if !r.table.is_bit() && bit < 16 => Ok(r.with_bit(bit as u8)),
                _ => Err(format!(
                    "register address {reference} is not a bit reference: expected \
                     30000100-36553615 or 40000100-46553615 (reference * 100 + bit 0-15)"
                )),
            };
        }
        Self::from_whole_reference(reference)
    }

    fn from_whole_reference(reference: u32) -> Result<Self, String> {
        let prefix = reference / REFERENCE_SPAN;
        let offset = reference % REFERENCE_SPAN;
        let table = Table::ALL
            .into_iter()
            .find(|t| t.prefix() == prefix)
            .ok_or_else(|| {
                format!(
                    "register address {reference} has no Modbus table: expected 1-65536 (coil), \
                     100001-165536 (discrete input), 300001-365536 (input register) or \
                     400001-465536 (holding register)"
                )
            })?;
        if offset == 0 || offset > 65_536 {
            return Err(format!(
                "register address {reference} is outside its table: the last five digits must be 1-65536"
            ));
        }
        Ok(Self::new(table, (offset - 1) as u16))
    }
}

impl fmt::Display for RegisterRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.bit {
            Some(_) => write!(f, "{}", self.reference()),
            None => write!(f, "{:06}", self.reference()),
        }
    }
}

/// How a register's raw words are interpreted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DataType {
    /// A single coil or discrete input (1 bit), stored as 0.0 or 1.0.
    Bool,
    /// Signed 16-bit integer, one register.
    Int16,
    /// Unsigned 16-bit integer, one register.
    Uint16,
    /// Signed 32-bit integer, two registers.
    Int32,
    /// Unsigned 32-bit integer, two registers.
    Uint32,
    /// Signed 64-bit integer, four registers.
    Int64,
    /// Unsigned 64-bit integer, four registers.
    Uint64,
    /// IEEE-754 single precision, two registers.
    Float32,
    /// IEEE-754 double precision, four registers.
    Float64,
    /// Text packed two characters a register over the point's `length` registers.
    String,
}

impl DataType {
    /// Every data type, for error messages and tests.
    pub const ALL: [DataType; 10] = [
        DataType::Bool,
        DataType::Int16,
        DataType::Uint16,
        DataType::Int32,
        DataType::Uint32,
        DataType::Int64,
        DataType::Uint64,
        DataType::Float32,
        DataType::Float64,
        DataType::String,
    ];

    /// The numeric types (every type but `String`).
    pub fn numeric() -> impl Iterator<Item = DataType> {
        Self::ALL.into_iter().filter(|t| *t != DataType::String)
    }

    /// True for the integer types, which can hold a scale-factor exponent.
    pub const fn is_integer(self) -> bool {
        matches!(
            self,
            DataType::Int16
                | DataType::Uint16
                | DataType::Int32
                | DataType::Uint32
                | DataType::Int64
                | DataType::Uint64
        )
    }

    /// Number of 16-bit registers (or bits, for `Bool`) the value spans; for `String` the
    /// length is per point (see [`crate::RegisterPoint::width`]) and this is its minimum, 1.
    pub const fn width(self) -> u16 {
        match self {
            DataType::Bool | DataType::Int16 | DataType::Uint16 | DataType::String => 1,
            DataType::Int32 | DataType::Uint32 | DataType::Float32 => 2,
            DataType::Int64 | DataType::Uint64 | DataType::Float64 => 4,
        }
    }

    /// The canonical spelling used in config files, the database and the API.
    pub const fn as_str(self) -> &'static str {
        match self {
            DataType::Bool => "bool",
            DataType::Int16 => "int16",
            DataType::Uint16 => "uint16",
            DataType::Int32 => "int32",
            DataType::Uint32 => "uint32",
            DataType::Int64 => "int64",
            DataType::Uint64 => "uint64",
            DataType::Float32 => "float32",
            DataType::Float64 => "float64",
            DataType::String => "string",
        }
    }
}

impl fmt::Display for DataType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl DataType {
    /// Every spelling `FromStr` accepts (after trimming and lower-casing): the canonical
    /// names and common aliases.
    pub const WORDS: [(&'static str, DataType); 37] = [
        ("bool", DataType::Bool),
        ("boolean", DataType::Bool),
        ("bit", DataType::Bool),
        ("int16", DataType::Int16),
        ("i16", DataType::Int16),
        ("int", DataType::Int16),
        ("short", DataType::Int16),
        ("uint16", DataType::Uint16),
        ("u16", DataType::Uint16),
        ("uint", DataType::Uint16),
        ("word", DataType::Uint16),
        ("int32", DataType::Int32),
        ("i32", DataType::Int32),
        ("dint", DataType::Int32),
        ("uint32", DataType::Uint32),
        ("u32", DataType::Uint32),
        ("udint", DataType::Uint32),
        ("dword", DataType::Uint32),
        ("int64", DataType::Int64),
        ("i64", DataType::Int64),
        ("lint", DataType::Int64),
        ("uint64", DataType::Uint64),
        ("u64", DataType::Uint64),
        ("ulint", DataType::Uint64),
        ("lword", DataType::Uint64),
        ("float32", DataType::Float32),
        ("f32", DataType::Float32),
        ("float", DataType::Float32),
        ("real", DataType::Float32),
        ("float64", DataType::Float64),
        ("f64", DataType::Float64),
        ("double", DataType::Float64),
        ("lreal", DataType::Float64),
        ("string", DataType::String),
        ("str", DataType::String),
        ("text", DataType::String),
        ("ascii", DataType::String),
    ];
}

impl FromStr for DataType {
    type Err = String;
    /// Accepts the canonical names and common aliases (`u16`, `float`, `real`, ...).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let word = s.trim().to_ascii_lowercase();
        DataType::WORDS
            .iter()
            .find(|(w, _)| *w == word)
            .map(|(_, t)| *t)
            .ok_or_else(|| {
                let names: Vec<&str> = DataType::ALL.iter().map(|d| d.as_str()).collect();
                format!(
                    "unknown data type {s:?} (expected one of: {})",
                    names.join(", ")
                )
            })
    }
}

/// Byte and word order of multi-register values, named by where bytes A (most significant)
/// to D land on the wire. For 64-bit values the same rule extends to eight bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum WordOrder {
    /// Big-endian words, big-endian bytes (the Modbus default).
    #[default]
    #[serde(rename = "ABCD")]
    Abcd,
    /// Little-endian words ("word swap"), big-endian bytes.
    #[serde(rename = "CDAB")]
    Cdab,
    /// Big-endian words, bytes swapped inside each register.
    #[serde(rename = "BADC")]
    Badc,
    /// Fully little-endian.
    #[serde(rename = "DCBA")]
    Dcba,
}

impl WordOrder {
    /// The canonical spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            WordOrder::Abcd => "ABCD",
            WordOrder::Cdab => "CDAB",
            WordOrder::Badc => "BADC",
            WordOrder::Dcba => "DCBA",
        }
    }

    /// True when the registers arrive least significant first.
    pub const fn swaps_words(self) -> bool {
        matches!(self, WordOrder::Cdab | WordOrder::Dcba)
    }

    /// True when the two bytes inside each register are swapped.
    pub const fn swaps_bytes(self) -> bool {
        matches!(self, WordOrder::Badc | WordOrder::Dcba)
    }
}

impl fmt::Display for WordOrder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl WordOrder {
    /// Every spelling `FromStr` accepts (after trimming, upper-casing, and reading `_` and
    /// ` ` as `-`): ABCD-style names and the aliases other collectors use.
    pub const WORDS: [(&'static str, WordOrder); 20] = [
        ("ABCD", WordOrder::Abcd),
        ("AB", WordOrder::Abcd),
        ("BIG", WordOrder::Abcd),
        ("BIG-ENDIAN", WordOrder::Abcd),
        ("MSW-BE", WordOrder::Abcd),
        ("ABCDEFGH", WordOrder::Abcd),
        ("CDAB", WordOrder::Cdab),
        ("LSW-BE", WordOrder::Cdab),
        ("WORD-SWAP", WordOrder::Cdab),
        ("GHEFCDAB", WordOrder::Cdab),
        ("BADC", WordOrder::Badc),
        ("BA", WordOrder::Badc),
        ("MSW-LE", WordOrder::Badc),
        ("BYTE-SWAP", WordOrder::Badc),
        ("BADCFEHG", WordOrder::Badc),
        ("DCBA", WordOrder::Dcba),
        ("LITTLE", WordOrder::Dcba),
        ("LITTLE-ENDIAN", WordOrder::Dcba),
        ("LSW-LE", WordOrder::Dcba),
        ("HGFEDCBA", WordOrder::Dcba),
    ];
}

impl FromStr for WordOrder {
    type Err = String;
    /// Accepts ABCD-style names and the aliases other collectors use (`MSW-BE`, `little`, ...).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let word = s.trim().to_ascii_uppercase().replace(['_', ' '], "-");
        WordOrder::WORDS
            .iter()
            .find(|(w, _)| *w == word)
            .map(|(_, o)| *o)
            .ok_or_else(|| {
                format!("unknown byte order {s:?} (expected one of: ABCD, CDAB, BADC, DCBA)")
            })
    }
}

/// The trust a reading deserves: `good`, `bad` or `uncertain`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Quality {
    /// Read and decoded without problems.
    Good,
    /// The read failed; the value is null.
    Bad,
    /// Read, but outside its expected range or otherwise doubtful.
    Uncertain,
}

impl Quality {
    /// The spelling stored in the database and shown by the API.
    pub const fn as_str(self) -> &'static str {
        match self {
            Quality::Good => "good",
            Quality::Bad => "bad",
            Quality::Uncertain => "uncertain",
        }
    }
}

impl fmt::Display for Quality {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Quality {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "good" => Ok(Quality::Good),
            "bad" => Ok(Quality::Bad),
            "uncertain" => Ok(Quality::Uncertain),
            _ => Err(format!(
                "unknown quality {s:?} (expected good, bad or uncertain)"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_numbers_are_unambiguous_across_tables() {
        let same_wire = [
            (Table::Coil, 1),
            (Table::DiscreteInput, 100_001),
            (Table::InputRegister, 300_001),
            (Table::HoldingRegister, 400_001),
        ];
        for (table, reference) in same_wire {
            let r = RegisterRef::new(table, 0);
            assert_eq!(r.reference(), reference);
            assert_eq!(RegisterRef::from_reference(reference), Ok(r));
        }
        let last = RegisterRef::new(Table::HoldingRegister, 65_535);
        assert_eq!(last.reference(), 465_536);
        assert_eq!(RegisterRef::from_reference(465_536), Ok(last));
        assert_eq!(last.to_string(), "465536");
        assert_eq!(RegisterRef::new(Table::Coil, 9).to_string(), "000010");
    }

    #[test]
    fn bit_references_extend_the_register_reference() {
        let trip = RegisterRef::new(Table::HoldingRegister, 0).with_bit(3);
        assert_eq!(trip.reference(), 40_000_103);
        assert_eq!(trip.to_string(), "40000103");
        assert_eq!(RegisterRef::from_reference(40_000_103), Ok(trip));
        let top = RegisterRef::new(Table::InputRegister, 65_535).with_bit(15);
        assert_eq!(top.reference(), 36_553_615);
        assert_eq!(RegisterRef::from_reference(36_553_615), Ok(top));
        assert_ne!(trip, RegisterRef::new(Table::HoldingRegister, 0));
        // bit 16, a coil's "bit", a discrete input's, and digits that are no register
        for bad in [
            40_000_116,
            10_000_100,
            30_000_099,
            46_553_700,
            50_000_100,
            4_000_010_300,
        ] {
            assert!(RegisterRef::from_reference(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn impossible_reference_numbers_are_rejected() {
        for bad in [
            0, 100_000, 200_001, 265_536, 300_000, 365_537, 500_001, 465_537,
        ] {
            assert!(RegisterRef::from_reference(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn aliases_parse() {
        assert_eq!("MSW-BE".parse(), Ok(WordOrder::Abcd));
        assert_eq!("word_swap".parse(), Ok(WordOrder::Cdab));
        assert_eq!("real".parse(), Ok(DataType::Float32));
        assert_eq!("HR".parse(), Ok(Table::HoldingRegister));
        assert!("flaot32".parse::<DataType>().is_err());
    }
}
