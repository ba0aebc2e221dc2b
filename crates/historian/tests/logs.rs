//! What the log says and how it looks: no colour codes in a pipe, one JSON object a line
//! on request, one-shot commands quiet unless asked, and lines that name the device, unit,
//! table and address of a failed read, a closed connection as such, and a reconnection.

mod common;

use common::{TestHistorian, captured_logs, device, scrape};
use historian_model::{DataType, RegisterPoint, RegisterRef, Table};
use historian_sim::{FaultRate, SimDevice, SimEndpoint, Simulator};
use historian_store::StorageUrl;
use historian_testkit::{PATIENCE, PgTestDb, ThrowawayPostgres, eventually, require};
use std::net::{IpAddr, Ipv4Addr};
use std::process::{Command, Output};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_modbus-historian");

/// Runs the binary with no log settings of its own environment, and `env` added.
fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .env_remove("HISTORIAN_DATABASE_URL")
        .env_remove("HISTORIAN_LOG")
        .env_remove("HISTORIAN_LOG_FORMAT")
        .env_remove("RUST_LOG")
        .env_remove("NO_COLOR");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run binary")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn one_shot_commands_are_quiet_unless_asked_and_never_coloured_in_a_pipe() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = |n: &str| format!("sqlite://{}", dir.path().join(n).display());

    let quiet = run(&["migrate", "--database-url", &url("a.db")], &[]);
    assert!(quiet.status.success(), "{}", text(&quiet.stderr));
    assert_eq!(text(&quiet.stderr), "", "migrate logs nothing by default");
    assert!(text(&quiet.stdout).contains("schema is up to date"));

    for (args, env) in [
        (vec!["-v", "migrate"], vec![]),
        (vec!["migrate"], vec![("RUST_LOG", "info")]),
        (vec!["migrate", "--log", "info"], vec![]),
    ] {
        let db = url(&format!("{}.db", args.len() + env.len() * 10));
        let mut all = args.clone();
        all.extend(["--database-url", &db]);
        let out = run(&all, &env);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let err = text(&out.stderr);
        assert!(err.contains(" INFO "), "{args:?} {env:?}: {err}");
        assert!(!err.contains('\u{1b}'), "colour codes in a pipe: {err:?}");
    }
}

#[test]
fn json_log_format_writes_one_object_a_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("j.db").display());
    let out = run(
        &[
            "--log-format",
            "json",
            "-v",
            "migrate",
            "--database-url",
            &url,
        ],
        &[],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    let lines: Vec<&str> = err.lines().collect();
    assert!(!lines.is_empty(), "nothing logged");
    for line in lines {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line:?}"));
        assert_eq!(v["level"], "INFO", "{line}");
        assert!(v["timestamp"].is_string(), "{line}");
        assert!(v["message"].is_string(), "{line}");
    }
}

/// Holding registers 0-3 and 10 (which the device refuses), polled every 100 ms.
fn map() -> Vec<RegisterPoint> {
    [0, 1, 2, 3, 10]
        .into_iter()
        .map(|a| RegisterPoint {
            name: format!("h{a}"),
            register: RegisterRef::new(Table::HoldingRegister, a),
            data_type: DataType::Uint16,
            ..RegisterPoint::default()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_reads_name_device_unit_table_and_address_and_reconnects_are_logged() {
    let logs = captured_logs();
    let points = map();
    let sim_device = SimDevice::new(7, points.clone(), common::STEP_MS);
    let faults = sim_device.faults();
    faults.refuse(Table::HoldingRegister, 10);
    // Every fifth answer is a closed connection instead.
    faults.set_drops(Some(FaultRate::Every(5)));
    let sim = Simulator::start(
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        vec![SimEndpoint::new(0, sim_device)],
    )
    .await
    .expect("simulator");
    let port = sim.addrs()[0].port();
    let name = "logs-dev";
    let h = TestHistorian::new("logs")
        .simulator(sim)
        .device(device(
            name,
            port,
            &points,
            Duration::from_millis(100),
            Duration::from_secs(1),
        ))
        .start()
        .await;
    let endpoint = format!("endpoint=\"127.0.0.1:{port}\"");
    let wanted: [&[&str]; 3] = [
        &[
            "WARN",
            name,
            &endpoint,
            "unit=1",
            "table=holding_register",
            "address=10",
            "holding_register 10 (wire address): device answered exception 0x02",
        ],
        &[
            "WARN",
            name,
            &endpoint,
            "table=holding_register",
            "connection closed by the device",
        ],
        &["INFO", name, &endpoint, "reconnected"],
    ];
    eventually("the three log lines", PATIENCE, async || {
        match wanted.iter().find(|parts| logs.lines_with(parts) == 0) {
            None => Ok(()),
            Some(parts) => Err(format!("no line with {parts:?}")),
        }
    })
    .await;
    assert_eq!(
        logs.lines_with(&[name, "os error"]),
        0,
        "a stale errno logged"
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_scrapes_warn_once_per_store_outage() {
    let test = "metrics_scrapes_warn_once_per_store_outage";
    let logs = captured_logs();
    let Some(pg) = require(test, ThrowawayPostgres::start_ready().await) else {
        return;
    };
    let db = PgTestDb::create_on(&pg.url("postgres"))
        .await
        .expect("database");
    let h = TestHistorian::new("logs-metrics")
        .storage(StorageUrl::Postgres(db.url.clone()))
        .start()
        .await;
    let page = scrape(&h.base).await.expect("scrape");
    assert!(page.contains("historian_store_figures_ok 1"), "{page}");
    pg.stop().expect("stop PostgreSQL");
    for _ in 0..3 {
        eventually("a scrape that finds the store down", PATIENCE, async || {
            let page = scrape(&h.base).await?;
            if page.contains("historian_store_figures_ok 0") {
                Ok(())
            } else {
                Err("store still up".to_string())
            }
        })
        .await;
    }
    assert_eq!(
        logs.lines_with(&["WARN", "store figures unavailable for /metrics"]),
        1,
        "one warning per outage"
    );
    h.stop().await;
}

/// Starts a historian polling 10 registers every 500 ms (20 readings a second) and keeping
/// them `retention_days`, waits for a log line with every one of `parts` (its start-up
/// disk check, which runs after the first maintenance, beside polling), and stops it.
async fn disk_check_logs(logs: &common::Logs, retention_days: u64, parts: &[&str]) {
    let keep = Duration::from_secs(retention_days * 86_400);
    let h = TestHistorian::new(&format!("logs-disk-{retention_days}"))
        .fleet(1, 10)
        .configure(move |c| {
            c.storage_options.retention = keep;
            c.storage_options.hourly_retention = keep;
        })
        .start()
        .await;
    eventually("the disk check's line", PATIENCE, async || {
        match logs.lines_with(parts) {
            0 => Err(format!("no line with {parts:?}")),
            _ => Ok(()),
        }
    })
    .await;
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_up_warns_when_fleet_and_retention_need_more_disk_than_is_free() {
    let logs = captured_logs();
    // A million years at the estimated 4 bytes a reading: 2.5 PB, more than any disk.
    let warning = [
        "WARN",
        "the configured fleet and retention will need more disk than the data folder has free",
        "readings_per_second=20",
        "retention_days=365000000",
        "bytes_per_reading=4",
        "projected_bytes=2522880000000000",
        "free_bytes=Some(",
    ];
    disk_check_logs(&logs, 365_000_000, &warning).await;
    assert_eq!(logs.lines_with(&warning), 1, "warned once");

    // Two days of the same fleet (13.8 MB) fit: the projection is logged, not warned.
    let info = [
        "INFO",
        "disk projection for the configured fleet and retention",
        "readings_per_second=20",
        "retention_days=2",
        "projected_bytes=13824000",
    ];
    disk_check_logs(&logs, 2, &info).await;
    assert_eq!(logs.lines_with(&["WARN", "retention_days=2 "]), 0);
}
