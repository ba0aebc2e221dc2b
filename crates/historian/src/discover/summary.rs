//! The summary printed when a discovery ends: units, identification, readable ranges per
//! table, proposals and guesses, requests and time.

use historian_modbus::discover::units::UnitAnswer;
use historian_modbus::discover::{Discovery, UnitDiscovery};
use std::fmt::Write as _;

/// Addresses as `0-9, 100, 130-400`.
fn spans(scan: &historian_modbus::discover::TableScan) -> String {
    let parts: Vec<String> = scan
        .runs
        .iter()
        .map(|r| {
            if r.len == 1 {
                r.start.to_string()
            } else {
                format!("{}-{}", r.start, r.last())
            }
        })
        .collect();
    if parts.is_empty() {
        "none".into()
    } else {
        parts.join(", ")
    }
}

fn unit_lines(out: &mut String, d: &UnitDiscovery) {
    let _ = write!(out, "unit {}", d.unit);
    if let Some(id) = &d.identity {
        let fields: Vec<&str> = [&id.vendor, &id.product, &id.revision]
            .into_iter()
            .flatten()
            .map(String::as_str)
            .collect();
        let _ = write!(out, ": {}", fields.join(" "));
    }
    out.push('\n');
    for scan in &d.tables {
        let count: u32 = scan.runs.iter().map(|r| r.len).sum();
        if scan.unsupported {
            let _ = writeln!(out, "  {}: not supported (exception 01)", scan.table);
        } else {
            let _ = writeln!(
                out,
                "  {}: {count} readable: {}{}",
                scan.table,
                spans(scan),
                scan.device_limit
                    .map(|n| format!(" (the device reads at most {n} at once)"))
                    .unwrap_or_default()
            );
        }
    }
    if let Some(sun) = &d.sunspec {
        let models: Vec<String> = sun
            .models
            .iter()
            .map(|m| format!("{} at {} ({} registers)", m.id, m.address, m.len))
            .collect();
        let _ = writeln!(
            out,
            "  SunSpec marker at {}: models {}{}",
            sun.base,
            models.join(", "),
            if sun.complete {
                ""
            } else {
                " (the chain broke off before its end marker)"
            }
        );
    }
    let uncertain = d
        .proposals
        .iter()
        .filter(|p| p.proposal.is_uncertain())
        .count();
    let _ = writeln!(
        out,
        "  {} registers proposed, {uncertain} of them guesses (commented in the map)",
        d.proposals.len()
    );
    if let Some(e) = &d.error {
        let _ = writeln!(out, "  stopped early: {e}");
    }
}

/// The summary of `found`, a few lines per unit.
pub fn summary(found: &Discovery) -> String {
    let mut out = String::new();
    let answering = found
        .units
        .iter()
        .filter(|u| u.answer == UnitAnswer::Answers)
        .count();
    if found.units.len() > 1 {
        let _ = writeln!(
            out,
            "{} unit ids probed, {answering} answer",
            found.units.len()
        );
        for u in found
            .units
            .iter()
            .filter(|u| u.answer != UnitAnswer::Answers)
        {
            let _ = writeln!(out, "  unit {}: {}", u.unit, u.answer.describe());
        }
    }
    for d in &found.devices {
        unit_lines(&mut out, d);
    }
    let _ = writeln!(
        out,
        "{} requests in {:.1} s",
        found.requests,
        found.elapsed.as_secs_f64()
    );
    out
}
