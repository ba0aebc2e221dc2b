//! A read plan that adapts to what a device refuses. When a coalesced read is answered
//! with exception 02 (illegal data address) or 03 (illegal data value), the read is split
//! into one request per register at once, so only the registers the device really refuses
//! are stored `bad`; those are quarantined, the plan is rebuilt around them for the next
//! polls, and each quarantined register is probed again now and then. Busy devices
//! (exceptions 05 and 06) are asked again after a short wait. When a gateway answers 0A or
//! 0B (the unit behind it does not respond), or a unit on a shared link times out, the
//! unit's polls are skipped for a growing number of polls (stored `bad`), so a dead unit
//! does not hold a shared link.

use crate::client::{ExceptionCode, ReadError, UnitReader};
use crate::factor::{FactorIndex, PollDecoder};
use crate::plan::{ReadPlan, ReadRequest};
use crate::poll::{FailedRead, PollOutcome, Sample};
use historian_model::PlanOptions;
use historian_model::RegisterPoint;
use historian_retry::{Backoff, RetryPolicy};
use std::collections::BTreeMap;
use std::time::Duration;

/// Waits before asking a busy device again, within one poll: 20 ms, then 80 ms.
const BUSY_RETRY: RetryPolicy =
    RetryPolicy::exponential(Duration::from_millis(20), Duration::from_millis(80)).with_factor(4);
/// Times a busy device is asked again within one poll.
const BUSY_RETRIES: usize = 2;
/// Polls between two probes of a quarantined register.
pub const DEFAULT_REPROBE_EVERY: u64 = 20;
/// Polls skipped after a gateway reported the unit unreachable: 1, doubling up to 32.
const UNIT_BACKOFF: RetryPolicy<u64> = RetryPolicy::exponential(1, 32);

/// Why a register is quarantined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quarantine {
    /// The exception the device answered for the register alone.
    pub code: ExceptionCode,
    /// The poll (counted from 1) in which it was quarantined.
    pub since_poll: u64,
}

/// A device's read plan together with the registers it had to leave out.
#[derive(Debug, Clone)]
pub struct AdaptivePlan {
    opts: PlanOptions,
    plan: ReadPlan,
    /// The points this plan reads (`None`: all of them).
    include: Option<Vec<bool>>,
    /// Each point's scale-factor register, read in the same poll as the point.
    factors: FactorIndex,
    quarantined: BTreeMap<usize, Quarantine>,
    polls: u64,
    reprobe_every: u64,
    pause: Duration,
    /// While a gateway reports the unit unreachable: the poll to try again at, and the
    /// back-off (in polls) still to come.
    unit_down: Option<(u64, Backoff<u64>)>,
}

fn exception_code(e: &ReadError) -> Option<ExceptionCode> {
    match e {
        ReadError::Exception(code) => Some(*code),
        _ => None,
    }
}

/// "This address (or count) is not readable here."
fn is_refusal(code: ExceptionCode) -> bool {
    use ExceptionCode::{IllegalDataAddress, IllegalDataValue};
    matches!(code, IllegalDataAddress | IllegalDataValue)
}

/// "Ask again later."
fn is_busy(code: ExceptionCode) -> bool {
    use ExceptionCode::{Acknowledge, ServerDeviceBusy};
    matches!(code, Acknowledge | ServerDeviceBusy)
}

/// A gateway's answer when the unit behind it does not respond.
fn is_unit_unreachable(code: ExceptionCode) -> bool {
    use ExceptionCode::{GatewayPathUnavailable, GatewayTargetDevice};
    matches!(code, GatewayPathUnavailable | GatewayTargetDevice)
}

impl AdaptivePlan {
    /// Plans every point; nothing is quarantined yet.
    pub fn new(points: &[RegisterPoint], opts: PlanOptions) -> Self {
        Self {
            opts,
            plan: ReadPlan::new(points, opts),
            include: None,
            factors: FactorIndex::new(points),
            quarantined: BTreeMap::new(),
            polls: 0,
            reprobe_every: DEFAULT_REPROBE_EVERY,
            pause: Duration::ZERO,
            unit_down: None,
        }
    }

    /// Plans only the points in `indices` (indices into `points`); the others stay `bad` in
    /// its polls' samples, which callers ignore.
    pub fn for_subset(points: &[RegisterPoint], indices: &[usize], opts: PlanOptions) -> Self {
        let mut include = vec![false; points.len()];
        let factors = FactorIndex::new(points);
        // A scaled point's factor register is read with it, even when not due itself.
        for i in indices
            .iter()
            .flat_map(|&i| [Some(i), factors.of(i)])
            .flatten()
        {
            if let Some(slot) = include.get_mut(i) {
                *slot = true;
            }
        }
        let mut plan = Self::new(&[], opts);
        plan.include = Some(include);
        plan.factors = factors;
        plan.replan(points);
        plan
    }

    /// Waits this long between two requests of one poll (for devices that need a breather).
    pub fn with_pause(mut self, pause: Duration) -> Self {
        self.pause = pause;
        self
    }

    /// True while the polls of a unit a gateway reported unreachable are skipped.
    pub fn unit_backing_off(&self) -> bool {
        self.unit_down
            .as_ref()
            .is_some_and(|&(retry_at, _)| self.polls + 1 < retry_at)
    }

    /// Probes quarantined registers every `polls` polls instead of the default.
    pub fn with_reprobe_every(mut self, polls: u64) -> Self {
        self.reprobe_every = polls.max(1);
        self
    }

    /// The requests the next poll sends (quarantined registers excluded).
    pub fn plan(&self) -> &ReadPlan {
        &self.plan
    }

    /// Quarantined registers by point index.
    pub fn quarantined(&self) -> &BTreeMap<usize, Quarantine> {
        &self.quarantined
    }

    fn replan(&mut self, points: &[RegisterPoint]) {
        let (q, include) = (&self.quarantined, &self.include);
        let wanted = |i: usize| {
            include
                .as_ref()
                .is_none_or(|m| m.get(i).copied().unwrap_or(false))
        };
        self.plan = ReadPlan::for_subset(points, |i| wanted(i) && !q.contains_key(&i), self.opts);
    }

    /// Sends one request, asking again after a short wait while the device says busy.
    async fn read<R: UnitReader>(
        client: &mut R,
        req: &ReadRequest,
    ) -> Result<crate::client::ReadData, ReadError> {
        let mut result = client.read(req).await;
        for wait in BUSY_RETRY.backoff().take(BUSY_RETRIES) {
            match &result {
                Err(e) if exception_code(e).is_some_and(is_busy) => {
                    tokio::time::sleep(wait).await;
                    result = client.read(req).await;
                }
                _ => break,
            }
        }
        result
    }

    /// Polls the device once: every point gets a sample, `bad` only where its own read
    /// failed.
    pub async fn poll<R: UnitReader>(
        &mut self,
        client: &mut R,
        points: &[RegisterPoint],
    ) -> PollOutcome {
        let mut samples = vec![Sample::BAD; points.len()];
        if self.unit_backing_off() {
            // The gateway said this unit is unreachable: spare the shared link for now.
            self.polls += 1;
            return PollOutcome {
                samples,
                errors: Vec::new(),
            };
        }
        self.polls += 1;
        let mut decoder = PollDecoder::new(points, &self.factors);
        let mut errors = Vec::new();
        let mut changed = false;
        let mut link_down = false;
        let mut unit_unreachable = false;
        let requests = self.plan.requests.clone();
        'requests: for (n, req) in requests.iter().enumerate() {
            if n > 0 && !self.pause.is_zero() {
                tokio::time::sleep(self.pause).await;
            }
            match Self::read(client, req).await {
                Ok(data) => {
                    for &(i, off) in req.points() {
                        decoder.decode(i, &data, usize::from(off), &mut samples);
                    }
                }
                Err(e) if exception_code(&e).is_some_and(is_refusal) => {
                    // Find out which registers the device refuses: one request each.
                    errors.push(FailedRead::new(req, e));
                    for &(i, _) in req.points() {
                        // A point of a valid request always fits one of its own.
                        let Ok(alone) = ReadRequest::single(points, i) else {
                            continue;
                        };
                        match Self::read(client, &alone).await {
                            Ok(data) => decoder.decode(i, &data, 0, &mut samples),
                            Err(e) => {
                                if let Some(code) = exception_code(&e) {
                                    self.quarantined.insert(
                                        i,
                                        Quarantine {
                                            code,
                                            since_poll: self.polls,
                                        },
                                    );
                                }
                                let link = e.is_link_failure();
                                errors.push(FailedRead::new(&alone, e));
                                if link {
                                    link_down = true;
                                    break 'requests;
                                }
                            }
                        }
                    }
                    changed = true;
                }
                Err(e) if exception_code(&e).is_some_and(is_unit_unreachable) => {
                    errors.push(FailedRead::new(req, e));
                    unit_unreachable = true;
                    break;
                }
                Err(e) => {
                    let link = e.is_link_failure();
                    if matches!(e, ReadError::Timeout(_)) && client.shares_link() {
                        unit_unreachable = true;
                    }
                    errors.push(FailedRead::new(req, e));
                    if link {
                        link_down = true;
                        break;
                    }
                }
            }
        }
        self.unit_down = if unit_unreachable {
            let mut skips = self
                .unit_down
                .take()
                .map_or_else(|| UNIT_BACKOFF.backoff(), |(_, s)| s);
            Some((self.polls + skips.next_delay() + 1, skips))
        } else {
            None
        };
        if !link_down && !unit_unreachable && self.polls.is_multiple_of(self.reprobe_every) {
            let due: Vec<usize> = self.quarantined.keys().copied().collect();
            for i in due {
                let Ok(alone) = ReadRequest::single(points, i) else {
                    continue;
                };
                match Self::read(client, &alone).await {
                    Ok(data) => {
                        decoder.decode(i, &data, 0, &mut samples);
                        self.quarantined.remove(&i);
                        changed = true;
                    }
                    Err(e) if e.is_link_failure() => {
                        errors.push(FailedRead::new(&alone, e));
                        break;
                    }
                    Err(_) => {}
                }
            }
        }
        decoder.finish(&mut samples);
        if changed {
            self.replan(points);
        }
        PollOutcome { samples, errors }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_retries_and_unit_back_off_keep_their_bounds() {
        let busy: Vec<_> = BUSY_RETRY.backoff().take(BUSY_RETRIES).collect();
        assert_eq!(busy, [20, 80].map(Duration::from_millis));
        let skips: Vec<_> = UNIT_BACKOFF.backoff().take(7).collect();
        assert_eq!(skips, [1, 2, 4, 8, 16, 32, 32]);
    }

    #[test]
    fn exceptions_are_told_apart_by_name() {
        let kind = |b: u8| {
            let c = ExceptionCode::new(b);
            (is_refusal(c), is_busy(c), is_unit_unreachable(c))
        };
        let none = (false, false, false);
        assert_eq!(kind(0x01), none);
        assert_eq!(kind(0x02), (true, false, false));
        assert_eq!(kind(0x03), (true, false, false));
        assert_eq!(kind(0x04), none);
        assert_eq!(kind(0x05), (false, true, false));
        assert_eq!(kind(0x06), (false, true, false));
        assert_eq!(kind(0x08), none);
        assert_eq!(kind(0x0A), (false, false, true));
        assert_eq!(kind(0x0B), (false, false, true));
        assert_eq!(kind(0x42), none);
    }
}
