//! The fair share: which devices a node offers to others at its next heartbeat.

/// Devices a node may hold: ceil(devices / nodes), every device when it is alone.
pub fn fair_share(devices: i64, nodes: i64) -> i64 {
    let nodes = nodes.max(1);
    (devices + nodes - 1) / nodes
}

/// The devices to offer: every one when `leaving`; otherwise as many as the node holds
/// above `share`, keeping the offers already made (their handover instants stand) and
/// adding the highest ids.
pub fn offers(held: &[i64], offered: &[i64], share: i64, leaving: bool) -> Vec<i64> {
    if leaving {
        return held.to_vec();
    }
    let excess =
        usize::try_from(i64::try_from(held.len()).unwrap_or(i64::MAX) - share).unwrap_or(0);
    let mut out: Vec<i64> = offered
        .iter()
        .copied()
        .filter(|d| held.contains(d))
        .take(excess)
        .collect();
    let mut rest: Vec<i64> = held.iter().copied().filter(|d| !out.contains(d)).collect();
    rest.sort_unstable_by(|a, b| b.cmp(a));
    let more = excess - out.len();
    out.extend(rest.into_iter().take(more));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn share_is_the_ceiling() {
        assert_eq!(fair_share(90, 3), 30);
        assert_eq!(fair_share(90, 4), 23);
        assert_eq!(fair_share(10, 0), 10);
        assert_eq!(fair_share(0, 2), 0);
    }

    #[test]
    fn a_node_above_its_share_offers_the_excess_keeping_earlier_offers() {
        let held: Vec<i64> = (1..=30).collect();
        assert!(offers(&held, &[], 30, false).is_empty());
        let o = offers(&held, &[], 23, false);
        assert_eq!(o, vec![30, 29, 28, 27, 26, 25, 24]);
        let o = offers(&held, &[3, 4], 27, false);
        assert_eq!(o, vec![3, 4, 30]);
        assert_eq!(
            offers(&held, &[3, 4], 29, false),
            vec![3],
            "withdraws the rest"
        );
        assert_eq!(offers(&held, &[], 30, true).len(), 30, "leaving offers all");
    }
}
