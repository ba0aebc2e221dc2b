//! Simulator, collector, SQLite and API in one process: the values served over HTTP must
//! equal the simulator's pure function at the readings' timestamps.

mod common;

use common::{STEP_MS, Stopped, TestHistorian, device};
use historian_model::{Number, RegisterPoint};
use historian_sim::fleet::reference_map;
use historian_sim::{SimEndpoint, Simulator, expected_value};
use historian_store::StorageUrl;
use modbus_historian::api::{
    DeviceLatestResponse, DeviceResponse, RegisterReadingsTimeSeriesResponse,
};
use modbus_historian::app::Historian;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

const DEVICES: usize = 5;
const POINTS: usize = 100;
/// Readings stamped this close before a step boundary are not compared: the simulator may
/// have answered just after the value changed.
const MARGIN_MS: i64 = 100;

async fn get<T: serde::de::DeserializeOwned>(url: &str) -> T {
    try_get(url).await.unwrap_or_else(|e| panic!("{e}"))
}

/// A JSON answer, or why there is none: for a check that is retried until it holds.
async fn try_get<T: serde::de::DeserializeOwned>(url: &str) -> Result<T, String> {
    let resp = reqwest::get(url).await.map_err(|e| format!("{url}: {e}"))?;
    if !resp.status().is_success() {
        return Err(format!("{url}: {}", resp.status()));
    }
    resp.json().await.map_err(|e| format!("{url}: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stored_values_equal_the_simulator_function() {
    let map = reference_map(POINTS);
    let h = TestHistorian::new("e2e")
        .fleet(DEVICES, POINTS)
        .start()
        .await;
    let base = h.base.clone();
    // One register of every type the reference map holds, including scaled ones.
    let probes: Vec<&RegisterPoint> = [0, 2, 3, 4, 97].iter().map(|&i| &map[i]).collect();
    historian_testkit::eventually(
        "every device up with 4 polls of each probe stored",
        historian_testkit::PATIENCE,
        || async {
            let listed: Vec<DeviceResponse> = try_get(&format!("{base}/api/devices")).await?;
            if listed.len() != DEVICES || listed.iter().any(|d| d.status != "up") {
                return Err(format!("{listed:?}"));
            }
            for d in &listed {
                for p in &probes {
                    let series: RegisterReadingsTimeSeriesResponse = try_get(&format!(
                        "{base}/api/register_readings/{}/{}",
                        d.id,
                        p.register.reference()
                    ))
                    .await?;
                    if series.count < 4 {
                        return Err(format!(
                            "{} polls of {} on {}",
                            series.count, p.name, d.name
                        ));
                    }
                }
            }
            Ok(())
        },
    )
    .await;

    let listed: Vec<DeviceResponse> = get(&format!("{base}/api/devices")).await;
    let mut compared = 0;
    for d in &listed {
        let index: u32 = d.name.trim_start_matches("sim-").parse().expect("index");
        let latest: DeviceLatestResponse =
            get(&format!("{base}/api/register_readings/latest/{}", d.id)).await;
        assert_eq!(latest.readings.len(), POINTS);
        assert!(latest.readings.iter().all(|r| r.quality == "good"));
        for p in &probes {
            let series: RegisterReadingsTimeSeriesResponse = get(&format!(
                "{base}/api/register_readings/{}/{}",
                d.id,
                p.register.reference()
            ))
            .await;
            assert_eq!(series.register_name, p.name);
            assert!(series.count >= 4, "{} polls of {}", series.count, p.name);
            for r in &series.readings {
                let ms = r.timestamp.timestamp_millis();
                if ms.rem_euclid(STEP_MS as i64) > STEP_MS as i64 - MARGIN_MS {
                    continue;
                }
                assert_eq!(r.quality, "good");
                assert_eq!(
                    r.value.map(Number::as_f64),
                    Some(expected_value(index, p, ms, STEP_MS)),
                    "device {} register {} at {}",
                    d.name,
                    p.name,
                    r.timestamp
                );
                compared += 1;
            }
        }
    }
    assert!(
        compared >= DEVICES * probes.len() * 3,
        "compared only {compared}"
    );

    let Stopped {
        summary,
        config,
        dir: _dir,
    } = h.stop().await;
    assert!(summary.polled > 0);
    assert_eq!(summary.lost, 0);
    assert_eq!(
        summary.stored, summary.polled,
        "every polled reading stored"
    );
    let store = historian_store::open(&config.storage, &config.storage_options)
        .await
        .expect("reopen");
    assert_eq!(store.count_readings().await.expect("count"), summary.polled);
}

#[tokio::test]
async fn an_unreachable_device_stores_bad_readings_and_the_others_keep_going() {
    let map = reference_map(10);
    let sim = Simulator::start(
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        vec![SimEndpoint::new(
            0,
            historian_sim::SimDevice::new(0, map.clone(), STEP_MS),
        )],
    )
    .await
    .expect("simulator");
    // A port nobody listens on.
    let dead_port = historian_testkit::free_port().expect("port");
    let mk = |name: &str, port: u16| {
        let every = Duration::from_millis(200);
        device(name, port, &map, every, every)
    };
    let alive = mk("alive", sim.addrs()[0].port());
    let h = TestHistorian::new("e2e")
        .simulator(sim)
        .device(alive)
        .device(mk("dead", dead_port))
        .start()
        .await;
    let base = h.base.clone();
    historian_testkit::eventually(
        "the dead device down and the live one polled 5 times",
        historian_testkit::PATIENCE,
        || async {
            let listed: Vec<DeviceResponse> = try_get(&format!("{base}/api/devices")).await?;
            let dead: DeviceLatestResponse =
                try_get(&format!("{base}/api/register_readings/latest/dead")).await?;
            match listed.as_slice() {
                [alive, down]
                    if alive.polls_ok >= 5
                        && down.status == "down"
                        && dead.readings.len() == 10 =>
                {
                    Ok(())
                }
                _ => Err(format!(
                    "{listed:?}; dead device's latest: {}",
                    dead.readings.len()
                )),
            }
        },
    )
    .await;

    let dead: DeviceLatestResponse =
        get(&format!("{base}/api/register_readings/latest/dead")).await;
    assert_eq!(dead.readings.len(), 10);
    assert!(
        dead.readings
            .iter()
            .all(|r| r.quality == "bad" && r.value.is_none())
    );
    let alive: DeviceLatestResponse =
        get(&format!("{base}/api/register_readings/latest/alive")).await;
    assert!(alive.readings.iter().all(|r| r.quality == "good"));
    let listed: Vec<DeviceResponse> = get(&format!("{base}/api/devices")).await;
    let status: Vec<(&str, &str)> = listed
        .iter()
        .map(|d| (d.name.as_str(), d.status.as_str()))
        .collect();
    assert_eq!(status, vec![("alive", "up"), ("dead", "down")]);
    let alive_polls = listed[0].polls_ok;
    assert!(alive_polls >= 5, "alive device polled {alive_polls} times");

    let summary = h.stop().await.summary;
    assert_eq!(summary.lost, 0);
    assert_eq!(summary.stored, summary.polled);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_end_to_end_then_devices_from_the_store() {
    let test = "postgres_end_to_end_then_devices_from_the_store";
    let Some(db) = historian_testkit::require(test, historian_testkit::PgTestDb::create().await)
    else {
        return;
    };
    let map = reference_map(20);
    let h = TestHistorian::new("e2e")
        .fleet(3, map.len())
        .interval(Duration::from_millis(300))
        .storage(StorageUrl::Postgres(db.url.clone()))
        .start()
        .await;
    let base = h.base.clone();
    historian_testkit::eventually(
        "3 polls of every device stored",
        historian_testkit::PATIENCE,
        || async {
            let listed: Vec<DeviceResponse> = try_get(&format!("{base}/api/devices")).await?;
            if listed.len() != 3 {
                return Err(format!("{listed:?}"));
            }
            for d in &listed {
                let series: RegisterReadingsTimeSeriesResponse = try_get(&format!(
                    "{base}/api/register_readings/{}/{}",
                    d.id,
                    map[0].register.reference()
                ))
                .await?;
                if series.count < 3 {
                    return Err(format!("{} polls of {}", series.count, d.name));
                }
            }
            Ok(())
        },
    )
    .await;
    let health: serde_json::Value = get(&format!("{base}/api/health")).await;
    let backend = health["storage"].as_str().unwrap_or_default().to_string();
    assert!(
        backend == "timescaledb" || backend == "postgres",
        "{health}"
    );
    let listed: Vec<DeviceResponse> = get(&format!("{base}/api/devices")).await;
    let mut compared = 0;
    for d in &listed {
        let index: u32 = d.name.trim_start_matches("sim-").parse().expect("index");
        let p = &map[0];
        let series: RegisterReadingsTimeSeriesResponse = get(&format!(
            "{base}/api/register_readings/{}/{}",
            d.id,
            p.register.reference()
        ))
        .await;
        for r in &series.readings {
            let ms = r.timestamp.timestamp_millis();
            if ms.rem_euclid(STEP_MS as i64) > STEP_MS as i64 - MARGIN_MS {
                continue;
            }
            assert_eq!(
                r.value.map(Number::as_f64),
                Some(expected_value(index, p, ms, STEP_MS))
            );
            compared += 1;
        }
    }
    assert!(compared >= 6, "compared {compared}");
    let first = h.historian.shutdown().await;
    assert_eq!((first.lost, first.stored), (0, first.polled));

    // Same database, a config with no devices: the stored devices are polled.
    let mut config = h.config.clone();
    config.devices.clear();
    let again = Historian::start(&config).await.expect("restart");
    assert_eq!(again.registry.devices().len(), 3);
    let base = format!("http://{}", again.api_addr);
    historian_testkit::eventually(
        "the stored devices up and enabled",
        historian_testkit::PATIENCE,
        || async {
            let listed: Vec<DeviceResponse> = try_get(&format!("{base}/api/devices")).await?;
            if listed.len() == 3 && listed.iter().all(|d| d.status == "up" && d.enabled) {
                Ok(())
            } else {
                Err(format!("{listed:?}"))
            }
        },
    )
    .await;
    let second = again.shutdown().await;
    h.sim.as_ref().expect("simulator").shutdown();
    assert!(second.polled > 0);
    assert_eq!((second.lost, second.stored), (0, second.polled));
    let store = historian_store::open(&config.storage, &config.storage_options)
        .await
        .expect("reopen");
    assert_eq!(
        store.count_readings().await.expect("count"),
        first.polled + second.polled
    );
}

#[tokio::test]
async fn sixty_four_bit_integers_are_read_back_exactly_over_http() {
    sixty_four_bit_integers_read_back_exactly(None).await;
}

#[tokio::test]
async fn sixty_four_bit_integers_are_read_back_exactly_from_postgres() {
    let test = "sixty_four_bit_integers_are_read_back_exactly_from_postgres";
    let Some(db) = historian_testkit::require(test, historian_testkit::PgTestDb::create().await)
    else {
        return;
    };
    sixty_four_bit_integers_read_back_exactly(Some(StorageUrl::Postgres(db.url.clone()))).await;
}

/// 64-bit integer registers beyond 2^53 (energy counters, serial numbers) come back over
/// HTTP with every digit: as JSON integers in the latest values and the series, and in
/// the CSV export. `storage`: SQLite when `None`.
async fn sixty_four_bit_integers_read_back_exactly(storage: Option<StorageUrl>) {
    use historian_modbus::decode::encode_integer;
    use historian_model::{DataType, RegisterRef, Table, WordOrder};
    let u64_max = i128::from(u64::MAX);
    let beyond_2_53 = (1i128 << 53) + 1;
    let counter = RegisterPoint {
        name: "energy".into(),
        register: RegisterRef::new(Table::HoldingRegister, 0),
        data_type: DataType::Uint64,
        word_order: WordOrder::Abcd,
        ..RegisterPoint::default()
    };
    let serial = RegisterPoint {
        name: "serial".into(),
        register: RegisterRef::new(Table::HoldingRegister, 4),
        data_type: DataType::Int64,
        word_order: WordOrder::Cdab,
        ..RegisterPoint::default()
    };
    let map = vec![counter.clone(), serial.clone()];
    let mut fixed = Vec::new();
    for (p, n) in [(&counter, u64_max), (&serial, beyond_2_53)] {
        let words = encode_integer(n, p.data_type, p.word_order).expect("fits");
        for (i, w) in words.into_iter().enumerate() {
            fixed.push(((Table::HoldingRegister, p.register.address + i as u16), w));
        }
    }
    let sim = Simulator::start(
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        vec![SimEndpoint::new(
            0,
            historian_sim::SimDevice::new(0, map.clone(), STEP_MS).with_fixed(fixed),
        )],
    )
    .await
    .expect("simulator");
    let every = Duration::from_millis(200);
    let meter = device("meter", sim.addrs()[0].port(), &map, every, every);
    let mut h = TestHistorian::new("e2e").simulator(sim).device(meter);
    if let Some(url) = storage {
        h = h.storage(url);
    }
    let h = h.start().await;
    let base = h.base.clone();
    let series_url = |p: &RegisterPoint| format!("{base}/api/register_readings/meter/{}", p.name);
    historian_testkit::eventually(
        "two polls of each register stored",
        historian_testkit::PATIENCE,
        || async {
            for p in [&counter, &serial] {
                let s: serde_json::Value = try_get(&series_url(p)).await?;
                if s["count"].as_u64().unwrap_or(0) < 2 {
                    return Err(format!("{s}"));
                }
            }
            Ok(())
        },
    )
    .await;

    let http = reqwest::Client::new();
    let text = |url: String, accept: &'static str| {
        let req = http.get(url.clone()).header("accept", accept);
        async move {
            let resp = req.send().await.expect("get");
            assert!(resp.status().is_success(), "{url}: {}", resp.status());
            resp.text().await.expect("body")
        }
    };
    for (p, n) in [(&counter, u64_max), (&serial, beyond_2_53)] {
        let digits = n.to_string();
        let body = text(series_url(p), "application/json").await;
        let series: serde_json::Value = serde_json::from_str(&body).expect("json");
        for r in series["readings"].as_array().expect("readings") {
            assert_eq!(r["quality"], "good", "{body}");
            assert_eq!(r["value"].to_string(), digits, "{} in {body}", p.name);
            assert!(r.get("text").is_none(), "no text for a number: {body}");
        }
        let latest: serde_json::Value = serde_json::from_str(
            &text(
                format!("{base}/api/register_readings/latest/meter"),
                "application/json",
            )
            .await,
        )
        .expect("json");
        let r = latest["readings"]
            .as_array()
            .expect("readings")
            .iter()
            .find(|r| r["register_name"] == p.name.as_str())
            .expect("latest reading");
        assert_eq!(r["value"].to_string(), digits, "{latest}");
        let csv = text(series_url(p), "text/csv").await;
        let row = csv.lines().nth(1).expect("a CSV row");
        assert!(row.contains(&format!(",{digits},")), "{row}");
    }
    let Stopped { summary, .. } = h.stop().await;
    assert_eq!(summary.lost, 0);
}
