//! A storm of misbehaving devices beside healthy ones: endpoints that refuse connections,
//! accept and hang up at once, or accept and never answer. The healthy devices must keep
//! their schedule: no missed poll, every poll stored.

use historian_sim::Simulator;
use historian_sim::fleet::reference_map;
use historian_store::{DeviceSpec, StorageUrl};
use modbus_historian::app::Historian;
use modbus_historian::config::{Config, DeviceConfig};
use modbus_historian::simulate::fleet_endpoints;
use std::net::{IpAddr, Ipv4Addr};
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

/// A port nothing listens on.
async fn refusing_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    l.local_addr().expect("addr").port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn misbehaving_devices_do_not_delay_healthy_ones() {
    let endpoints = fleet_endpoints(2, 20, 0, 1000).expect("endpoints");
    let sim = Simulator::start(IpAddr::V4(Ipv4Addr::LOCALHOST), endpoints)
        .await
        .expect("simulator");
    let map = reference_map(20);
    let dev = |name: String, port: u16| DeviceConfig {
        spec: DeviceSpec {
            name,
            host: "127.0.0.1".into(),
            port,
            unit_id: 1,
            poll_interval_ms: 200,
            enabled: true,
            registers: map.clone(),
            access: Default::default(),
        },
        timeout: Duration::from_millis(300),
    };
    let mut devices = vec![
        dev("healthy-0".into(), sim.addrs()[0].port()),
        dev("healthy-1".into(), sim.addrs()[1].port()),
    ];
    for i in 0..BAD_OF_EACH_KIND {
        devices.push(dev(format!("refuses-{i}"), refusing_port().await));
        devices.push(dev(format!("hangs-up-{i}"), hang_up_server().await));
        devices.push(dev(format!("silent-{i}"), silent_server().await));
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = Config::built_in("storm", devices, &|_| None).expect("config");
    config.storage = StorageUrl::Sqlite(dir.path().join("storm.db"));
    config.spool.dir = dir.path().join("spool");
    config.api_bind = "127.0.0.1:0".parse().expect("addr");

    let h = Historian::start(&config).await.expect("start");
    tokio::time::sleep(Duration::from_secs(5)).await;
    let healthy: Vec<_> = ["healthy-0", "healthy-1"]
        .iter()
        .map(|n| h.registry.by_name(n).expect("healthy device"))
        .collect();
    let bad_polls: u64 = h
        .registry
        .devices()
        .iter()
        .filter(|d| !d.name().starts_with("healthy"))
        .map(|d| d.status.polls_failed.load(Ordering::Relaxed))
        .sum();
    let summary = h.shutdown().await;
    sim.shutdown();

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
        // 5 s at 200 ms is 25 grid slots; the first may fall either side of the start.
        assert!(ok >= 23, "{} polled {ok} times in 5 s", d.name());
    }
    assert!(bad_polls > 0, "the misbehaving devices were not polled");
    assert_eq!(summary.lost, 0);
    assert_eq!(summary.stored, summary.polled);
}
