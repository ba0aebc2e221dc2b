//! Parsers of command-line values that several commands' options share.

use std::time::Duration;

/// A duration greater than zero, as humans write it (`500ms`, `5s`, `1m`).
pub fn duration(s: &str) -> Result<Duration, String> {
    match humantime::parse_duration(s) {
        Ok(d) if !d.is_zero() => Ok(d),
        Ok(_) => Err("must be greater than zero".into()),
        Err(e) => Err(format!("{e} (write e.g. 500ms, 5s, 1m)")),
    }
}

/// A register map file format by name (`csv`, `toml`).
pub fn map_format(s: &str) -> Result<historian_modbus::mapfile::MapFormat, String> {
    s.parse()
}
