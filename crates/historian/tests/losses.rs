//! Every reading that will never reach the store is counted as lost, once, in one figure:
//! the closing line, the exit code and `/metrics` agree. Real processes: the historian
//! runs as a child and its own PostgreSQL server is stopped under it.

mod common;

use common::{fleet_simulator, metric_sum, scrape};
use historian_sim::fleet::reference_map;
use historian_testkit::{PATIENCE, PgTestDb, ThrowawayPostgres, require};
use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

const DEVICES: usize = 4;
const POINTS: usize = 100;
const INTERVAL_MS: u64 = 200;
/// Time for 2,000 readings a second to fill the smallest spool (1 MiB) on a slow machine.
const FILL: Duration = Duration::from_secs(90);

fn write_config(path: &Path, db_url: &str, spool: &Path, sim: &[SocketAddr]) {
    let mut text = format!(
        "[storage]\nurl = \"{db_url}\"\n\n[api]\nbind = \"127.0.0.1:0\"\n\n\
         [ingest]\nwrite_timeout = \"2s\"\n\n\
         [spool]\ndir = \"{}\"\nmax_size = \"1MiB\"\nsegment_size = \"64KiB\"\nwhen_full = \"drop_newest\"\n",
        spool.display()
    );
    let map = reference_map(POINTS);
    for (i, addr) in sim.iter().enumerate() {
        text.push_str(&format!(
            "\n[[devices]]\nname = \"sim-{i:03}\"\nhost = \"127.0.0.1\"\nport = {}\ninterval = \"{INTERVAL_MS}ms\"\n",
            addr.port(),
        ));
        for p in &map {
            text.push_str(&format!(
                "[[devices.registers]]\nname = \"{}\"\ntable = \"{}\"\naddress = {}\ndata_type = \"{}\"\nbyte_order = \"{}\"\n",
                p.name, p.register.table, p.register.address, p.data_type, p.word_order
            ));
        }
    }
    std::fs::write(path, text).expect("write config");
}

async fn metric(base: &str, name: &str) -> Result<f64, String> {
    scrape(base).await.map(|page| metric_sum(&page, name))
}

/// `when_full = "drop_newest"` with the database down: the readings dropped are lost, and
/// the closing line says so, with the cause, and the process exits with code 3.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readings_dropped_by_a_full_spool_are_lost_in_the_closing_line_exit_code_and_metrics() {
    let test =
        "readings_dropped_by_a_full_spool_are_lost_in_the_closing_line_exit_code_and_metrics";
    let Some(pg) = require(test, ThrowawayPostgres::start_ready().await) else {
        return;
    };
    let db = PgTestDb::create_on(&pg.url("postgres"))
        .await
        .expect("database");
    let sim = fleet_simulator(DEVICES, POINTS).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("historian.toml");
    write_config(&config, &db.url, &dir.path().join("spool"), sim.addrs());
    let log = dir.path().join("historian.log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_modbus-historian"))
        .args(["run", "--config"])
        .arg(&config)
        .env("HISTORIAN_LOG", "warn")
        .env_remove("HISTORIAN_DATABASE_URL")
        .env_remove("HISTORIAN_API_BIND")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        // A file, not a pipe: each dropped batch logs an error, more than a pipe holds.
        .stderr(std::fs::File::create(&log).expect("log file"))
        .spawn()
        .expect("start historian");
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    let mut banner = String::new();
    out.read_line(&mut banner).expect("read banner");
    let base = banner
        .trim()
        .strip_prefix("modbus-historian running: API on ")
        .unwrap_or_else(|| {
            panic!(
                "no banner: {banner:?}\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            )
        })
        .to_string();
    historian_testkit::eventually("readings stored", PATIENCE, || async {
        match metric(&base, "historian_readings_stored_total").await? {
            n if n > 0.0 => Ok(()),
            n => Err(format!("{n} stored")),
        }
    })
    .await;

    pg.stop().expect("stop PostgreSQL");
    historian_testkit::eventually("readings dropped with the spool full", FILL, || async {
        match metric(&base, "historian_readings_dropped_total").await? {
            n if n > 0.0 => Ok(()),
            n => Err(format!("{n} dropped")),
        }
    })
    .await;
    pg.restart().await.expect("restart PostgreSQL");
    // Once the store takes writes and the spool is drained, nothing more is dropped.
    historian_testkit::eventually("the spool drained", Duration::from_secs(60), || async {
        let page = scrape(&base).await?;
        let (up, waiting) = (
            metric_sum(&page, "historian_store_writable"),
            metric_sum(&page, "historian_spool_readings"),
        );
        match (up, waiting) {
            (1.0, 0.0) => Ok(()),
            _ => Err(format!("store writable {up}, {waiting} readings spooled")),
        }
    })
    .await;
    let page = scrape(&base).await.expect("metrics");
    let dropped = metric_sum(&page, "historian_readings_dropped_total") as u64;
    let lost = metric_sum(&page, "historian_readings_lost_total") as u64;
    assert!(dropped > 0);
    assert_eq!(
        lost, dropped,
        "historian_readings_lost_total counts the drops"
    );

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill -TERM");
    assert!(status.success());
    let exit = child.wait().expect("historian ends");
    let mut rest = String::new();
    out.read_to_string(&mut rest).expect("read stdout");
    sim.shutdown();
    let stderr = std::fs::read_to_string(&log).unwrap_or_default();
    let line = rest
        .lines()
        .find(|l| l.starts_with("stopped: "))
        .unwrap_or_else(|| panic!("no closing line in {rest:?}\n{stderr}"));
    assert!(
        line.ends_with(&format!(
            ", {dropped} lost ({dropped} dropped with the spool full, 0 set aside from a damaged spool, 0 not stored at shutdown)"
        )),
        "{line}"
    );
    assert_eq!(exit.code(), Some(3), "{line}\n{stderr}");
    assert!(
        stderr.contains(&format!(
            "error: {dropped} readings lost: {dropped} dropped"
        )),
        "{stderr}"
    );
}
