//! The binary as a user runs it: help, exit codes, one-line errors, Ctrl-C in the demo.

use historian_modbus::client::{DeviceClient, ReadData};
use historian_modbus::plan::ReadPlan;
use historian_modbus::poll::decode_point;
use historian_model::PlanOptions;
use historian_sim::fleet::reference_map;
use historian_sim::{DEFAULT_STEP_MS, Signals};
use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_modbus-historian");

fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env_remove("HISTORIAN_DATABASE_URL")
        .env_remove("HISTORIAN_API_BIND")
        .env("HISTORIAN_LOG", "warn")
        .output()
        .expect("run binary")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn every_subcommand_has_help() {
    for sub in [
        &[][..],
        &["demo"],
        &["run"],
        &["simulate"],
        &["migrate"],
        &["devices", "plan"],
        &["bench"],
        &["devices", "import"],
        &["devices", "export"],
        &["discover"],
    ] {
        let mut args = sub.to_vec();
        args.push("--help");
        let out = run(&args);
        assert!(out.status.success(), "{args:?}");
        assert!(
            text(&out.stdout).contains("Usage: modbus-historian"),
            "{args:?}"
        );
    }
}

#[test]
fn a_broken_config_is_one_clear_report_and_exit_code_1() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("bad.toml");
    std::fs::write(
        &path,
        "[[devices]]\nname = \"a\"\nhost = \"h\"\n[[devices.registers]]\nname = \"x\"\n\
         table = \"hr\"\naddress = 1\ndata_type = \"flaot32\"\n",
    )
    .expect("write");
    let out = run(&["run", "--config", path.to_str().expect("utf8")]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.starts_with("error: invalid configuration (1 problem):"),
        "{err}"
    );
    assert!(
        err.contains(
            "bad.toml:4: devices[0].registers[0].data_type: unknown data type \"flaot32\""
        )
    );
    assert!(!err.contains("panicked"), "{err}");

    let out = run(&["run", "--config", "/nonexistent/h.toml"]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("error: cannot read config file /nonexistent/h.toml"));
}

#[test]
fn the_example_config_checks_clean() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/historian.toml");
    let out = run(&["run", "--config", example, "--check"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("valid (2 devices, 13 registers)"));
}

#[test]
fn devices_plan_prints_the_requests_of_one_poll() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/historian.toml");
    let out = run(&["devices", "plan", "main-sel-751", "--config", example]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let shown = text(&out.stdout);
    let lines: Vec<&str> = shown.lines().collect();
    assert_eq!(
        lines[0],
        "main-sel-751 (127.0.0.1:15020 unit 1): 4 requests per poll, 13 registers or bits, every 1000 ms"
    );
    assert!(
        lines[1].starts_with(
            "  FC2 discrete_input   wire     0 count    1  (100001-100001)  breaker_closed"
        ),
        "{shown}"
    );
    assert!(
        lines[2].contains("FC4 input_register   wire     0 count    7  (300001-300007)"),
        "{shown}"
    );
    assert!(lines[3].contains("FC3 holding_register wire     0 count    4  (400001-400004)  real_power, energy_delivered"), "{shown}");
    // Two bits of one register: one read of that register.
    assert!(
        lines[4]
            .contains("FC3 holding_register wire    20 count    1  (400021-400021)  trip, alarm"),
        "{shown}"
    );
    // The model string is read hourly, in a request of its own.
    assert_eq!(
        lines[5], "  and every 3600 polls (3600000 ms): 1 more request",
        "{shown}"
    );
    assert!(lines[6].contains("(400011-400018)  model"), "{shown}");
    let out = run(&["devices", "plan", "nope", "--config", example]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("no device named \"nope\""));
}

#[test]
fn migrate_creates_the_schema_and_rejects_bad_urls() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("m/h.db");
    let url = format!("sqlite://{}", db.display());
    let out = run(&["migrate", "--database-url", &url]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("sqlite schema is up to date"));
    assert!(db.exists());
    let again = run(&["migrate", "--database-url", &url]);
    assert!(again.status.success(), "migrate twice is harmless");

    let out = run(&["migrate", "--database-url", "mysql://x"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stderr).lines().count(), 1);
}

#[tokio::test]
async fn simulate_serves_the_pure_function_over_tcp() {
    for (signals, extra) in [
        (Signals::Realistic, &[][..]),
        (Signals::WorstCase, &["--signals", "worst-case"][..]),
    ] {
        let (port, mut child) = spawn_simulator(2, extra);

        let map = reference_map(10);
        let plan = ReadPlan::new(&map, PlanOptions::default());
        // Device 1 listens on base_port + 1.
        let mut client =
            DeviceClient::new(format!("127.0.0.1:{}", port + 1), 1, Duration::from_secs(1));
        let step = DEFAULT_STEP_MS as i64;
        let mut checked = 0;
        while checked == 0 {
            let at = historian_testkit::with_room_in_step(step, 100).await;
            let mut answers = Vec::new();
            for req in &plan.requests {
                let data: ReadData = client.read(req).await.expect("read");
                answers.push((req, data));
            }
            // On a loaded machine the reads may straddle a change of the function's value:
            // only reads that all fell within one step are compared.
            if historian_testkit::now_ms().div_euclid(step) != at.div_euclid(step) {
                continue;
            }
            for (req, data) in &answers {
                for &(i, off) in req.points() {
                    let s = decode_point(&map[i], data, usize::from(off));
                    assert_eq!(
                        s.value,
                        Some(signals.expected_value(1, &map[i], at, DEFAULT_STEP_MS)),
                        "{signals} {}",
                        map[i].name
                    );
                    checked += 1;
                }
            }
        }
        assert_eq!(checked, 10);
        let _ = child.kill();
        let _ = child.wait();
    }
}

#[test]
fn demo_stops_on_ctrl_c_and_stores_every_polled_reading() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut child = Command::new(BIN)
        .args(["demo", "--devices", "4", "--interval", "200ms"])
        .args(["--bind", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .env_remove("HISTORIAN_DATABASE_URL")
        .env("HISTORIAN_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn demo");
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    let mut banner = String::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !banner.contains("Ctrl-C stops polling") {
        assert!(Instant::now() < deadline, "demo did not start: {banner}");
        out.read_line(&mut banner).expect("read");
    }
    assert!(banner.contains("4 simulated devices x 100 registers"));
    let devices = banner
        .split_whitespace()
        .find(|w| w.starts_with("http") && w.ends_with("/api/devices"))
        .unwrap_or_else(|| panic!("no devices URL in {banner}"));
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(historian_testkit::eventually(
        "every demo device polled",
        historian_testkit::PATIENCE,
        async || {
            let listed: Vec<modbus_historian::api::DeviceResponse> = reqwest::get(devices)
                .await
                .map_err(|e| e.to_string())?
                .json()
                .await
                .map_err(|e| e.to_string())?;
            match listed.iter().filter(|d| d.polls_ok > 0).count() {
                4 => Ok(()),
                n => Err(format!("{n} of {} devices polled", listed.len())),
            }
        },
    ));
    let pid = child.id().to_string();
    let sent = Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .expect("kill");
    assert!(sent.success());
    let status = child.wait().expect("wait");
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut out, &mut rest).expect("read rest");
    assert!(status.success(), "demo exit {status:?}: {rest}");
    let line = rest
        .lines()
        .find(|l| l.starts_with("stopped:"))
        .unwrap_or_else(|| panic!("no summary in {rest:?}"));
    // "stopped: N readings polled, N stored, 0 lost"
    let nums: Vec<u64> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|w| w.parse().ok())
        .collect();
    assert_eq!(nums.len(), 3, "{line}");
    assert!(nums[0] >= 400, "{line}");
    assert_eq!(nums[0], nums[1], "{line}");
    assert_eq!(nums[2], 0, "{line}");
    let conn = rusqlite_count(&dir.path().join("demo.db"));
    assert_eq!(conn, nums[1], "rows in the file equal readings stored");
}

/// A short benchmark with the simulator as a child process: the report is printed and
/// written as JSON, and its counts agree with each other.
#[test]
fn bench_reports_rates_latencies_and_no_loss() {
    let dir = tempfile::tempdir().expect("temp dir");
    let json = dir.path().join("report.json");
    let base_port = historian_testkit::free_port_run(3).expect("ports");
    let out = run(&[
        "bench",
        "--devices",
        "3",
        "--registers",
        "20",
        "--interval",
        "250ms",
        "--duration",
        "3s",
        "--data-dir",
        dir.path().to_str().expect("utf8"),
        "--json",
        json.to_str().expect("utf8"),
        "--base-port",
        &base_port.to_string(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("readings/s      scheduled 240"), "{stdout}");
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).expect("report")).expect("json");
    assert_eq!(r["readings_lost"], 0);
    assert_eq!(r["rows_in_store"], r["readings_polled"]);
    let polls = r["polls_ok"].as_u64().expect("polls_ok")
        + r["polls_failed"].as_u64().expect("polls_failed");
    // About 36 grid slots; a loaded machine may skip some (counted as missed, not lost).
    assert!(
        polls >= 12,
        "3 devices x 3 s at 250 ms polled only {polls} times"
    );
    assert_eq!(
        r["rows_in_store"].as_u64(),
        Some(polls * 20),
        "a row per register per poll"
    );
    assert_eq!(r["poll_latency_ms"]["count"].as_u64(), Some(polls));
    assert!(r["cpu_seconds"].as_f64().expect("cpu") > 0.0);
    assert!(r["peak_rss_mib"].as_f64().expect("rss") > 1.0);
    assert_eq!(r["storage"], "sqlite");
    assert_eq!(r["signals"], "realistic");
    assert!(r["copy_baseline"].is_null());
}

/// Starts `simulate --devices N --registers 10` with `extra` arguments on N consecutive free
/// ports and waits for its "simulating" line. Another process may take a port between the
/// check and the simulator's bind, so a failed start is tried again on other ports.
fn spawn_simulator(devices: u16, extra: &[&str]) -> (u16, std::process::Child) {
    (0..5)
        .find_map(|_| {
            let port = historian_testkit::free_port_run(devices).expect("ports");
            let (mut child, first) = historian_testkit::spawn_announced(
                Command::new(BIN)
                    .args([
                        "simulate",
                        "--devices",
                        &devices.to_string(),
                        "--registers",
                        "10",
                    ])
                    .args(["--base-port", &port.to_string()])
                    .args(extra)
                    .env("HISTORIAN_LOG", "warn")
                    .stderr(Stdio::null()),
            )
            .expect("spawn simulate");
            if first.starts_with(&format!("simulating {devices} device")) {
                Some((port, child))
            } else {
                let _ = child.wait();
                None
            }
        })
        .expect("the simulator starts on free ports")
}

fn rusqlite_count(path: &std::path::Path) -> u64 {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let store = historian_store::open(
            &historian_store::StorageUrl::Sqlite(path.into()),
            &Default::default(),
        )
        .await
        .expect("open");
        store.count_readings().await.expect("count")
    })
}

#[test]
fn devices_import_checks_the_whole_file_and_export_gives_it_back() {
    let dir = tempfile::tempdir().expect("temp dir");
    let p = |name: &str| dir.path().join(name).display().to_string();
    let config = p("h.toml");
    std::fs::write(
        &config,
        format!(
            "[storage]\nurl = \"sqlite://{}\"\n\
             [[devices]]\nname = \"relay\"\nhost = \"127.0.0.1\"\n\
             [[devices]]\nname = \"meter\"\nhost = \"127.0.0.1\"\nport = 503\n",
            p("h.db")
        ),
    )
    .expect("write config");
    let bad = p("bad.csv");
    std::fs::write(
        &bad,
        "address,table,name,data_type,scale\n\
         0,hr,volts,uint16,x\n\
         1,hr,amps,flaot32,1\n\
         1,hr,watts,uint16,1\n",
    )
    .expect("write");
    let out = run(&[
        "devices", "import", &bad, "--device", "relay", "--config", &config,
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.starts_with(&format!(
            "error: {bad}: 2 problems, nothing was imported (addresses read as wire"
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!("\n  {bad}:2:19: scale: \"x\" is not a number")),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "\n  {bad}:3:11: data_type: unknown data type \"flaot32\""
        )),
        "{err}"
    );
    assert!(
        !dir.path().join("h.db").exists(),
        "nothing was written: {err}"
    );

    let good = p("relay.csv");
    std::fs::write(
        &good,
        "address,name,data_type,unit,byte_order,length,bit,interval\n\
         30001,current_a,float32,A,CDAB,,,\n\
         40011,model,string,,BADC,4,,1h\n\
         40021,closed,bool,,,,0,\n\
         40021,tripped,bool,,,,1,\n",
    )
    .expect("write");
    let out = run(&[
        "devices",
        "import",
        &good,
        "--device",
        "nobody",
        "--addressing",
        "modicon",
        "--config",
        &config,
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("no device named \"nobody\" in the store or the config"));

    let meter = p("meter.toml");
    std::fs::write(
        &meter,
        "[[registers]]\nname = \"kwh\"\ntable = \"input_register\"\naddress = 0\ndata_type = \"uint32\"\n",
    )
    .expect("write");
    for (file, device, addressing) in [(&good, "relay", "modicon"), (&meter, "meter", "wire")] {
        let out = run(&[
            "devices",
            "import",
            file,
            "--device",
            device,
            "--addressing",
            addressing,
            "--config",
            &config,
        ]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert!(
            text(&out.stdout).starts_with("imported "),
            "{}",
            text(&out.stdout)
        );
    }
    let out = run(&[
        "devices", "export", "relay", "--format", "csv", "--config", &config,
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let csv = text(&out.stdout);
    assert_eq!(
        csv.lines().collect::<Vec<_>>(),
        vec![
            "address,table,name,data_type,byte_order,scale,offset,unit,min,max,not_available,bit,length,interval,scale_factor",
            "0,input_register,current_a,float32,CDAB,1,0,A,,,,,,,",
            "10,holding_register,model,string,BADC,,,,,,,,4,1h,",
            "20,holding_register,closed,bool,ABCD,1,0,,,,,0,,,",
            "20,holding_register,tripped,bool,ABCD,1,0,,,,,1,,,",
        ]
    );
    // The TOML export, imported again, is the same map; the other device is untouched.
    let out = run(&[
        "devices", "export", "relay", "--format", "toml", "--config", &config,
    ]);
    let toml_file = p("relay-export.toml");
    std::fs::write(&toml_file, &out.stdout).expect("write");
    let out = run(&[
        "devices", "import", &toml_file, "--device", "relay", "--config", &config,
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let again = run(&["devices", "export", "relay", "--config", &config]);
    assert_eq!(text(&again.stdout), csv);
    let meter_csv = run(&["devices", "export", "meter", "--config", &config]);
    assert_eq!(
        text(&meter_csv.stdout).lines().nth(1),
        Some("0,input_register,kwh,uint32,ABCD,1,0,,,,,,,,")
    );
}

#[test]
fn devices_import_names_unreadable_files() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = format!("sqlite://{}", dir.path().join("h.db").display());
    let txt = dir.path().join("map.txt");
    std::fs::write(&txt, "address,name,data_type\n").expect("write");
    let txt = txt.display().to_string();
    let out = run(&[
        "devices",
        "import",
        &txt,
        "--device",
        "d",
        "--database-url",
        &db,
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr).trim(),
        format!("error: {txt}: a register map file must end in .csv or .toml")
    );
    let missing = dir.path().join("none.csv").display().to_string();
    let out = run(&[
        "devices",
        "import",
        &missing,
        "--device",
        "d",
        "--database-url",
        &db,
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr).trim(),
        format!("error: cannot read {missing}: No such file or directory (os error 2)")
    );
    // Not UTF-8: the file cannot be read as text at all.
    let latin1 = dir.path().join("latin1.csv");
    std::fs::write(
        &latin1,
        b"address,name,data_type\n0,temp\xe9rature,uint16\n",
    )
    .expect("write");
    let latin1 = latin1.display().to_string();
    let out = run(&[
        "devices",
        "import",
        &latin1,
        "--device",
        "d",
        "--database-url",
        &db,
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).starts_with(&format!(
            "error: cannot read {latin1}: stream did not contain valid UTF-8"
        )),
        "{}",
        text(&out.stderr)
    );
    let out = run(&["devices", "export", "d", "--database-url", &db]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("no device named \"d\" in the store;"));
}

#[tokio::test]
async fn simulate_injects_wire_faults_from_the_command_line() {
    let map = reference_map(10);
    let plan = ReadPlan::new(&map, PlanOptions::default());
    for (flag, expect) in [
        ("--drop-every", ""),
        ("--garbage-every", "protocol identifier"),
    ] {
        let (port, mut child) = spawn_simulator(1, &[flag, "1"]);
        let mut client = DeviceClient::new(format!("127.0.0.1:{port}"), 1, Duration::from_secs(1));
        // Every answer is struck: the read fails on the link, never with data.
        let err = client.read(&plan.requests[0]).await.expect_err(flag);
        assert!(err.is_link_failure(), "{flag}: {err}");
        assert!(err.to_string().contains(expect), "{flag}: {err}");
        let _ = child.kill();
        let _ = child.wait();
    }
}

#[tokio::test]
async fn simulate_answers_exceptions_from_the_command_line() {
    use historian_modbus::client::{ExceptionCode, ReadError};
    let map = reference_map(10);
    let plan = ReadPlan::new(&map, PlanOptions::default());
    for (code, want) in [
        ("0A", ExceptionCode::GatewayPathUnavailable),
        ("0x06", ExceptionCode::ServerDeviceBusy),
    ] {
        let (port, mut child) =
            spawn_simulator(1, &["--exception", code, "--exception-every", "2"]);
        let mut client = DeviceClient::new(format!("127.0.0.1:{port}"), 1, Duration::from_secs(1));
        // Every second read answers the exception; the link stays up between them.
        let first = client.read(&plan.requests[0]).await;
        assert!(first.is_ok(), "{code}: {first:?}");
        match client.read(&plan.requests[0]).await {
            Err(ReadError::Exception(got)) => assert_eq!(got, want, "{code}"),
            other => panic!("{code}: {other:?}"),
        }
        assert!(client.read(&plan.requests[0]).await.is_ok(), "{code}");
        let _ = child.kill();
        let _ = child.wait();
    }
    let out = run(&["simulate", "--exception", "07"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("\"07\" is not a Modbus exception code"),
        "{}",
        text(&out.stderr)
    );
}

/// A port of the simulator's range already taken: `bench` fails at once and says so,
/// instead of waiting for a simulator that has exited.
#[test]
fn bench_fails_fast_when_a_simulator_port_is_taken() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port();
    // The taken port is the second of the range, so the first may well be free.
    let base = (port - 1).to_string();
    let dir = tempfile::tempdir().expect("dir");
    let started = Instant::now();
    let out = run(&[
        "bench",
        "--devices",
        "3",
        "--registers",
        "5",
        "--interval",
        "1s",
        "--duration",
        "2s",
        "--base-port",
        &base,
        "--data-dir",
        dir.path().to_str().expect("utf-8 path"),
    ]);
    assert!(!out.status.success(), "{}", text(&out.stdout));
    let err = text(&out.stderr);
    assert!(err.contains("the simulator exited"), "{err}");
    assert!(err.contains("taken"), "{err}");
    // Not the simulator's 60 s start-up deadline.
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
    drop(taken);
}

/// SIGTERM while the store is still being opened (here: a database server that accepts
/// the connection and never answers) ends the run at once, with the closing line and
/// exit code 0, as a stop after start-up does.
#[test]
fn sigterm_during_start_up_ends_with_the_closing_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("listener");
    let port = silent.local_addr().expect("addr").port();
    let config = dir.path().join("historian.toml");
    std::fs::write(
        &config,
        format!(
            "[storage]\nurl = \"postgres://postgres@127.0.0.1:{port}/never\"\n\
             [api]\nbind = \"127.0.0.1:0\"\n\
             [[devices]]\nname = \"a\"\nhost = \"127.0.0.1\"\nport = 1\n\
             [[devices.registers]]\nname = \"x\"\ntable = \"holding_register\"\naddress = 0\n\
             data_type = \"uint16\"\n"
        ),
    )
    .expect("config");
    let child = Command::new(BIN)
        .args(["run", "--config"])
        .arg(&config)
        .current_dir(dir.path())
        .env_remove("HISTORIAN_DATABASE_URL")
        .env("HISTORIAN_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    // The historian is inside its start-up once it connects to the store.
    let (_held, _) = silent.accept().expect("the historian connects");
    let sent = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(sent.success());
    let out = child.wait_with_output().expect("wait");
    let stdout = text(&out.stdout);
    assert!(
        out.status.success(),
        "exit {:?}: {stdout} {}",
        out.status,
        text(&out.stderr)
    );
    assert!(
        stdout
            .lines()
            .any(|l| l == "stopped: 0 readings polled, 0 stored, 0 lost"),
        "{stdout}"
    );
}
