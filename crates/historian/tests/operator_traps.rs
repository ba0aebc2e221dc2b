//! The traps a new operator met on the first day: a map import that ignored the device's
//! addressing, a plan only for devices in a file, and a config file whose device without
//! registers silently wiped the map stored in the database.

mod common;

use common::{TestHistorian, captured_logs, device};
use historian_store::StorageUrl;
use std::process::{Command, Output};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_modbus-historian");

fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env_remove("HISTORIAN_DATABASE_URL")
        .env_remove("HISTORIAN_LOG")
        .env_remove("RUST_LOG")
        .output()
        .expect("run binary")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn devices_import_reads_the_map_with_the_devices_addressing_and_plan_reads_the_database() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("h.db");
    let url = format!("sqlite://{}", db.display());
    let config = dir.path().join("h.toml");
    std::fs::write(
        &config,
        format!(
            "[storage]\nurl = \"{url}\"\n\n[[devices]]\nname = \"meter\"\nhost = \"10.0.0.5\"\n\
             addressing = \"modicon\"\n"
        ),
    )
    .expect("write config");
    // Modicon numbers carry the table: no table column.
    let map = dir.path().join("meter.csv");
    std::fs::write(
        &map,
        "address,name,data_type\n40001,volts,uint16\n40002,amps,uint16\n30001,hz,uint16\n",
    )
    .expect("write map");
    let map_arg = map.to_str().expect("utf8");
    let config_arg = config.to_str().expect("utf8");

    let out = run(&[
        "devices", "import", map_arg, "--device", "meter", "--config", config_arg,
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).starts_with("imported 3 registers"),
        "{}",
        text(&out.stdout)
    );

    // Without the config, the file's addresses are read as wire: the error says so and
    // how to choose.
    let out = run(&[
        "devices",
        "import",
        map_arg,
        "--device",
        "meter",
        "--database-url",
        &url,
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("addresses read as wire (the default); --addressing wire|one_based|modicon"),
        "{err}"
    );
    assert!(err.contains("3 problems, nothing was imported"), "{err}");
    let out = run(&[
        "devices",
        "import",
        map_arg,
        "--device",
        "meter",
        "--database-url",
        &url,
        "--addressing",
        "wire",
    ]);
    assert!(
        text(&out.stderr).contains("addresses read as wire (--addressing)"),
        "{}",
        text(&out.stderr)
    );

    // The device lives in the database now: plan it from there, no config file needed.
    let out = run(&["devices", "plan", "meter", "--database-url", &url]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let shown = text(&out.stdout);
    assert!(
        shown.starts_with("meter (10.0.0.5:502 unit 1): 2 requests per poll, 3 registers or bits"),
        "{shown}"
    );
    assert!(
        shown.contains("FC3 holding_register wire     0 count    2"),
        "{shown}"
    );
    let out = run(&["devices", "plan", "nobody", "--database-url", &url]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("no device named \"nobody\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_device_without_registers_keeps_the_stored_map_and_says_so() {
    let logs = captured_logs();
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("keep.db");
    let url = format!("sqlite://{}", db.display());
    let map = dir.path().join("m.csv");
    std::fs::write(
        &map,
        "address,table,name,data_type\n0,holding_register,volts,uint16\n1,holding_register,amps,uint16\n",
    )
    .expect("map");
    // A first start stores the device; the import gives it a map in the database.
    let empty = || {
        device(
            "keep-dev",
            1,
            &[],
            Duration::from_secs(60),
            Duration::from_secs(1),
        )
    };
    let first = TestHistorian::new("keep-first")
        .storage(StorageUrl::Sqlite(db.clone()))
        .device(empty())
        .start()
        .await;
    eventually_logged(&logs, &["WARN", "keep-dev", "device has no registers"]).await;
    first.stop().await;
    modbus_historian::maps::import(&map, "keep-dev", None, None, Some(&url))
        .await
        .expect("import");

    // The same file again: the stored map is polled, and the log says why.
    let second = TestHistorian::new("keep-second")
        .storage(StorageUrl::Sqlite(db.clone()))
        .device(empty())
        .start()
        .await;
    let running = second
        .historian
        .registry
        .by_name("keep-dev")
        .expect("device running");
    assert_eq!(running.config.spec.registers.len(), 2);
    eventually_logged(
        &logs,
        &[
            "INFO",
            "keep-dev",
            "registers=2",
            "polling the map stored in the database",
        ],
    )
    .await;
    let stored = second
        .historian
        .store
        .list_devices()
        .await
        .expect("devices");
    assert_eq!(stored[0].spec.registers.len(), 2, "the stored map stays");
    second.stop().await;

    // A file that lists registers replaces the stored map, with a warning.
    let own = device(
        "keep-dev",
        1,
        &modbus_historian::maps::read_map(&map, historian_model::Addressing::Wire).expect("map")
            [..1],
        Duration::from_secs(60),
        Duration::from_secs(1),
    );
    let third = TestHistorian::new("keep-third")
        .storage(StorageUrl::Sqlite(db.clone()))
        .device(own)
        .start()
        .await;
    eventually_logged(
        &logs,
        &[
            "WARN",
            "keep-dev",
            "file_registers=1",
            "stored_registers=2",
            "replaces the one stored",
        ],
    )
    .await;
    third.stop().await;
}

async fn eventually_logged(logs: &common::Logs, parts: &[&str]) {
    historian_testkit::eventually("a log line", historian_testkit::PATIENCE, async || {
        if logs.lines_with(parts) > 0 {
            Ok(())
        } else {
            Err(format!("no line with {parts:?}"))
        }
    })
    .await;
}

/// Every spelling the map readers accept is in the README's table, so none is a secret.
#[test]
fn every_accepted_spelling_is_documented() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md"))
        .expect("README");
    let section = readme
        .split("### Accepted spellings")
        .nth(1)
        .and_then(|s| s.split("\n### ").next())
        .expect("the README has an Accepted spellings section");
    let documented = |w: &str| section.contains(&format!("`{w}`"));
    let words: Vec<&str> = historian_model::Table::WORDS
        .iter()
        .map(|(w, _)| *w)
        .chain(historian_model::DataType::WORDS.iter().map(|(w, _)| *w))
        .chain(historian_model::WordOrder::WORDS.iter().map(|(w, _)| *w))
        .chain(historian_model::Addressing::WORDS.iter().map(|(w, _)| *w))
        .chain(["type", "word_order"])
        .collect();
    let missing: Vec<&str> = words.into_iter().filter(|w| !documented(w)).collect();
    assert!(missing.is_empty(), "undocumented spellings: {missing:?}");
}

#[test]
fn relative_paths_are_stated_with_where_they_land() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("h.toml");
    std::fs::write(
        &config,
        "[storage]\nurl = \"sqlite://data/h.db\"\n[spool]\ndir = \"data/spool\"\n",
    )
    .expect("config");
    let cwd = tempfile::tempdir().expect("working dir");
    let out = Command::new(BIN)
        .args(["run", "--check", "--config", config.to_str().expect("utf8")])
        .env_remove("HISTORIAN_DATABASE_URL")
        .current_dir(cwd.path())
        .output()
        .expect("run");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let at = cwd.path().canonicalize().expect("cwd");
    let shown = text(&out.stdout);
    assert!(
        shown.contains(&format!(
            "relative paths are taken from the working directory {}: SQLite file {}, spool {}",
            at.display(),
            at.join("data/h.db").display(),
            at.join("data/spool").display()
        )),
        "{shown}"
    );
}
