//! What `GET /api/discover/{job}` answers: the job's state and progress and, once it
//! finished, what was found: the units, their identification and readable ranges, the
//! SunSpec layout, and the proposed map with each register's confidence and evidence,
//! also as a device body that `POST /api/devices` takes as it is.

use super::jobs::{JobView, Outcome};
use crate::discover::summary;
use historian_modbus::discover::{UnitAnswer, UnitDiscovery, unit_points};
use historian_model::RegisterInput;
use historian_model::input::DeviceInput;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A discovery job.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DiscoverJobResponse {
    /// The job's id, for `GET` and `DELETE /api/discover/{job}`.
    pub id: String,
    /// The target as given.
    pub target: String,
    /// `running`, `finished`, `failed` or `cancelled`.
    pub state: String,
    /// When it started (RFC 3339).
    pub started: String,
    /// How far it has come.
    pub progress: DiscoverProgress,
    /// What it found, once finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<DiscoverResult>,
    /// Why nothing was found, when failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A discovery's counters.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DiscoverProgress {
    /// What is being done now, e.g. `unit 1: scanning holding_register`.
    pub phase: String,
    /// Addresses and unit ids done.
    pub done: u64,
    /// Addresses and unit ids known so far (grows once the answering units are known).
    pub total: u64,
    /// Requests sent.
    pub requests: u64,
    /// Readable ranges found.
    pub ranges: u64,
    /// Milliseconds since it started (to its end, once ended).
    pub elapsed_ms: u64,
    /// Milliseconds left at the pace so far, while running (sampling comes on top).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eta_ms: Option<u64>,
}

/// What a finished discovery found.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DiscoverResult {
    /// Every unit id probed and how it answered.
    pub units: Vec<UnitProbe>,
    /// The units that answered, scanned.
    pub devices: Vec<DiscoveredDevice>,
    /// Requests sent in all.
    pub requests: u64,
    /// Milliseconds it took.
    pub elapsed_ms: u64,
    /// The summary `modbus-historian discover` prints.
    pub summary: String,
}

/// How one unit id answered.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct UnitProbe {
    /// The unit id.
    pub unit: u8,
    /// True when it answered.
    pub answers: bool,
    /// `answers`, a gateway exception, a time-out or a link failure.
    pub answer: String,
}

/// Read Device Identification (FC 43/14) of a unit.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Identification {
    /// VendorName.
    pub vendor: Option<String>,
    /// ProductCode.
    pub product: Option<String>,
    /// MajorMinorRevision.
    pub revision: Option<String>,
}

/// Readable addresses of one table.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TableRanges {
    /// The table.
    pub table: String,
    /// True when the device refuses the table's function code (exception 01).
    pub unsupported: bool,
    /// Readable ranges as `[first, last]` wire addresses.
    pub ranges: Vec<[u16; 2]>,
    /// The most values the device reads at once, when fewer than the protocol allows.
    pub device_limit: Option<u16>,
}

/// One model of a SunSpec chain.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SunSpecModelResponse {
    /// Model id.
    pub id: u16,
    /// Wire address of its id register.
    pub address: u16,
    /// Registers after its two header registers.
    pub len: u16,
}

/// A SunSpec device's layout.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SunSpecLayout {
    /// Wire address of the `SunS` marker.
    pub base: u16,
    /// The models in chain order.
    pub models: Vec<SunSpecModelResponse>,
    /// False when the chain broke off before its end marker.
    pub complete: bool,
}

/// One proposed register: where, what, and how sure.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ProposedRegister {
    /// Its proposed name.
    pub name: String,
    /// Its table.
    pub table: String,
    /// Wire address of its first register.
    pub address: u16,
    /// The bit of a flag inside its register.
    pub bit: Option<u8>,
    /// Proposed type.
    pub data_type: String,
    /// 0 to 1; below 0.6 the proposal is a guess.
    pub confidence: f32,
    /// Raw words and decoded candidates, or the SunSpec definition.
    pub evidence: String,
    /// Set for a guess or a note (e.g. a scale factor to apply by hand).
    pub comment: Option<String>,
}

/// One unit that answered, scanned.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DiscoveredDevice {
    /// The unit id.
    pub unit: u8,
    /// Its identification, if it gave one.
    pub identification: Option<Identification>,
    /// Readable ranges per table scanned.
    pub tables: Vec<TableRanges>,
    /// Its SunSpec layout, when the holding registers carry the marker.
    pub sunspec: Option<SunSpecLayout>,
    /// The proposed map, register by register (the same order as `device.registers`).
    pub registers: Vec<ProposedRegister>,
    /// The device with the proposed map, as `POST /api/devices` takes it (name it first).
    pub device: DeviceInput,
    /// Why the unit's scan stopped early, if it did.
    pub error: Option<String>,
}

fn device(template: &DeviceInput, d: &UnitDiscovery, several: bool) -> DiscoveredDevice {
    let points = unit_points(d);
    let mut input = template.clone();
    input.name = Some(if several {
        format!("discovered-unit{}", d.unit)
    } else {
        "discovered".into()
    });
    input.unit_id = Some(i64::from(d.unit));
    input.registers = points.iter().map(|p| RegisterInput::of(&p.point)).collect();
    DiscoveredDevice {
        unit: d.unit,
        identification: d.identity.as_ref().map(|i| Identification {
            vendor: i.vendor.clone(),
            product: i.product.clone(),
            revision: i.revision.clone(),
        }),
        tables: d
            .tables
            .iter()
            .map(|t| TableRanges {
                table: t.table.to_string(),
                unsupported: t.unsupported,
                ranges: t.runs.iter().map(|r| [r.start, r.last()]).collect(),
                device_limit: t.device_limit,
            })
            .collect(),
        sunspec: d.sunspec.as_ref().map(|s| SunSpecLayout {
            base: s.base,
            models: s
                .models
                .iter()
                .map(|m| SunSpecModelResponse {
                    id: m.id,
                    address: m.address,
                    len: m.len,
                })
                .collect(),
            complete: s.complete,
        }),
        registers: points
            .iter()
            .map(|p| ProposedRegister {
                name: p.point.name.clone(),
                table: p.point.register.table.to_string(),
                address: p.point.register.address,
                bit: p.point.register.bit,
                data_type: p.point.data_type.to_string(),
                confidence: p.confidence,
                evidence: p.evidence.clone(),
                comment: p.comment.clone(),
            })
            .collect(),
        device: input,
        error: d.error.clone(),
    }
}

fn millis(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl From<JobView> for DiscoverJobResponse {
    fn from(v: JobView) -> Self {
        let p = &v.progress;
        let (done, total) = (p.done(), p.total());
        let running = matches!(v.outcome, Outcome::Running);
        let eta_ms = (running && done > 0 && total > done).then(|| {
            let per = v.elapsed.as_secs_f64() / done as f64;
            (per * (total - done) as f64 * 1000.0) as u64
        });
        let progress = DiscoverProgress {
            phase: p.phase(),
            done,
            total,
            requests: p.requests(),
            ranges: p.ranges(),
            elapsed_ms: millis(v.elapsed),
            eta_ms,
        };
        let (state, result, error) = match &v.outcome {
            Outcome::Running => ("running", None, None),
            Outcome::Cancelled => ("cancelled", None, None),
            Outcome::Failed(e) => ("failed", None, Some(e.clone())),
            Outcome::Finished(found) => {
                let several = found.devices.len() > 1;
                let result = DiscoverResult {
                    units: found
                        .units
                        .iter()
                        .map(|u| UnitProbe {
                            unit: u.unit,
                            answers: u.answer == UnitAnswer::Answers,
                            answer: u.answer.describe(),
                        })
                        .collect(),
                    devices: found
                        .devices
                        .iter()
                        .map(|d| device(&v.template, d, several))
                        .collect(),
                    requests: found.requests,
                    elapsed_ms: millis(found.elapsed),
                    summary: summary(found),
                };
                ("finished", Some(result), None)
            }
        };
        DiscoverJobResponse {
            id: v.id,
            target: v.target,
            state: state.into(),
            started: v.started.to_rfc3339(),
            progress,
            result,
            error,
        }
    }
}
