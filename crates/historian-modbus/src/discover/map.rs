//! A discovery's proposals as a register map: points named by table and address, and map
//! files (CSV or TOML) with a comment above every guess saying why it is one.

use super::infer::{Kind, Proposal};
use super::session::{TableProposal, UnitDiscovery};
use super::sunspec_map::sunspec_points;
use crate::mapfile::{MapFormat, write};
use historian_model::{DataType, RegisterPoint, RegisterRef, Table};

/// A proposed point and, for a guess, the comment that explains it.
#[derive(Debug, Clone, PartialEq)]
pub struct ProposedPoint {
    /// The point as it would be polled.
    pub point: RegisterPoint,
    /// Set when the proposal is uncertain: the evidence.
    pub comment: Option<String>,
    /// 0 to 1: how sure the proposal is (1 for a point a SunSpec model defines).
    pub confidence: f32,
    /// Why: raw words and decoded candidates, or the SunSpec model that defines it.
    pub evidence: String,
}

fn prefix(table: Table) -> &'static str {
    match table {
        Table::Coil => "co",
        Table::DiscreteInput => "di",
        Table::InputRegister => "ir",
        Table::HoldingRegister => "hr",
    }
}

/// The point's name: table, address and what it seems to be (`hr_00100`, `hr_00102_text`,
/// `hr_00104_b3`, `ir_00000_counter`).
fn name(table: Table, p: &Proposal) -> String {
    let stem = format!("{}_{:05}", prefix(table), p.address);
    match (p.bit, p.kind) {
        (Some(bit), _) => format!("{stem}_b{bit}"),
        (None, Kind::Text) => format!("{stem}_text"),
        (None, Kind::Counter) => format!("{stem}_counter"),
        _ => stem,
    }
}

/// The proposals as points, each guess with its comment.
pub fn proposed_points(proposals: &[TableProposal]) -> Vec<ProposedPoint> {
    proposals
        .iter()
        .map(|tp| {
            let p = &tp.proposal;
            let mut register = RegisterRef::new(tp.table, p.address);
            if let Some(bit) = p.bit {
                register = register.with_bit(bit);
            }
            let point = RegisterPoint {
                name: name(tp.table, p),
                register,
                data_type: p.data_type,
                word_order: p.word_order,
                length: if p.data_type == DataType::String {
                    p.length
                } else {
                    None
                },
                ..RegisterPoint::default()
            };
            let comment = p.is_uncertain().then(|| {
                format!(
                    "uncertain ({:.0} %): {}",
                    f64::from(p.confidence) * 100.0,
                    p.evidence
                )
            });
            ProposedPoint {
                point,
                comment,
                confidence: p.confidence,
                evidence: p.evidence.clone(),
            }
        })
        .collect()
}

/// The map proposed for one unit: the inferred points, and where the unit is a SunSpec
/// device, its models' points from their definitions in place of the inferred ones there.
pub fn unit_points(d: &UnitDiscovery) -> Vec<ProposedPoint> {
    let Some(sun) = &d.sunspec else {
        return proposed_points(&d.proposals);
    };
    let last_model_end = sun.models.last().map_or(u32::from(sun.base) + 2, |m| {
        u32::from(m.address) + 2 + u32::from(m.len)
    });
    let block = u32::from(sun.base)..last_model_end + 2;
    let outside: Vec<TableProposal> = d
        .proposals
        .iter()
        .filter(|tp| {
            let start = u32::from(tp.proposal.address);
            let end = start + tp.proposal.width() as u32;
            tp.table != Table::HoldingRegister || end <= block.start || start >= block.end
        })
        .cloned()
        .collect();
    let mut points = proposed_points(&outside);
    points.extend(
        sunspec_points(sun)
            .into_iter()
            .map(|(point, comment)| ProposedPoint {
                evidence: format!("SunSpec model definition, marker at {}", sun.base),
                point,
                comment,
                confidence: 1.0,
            }),
    );
    points.sort_by_key(|p| (p.point.register.table, p.point.register.address));
    points
}

/// The points as a map file of `format` (wire addressing) that `devices import` reads as it
/// is; each guess is preceded by a `#` comment line.
pub fn render(points: &[ProposedPoint], format: MapFormat, header: &str) -> String {
    let plain: Vec<RegisterPoint> = points.iter().map(|p| p.point.clone()).collect();
    let text = write(&plain, format);
    let mut out = String::new();
    for line in header.lines() {
        out.push_str(&format!("# {line}\n"));
    }
    // Both writers put each point on its own line (CSV) or at its own `[[registers]]`
    // (TOML), in order: the comment goes right before it.
    let mut next = 0;
    let mut csv_header_seen = false;
    for line in text.lines() {
        let starts_point = match format {
            MapFormat::Csv => {
                let was = csv_header_seen;
                csv_header_seen = true;
                was
            }
            MapFormat::Toml => line.trim() == "[[registers]]",
        };
        if starts_point {
            if let Some(c) = points.get(next).and_then(|p| p.comment.as_deref()) {
                for c in c.lines() {
                    out.push_str(&format!("# {c}\n"));
                }
            }
            next += 1;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mapfile::parse;
    use historian_model::{Addressing, WordOrder};

    fn proposal(address: u16, data_type: DataType, confidence: f32) -> TableProposal {
        TableProposal {
            table: Table::HoldingRegister,
            proposal: Proposal {
                address,
                data_type,
                word_order: if data_type == DataType::String {
                    WordOrder::Badc
                } else {
                    WordOrder::Cdab
                },
                length: (data_type == DataType::String).then_some(4),
                bit: None,
                kind: Kind::Value,
                confidence,
                evidence: "words 1234 5678\nsecond line".into(),
            },
        }
    }

    #[test]
    fn maps_with_commented_guesses_read_back_as_they_were_written() {
        let proposals = vec![
            proposal(0, DataType::Float32, 0.9),
            proposal(2, DataType::Uint16, 0.4),
            proposal(3, DataType::String, 0.5),
        ];
        let points = proposed_points(&proposals);
        assert_eq!(points[0].comment, None);
        assert!(points[1].comment.is_some());
        for format in [MapFormat::Csv, MapFormat::Toml] {
            let text = render(&points, format, "discovered at 127.0.0.1:502 unit 1");
            assert_eq!(
                text.lines()
                    .filter(|l| l.starts_with("# uncertain"))
                    .count(),
                2,
                "{text}"
            );
            let back = parse(&text, format, Addressing::Wire).expect(&text);
            let want: Vec<RegisterPoint> = points.iter().map(|p| p.point.clone()).collect();
            assert_eq!(back, want, "{text}");
        }
    }
}
