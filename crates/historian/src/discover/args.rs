//! The options of `discover`, shared by the command line and `POST /api/discover`.

use crate::arg_values::{duration, map_format};
use clap::Args;
use std::path::PathBuf;
use std::time::Duration;

/// `discover` options.
#[derive(Debug, Args)]
pub struct DiscoverArgs {
    /// `host[:port]` (port 502 by default), or a serial port such as /dev/ttyUSB0.
    pub target: String,
    /// tcp, rtu_over_tcp or rtu (default: rtu for a serial port, else tcp).
    #[arg(long)]
    pub transport: Option<String>,
    /// The unit id to scan.
    #[arg(long, conflicts_with = "units", value_parser = clap::value_parser!(u8))]
    pub unit: Option<u8>,
    /// Unit ids to probe first, e.g. 1-247 or 1,2,10-12 (behind a gateway).
    #[arg(long, value_parser = unit_list)]
    pub units: Option<UnitIds>,
    /// Tables to scan, comma-separated (coil, discrete_input, input_register,
    /// holding_register; default all four).
    #[arg(long, value_parser = table_list)]
    pub tables: Option<Tables>,
    /// Wire addresses to scan in each table, e.g. 0-65535 or 40000-40200.
    #[arg(long, default_value = "0-65535", value_parser = address_range)]
    pub range: (u16, u16),
    /// Wait after every request.
    #[arg(long, default_value = "0ms", value_parser = humantime::parse_duration)]
    pub pause: Duration,
    /// Per-request time-out.
    #[arg(long, default_value = "1s", value_parser = duration)]
    pub timeout: Duration,
    /// At most this many requests a second.
    #[arg(long)]
    pub max_requests_per_second: Option<u32>,
    /// Samples of each readable register for type inference.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(1..=100))]
    pub samples: u16,
    /// Time between two samples.
    #[arg(long, default_value = "1s", value_parser = duration)]
    pub sample_interval: Duration,
    /// Connections at once while probing unit ids (TCP only; a serial line takes one).
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub concurrency: u16,
    /// Serial line: bits per second.
    #[arg(long)]
    pub baud_rate: Option<u32>,
    /// Serial line: none, even or odd.
    #[arg(long)]
    pub parity: Option<String>,
    /// Serial line: 1 or 2.
    #[arg(long)]
    pub stop_bits: Option<u8>,
    /// Serial line: 7 or 8.
    #[arg(long)]
    pub data_bits: Option<u8>,
    /// Map file format: csv or toml.
    #[arg(long, default_value = "csv", value_parser = map_format)]
    pub format: historian_modbus::mapfile::MapFormat,
    /// Write the map here instead of to standard output (several units: one file each,
    /// named FILE-unitN.EXT).
    #[arg(long, short)]
    pub output: Option<PathBuf>,
    /// Create (or replace) device NAME in the store with the proposed map instead of
    /// printing it (several units: NAME-unitN).
    #[arg(long)]
    pub apply: Option<String>,
    /// Take the storage URL for --apply from this config file.
    #[arg(long, short, requires = "apply")]
    pub config: Option<PathBuf>,
    /// The storage URL for --apply (overrides the config file).
    #[arg(long, env = "HISTORIAN_DATABASE_URL")]
    pub database_url: Option<String>,
    /// Poll interval of the device --apply creates.
    #[arg(long, default_value = "5s", value_parser = duration)]
    pub interval: Duration,
}

/// Unit ids as listed on the command line, sorted, each once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitIds(pub Vec<u8>);

/// Tables as listed on the command line, each once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tables(pub Vec<historian_model::Table>);

/// `a-b` or `a` as an inclusive pair.
fn pair(s: &str) -> Result<(u32, u32), String> {
    let (a, b) = s.split_once('-').unwrap_or((s, s));
    let num = |t: &str| {
        t.trim()
            .parse::<u32>()
            .map_err(|_| format!("{t:?} is not a whole number"))
    };
    let (a, b) = (num(a)?, num(b)?);
    if a > b {
        return Err(format!("{s:?}: the first number is larger than the second"));
    }
    Ok((a, b))
}

/// `a-b` or `a` as an inclusive range of wire addresses.
pub fn address_range(s: &str) -> Result<(u16, u16), String> {
    let (a, b) = pair(s)?;
    match (u16::try_from(a), u16::try_from(b)) {
        (Ok(a), Ok(b)) => Ok((a, b)),
        _ => Err(format!("{s:?}: wire addresses run from 0 to 65535")),
    }
}

/// `1-3,7` as unit ids, sorted, each once.
pub fn unit_list(s: &str) -> Result<UnitIds, String> {
    let mut out = Vec::new();
    for part in s.split(',').filter(|p| !p.trim().is_empty()) {
        let (a, b) = pair(part)?;
        if b > 255 {
            return Err(format!("{part:?}: unit ids run from 0 to 255"));
        }
        out.extend((a..=b).filter_map(|u| u8::try_from(u).ok()));
    }
    out.sort_unstable();
    out.dedup();
    if out.is_empty() {
        return Err("no unit ids".into());
    }
    Ok(UnitIds(out))
}

/// `holding_register,coil` as tables, each once.
pub fn table_list(s: &str) -> Result<Tables, String> {
    let mut out = Vec::new();
    for part in s.split(',').filter(|p| !p.trim().is_empty()) {
        let t: historian_model::Table = part.parse()?;
        if !out.contains(&t) {
            out.push(t);
        }
    }
    if out.is_empty() {
        return Err("no tables".into());
    }
    Ok(Tables(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_lists_ranges_and_tables_parse() {
        assert_eq!(unit_list("1-3,7,2"), Ok(UnitIds(vec![1, 2, 3, 7])));
        assert!(unit_list("0-256").is_err());
        assert!(unit_list("5-1").is_err());
        assert_eq!(address_range("40000-40200"), Ok((40_000, 40_200)));
        assert_eq!(address_range("7"), Ok((7, 7)));
        assert!(address_range("0-65536").is_err());
        assert_eq!(
            table_list("holding, coils"),
            Ok(Tables(vec![
                historian_model::Table::HoldingRegister,
                historian_model::Table::Coil
            ]))
        );
        assert!(table_list("registers").is_err());
    }
}
