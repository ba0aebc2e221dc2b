//! Registers polled less often than their device. A register with an `interval` is read
//! at the first poll (so its value is known from the start) and then at every grid slot
//! whose number is a multiple of `k`, `k` = its interval divided by the device's, rounded
//! up: slow reads stay on the device's fixed grid. Registers due at the same polls share
//! one adaptive plan.

use crate::adaptive::{AdaptivePlan, Quarantine};
use crate::client::UnitReader;
use crate::poll::{FailedRead, Sample};
use historian_model::PlanOptions;
use historian_model::RegisterPoint;
use std::collections::BTreeMap;
use std::time::Duration;

/// Registers read at the same polls, and their plan.
#[derive(Debug, Clone)]
struct Group {
    every: u64,
    indices: Vec<usize>,
    plan: AdaptivePlan,
}

/// What one scheduled poll produced.
#[derive(Debug)]
pub struct ScheduledOutcome {
    /// A sample for each register that was due, by index into the map.
    pub samples: Vec<(usize, Sample)>,
    /// Requests that failed, with why.
    pub errors: Vec<FailedRead>,
}

/// A device's plans by how often their registers are due.
#[derive(Debug, Clone)]
pub struct ScheduledPlan {
    groups: Vec<Group>,
    /// False until the first poll, which reads every register.
    started: bool,
}

impl ScheduledPlan {
    /// Groups `points` by how many device polls (`device_interval` apart) lie between two
    /// reads of each, and plans each group.
    pub fn new(
        points: &[RegisterPoint],
        device_interval: Duration,
        opts: PlanOptions,
        pause: Duration,
    ) -> Self {
        let device_ms = u64::try_from(device_interval.as_millis())
            .unwrap_or(u64::MAX)
            .max(1);
        let mut by_every: BTreeMap<u64, Vec<usize>> = BTreeMap::new();
        for (i, p) in points.iter().enumerate() {
            let every = p.interval_ms.map_or(1, |ms| ms.div_ceil(device_ms).max(1));
            by_every.entry(every).or_default().push(i);
        }
        let groups = by_every
            .into_iter()
            .map(|(every, indices)| Group {
                plan: AdaptivePlan::for_subset(points, &indices, opts).with_pause(pause),
                every,
                indices,
            })
            .collect();
        Self {
            groups,
            started: false,
        }
    }

    /// How many device polls lie between two reads of each group, in ascending order.
    pub fn cadences(&self) -> Vec<u64> {
        self.groups.iter().map(|g| g.every).collect()
    }

    /// Each group's cadence (device polls between two reads) and the requests it sends.
    pub fn plans(&self) -> impl Iterator<Item = (u64, &crate::plan::ReadPlan)> {
        self.groups.iter().map(|g| (g.every, g.plan.plan()))
    }

    /// Registers quarantined in any group, by index into the map.
    pub fn quarantined(&self) -> BTreeMap<usize, Quarantine> {
        self.groups
            .iter()
            .flat_map(|g| g.plan.quarantined().iter().map(|(&i, &q)| (i, q)))
            .collect()
    }

    /// Reads the registers due at grid slot `slot` (the number of device intervals since
    /// the epoch, counted on the device's grid); the first call reads them all.
    pub async fn poll<R: UnitReader>(
        &mut self,
        slot: u64,
        client: &mut R,
        points: &[RegisterPoint],
    ) -> ScheduledOutcome {
        let mut samples = Vec::new();
        let mut errors = Vec::new();
        let mut link_down = false;
        let first = !std::mem::replace(&mut self.started, true);
        for g in self
            .groups
            .iter_mut()
            .filter(|g| first || slot.is_multiple_of(g.every))
        {
            if link_down {
                // The link just failed: the other groups would only wait for it again.
                samples.extend(g.indices.iter().map(|&i| (i, Sample::BAD)));
                continue;
            }
            let out = g.plan.poll(client, points).await;
            link_down = out.errors.iter().any(FailedRead::is_link_failure);
            samples.extend(g.indices.iter().map(|&i| (i, out.samples[i].clone())));
            errors.extend(out.errors);
        }
        samples.sort_by_key(|(i, _)| *i);
        ScheduledOutcome { samples, errors }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use historian_model::{RegisterRef, Table};

    #[test]
    fn registers_are_grouped_by_whole_device_polls() {
        let p = |address, interval_ms| RegisterPoint {
            name: format!("r{address}"),
            register: RegisterRef::new(Table::HoldingRegister, address),
            interval_ms,
            ..RegisterPoint::default()
        };
        // device every 5 s: 5 s -> every poll, 12 s -> every 3rd, 60 s -> every 12th
        let map = vec![
            p(0, None),
            p(1, Some(5_000)),
            p(2, Some(12_000)),
            p(3, Some(60_000)),
            p(4, Some(1)),
        ];
        let plan = ScheduledPlan::new(
            &map,
            Duration::from_secs(5),
            PlanOptions::default(),
            Duration::ZERO,
        );
        assert_eq!(plan.cadences(), [1, 3, 12]);
        let members: Vec<Vec<usize>> = plan.groups.iter().map(|g| g.indices.clone()).collect();
        assert_eq!(members, [vec![0, 1, 4], vec![2], vec![3]]);
        // each group's plan reads only its own registers
        let reads: Vec<Vec<(u16, u16)>> = plan
            .groups
            .iter()
            .map(|g| {
                g.plan
                    .plan()
                    .requests
                    .iter()
                    .map(|r| (r.start(), r.count()))
                    .collect()
            })
            .collect();
        assert_eq!(reads, [vec![(0, 2), (4, 1)], vec![(2, 1)], vec![(3, 1)]]);
    }
}
