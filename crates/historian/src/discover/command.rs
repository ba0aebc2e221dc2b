//! The `discover` command from flags to output.

use super::apply::apply;
use super::bar;
use super::error::DiscoverCommandError;
use super::summary::summary;
use super::target::{check, device_input};
use crate::config::{Config, DeviceConfig};
use crate::discover::args::DiscoverArgs;
use crate::maps::open_store;
use historian_modbus::discover::{
    DiscoverOptions, Progress, ProposedPoint, discover, render, unit_points,
};
use historian_modbus::mapfile::MapFormat;
use historian_model::Table;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// `FILE-unitN.EXT` for unit `unit` when several units share one `--output`.
fn per_unit(path: &Path, unit: u8) -> PathBuf {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = match path.extension() {
        Some(ext) => format!("{stem}-unit{unit}.{}", ext.to_string_lossy()),
        None => format!("{stem}-unit{unit}"),
    };
    path.with_file_name(name)
}

fn extension(format: MapFormat) -> &'static str {
    match format {
        MapFormat::Csv => "csv",
        MapFormat::Toml => "toml",
    }
}

/// The scan the flags describe, its target checked as a device.
pub fn options(args: &DiscoverArgs) -> Result<DiscoverOptions, DiscoverCommandError> {
    let spec = check(&args.target, device_input(args, "discovered", &[]))?;
    let transport = DeviceConfig::new(spec, args.timeout).transport();
    let mut opts = DiscoverOptions::new(transport);
    opts.units = match (&args.units, args.unit) {
        (Some(list), _) => list.0.clone(),
        (None, unit) => vec![unit.unwrap_or(1)],
    };
    opts.tables = args
        .tables
        .as_ref()
        .map_or_else(|| Table::ALL.to_vec(), |t| t.0.clone());
    opts.range = args.range;
    opts.timeout = args.timeout;
    opts.pause = args.pause;
    opts.max_requests_per_second = args.max_requests_per_second;
    opts.samples = usize::from(args.samples);
    opts.sample_interval = args.sample_interval;
    opts.concurrency = usize::from(args.concurrency);
    Ok(opts)
}

/// Runs `discover` as the flags say: the map goes to standard output (returned as the first
/// string), a file, or the store; the second string is the summary for standard error.
pub async fn run(args: DiscoverArgs) -> Result<(String, String), DiscoverCommandError> {
    let opts = options(&args)?;
    let progress = Arc::new(Progress::default());
    let shown = bar::start(Arc::clone(&progress));
    let outcome = discover(&opts, progress).await;
    if let Some(b) = shown {
        b.finish();
    }
    let found = outcome?;
    let mut report = summary(&found);
    let mut stdout = String::new();
    let several = found.devices.len() > 1;
    let store = match &args.apply {
        Some(_) => {
            let config = args.config.as_deref().map(Config::load).transpose()?;
            Some(open_store(config.as_ref(), args.database_url.as_deref()).await?)
        }
        None => None,
    };
    for d in &found.devices {
        let points: Vec<ProposedPoint> = unit_points(d);
        if let (Some(name), Some(store)) = (&args.apply, &store) {
            let name = if several {
                format!("{name}-unit{}", d.unit)
            } else {
                name.clone()
            };
            let registers: Vec<_> = points.iter().map(|p| p.point.clone()).collect();
            let mut input = device_input(&args, &name, &registers);
            input.unit_id = Some(i64::from(d.unit));
            report.push_str(&apply(&**store, &args.target, input).await?);
            report.push('\n');
            continue;
        }
        let header = format!(
            "proposed by modbus-historian discover {} --unit {}\n\
             lines starting with '# uncertain' mark guesses: check them against the manual",
            args.target, d.unit
        );
        let text = render(&points, args.format, &header);
        match &args.output {
            Some(path) => {
                let path = if several {
                    per_unit(path, d.unit)
                } else {
                    path.clone()
                };
                std::fs::write(&path, &text).map_err(|source| DiscoverCommandError::Write {
                    path: path.display().to_string(),
                    source,
                })?;
                report.push_str(&format!(
                    "map of unit {} written to {} (import it with: modbus-historian devices import {} --device NAME)\n",
                    d.unit,
                    path.display(),
                    path.display()
                ));
            }
            None => stdout.push_str(&text),
        }
    }
    if args.output.is_none() && args.apply.is_none() && several {
        report.push_str(&format!(
            "the maps of {} units went to standard output one after another; use --output or --unit N for importable files ({} maps)\n",
            found.devices.len(),
            extension(args.format)
        ));
    }
    Ok((stdout, report))
}
