//! Register maps as files: the shared checks of one register, and CSV and TOML map files
//! that are read (reporting every error with its line and column) and written.
//!
//! Both formats go through the same steps: each cell is typed where it was written (so a
//! bad number is reported at its own line and column), each register is checked by
//! [`RegisterInput::check`], and the whole map by [`crate::map::check_map`].

mod csv_map;
mod toml_map;

pub use csv_map::{CSV_COLUMNS, to_csv};
pub use toml_map::to_toml;

use historian_model::{Addressing, RegisterInput, RegisterPoint, check_map};
use std::fmt;
use std::path::Path;

/// The two map file formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MapFormat {
    /// A header row naming the columns, then one register per row.
    Csv,
    /// An optional `addressing`, then one `[[registers]]` table per register.
    Toml,
}

impl MapFormat {
    /// The format a file's extension names (`.csv` or `.toml`).
    pub fn of_path(path: &Path) -> Option<MapFormat> {
        match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "csv" => Some(MapFormat::Csv),
            "toml" => Some(MapFormat::Toml),
            _ => None,
        }
    }
}

impl std::str::FromStr for MapFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "csv" => Ok(MapFormat::Csv),
            "toml" => Ok(MapFormat::Toml),
            _ => Err(format!("unknown map format {s:?} (expected csv or toml)")),
        }
    }
}

/// One mistake in a map file, at its 1-based line and column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapFileError {
    /// Line, counted from 1.
    pub line: usize,
    /// Column in characters, counted from 1.
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for MapFileError {
    /// `LINE:COL: message`; put the file name in front for the `FILE:LINE:COL:` form.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.line, self.column, self.message)
    }
}

/// Where a register and each of its fields were written: byte offsets into the file.
#[derive(Debug, Clone, Default)]
struct Positions {
    register: usize,
    fields: Vec<(&'static str, usize)>,
    /// Fields whose cell was already reported (e.g. not a number): not reported again
    /// as missing.
    reported: Vec<&'static str>,
}

impl Positions {
    fn of(&self, field: &str) -> usize {
        self.fields
            .iter()
            .find(|(f, _)| *f == field)
            .map_or(self.register, |&(_, at)| at)
    }
}

/// Line and column (1-based, in characters) of byte `offset` of `text`.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (
        before.bytes().filter(|&b| b == b'\n').count() + 1,
        before[line_start..].chars().count() + 1,
    )
}

/// Collects errors with their positions while a file is read.
struct Errors<'a> {
    text: &'a str,
    list: Vec<(usize, MapFileError)>,
}

impl<'a> Errors<'a> {
    fn new(text: &'a str) -> Self {
        Self {
            text,
            list: Vec::new(),
        }
    }

    fn at(&mut self, offset: usize, message: impl Into<String>) {
        let (line, column) = line_col(self.text, offset);
        self.list.push((
            offset,
            MapFileError {
                line,
                column,
                message: message.into(),
            },
        ));
    }

    /// Every error, in file order.
    fn finish(mut self) -> Vec<MapFileError> {
        self.list.sort_by_key(|(offset, _)| *offset);
        self.list.into_iter().map(|(_, e)| e).collect()
    }
}

/// Checks every register and then the map as a whole; returns the map or every error.
fn assemble(
    rows: Vec<(RegisterInput, Positions)>,
    addressing: Addressing,
    mut errors: Errors<'_>,
) -> Result<Vec<RegisterPoint>, Vec<MapFileError>> {
    let mut points = Vec::with_capacity(rows.len());
    let mut positions = Vec::with_capacity(rows.len());
    for (raw, pos) in rows {
        match raw.check(addressing) {
            Ok(p) => {
                points.push(p);
                positions.push(pos);
            }
            Err(field_errors) => {
                for e in field_errors
                    .into_iter()
                    .filter(|e| !pos.reported.contains(&e.field))
                {
                    let at = if e.field.is_empty() {
                        pos.register
                    } else {
                        pos.of(e.field)
                    };
                    let message = if e.field.is_empty() {
                        e.message
                    } else {
                        format!("{}: {}", e.field, e.message)
                    };
                    errors.at(at, message);
                }
            }
        }
    }
    for (i, e) in check_map(&points) {
        let message = match e {
            historian_model::MapError::DuplicateName(_) => e.to_string(),
            _ => format!("register {:?} {e}", points[i].name),
        };
        errors.at(positions[i].register, message);
    }
    let errors = errors.finish();
    if errors.is_empty() {
        Ok(points)
    } else {
        Err(errors)
    }
}

/// Reads a map file of `format`; `addressing` applies unless a TOML file sets its own.
pub fn parse(
    text: &str,
    format: MapFormat,
    addressing: Addressing,
) -> Result<Vec<RegisterPoint>, Vec<MapFileError>> {
    match format {
        MapFormat::Csv => csv_map::parse(text, addressing),
        MapFormat::Toml => toml_map::parse(text, addressing),
    }
}

/// Writes `points` as a map file of `format` (wire addressing, tables named).
pub fn write(points: &[RegisterPoint], format: MapFormat) -> String {
    match format {
        MapFormat::Csv => to_csv(points),
        MapFormat::Toml => to_toml(points),
    }
}

/// Parses an integer cell: decimal, or hexadecimal with `0x` (markers are often written
/// 0xFFFF), `_` allowed between digits.
fn parse_int(text: &str) -> Option<i64> {
    let t = text.trim().replace('_', "");
    match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        Some(hex) => i64::from_str_radix(hex, 16).ok(),
        None => t.parse().ok(),
    }
}

#[cfg(test)]
mod tests;
