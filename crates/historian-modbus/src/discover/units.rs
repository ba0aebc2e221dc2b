//! Which unit ids answer behind a gateway (or on a serial line): a one-register read to
//! each, told apart as an answer (data or any exception but 0A/0B), a gateway exception
//! (0A: no path, 0B: the target did not respond) or silence; then identification for the
//! units that answer.

use super::access::{Answer, Probe, ScanLink};
use super::pace::Pace;
use super::progress::Progress;
use crate::client::{DeviceIdentity, ExceptionCode, ReadError, Transport};
use crate::plan::ReadRequest;
use historian_model::Table;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How one unit id responded to the probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UnitAnswer {
    /// The unit answered (with data, or with an exception that only refuses the address).
    Answers,
    /// The gateway answered 0A: it has no path to this unit.
    GatewayPathUnavailable,
    /// The gateway answered 0B: the unit did not respond to it.
    GatewayTargetFailed,
    /// Nothing answered within the time-out.
    Timeout,
    /// The link failed (connection refused, broken, or a malformed reply).
    Failed(String),
}

impl UnitAnswer {
    /// A short word for tables and summaries.
    pub fn describe(&self) -> String {
        match self {
            UnitAnswer::Answers => "answers".into(),
            UnitAnswer::GatewayPathUnavailable => "gateway: no path (0A)".into(),
            UnitAnswer::GatewayTargetFailed => "gateway: target failed to respond (0B)".into(),
            UnitAnswer::Timeout => "no answer (time-out)".into(),
            UnitAnswer::Failed(why) => format!("failed: {why}"),
        }
    }
}

/// One unit id's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitReport {
    /// The unit id probed.
    pub unit: u8,
    /// How it responded.
    pub answer: UnitAnswer,
    /// Its identification, when it answered FC 43/14.
    pub identity: Option<DeviceIdentity>,
}

/// Classifies the reply to a unit probe.
pub fn classify(reply: &Result<Answer, ReadError>) -> UnitAnswer {
    match reply {
        Ok(_) => UnitAnswer::Answers,
        Err(ReadError::Exception(ExceptionCode::GatewayPathUnavailable)) => {
            UnitAnswer::GatewayPathUnavailable
        }
        Err(ReadError::Exception(ExceptionCode::GatewayTargetDevice)) => {
            UnitAnswer::GatewayTargetFailed
        }
        Err(ReadError::Exception(_)) => UnitAnswer::Answers,
        Err(ReadError::Timeout(_)) => UnitAnswer::Timeout,
        Err(e) => UnitAnswer::Failed(e.to_string()),
    }
}

/// Probes `units` at `transport` over at most `concurrency` connections at once (one on a
/// serial port, which carries one request at a time); the pace is shared out so that all
/// connections together keep to it. Reports come back in unit order.
pub async fn scan_units(
    transport: &Transport,
    units: &[u8],
    timeout: Duration,
    pace: &Pace,
    concurrency: usize,
    progress: Arc<Progress>,
) -> Vec<UnitReport> {
    let workers = match transport {
        Transport::RtuSerial(_) => 1,
        _ => concurrency.clamp(1, units.len().max(1)),
    };
    progress.add_total(units.len() as u64);
    progress.set_phase(format!("probing {} unit ids", units.len()));
    let queue = Arc::new(Mutex::new(units.iter().copied().collect::<VecDeque<u8>>()));
    let gap = pace.gap() * u32::try_from(workers).unwrap_or(u32::MAX);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..workers {
        let queue = Arc::clone(&queue);
        let progress = Arc::clone(&progress);
        let mut link = ScanLink::new(
            transport.clone(),
            timeout,
            Pace::new(gap, None),
            Arc::clone(&progress),
        );
        tasks.spawn(async move {
            let mut out = Vec::new();
            loop {
                let next = queue.lock().ok().and_then(|mut q| q.pop_front());
                let Some(unit) = next else { break };
                out.push(probe_unit(&mut link, unit).await);
                progress.advance(1);
            }
            out
        });
    }
    let mut reports = Vec::with_capacity(units.len());
    while let Some(done) = tasks.join_next().await {
        match done {
            Ok(mut part) => reports.append(&mut part),
            Err(e) => tracing::warn!("a unit probe task ended abnormally: {e}"),
        }
    }
    reports.sort_by_key(|r| r.unit);
    reports
}

async fn probe_unit(link: &mut ScanLink, unit: u8) -> UnitReport {
    let probe = match ReadRequest::new(Table::HoldingRegister, 0, 1, Vec::new()) {
        Ok(req) => Probe::Read(req),
        Err(_) => Probe::Identify,
    };
    let answer = classify(&link.send(unit, &probe).await);
    let identity = if answer == UnitAnswer::Answers {
        match link.send(unit, &Probe::Identify).await {
            Ok(Answer::Identity(id)) => Some(id),
            _ => None,
        }
    } else {
        None
    };
    UnitReport {
        unit,
        answer,
        identity,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::ReadData;

    #[test]
    fn gateway_exceptions_are_told_apart_from_answers_and_silence() {
        let ex = |c: u8| Err(ReadError::Exception(ExceptionCode::new(c)));
        assert_eq!(
            classify(&Ok(Answer::Data(ReadData::Registers(vec![1])))),
            UnitAnswer::Answers
        );
        assert_eq!(classify(&ex(0x02)), UnitAnswer::Answers);
        assert_eq!(classify(&ex(0x0A)), UnitAnswer::GatewayPathUnavailable);
        assert_eq!(classify(&ex(0x0B)), UnitAnswer::GatewayTargetFailed);
        assert_eq!(
            classify(&Err(ReadError::Timeout(Duration::from_millis(5)))),
            UnitAnswer::Timeout
        );
        assert!(matches!(
            classify(&Err(ReadError::Transport("x".into()))),
            UnitAnswer::Failed(_)
        ));
    }
}
