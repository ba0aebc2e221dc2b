//! Register maps as files: the shared checks of one register, and CSV and TOML map files
//! that are read (reporting every error with its line and column) and written.
//!
//! Both formats go through the same steps: each cell is typed where it was written (so a
//! bad number is reported at its own line and column), each register is checked by
//! [`RegisterInput::check`], and the whole map by [`historian_model::check_map`].

mod csv_map;
mod reader;
mod toml_map;

pub use csv_map::{CSV_COLUMNS, to_csv};
pub use toml_map::to_toml;

pub use reader::MapFileError;

use historian_model::{Addressing, RegisterPoint};
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

#[cfg(test)]
mod tests;
