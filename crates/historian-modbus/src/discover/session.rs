//! One discovery from start to end: which units answer, then for each the readable ranges
//! of each table, then samples of every readable register and a proposed type for each.

use super::access::ScanLink;
use super::infer::{Proposal, Samples, infer_run};
use super::pace::Pace;
use super::progress::Progress;
use super::space::{Run, ScanError, TableScan, UnitProber, read_run, scan_table};
use super::units::{UnitAnswer, UnitReport, scan_units};
use crate::client::{DeviceIdentity, ReadError, Transport};
use historian_model::{DataType, Table, WordOrder};
use std::sync::Arc;
use std::time::Duration;
use thiserror::Error;

/// What to discover and how gently.
#[derive(Debug, Clone)]
pub struct DiscoverOptions {
    /// Where the device (or gateway) is.
    pub transport: Transport,
    /// Unit ids to probe.
    pub units: Vec<u8>,
    /// Tables to scan.
    pub tables: Vec<Table>,
    /// First and last wire address to scan in each table.
    pub range: (u16, u16),
    /// Per-request time-out.
    pub timeout: Duration,
    /// Pause after every request.
    pub pause: Duration,
    /// Ceiling on requests per second (`None`: none).
    pub max_requests_per_second: Option<u32>,
    /// Samples of every readable register for type inference (at least 1).
    pub samples: usize,
    /// Time between two samples.
    pub sample_interval: Duration,
    /// Connections at once while probing unit ids.
    pub concurrency: usize,
}

impl DiscoverOptions {
    /// Defaults for `transport`: unit 1, every table, the whole address space, 1 s
    /// time-out, no pause, 3 samples 1 s apart, 8 connections.
    pub fn new(transport: Transport) -> Self {
        Self {
            transport,
            units: vec![1],
            tables: Table::ALL.to_vec(),
            range: (0, u16::MAX),
            timeout: Duration::from_secs(1),
            pause: Duration::ZERO,
            max_requests_per_second: None,
            samples: 3,
            sample_interval: Duration::from_secs(1),
            concurrency: 8,
        }
    }

    fn pace(&self) -> Pace {
        Pace::new(self.pause, self.max_requests_per_second)
    }
}

/// One proposed register of one table.
#[derive(Debug, Clone, PartialEq)]
pub struct TableProposal {
    /// Its table.
    pub table: Table,
    /// The proposal.
    pub proposal: Proposal,
}

/// What was found on one unit that answers.
#[derive(Debug, Clone, PartialEq)]
pub struct UnitDiscovery {
    /// The unit id.
    pub unit: u8,
    /// Its identification, if it gave one.
    pub identity: Option<DeviceIdentity>,
    /// Readable ranges per table scanned.
    pub tables: Vec<TableScan>,
    /// Proposed registers, by table then address.
    pub proposals: Vec<TableProposal>,
    /// The SunSpec layout, when the holding registers carry the `SunS` marker.
    pub sunspec: Option<super::sunspec::SunSpecMap>,
    /// Why the unit's scan stopped early, if it did (what was found before stays).
    pub error: Option<String>,
}

/// The result of a discovery.
#[derive(Debug, Clone, PartialEq)]
pub struct Discovery {
    /// Every unit id probed and how it responded.
    pub units: Vec<UnitReport>,
    /// The units that answered, scanned.
    pub devices: Vec<UnitDiscovery>,
    /// Requests sent in all.
    pub requests: u64,
    /// How long it took.
    pub elapsed: Duration,
}

/// Why nothing could be discovered.
#[derive(Debug, Error)]
pub enum DiscoverError {
    /// No unit id answered; each one's response is listed.
    #[error("no unit answered at {endpoint}: {}", summary(.units))]
    NoUnit {
        /// host:port or serial port.
        endpoint: String,
        /// Every unit probed.
        units: Vec<UnitReport>,
    },
    /// Nothing to probe.
    #[error("no unit ids to probe")]
    NoUnitIds,
}

fn summary(units: &[UnitReport]) -> String {
    let mut counts: Vec<(String, usize)> = Vec::new();
    for u in units {
        let d = u.answer.describe();
        match counts.iter_mut().find(|(k, _)| *k == d) {
            Some((_, n)) => *n += 1,
            None => counts.push((d, 1)),
        }
    }
    counts
        .iter()
        .map(|(d, n)| format!("{n} unit{} {d}", if *n == 1 { "" } else { "s" }))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Runs a discovery, reporting its progress to `progress`.
pub async fn discover(
    opts: &DiscoverOptions,
    progress: Arc<Progress>,
) -> Result<Discovery, DiscoverError> {
    if opts.units.is_empty() {
        return Err(DiscoverError::NoUnitIds);
    }
    let started = tokio::time::Instant::now();
    let units = scan_units(
        &opts.transport,
        &opts.units,
        opts.timeout,
        &opts.pace(),
        opts.concurrency,
        Arc::clone(&progress),
    )
    .await;
    let answering: Vec<&UnitReport> = units
        .iter()
        .filter(|u| u.answer == UnitAnswer::Answers)
        .collect();
    if answering.is_empty() {
        return Err(DiscoverError::NoUnit {
            endpoint: opts.transport.endpoint().to_string(),
            units,
        });
    }
    let (first, last) = (
        opts.range.0.min(opts.range.1),
        opts.range.0.max(opts.range.1),
    );
    let span = u64::from(last - first) + 1;
    progress.add_total(span * (opts.tables.len() * answering.len()) as u64);
    let mut devices = Vec::with_capacity(answering.len());
    for report in answering {
        let mut link = ScanLink::new(
            opts.transport.clone(),
            opts.timeout,
            opts.pace(),
            Arc::clone(&progress),
        );
        devices.push(discover_unit(&mut link, report, opts, (first, last), &progress).await);
    }
    Ok(Discovery {
        units,
        devices,
        requests: progress.requests(),
        elapsed: started.elapsed(),
    })
}

async fn discover_unit(
    link: &mut ScanLink,
    report: &UnitReport,
    opts: &DiscoverOptions,
    (first, last): (u16, u16),
    progress: &Progress,
) -> UnitDiscovery {
    let mut out = UnitDiscovery {
        unit: report.unit,
        identity: report.identity.clone(),
        tables: Vec::new(),
        proposals: Vec::new(),
        sunspec: None,
        error: None,
    };
    let mut prober = UnitProber {
        link,
        unit: report.unit,
    };
    for (i, &table) in opts.tables.iter().enumerate() {
        progress.set_phase(format!("unit {}: scanning {table}", report.unit));
        match scan_table(&mut prober, table, first, last, u16::MAX, progress).await {
            Ok(scan) => out.tables.push(scan),
            Err(e) => {
                let left = opts.tables.len() - i - 1;
                progress.advance((u64::from(last - first) + 1) * left as u64);
                out.error = Some(e.to_string());
                if matches!(e, ScanError::NoAnswer { .. }) {
                    return out;
                }
            }
        }
    }
    if opts.tables.contains(&Table::HoldingRegister) {
        progress.set_phase(format!("unit {}: looking for SunSpec", report.unit));
        match super::sunspec::detect(&mut prober).await {
            Ok(found) => out.sunspec = found,
            Err(e) => out.error = Some(format!("SunSpec detection stopped: {e}")),
        }
    }
    progress.set_phase(format!("unit {}: sampling", report.unit));
    match sample(&mut prober, &out.tables, opts).await {
        Ok(proposals) => out.proposals = proposals,
        Err(e) => out.error = Some(format!("sampling stopped: {e}")),
    }
    out
}

/// Reads every readable run `opts.samples` times and proposes types.
async fn sample(
    prober: &mut UnitProber<'_>,
    tables: &[TableScan],
    opts: &DiscoverOptions,
) -> Result<Vec<TableProposal>, ReadError> {
    let runs: Vec<(Run, u16)> = tables
        .iter()
        .flat_map(|t| {
            let limit = t.device_limit.unwrap_or(u16::MAX);
            t.runs.iter().map(move |r| (*r, limit))
        })
        .collect();
    let registers: Vec<&(Run, u16)> = runs.iter().filter(|(r, _)| !r.table.is_bit()).collect();
    let mut words: Vec<Vec<Vec<u16>>> = vec![Vec::new(); registers.len()];
    for s in 0..opts.samples.max(1) {
        if s > 0 {
            tokio::time::sleep(opts.sample_interval).await;
        }
        for (i, (run, limit)) in registers.iter().enumerate() {
            words[i].push(read_run(prober, run, *limit).await?);
        }
    }
    let mut out = Vec::new();
    for (run, _) in &runs {
        if run.table.is_bit() {
            for k in 0..run.len {
                let Ok(address) = u16::try_from(u32::from(run.start) + k) else {
                    break;
                };
                out.push(TableProposal {
                    table: run.table,
                    proposal: Proposal {
                        address,
                        data_type: DataType::Bool,
                        word_order: WordOrder::Abcd,
                        length: None,
                        bit: None,
                        kind: super::infer::Kind::Value,
                        confidence: 1.0,
                        evidence: format!("readable {}", run.table),
                    },
                });
            }
        }
    }
    for ((run, _), samples) in registers.iter().zip(words) {
        let found = infer_run(&Samples {
            start: run.start,
            words: samples,
        });
        out.extend(found.into_iter().map(|proposal| TableProposal {
            table: run.table,
            proposal,
        }));
    }
    out.sort_by_key(|p| (p.table, p.proposal.address, p.proposal.bit));
    Ok(out)
}
