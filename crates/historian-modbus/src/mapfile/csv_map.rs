//! CSV register maps: a header row naming the columns (any order, any subset holding
//! `address`, `name` and `data_type`), then one register per row. Lines starting with `#`
//! are comments. Errors point at the cell: line, and the character column where it starts.

use super::reader::{Errors, MapFileError, Positions, assemble, parse_int};
use historian_model::{Addressing, RegisterPoint};
use historian_model::{FactorInput, RegisterInput};

/// The columns a CSV map may have, in the order export writes them.
pub const CSV_COLUMNS: [&str; 15] = [
    "address",
    "table",
    "name",
    "data_type",
    "byte_order",
    "scale",
    "offset",
    "unit",
    "min",
    "max",
    "not_available",
    "bit",
    "length",
    "interval",
    "scale_factor",
];

/// Columns without which no register can be placed.
const REQUIRED: [&str; 3] = ["address", "name", "data_type"];

/// The canonical column a header cell names (aliases as in the TOML config).
pub(super) fn column(header: &str) -> Option<&'static str> {
    let h = header.trim().to_ascii_lowercase().replace([' ', '-'], "_");
    let h = match h.as_str() {
        "type" => "data_type",
        "word_order" => "byte_order",
        other => other,
    };
    CSV_COLUMNS.into_iter().find(|c| *c == h)
}

/// Byte offsets of the first `n` fields of the record starting at `start`: a comma outside
/// quotes ends a field (RFC 4180 quoting, as the csv crate reads it).
fn field_starts(text: &str, start: usize, n: usize) -> Vec<usize> {
    let mut starts = vec![start];
    let mut quoted = false;
    for (i, b) in text.as_bytes()[start.min(text.len())..].iter().enumerate() {
        match b {
            b'"' => quoted = !quoted,
            b',' if !quoted => starts.push(start + i + 1),
            b'\n' if !quoted => break,
            _ => {}
        }
        if starts.len() >= n {
            break;
        }
    }
    starts
}

fn set_cell(
    raw: &mut RegisterInput,
    field: &'static str,
    cell: &str,
    at: usize,
    errors: &mut Errors<'_>,
) {
    let text = cell.trim();
    if text.is_empty() {
        return;
    }
    let int = |errors: &mut Errors<'_>| {
        parse_int(text).or_else(|| {
            errors.at(at, format!("{field}: {text:?} is not a whole number"));
            None
        })
    };
    let float = |errors: &mut Errors<'_>| {
        text.parse::<f64>().ok().or_else(|| {
            errors.at(at, format!("{field}: {text:?} is not a number"));
            None
        })
    };
    let owned = Some(text.to_string());
    match field {
        "name" => raw.name = owned,
        "table" => raw.table = owned,
        "data_type" => raw.data_type = owned,
        "byte_order" => raw.byte_order = owned,
        "unit" => raw.unit = owned,
        "interval" => raw.interval = owned,
        // A whole number is an address; a register named by digits only is referred to by
        // its address instead.
        "scale_factor" => {
            raw.scale_factor = Some(match parse_int(text) {
                Some(a) => FactorInput::Address(a),
                None => FactorInput::Name(text.to_string()),
            })
        }
        "address" => raw.address = int(errors),
        "not_available" => raw.not_available = int(errors),
        "bit" => raw.bit = int(errors),
        "length" => raw.length = int(errors),
        "scale" => raw.scale = float(errors),
        "offset" => raw.offset = float(errors),
        "min" => raw.min = float(errors),
        _ => raw.max = float(errors),
    }
}

/// Reads a CSV map with `addressing`.
pub fn parse(text: &str, addressing: Addressing) -> Result<Vec<RegisterPoint>, Vec<MapFileError>> {
    let mut errors = Errors::new(text);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .comment(Some(b'#'))
        .from_reader(text.as_bytes());
    let mut header: Option<Vec<Option<&'static str>>> = None;
    let mut rows = Vec::new();
    let mut record = csv::StringRecord::new();
    loop {
        let at = reader.position().byte() as usize;
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                let offset = e.position().map_or(at, |p| p.byte() as usize);
                errors.at(offset, format!("not readable as CSV: {e}"));
                break;
            }
        }
        let start = record.position().map_or(at, |p| p.byte() as usize);
        let starts = field_starts(text, start, record.len());
        let cell_at = |i: usize| starts.get(i).copied().unwrap_or(start);
        let Some(columns) = &header else {
            let mut columns = Vec::with_capacity(record.len());
            for (i, cell) in record.iter().enumerate() {
                let c = column(cell);
                if c.is_none() {
                    errors.at(
                        cell_at(i),
                        format!(
                            "unknown column {:?} (expected: {})",
                            cell.trim(),
                            CSV_COLUMNS.join(", ")
                        ),
                    );
                } else if columns.contains(&c) {
                    errors.at(
                        cell_at(i),
                        format!("column {:?} appears twice", cell.trim()),
                    );
                }
                columns.push(c);
            }
            for needed in REQUIRED {
                if !columns.contains(&Some(needed)) {
                    errors.at(start, format!("the header has no {needed:?} column"));
                }
            }
            if !errors.list.is_empty() {
                // Without a usable header no row can be read.
                return Err(errors.finish());
            }
            header = Some(columns);
            continue;
        };
        if record.iter().all(|c| c.trim().is_empty()) {
            continue;
        }
        if record.len() != columns.len() {
            errors.at(
                start,
                format!(
                    "this row has {} fields, the header has {}",
                    record.len(),
                    columns.len()
                ),
            );
        }
        let mut raw = RegisterInput::default();
        let mut pos = Positions {
            register: start,
            ..Positions::default()
        };
        for (i, (cell, field)) in record.iter().zip(columns).enumerate() {
            if let Some(field) = *field {
                pos.fields.push((field, cell_at(i)));
                let before = errors.list.len();
                set_cell(&mut raw, field, cell, cell_at(i), &mut errors);
                if errors.list.len() != before {
                    pos.reported.push(field);
                }
            }
        }
        rows.push((raw, pos));
    }
    if header.is_none() {
        errors.at(
            0,
            format!(
                "the file is empty: it needs a header row ({})",
                CSV_COLUMNS.join(", ")
            ),
        );
    }
    assemble(rows, addressing, errors)
}

/// Writes `points` as CSV with every column of [`CSV_COLUMNS`] and wire addressing.
pub fn to_csv(points: &[RegisterPoint]) -> String {
    let mut out = csv::Writer::from_writer(Vec::new());
    let mut rows: Vec<Vec<String>> = vec![CSV_COLUMNS.iter().map(|c| c.to_string()).collect()];
    for p in points {
        let r = RegisterInput::of(p);
        let num = |v: Option<f64>| v.map(|v| v.to_string()).unwrap_or_default();
        let int = |v: Option<i64>| v.map(|v| v.to_string()).unwrap_or_default();
        rows.push(vec![
            int(r.address),
            r.table.unwrap_or_default(),
            r.name.unwrap_or_default(),
            r.data_type.unwrap_or_default(),
            r.byte_order.unwrap_or_default(),
            num(r.scale),
            num(r.offset),
            r.unit.unwrap_or_default(),
            num(r.min),
            num(r.max),
            r.not_available
                .map(|v| format!("0x{v:X}"))
                .unwrap_or_default(),
            int(r.bit),
            int(r.length),
            r.interval.unwrap_or_default(),
            match r.scale_factor {
                Some(FactorInput::Name(n)) => n,
                Some(FactorInput::Address(a)) => a.to_string(),
                None => String::new(),
            },
        ]);
    }
    for row in rows {
        // Writing into memory: the only failure would be a bug in the csv crate.
        out.write_record(&row).expect("CSV into memory");
    }
    let bytes = out.into_inner().expect("CSV into memory");
    String::from_utf8(bytes).expect("CSV of UTF-8 strings is UTF-8")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_starts_follow_quotes() {
        let text = "a,\"b,c\",d\nx,y";
        assert_eq!(field_starts(text, 0, 3), vec![0, 2, 8]);
        assert_eq!(field_starts(text, 10, 2), vec![10, 12]);
    }
}
