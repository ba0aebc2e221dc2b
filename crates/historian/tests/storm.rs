//! A storm of misbehaving devices beside healthy ones: endpoints that refuse connections,
//! accept and hang up at once, or accept and never answer. The healthy devices must keep
//! their schedule: no missed poll, every poll stored.

mod common;

use common::{TestHistorian, device, fleet_simulator};
use historian_sim::fleet::reference_map;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::net::TcpListener;

const BAD_OF_EACH_KIND: usize = 10;

/// Accepts connections and drops each at once: every request meets a reset link.
async fn hang_up_server() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = l.local_addr().expect("addr").port();
    tokio::spawn(async move {
        while let Ok((sock, _)) = l.accept().await {
            drop(sock);
        }
    });
    port
}

/// Accepts connections and never answers: every request runs into its time-out.
async fn silent_server() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = l.local_addr().expect("addr").port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((sock, _)) = l.accept().await {
            held.push(sock);
        }
    });
    port
}

/// Polls of each healthy device to watch: 5 s at 200 ms.
const HEALTHY_POLLS: u64 = 25;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn misbehaving_devices_do_not_delay_healthy_ones() {
    let sim = fleet_simulator(2, 20).await;
    let map = reference_map(20);
    let dev = |name: &str, port: u16| {
        device(
            name,
            port,
            &map,
            Duration::from_millis(200),
            Duration::from_millis(300),
        )
    };
    let mut h = TestHistorian::new("storm")
        .device(dev("healthy-0", sim.addrs()[0].port()))
        .device(dev("healthy-1", sim.addrs()[1].port()))
        .simulator(sim);
    for i in 0..BAD_OF_EACH_KIND {
        let refusing = historian_testkit::free_port().expect("port");
        h = h
            .device(dev(&format!("refuses-{i}"), refusing))
            .device(dev(&format!("hangs-up-{i}"), hang_up_server().await))
            .device(dev(&format!("silent-{i}"), silent_server().await));
    }
    let h = h.start().await;
    let registry = &h.historian.registry;
    let healthy: Vec<_> = ["healthy-0", "healthy-1"]
        .iter()
        .map(|n| registry.by_name(n).expect("healthy device"))
        .collect();
    historian_testkit::eventually(
        "every healthy device polled 25 times, every other one failed",
        historian_testkit::PATIENCE,
        async || {
            let polls = |d: &modbus_historian::registry::DeviceRuntime| {
                d.status.polls_ok.load(Ordering::Relaxed)
                    + d.status.polls_failed.load(Ordering::Relaxed)
            };
            let devices = registry.devices();
            let behind: Vec<String> = devices
                .iter()
                .filter(|d| {
                    let want = if d.name().starts_with("healthy") {
                        HEALTHY_POLLS
                    } else {
                        1
                    };
                    polls(d) < want
                })
                .map(|d| format!("{} ({})", d.name(), polls(d)))
                .collect();
            if behind.is_empty() {
                Ok(())
            } else {
                Err(format!("not polled enough: {behind:?}"))
            }
        },
    )
    .await;
    let bad_polls: u64 = registry
        .devices()
        .iter()
        .filter(|d| !d.name().starts_with("healthy"))
        .map(|d| d.status.polls_failed.load(Ordering::Relaxed))
        .sum();
    let summary = h.stop().await.summary;

    for d in &healthy {
        let ok = d.status.polls_ok.load(Ordering::Relaxed);
        assert_eq!(
            d.status.polls_failed.load(Ordering::Relaxed),
            0,
            "{}",
            d.name()
        );
        assert_eq!(
            d.status.polls_missed.load(Ordering::Relaxed),
            0,
            "{}",
            d.name()
        );
        assert!(ok >= HEALTHY_POLLS, "{} polled {ok} times", d.name());
    }
    assert!(bad_polls > 0, "the misbehaving devices were not polled");
    assert_eq!(summary.lost, 0);
    assert_eq!(summary.stored, summary.polled);
}
