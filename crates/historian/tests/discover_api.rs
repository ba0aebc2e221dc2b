//! Discovery through the API against the built-in simulator over real TCP Modbus and real
//! HTTP: a job is started, followed and finished with the proposed map, which creates a
//! device that then polls with good quality; running jobs are bounded, one per target, and
//! cancelled with DELETE; bad bodies and silent targets are answered clearly.

mod common;

use common::TestHistorian;
use historian_sim::fleet::reference_map;
use historian_sim::{AddressSpace, SimDevice, SimEndpoint, SimIdentity, Simulator};
use modbus_historian::api::discover::DiscoverJobResponse;
use modbus_historian::api::{AuditPageResponse, DeviceLatestResponse, Problem};
use serde_json::json;
use std::net::{IpAddr, Ipv4Addr};

/// Values change every 50 ms, so samples 120 ms apart differ.
const STEP_MS: u64 = 50;

async fn job(http: &reqwest::Client, base: &str, id: &str) -> Result<DiscoverJobResponse, String> {
    let resp = http
        .get(format!("{base}/api/discover/{id}"))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if !resp.status().is_success() {
        return Err(format!("status {}", resp.status()));
    }
    resp.json().await.map_err(|e| e.to_string())
}

/// Waits until job `id` is no longer running and returns it.
async fn ended(http: &reqwest::Client, base: &str, id: &str) -> DiscoverJobResponse {
    historian_testkit::eventually(
        "the discovery ends",
        historian_testkit::PATIENCE,
        || async {
            let j = job(http, base, id).await?;
            if j.state == "running" {
                Err(format!("running: {:?}", j.progress))
            } else {
                Ok(())
            }
        },
    )
    .await;
    job(http, base, id).await.expect("ended job")
}

async fn start(
    http: &reqwest::Client,
    base: &str,
    body: serde_json::Value,
) -> (reqwest::StatusCode, serde_json::Value) {
    let resp = http
        .post(format!("{base}/api/discover"))
        .json(&body)
        .send()
        .await
        .expect("post");
    let status = resp.status();
    (status, resp.json().await.expect("json answer"))
}

/// A listener that accepts connections and never answers.
async fn silent() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_discovery_job_proposes_a_map_that_creates_a_device_polled_with_good_quality() {
    let map = reference_map(20);
    let device = SimDevice::new(4, map.clone(), STEP_MS)
        .with_space(AddressSpace::of_map(&map))
        .with_identity(SimIdentity {
            vendor: "Acme".into(),
            product: "PM-20".into(),
            revision: "1.0".into(),
        });
    let sim = Simulator::start(
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        vec![SimEndpoint::new(0, device)],
    )
    .await
    .expect("simulator");
    let target = sim.addrs()[0].to_string();
    let h = TestHistorian::new("discover-api")
        .simulator(sim)
        .start()
        .await;
    let base = h.base.clone();
    let http = reqwest::Client::new();

    let resp = http
        .post(format!("{base}/api/discover"))
        .json(
            &json!({"target": target, "first_address": 0, "last_address": 99,
                      "samples": 3, "sample_interval_ms": 120, "interval_ms": 200}),
        )
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), 202);
    let location = resp
        .headers()
        .get("location")
        .and_then(|l| l.to_str().ok())
        .map(str::to_string)
        .expect("location");
    let started: DiscoverJobResponse = resp.json().await.expect("job");
    assert_eq!(location, format!("/api/discover/{}", started.id));
    assert_eq!(started.target, target);

    let done = ended(&http, &base, &started.id).await;
    assert_eq!(done.state, "finished", "{:?}", done.error);
    assert!(done.progress.requests > 0);
    assert_eq!(done.progress.ranges, 2, "{:?}", done.progress);
    let result = done.result.expect("result");
    assert!(
        result.summary.contains("unit 1: Acme PM-20 1.0"),
        "{}",
        result.summary
    );
    assert_eq!(result.units.len(), 1);
    assert!(result.units[0].answers);
    let found = &result.devices[0];
    assert_eq!(
        found
            .identification
            .as_ref()
            .and_then(|i| i.vendor.as_deref()),
        Some("Acme")
    );
    let ir = found
        .tables
        .iter()
        .find(|t| t.table == "input_register")
        .expect("input registers scanned");
    assert_eq!(ir.ranges, vec![[0, 15]]);
    // The reference map's float32 input registers are identifiable from their values.
    let floats: Vec<u16> = found
        .registers
        .iter()
        .filter(|r| r.table == "input_register" && r.data_type == "float32")
        .map(|r| r.address)
        .collect();
    assert_eq!(floats, (0..8).map(|i| 2 * i).collect::<Vec<u16>>());
    assert!(
        found
            .registers
            .iter()
            .all(|r| (0.0..=1.0).contains(&r.confidence))
    );
    assert_eq!(found.registers.len(), found.device.registers.len());

    // The proposed device goes to the device API as it is, once named.
    let mut device = serde_json::to_value(&found.device).expect("device json");
    device["name"] = json!("meter");
    let resp = http
        .post(format!("{base}/api/devices"))
        .json(&device)
        .send()
        .await
        .expect("create");
    assert_eq!(resp.status(), 201, "{:?}", resp.text().await);
    let n = found.registers.len();
    historian_testkit::eventually(
        "every proposed register of the created device read with good quality",
        historian_testkit::PATIENCE,
        || async {
            let url = format!("{base}/api/register_readings/latest/meter");
            let resp = reqwest::get(&url).await.map_err(|e| e.to_string())?;
            let latest: DeviceLatestResponse = resp.json().await.map_err(|e| e.to_string())?;
            let good = latest
                .readings
                .iter()
                .filter(|r| r.quality == "good")
                .count();
            if good == n {
                Ok(())
            } else {
                Err(format!("{good} of {n} good"))
            }
        },
    )
    .await;

    let audit: AuditPageResponse = reqwest::get(format!("{base}/api/audit"))
        .await
        .expect("audit")
        .json()
        .await
        .expect("audit json");
    let entry = audit
        .entries
        .iter()
        .find(|e| e.action == "discover.start")
        .expect("the discovery is in the audit trail");
    assert_eq!(entry.target, target);
    assert_eq!(entry.who, "local");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discoveries_are_bounded_one_per_target_cancelled_and_refused_clearly() {
    let h = TestHistorian::new("discover-api-bounds").start().await;
    let base = h.base.clone();
    let http = reqwest::Client::new();
    let (a, b, c) = (silent().await, silent().await, silent().await);
    // Every unit id times out one after the other: minutes of scanning.
    let slow = |target: &str| {
        json!({"target": target, "units": (1..=200).collect::<Vec<u8>>(),
               "concurrency": 1, "timeout_ms": 1000})
    };

    let (status, first) = start(&http, &base, slow(&a)).await;
    assert_eq!(status, 202, "{first}");
    let first_id = first["id"].as_str().expect("id").to_string();
    let (status, again) = start(&http, &base, slow(&a)).await;
    assert_eq!(status, 409, "{again}");
    let problem: Problem = serde_json::from_value(again).expect("problem");
    assert!(
        problem.detail.contains(&format!(
            "a discovery of {a} is running: GET /api/discover/{first_id}"
        )),
        "{}",
        problem.detail
    );
    let (status, second) = start(&http, &base, slow(&b)).await;
    assert_eq!(status, 202, "{second}");
    let (status, third) = start(&http, &base, slow(&c)).await;
    assert_eq!(status, 429, "{third}");
    let problem: Problem = serde_json::from_value(third).expect("problem");
    assert!(
        problem.detail.contains("2 discoveries are running") && problem.detail.contains(&first_id),
        "{}",
        problem.detail
    );

    historian_testkit::eventually(
        "the first job shows its progress",
        historian_testkit::PATIENCE,
        || async {
            let j = job(&http, &base, &first_id).await?;
            if j.state == "running" && j.progress.requests > 0 && j.progress.total == 200 {
                Ok(())
            } else {
                Err(format!("{} {:?}", j.state, j.progress))
            }
        },
    )
    .await;

    let resp = http
        .delete(format!("{base}/api/discover/{first_id}"))
        .send()
        .await
        .expect("delete");
    assert_eq!(resp.status(), 204);
    let resp = http
        .get(format!("{base}/api/discover/{first_id}"))
        .send()
        .await
        .expect("get");
    assert_eq!(resp.status(), 404);
    let (status, third) = start(&http, &base, slow(&c)).await;
    assert_eq!(status, 202, "a cancelled job frees its place: {third}");
    for j in [&second, &third] {
        let id = j["id"].as_str().expect("id");
        let resp = http
            .delete(format!("{base}/api/discover/{id}"))
            .send()
            .await
            .expect("delete");
        assert_eq!(resp.status(), 204);
    }

    // A silent device ends the job with the command's message.
    let (status, quiet) = start(
        &http,
        &base,
        json!({"target": a, "timeout_ms": 300, "tables": ["holding_register"]}),
    )
    .await;
    assert_eq!(status, 202, "{quiet}");
    let done = ended(&http, &base, quiet["id"].as_str().expect("id")).await;
    assert_eq!(done.state, "failed");
    assert_eq!(
        done.error.as_deref(),
        Some(format!("no unit answered at {a}: 1 unit no answer (time-out)").as_str())
    );

    // Bad bodies: each problem at its field.
    let (status, bad) = start(
        &http,
        &base,
        json!({"target": "", "units": [], "samples": 0, "timeout_ms": 0}),
    )
    .await;
    assert_eq!(status, 422, "{bad}");
    let problem: Problem = serde_json::from_value(bad).expect("problem");
    let paths: Vec<&str> = problem.errors.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(
        paths,
        ["target", "units", "samples", "timeout_ms"],
        "{}",
        problem.detail
    );
    let (status, bad) = start(&http, &base, json!({"target": "no such host!"})).await;
    assert_eq!(status, 422, "{bad}");
    let problem: Problem = serde_json::from_value(bad).expect("problem");
    assert_eq!(problem.errors[0].path, "target", "{}", problem.detail);
    h.stop().await;
}
