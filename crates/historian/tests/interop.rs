//! Interoperability with Modbus peers not written here: the collector reads a pymodbus
//! server (PyPI, pinned), and Debian's `mbpoll` reads the simulator. Without python3 or
//! mbpoll a test reports itself skipped by name; with `CI=true` it fails instead.

use historian_modbus::adaptive::AdaptivePlan;
use historian_modbus::client::DeviceClient;
use historian_model::{
    DataType, PlanOptions, Quality, RegisterPoint, RegisterRef, Table, WordOrder,
};
use historian_sim::{SimDevice, SimEndpoint, Simulator, raw_value, step_at};
use historian_testkit::{TestkitError, require};
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The pymodbus release the test is written against.
const PYMODBUS: &str = "3.11.4";
/// Simulator values hold for ten minutes: a test practically never sees them change.
const STEP_MS: u64 = 600_000;

fn unavailable<T>(what: String) -> Result<T, TestkitError> {
    Err(TestkitError::Unavailable(what))
}

fn run_ok(cmd: &mut Command) -> Result<(), TestkitError> {
    match cmd.output() {
        Ok(out) if out.status.success() => Ok(()),
        Ok(out) => unavailable(format!(
            "{cmd:?} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )),
        Err(e) => unavailable(format!("{cmd:?} cannot run: {e}")),
    }
}

/// A virtualenv under the target folder with pymodbus installed, made once and reused.
fn pymodbus_venv() -> Result<PathBuf, TestkitError> {
    // The tests of this binary run in one process, whose id names the venv being built:
    // one at a time, so two tests never build into the same folder.
    static BUILDING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one_at_a_time = BUILDING.lock().unwrap_or_else(|e| e.into_inner());
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("pymodbus-{PYMODBUS}"));
    let python = dir.join("bin/python");
    let ready = |python: &Path| {
        Command::new(python)
            .args([
                "-c",
                &format!("import pymodbus; assert pymodbus.__version__ == '{PYMODBUS}'"),
            ])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if ready(&python) {
        return Ok(python);
    }
    // Built beside and renamed into place, so a half-made venv is never taken for a ready one.
    let partial = dir.with_extension(format!("partial-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&partial);
    run_ok(Command::new("python3").arg("-m").arg("venv").arg(&partial))?;
    run_ok(Command::new(partial.join("bin/pip")).args([
        "install",
        "--quiet",
        &format!("pymodbus=={PYMODBUS}"),
    ]))?;
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::rename(&partial, &dir)
        .or_else(|e| if ready(&python) { Ok(()) } else { Err(e) })
        .map_err(|e| TestkitError::Failed(format!("cannot move the venv into place: {e}")))?;
    Ok(python)
}

/// Kills the child when the test ends, pass or fail.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn point(
    name: &str,
    register: RegisterRef,
    data_type: DataType,
    order: WordOrder,
) -> RegisterPoint {
    RegisterPoint {
        name: name.into(),
        register,
        data_type,
        word_order: order,
        ..RegisterPoint::default()
    }
}

/// The pymodbus server of `tests/interop/pymodbus_server.py` started on a free port, killed
/// when the handle drops; it may need a moment before it listens.
fn pymodbus_server(python: &Path) -> (u16, KillOnDrop) {
    let port = historian_testkit::free_port().expect("port");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/pymodbus_server.py");
    let server = KillOnDrop(
        Command::new(python)
            .arg(&script)
            .arg(port.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the pymodbus server"),
    );
    (port, server)
}

#[tokio::test]
async fn the_collector_reads_a_pymodbus_server() {
    let test = "interop::the_collector_reads_a_pymodbus_server";
    let Some(python) = require(test, pymodbus_venv()) else {
        return;
    };
    let (port, _server) = pymodbus_server(&python);

    // What the server holds, written out here from its documented contents.
    let hr = |a| RegisterRef::new(Table::HoldingRegister, a);
    let ir = |a| RegisterRef::new(Table::InputRegister, a);
    let mut points = Vec::new();
    let mut want: Vec<Option<f64>> = Vec::new();
    for i in 0..20u16 {
        points.push(point(
            &format!("co{i}"),
            RegisterRef::new(Table::Coil, i),
            DataType::Bool,
            WordOrder::Abcd,
        ));
        want.push(Some(f64::from(u8::from(i % 3 == 0))));
        points.push(point(
            &format!("di{i}"),
            RegisterRef::new(Table::DiscreteInput, i),
            DataType::Bool,
            WordOrder::Abcd,
        ));
        want.push(Some(f64::from(u8::from(i % 2 == 1))));
    }
    for i in 0..100u16 {
        points.push(point(
            &format!("hr{i}"),
            hr(i),
            DataType::Uint16,
            WordOrder::Abcd,
        ));
        want.push(Some(f64::from((u32::from(i) * 7 + 3) % 65_536)));
        points.push(point(
            &format!("ir{i}"),
            ir(i),
            DataType::Uint16,
            WordOrder::Abcd,
        ));
        want.push(Some(1000.0 + f64::from(i)));
    }
    for (name, r, t, o, v) in [
        (
            "f32_abcd",
            ir(100),
            DataType::Float32,
            WordOrder::Abcd,
            f64::from(123.456f32),
        ),
        (
            "f32_cdab",
            ir(102),
            DataType::Float32,
            WordOrder::Cdab,
            -0.5,
        ),
        (
            "f64_abcd",
            ir(104),
            DataType::Float64,
            WordOrder::Abcd,
            6.022_140_76e23,
        ),
        (
            "i32_abcd",
            ir(108),
            DataType::Int32,
            WordOrder::Abcd,
            -123_456.0,
        ),
        (
            "bit0",
            hr(210).with_bit(0),
            DataType::Bool,
            WordOrder::Abcd,
            1.0,
        ),
        (
            "bit1",
            hr(210).with_bit(1),
            DataType::Bool,
            WordOrder::Abcd,
            0.0,
        ),
        (
            "bit3",
            hr(210).with_bit(3),
            DataType::Bool,
            WordOrder::Abcd,
            1.0,
        ),
        (
            "bit15",
            hr(210).with_bit(15),
            DataType::Bool,
            WordOrder::Abcd,
            1.0,
        ),
    ] {
        points.push(point(name, r, t, o));
        want.push(Some(v));
    }
    points.push(RegisterPoint {
        length: Some(4),
        ..point("text", hr(200), DataType::String, WordOrder::Abcd)
    });
    want.push(None);
    assert!(historian_model::check_map(&points).is_empty());

    let mut client = DeviceClient::new(format!("127.0.0.1:{port}"), 1, Duration::from_secs(2));
    let mut plan = AdaptivePlan::new(&points, PlanOptions::default());
    // The interpreter needs a moment before it listens.
    let mut out = None;
    historian_testkit::eventually(
        "a clean poll of the pymodbus server",
        historian_testkit::PATIENCE,
        async || {
            let got = plan.poll(&mut client, &points).await;
            let errors = format!("{:?}", got.errors);
            let clean = got.errors.is_empty();
            out = Some(got);
            if clean { Ok(()) } else { Err(errors) }
        },
    )
    .await;
    let out = out.expect("a poll");
    for ((p, s), w) in points.iter().zip(&out.samples).zip(&want) {
        assert_eq!(s.quality, Quality::Good, "{}", p.name);
        assert_eq!(s.value, *w, "{}", p.name);
    }
    assert_eq!(
        out.samples.last().and_then(|s| s.text.as_deref()),
        Some("pymodbus")
    );
}

#[tokio::test]
async fn discovery_of_a_pymodbus_server_finds_its_ranges_floats_and_text() {
    use historian_modbus::client::Transport;
    use historian_modbus::discover::{DiscoverOptions, Progress, discover};
    let test = "interop::discovery_of_a_pymodbus_server_finds_its_ranges_floats_and_text";
    let Some(python) = require(test, pymodbus_venv()) else {
        return;
    };
    let (port, _server) = pymodbus_server(&python);
    let mut opts = DiscoverOptions::new(Transport::Tcp(format!("127.0.0.1:{port}")));
    opts.range = (0, 399);
    opts.samples = 2;
    opts.sample_interval = Duration::from_millis(100);
    opts.timeout = Duration::from_secs(2);
    // The interpreter needs a moment before it listens.
    let mut found = None;
    historian_testkit::eventually(
        "a discovery of the pymodbus server",
        historian_testkit::PATIENCE,
        async || {
            let d = discover(&opts, std::sync::Arc::new(Progress::default()))
                .await
                .map_err(|e| e.to_string())?;
            found = Some(d);
            Ok(())
        },
    )
    .await;
    let unit = found.expect("a discovery").devices.remove(0);
    assert_eq!(unit.error, None);
    for scan in &unit.tables {
        let spans: Vec<(u16, u16)> = scan.runs.iter().map(|r| (r.start, r.last())).collect();
        assert_eq!(
            spans,
            vec![(0, 299)],
            "{}: the server holds 300 of each",
            scan.table
        );
    }
    let at = |table, address| {
        unit.proposals
            .iter()
            .find(|p| p.table == table && p.proposal.address == address)
            .map(|p| {
                (
                    p.proposal.data_type,
                    p.proposal.word_order,
                    p.proposal.length,
                )
            })
    };
    assert_eq!(
        at(Table::InputRegister, 100),
        Some((DataType::Float32, WordOrder::Abcd, None))
    );
    assert_eq!(
        at(Table::InputRegister, 102),
        Some((DataType::Float32, WordOrder::Cdab, None))
    );
    assert_eq!(
        at(Table::HoldingRegister, 200),
        Some((DataType::String, WordOrder::Abcd, Some(4)))
    );
}

/// Runs mbpoll once and returns `(reference, value text)` per line it printed.
fn mbpoll(port: u16, args: &[&str]) -> Vec<(u32, String)> {
    let out = Command::new("mbpoll")
        .args(["-m", "tcp", "-a", "1", "-1", "-q", "-p", &port.to_string()])
        .args(args)
        .arg("127.0.0.1")
        .output()
        .expect("run mbpoll");
    assert!(
        out.status.success(),
        "mbpoll {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let (r, v) = l.trim().strip_prefix('[')?.split_once("]:")?;
            Some((r.parse().ok()?, v.trim().to_string()))
        })
        .collect()
}

#[tokio::test]
async fn mbpoll_reads_the_simulator() {
    let test = "interop::mbpoll_reads_the_simulator";
    let found = match Command::new("mbpoll").arg("-V").output() {
        Ok(_) => Ok(()),
        Err(e) => unavailable(format!("mbpoll not found ({e}); apt-get install mbpoll")),
    };
    if require(test, found).is_none() {
        return;
    }
    let hr = |a| RegisterRef::new(Table::HoldingRegister, a);
    let ir = |a| RegisterRef::new(Table::InputRegister, a);
    let mut points = Vec::new();
    for i in 0..10 {
        points.push(point(
            &format!("u16_{i}"),
            hr(i),
            DataType::Uint16,
            WordOrder::Abcd,
        ));
        points.push(point(
            &format!("i16_{i}"),
            hr(20 + i),
            DataType::Int16,
            WordOrder::Abcd,
        ));
        points.push(point(
            &format!("co{i}"),
            RegisterRef::new(Table::Coil, i),
            DataType::Bool,
            WordOrder::Abcd,
        ));
        points.push(point(
            &format!("di{i}"),
            RegisterRef::new(Table::DiscreteInput, i),
            DataType::Bool,
            WordOrder::Abcd,
        ));
    }
    for i in 0..4 {
        points.push(point(
            &format!("f32_{i}"),
            ir(2 * i),
            DataType::Float32,
            WordOrder::Abcd,
        ));
        points.push(point(
            &format!("i32_{i}"),
            ir(20 + 2 * i),
            DataType::Int32,
            WordOrder::Abcd,
        ));
    }
    let device = 5;
    let sim = Simulator::start(
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        vec![SimEndpoint::new(
            0,
            SimDevice::new(device, points.clone(), STEP_MS),
        )],
    )
    .await
    .expect("simulator");
    let port = sim.addrs()[0].port();
    let raw = |name: &str, step: i64| {
        let p = points.iter().find(|p| p.name == name).expect("mapped");
        raw_value(device, p, step)
    };
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0)
    };
    // mbpoll numbers registers from 1 (-r 1 is wire address 0).
    let step = step_at(now(), STEP_MS);
    let port_ = port;
    let lines = tokio::task::spawn_blocking(move || {
        [
            mbpoll(port_, &["-t", "4", "-r", "1", "-c", "10"]),
            mbpoll(port_, &["-t", "4", "-r", "21", "-c", "10"]),
            mbpoll(port_, &["-t", "0", "-r", "1", "-c", "10"]),
            mbpoll(port_, &["-t", "1", "-r", "1", "-c", "10"]),
            mbpoll(port_, &["-t", "3:float", "-B", "-r", "1", "-c", "4"]),
            mbpoll(port_, &["-t", "3:int", "-B", "-r", "21", "-c", "4"]),
        ]
    })
    .await
    .expect("mbpoll runs");
    assert_eq!(
        step,
        step_at(now(), STEP_MS),
        "values changed during the test; run again"
    );
    let [u16s, i16s, coils, inputs, floats, ints] = lines;
    assert_eq!(u16s.len(), 10);
    for (r, v) in &u16s {
        // "47382 (-18154)": the unsigned reading first
        let first: f64 = v
            .split_whitespace()
            .next()
            .and_then(|t| t.parse().ok())
            .expect("number");
        assert_eq!(first, raw(&format!("u16_{}", r - 1), step), "[{r}] {v}");
    }
    assert_eq!(i16s.len(), 10);
    for (r, v) in &i16s {
        // the signed reading is the one in parentheses when it differs
        let signed = v
            .split_once('(')
            .map_or(v.as_str(), |(_, s)| s.trim_end_matches(')'));
        let got: f64 = signed.trim().parse().expect("number");
        assert_eq!(got, raw(&format!("i16_{}", r - 21), step), "[{r}] {v}");
    }
    for (lines, stem) in [(&coils, "co"), (&inputs, "di")] {
        assert_eq!(lines.len(), 10);
        for (r, v) in lines {
            assert_eq!(
                v.parse::<f64>().ok(),
                Some(raw(&format!("{stem}{}", r - 1), step)),
                "[{r}] {v}"
            );
        }
    }
    assert_eq!(floats.len(), 4);
    for (r, v) in &floats {
        let got: f64 = v.parse().expect("number");
        let want = raw(&format!("f32_{}", (r - 1) / 2), step);
        // mbpoll prints six significant digits
        assert!(
            (got - want).abs() <= want.abs() * 5e-6,
            "[{r}] {v} vs {want}"
        );
    }
    assert_eq!(ints.len(), 4);
    for (r, v) in &ints {
        assert_eq!(
            v.parse::<f64>().ok(),
            Some(raw(&format!("i32_{}", (r - 21) / 2), step)),
            "[{r}] {v}"
        );
    }
    sim.shutdown();
}
