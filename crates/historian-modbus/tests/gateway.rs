//! Units behind one gateway share one connection; a unit the gateway cannot reach (0A or
//! 0B) is backed off alone while the link stays up for the others; a busy unit (05, 06)
//! is asked again within the poll; a silent unit closes the link once per back-off step.

use futures_util::future::join_all;
use historian_modbus::adaptive::AdaptivePlan;
use historian_modbus::client::{ExceptionCode, ReadError, Transport};
use historian_modbus::gateway::{LinkPool, SharedUnit};
use historian_modbus::poll::PollOutcome;
use historian_model::{PlanOptions, Quality, RegisterPoint};
use historian_sim::fleet::reference_map;
use historian_sim::{
    FaultRate, SimDevice, SimEndpoint, SimFaults, Simulator, expected_value, step_at,
};
use historian_testkit::now_ms;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

const STEP_MS: u64 = 600_000;

/// Unit ids behind the gateway, and the simulator device index each answers as.
const UNITS: [(u8, u32); 3] = [(1, 11), (2, 12), (7, 17)];

#[tokio::test]
async fn units_share_one_link_and_a_unit_answering_0b_does_not_take_it_down() {
    a_dead_unit_does_not_take_the_link_down(|f| f.set_gateway_target_failed(true)).await;
}

#[tokio::test]
async fn units_share_one_link_and_a_unit_answering_0a_does_not_take_it_down() {
    a_dead_unit_does_not_take_the_link_down(|f| {
        f.set_exceptions(Some((
            ExceptionCode::GatewayPathUnavailable,
            FaultRate::Every(1),
        )))
    })
    .await;
}

async fn a_dead_unit_does_not_take_the_link_down(kill: impl Fn(&SimFaults)) {
    let points: Vec<RegisterPoint> = reference_map(20);
    // The gateway's own device answers unit ids not listed (none are polled here).
    let mut endpoint = SimEndpoint::new(0, SimDevice::new(99, points.clone(), STEP_MS));
    let mut unit_faults = Vec::new();
    for (unit, index) in UNITS {
        let device = SimDevice::new(index, points.clone(), STEP_MS);
        unit_faults.push(device.faults());
        endpoint = endpoint.with_unit(unit, device);
    }
    let gateway_faults = endpoint.device.faults();
    let sim = Simulator::start(IpAddr::V4(Ipv4Addr::LOCALHOST), vec![endpoint])
        .await
        .expect("simulator");

    let pool = LinkPool::default();
    let transport = Transport::Tcp(sim.addrs()[0].to_string());
    let mut units: Vec<_> = UNITS
        .iter()
        .map(|&(unit, index)| {
            (
                index,
                pool.unit(transport.clone(), unit, Duration::from_secs(1)),
                AdaptivePlan::new(&points, PlanOptions::default()),
            )
        })
        .collect();
    assert_eq!(pool.len(), 1);

    let outcomes = poll_all(&mut units, &points).await;
    for (index, at, out) in &outcomes {
        assert!(
            out.errors.is_empty(),
            "unit of device {index}: {:?}",
            out.errors
        );
        if step_at(*at, STEP_MS) != step_at(now_ms(), STEP_MS) {
            continue;
        }
        for (p, s) in points.iter().zip(&out.samples) {
            assert_eq!(
                s.value,
                Some(expected_value(*index, p, *at, STEP_MS)),
                "{}",
                p.name
            );
        }
    }
    assert_eq!(
        gateway_faults.connections(),
        1,
        "three units, one connection"
    );
    assert_eq!(
        unit_faults.iter().map(|f| f.requests()).collect::<Vec<_>>(),
        [2, 2, 2],
        "each unit's requests reach that unit"
    );

    // The gateway stops reaching unit 2 and says so.
    kill(&unit_faults[1]);
    for round in 0..3 {
        let outcomes = poll_all(&mut units, &points).await;
        for (index, _, out) in &outcomes {
            let bad = out
                .samples
                .iter()
                .filter(|s| s.quality == Quality::Bad)
                .count();
            if *index == 12 {
                assert_eq!(bad, points.len(), "round {round}: the dead unit is all bad");
            } else {
                assert!(out.errors.is_empty(), "round {round}: {:?}", out.errors);
                assert_eq!(bad, 0, "round {round}: unit of device {index}");
            }
        }
    }
    assert!(units[0].1.is_connected().await, "the link stayed up");
    assert_eq!(gateway_faults.connections(), 1, "and was never reopened");
    // Backed off: after its first refused request, the dead unit was asked again only
    // when its back-off allowed, not on every poll.
    assert!(
        unit_faults[1].requests() < 2 + 3,
        "{}",
        unit_faults[1].requests()
    );
    sim.shutdown();
}

/// A gateway with [`UNITS`] behind it, each unit's fault switch, and a polling handle per
/// unit on one shared link with time-out `timeout`.
struct Gateway {
    sim: Simulator,
    points: Vec<RegisterPoint>,
    faults: Vec<Arc<SimFaults>>,
    gateway: Arc<SimFaults>,
    units: Vec<Unit>,
    _pool: LinkPool,
}

impl Gateway {
    async fn start(timeout: Duration) -> Self {
        let points: Vec<RegisterPoint> = reference_map(20);
        let mut endpoint = SimEndpoint::new(0, SimDevice::new(99, points.clone(), STEP_MS));
        let mut faults = Vec::new();
        for (unit, index) in UNITS {
            let device = SimDevice::new(index, points.clone(), STEP_MS);
            faults.push(device.faults());
            endpoint = endpoint.with_unit(unit, device);
        }
        let gateway = endpoint.device.faults();
        let sim = Simulator::start(IpAddr::V4(Ipv4Addr::LOCALHOST), vec![endpoint])
            .await
            .expect("simulator");
        let pool = LinkPool::default();
        let transport = Transport::Tcp(sim.addrs()[0].to_string());
        let units = UNITS
            .iter()
            .map(|&(unit, index)| {
                (
                    index,
                    pool.unit(transport.clone(), unit, timeout),
                    AdaptivePlan::new(&points, PlanOptions::default()),
                )
            })
            .collect();
        Self {
            sim,
            points,
            faults,
            gateway,
            units,
            _pool: pool,
        }
    }

    async fn poll(&mut self) -> Vec<(u32, i64, PollOutcome)> {
        poll_all(&mut self.units, &self.points).await
    }
}

fn bad_count(out: &PollOutcome) -> usize {
    out.samples
        .iter()
        .filter(|s| s.quality == Quality::Bad)
        .count()
}

#[tokio::test]
async fn a_busy_unit_is_asked_again_within_the_poll() {
    for code in [ExceptionCode::ServerDeviceBusy, ExceptionCode::Acknowledge] {
        let mut gw = Gateway::start(Duration::from_secs(1)).await;
        // Every second read of unit 2 is answered "busy": each poll's one request is
        // refused once or not at all, and the retry gets the values.
        gw.faults[1].set_exceptions(Some((code, FaultRate::Every(2))));
        for round in 0..3 {
            for (index, _, out) in gw.poll().await {
                assert!(
                    out.errors.is_empty(),
                    "{code:?} round {round}: {:?}",
                    out.errors
                );
                assert_eq!(bad_count(&out), 0, "{code:?} round {round}: device {index}");
            }
        }
        // Requests per poll, as unit 1 (never busy) counts them.
        let per_poll = gw.faults[0].requests() / 3;
        // Unit 2's first read answers, and from then on each request is refused once
        // and answered on its retry.
        assert_eq!(
            gw.faults[1].requests(),
            1 + 2 * (3 * per_poll - 1),
            "{code:?}"
        );

        // Busy on every read: each request gives up after its retries, stores bad, and the
        // poll goes on to the next request on the same link.
        gw.faults[1].set_exceptions(Some((code, FaultRate::Every(1))));
        let before = gw.faults[1].requests();
        for (index, _, out) in gw.poll().await {
            if index == 12 {
                assert_eq!(bad_count(&out), gw.points.len(), "{code:?}");
                assert_eq!(out.errors.len() as u64, per_poll, "{code:?}");
                assert!(
                    out.errors
                        .iter()
                        .all(|e| matches!(e.error, ReadError::Exception(c) if c == code)),
                    "{code:?}: {:?}",
                    out.errors
                );
            } else {
                assert_eq!(bad_count(&out), 0, "{code:?}: device {index}");
            }
        }
        assert_eq!(
            gw.faults[1].requests() - before,
            3 * per_poll,
            "{code:?}: each read asked once and twice again"
        );
        assert_eq!(gw.gateway.connections(), 1, "{code:?}: the link stayed up");
        gw.sim.shutdown();
    }
}

#[tokio::test]
async fn a_silent_unit_closes_the_link_once_per_back_off_step() {
    let mut gw = Gateway::start(Duration::from_millis(300)).await;
    gw.poll().await;
    assert_eq!(gw.gateway.connections(), 1);
    let (first_poll, others_first) = (gw.faults[1].requests(), gw.faults[0].requests());
    // Unit 2 stops answering at all (far beyond the time-out).
    gw.faults[1].set_latency(Duration::from_secs(30));
    const ROUNDS: u64 = 8;
    for round in 0..ROUNDS {
        for (index, _, out) in gw.poll().await {
            if index == 12 {
                assert_eq!(bad_count(&out), gw.points.len(), "round {round}");
            } else {
                // The others reconnect after the silent unit's time-out and read on.
                assert!(out.errors.is_empty(), "round {round}: {:?}", out.errors);
                assert_eq!(bad_count(&out), 0, "round {round}: device {index}");
            }
        }
    }
    // Backed off 1, 2, 4 polls after each time-out (one request, then the link closes):
    // asked in rounds 0, 2 and 5 only.
    let asked = gw.faults[1].requests() - first_poll;
    assert_eq!(
        asked, 3,
        "the silent unit was asked {asked} times in {ROUNDS} rounds"
    );
    assert_eq!(
        gw.gateway.connections(),
        1 + asked,
        "one reconnect after each time-out"
    );
    assert_eq!(
        gw.faults[0].requests(),
        others_first * (1 + ROUNDS),
        "unit 1 read every request of every round"
    );
    gw.sim.shutdown();
}

type Unit = (u32, SharedUnit, AdaptivePlan);

/// Polls every unit at once, as their pollers would: each waits for the link in turn.
async fn poll_all(units: &mut [Unit], points: &[RegisterPoint]) -> Vec<(u32, i64, PollOutcome)> {
    join_all(units.iter_mut().map(|(index, link, plan)| async move {
        let at = now_ms();
        let out = plan.poll(link, points).await;
        (*index, at, out)
    }))
    .await
}
