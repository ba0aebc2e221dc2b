//! One simulator process serves 1,000 devices, each on a port of its own: every device is
//! polled once and answers its own values. Start-up time and memory are printed (they are
//! figures to report, not pass/fail criteria).

use historian_modbus::client::DeviceClient;
use historian_modbus::plan::ReadPlan;
use historian_modbus::poll::decode_point;
use historian_model::PlanOptions;
use historian_sim::fleet::reference_map;
use historian_sim::{expected_value, step_at};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_modbus-historian");
const DEVICES: u16 = 1000;
const STEP_MS: u64 = 600_000;

/// A base port with `DEVICES` free ports above it, outside the ephemeral range.
fn free_base() -> u16 {
    for base in [21_000u16, 23_000, 25_000, 27_000, 29_000] {
        let all_free =
            (0..DEVICES).all(|i| std::net::TcpListener::bind(("127.0.0.1", base + i)).is_ok());
        if all_free {
            return base;
        }
    }
    panic!("no run of {DEVICES} free ports found");
}

/// `VmRSS` and `VmHWM` of a process, in KiB.
fn memory_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_simulator_serves_a_thousand_devices() {
    let base = free_base();
    let started = Instant::now();
    let (mut child, first) = historian_testkit::spawn_announced(
        Command::new(BIN)
            .args([
                "simulate",
                "--devices",
                &DEVICES.to_string(),
                "--registers",
                "100",
            ])
            .args([
                "--base-port",
                &base.to_string(),
                "--step-ms",
                &STEP_MS.to_string(),
            ])
            .env("HISTORIAN_LOG", "warn")
            .stderr(Stdio::null()),
    )
    .expect("spawn simulate");
    let start_time = started.elapsed();
    assert!(first.starts_with("simulating 1000 devices"), "{first}");
    let (idle_rss, _) = memory_kib(child.id());

    let map = Arc::new(reference_map(100));
    let plan = Arc::new(ReadPlan::new(&map, PlanOptions::default()));
    let polled = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for device in 0..DEVICES {
        let (map, plan) = (Arc::clone(&map), Arc::clone(&plan));
        tasks.spawn(async move {
            let mut client = DeviceClient::new(
                format!("127.0.0.1:{}", base + device),
                1,
                Duration::from_secs(5),
            );
            loop {
                let at = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_millis() as i64)
                    .unwrap_or(0);
                let mut values = Vec::new();
                for req in &plan.requests {
                    let data = client
                        .read(req)
                        .await
                        .map_err(|e| format!("device {device}: {e}"))?;
                    for &(i, off) in req.points() {
                        values.push((i, decode_point(&map[i], &data, usize::from(off)).value));
                    }
                }
                let done = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_millis() as i64)
                    .unwrap_or(0);
                if step_at(at, STEP_MS) != step_at(done, STEP_MS) {
                    continue;
                }
                for (i, v) in values {
                    let want = expected_value(u32::from(device), &map[i], at, STEP_MS);
                    if v != Some(want) {
                        return Err(format!("device {device} {}: {v:?} != {want}", map[i].name));
                    }
                }
                return Ok::<_, String>(());
            }
        });
    }
    let mut answered = 0;
    while let Some(result) = tasks.join_next().await {
        result
            .expect("poll task")
            .expect("device answers its own values");
        answered += 1;
    }
    let poll_time = polled.elapsed();
    let (rss, peak) = memory_kib(child.id());
    assert_eq!(answered, DEVICES);
    eprintln!(
        "simulator with {DEVICES} devices x 100 registers: ready in {start_time:?}, \
         RSS {idle_rss} KiB idle, {rss} KiB after one poll of each (peak {peak} KiB); \
         {DEVICES} devices polled once in {poll_time:?}"
    );
    child.kill().expect("stop simulator");
    let _ = child.wait();
}
