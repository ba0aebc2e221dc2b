//! What the CSV and TOML readers share: errors placed at a line and column, where each
//! register and field was written, and the checks of every register and the whole map.

use historian_model::{Addressing, RegisterInput, RegisterPoint, check_map, duplicate_names};
use std::fmt;

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
pub(super) struct Positions {
    pub(super) register: usize,
    pub(super) fields: Vec<(&'static str, usize)>,
    /// Fields whose cell was already reported (e.g. not a number): not reported again
    /// as missing.
    pub(super) reported: Vec<&'static str>,
}

impl Positions {
    pub(super) fn of(&self, field: &str) -> usize {
        self.fields
            .iter()
            .find(|(f, _)| *f == field)
            .map_or(self.register, |&(_, at)| at)
    }
}

/// Line and column (1-based, in characters) of byte `offset` of `text`.
pub(super) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (
        before.bytes().filter(|&b| b == b'\n').count() + 1,
        before[line_start..].chars().count() + 1,
    )
}

/// Collects errors with their positions while a file is read.
pub(super) struct Errors<'a> {
    text: &'a str,
    pub(super) list: Vec<(usize, MapFileError)>,
}

impl<'a> Errors<'a> {
    pub(super) fn new(text: &'a str) -> Self {
        Self {
            text,
            list: Vec::new(),
        }
    }

    pub(super) fn at(&mut self, offset: usize, message: impl Into<String>) {
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
    pub(super) fn finish(mut self) -> Vec<MapFileError> {
        self.list.sort_by_key(|(offset, _)| *offset);
        self.list.into_iter().map(|(_, e)| e).collect()
    }
}

/// Checks every register and then the map as a whole; returns the map or every error.
pub(super) fn assemble(
    rows: Vec<(RegisterInput, Positions)>,
    addressing: Addressing,
    mut errors: Errors<'_>,
) -> Result<Vec<RegisterPoint>, Vec<MapFileError>> {
    // On the names as written, so a duplicate is reported even beside other mistakes.
    let duplicates: Vec<(usize, usize, String)> =
        duplicate_names(rows.iter().map(|(r, _)| r.name.as_deref()))
            .into_iter()
            .map(|(i, e)| (i, rows[i].1.register, e.to_string()))
            .collect();
    let mut points = Vec::with_capacity(rows.len());
    let mut positions = Vec::with_capacity(rows.len());
    let (mut inputs, all_positions): (Vec<_>, Vec<_>) = rows.into_iter().unzip();
    historian_model::resolve_factor_addresses(&mut inputs, addressing);
    for (raw, pos) in inputs.into_iter().zip(all_positions) {
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
            // Reported from the names as written, below.
            historian_model::MapError::DuplicateName(_) => continue,
            _ => format!("register {:?} {e}", points[i].name),
        };
        errors.at(positions[i].register, message);
    }
    for (_, at, message) in duplicates {
        errors.at(at, message);
    }
    let errors = errors.finish();
    if errors.is_empty() {
        Ok(points)
    } else {
        Err(errors)
    }
}

/// Parses an integer cell: decimal, or hexadecimal with `0x` (markers are often written
/// 0xFFFF), `_` allowed between digits.
pub(super) fn parse_int(text: &str) -> Option<i64> {
    let t = text.trim().replace('_', "");
    match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        Some(hex) => i64::from_str_radix(hex, 16).ok(),
        None => t.parse().ok(),
    }
}
