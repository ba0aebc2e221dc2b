//! A damaged spool, with real processes: a historian spools into small segments while its
//! PostgreSQL server is stopped and is killed with SIGKILL; two records in segments before
//! the last are damaged on disk (a flipped length bit, as in the reported case, and a
//! flipped payload bit); the historian starts again with the database back. Every spooled
//! reading must be stored except exactly those of the record whose payload was hit, and
//! the set-aside readings must show in the start-up log and `/metrics`. `spool inspect`
//! and `spool salvage` read a copy of the damaged folder.

mod common;

use common::fleet_simulator;
use common::process::{HistorianChild, ProcessConfig, historian_command};
use historian_testkit::{PATIENCE, PgTestDb, ThrowawayPostgres, eventually, require};
use modbus_historian::spool::scan::{Item, Record, Scanner};
use modbus_historian::spool::{Spool, SpoolConfig};
use std::collections::HashSet;
use std::io::{BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_modbus-historian");
const DEVICES: usize = 8;
const POINTS: usize = 20;
const INTERVAL: Duration = Duration::from_millis(250);
/// Segments to wait for before the kill: enough that two lie before the newest.
const SEGMENTS: usize = 4;

type Key = (i64, i64, u32);

/// The config of a historian polling `sim` into `db_url`, spooling into small segments
/// in `spool`.
fn write_config(path: &Path, db_url: &str, spool: &Path, sim: &[SocketAddr]) {
    ProcessConfig::new(db_url, spool)
        .spool_option("segment_size = \"64KiB\"")
        .fleet(sim, POINTS, INTERVAL)
        .section("[ingest]\nwrite_timeout = \"2s\"")
        .write(path);
}

fn run_cli(args: &[&str]) -> String {
    let out = Command::new(BIN)
        .args(args)
        .env("HISTORIAN_LOG", "warn")
        .output()
        .expect("run the binary");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{args:?}: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn key(r: &historian_model::Reading) -> Key {
    (
        r.timestamp.timestamp_micros(),
        r.device_id,
        r.register_address.reference(),
    )
}

fn segment_files(dir: &Path) -> Vec<PathBuf> {
    let mut segs: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "seg"))
                .collect()
        })
        .unwrap_or_default();
    segs.sort();
    segs
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("dir").flatten() {
        std::fs::copy(entry.path(), to.join(entry.file_name())).expect("copy");
    }
}

/// Keys of every reading a spool folder holds, read from a copy so the folder stays as
/// it is.
fn spooled_keys(dir: &Path) -> HashSet<Key> {
    let copy = tempfile::tempdir().expect("temp dir");
    copy_dir(dir, copy.path());
    let (mut spool, _) = Spool::open(SpoolConfig::new(copy.path())).expect("open copy");
    let mut keys = HashSet::new();
    while let Some(b) = spool.next_batch().expect("read spool") {
        keys.extend(b.readings.iter().map(key));
        spool.ack(&b).expect("ack");
    }
    keys
}

/// The records of a segment as they are on disk (a torn tail of the newest ignored).
fn records(path: &Path) -> Vec<Record> {
    let bytes = std::fs::read(path).expect("read segment");
    Scanner::new(&bytes[..], 0, true)
        .filter_map(|item| match item.expect("reads") {
            Item::Record(r) => Some(r),
            _ => None,
        })
        .collect()
}

fn flip(path: &Path, offset: u64, mask: u8) {
    let mut bytes = std::fs::read(path).expect("read");
    bytes[offset as usize] ^= mask;
    std::fs::write(path, bytes).expect("write");
}

async fn stored_keys(db: &PgTestDb) -> HashSet<Key> {
    let Ok(client) = db.client().await else {
        return HashSet::new();
    };
    let Ok(rows) = client
        .query(
            "SELECT (extract(epoch FROM timestamp) * 1000000)::bigint, device_id, register_address \
             FROM register_readings",
            &[],
        )
        .await
    else {
        return HashSet::new();
    };
    rows.iter()
        .map(|r| (r.get(0), r.get(1), r.get::<_, i32>(2) as u32))
        .collect()
}

/// `text` without the colour codes the log writes.
fn plain(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('\u{1b}') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        rest = rest.find('m').map_or("", |end| &rest[end + 1..]);
    }
    out.push_str(rest);
    out
}

/// The value of an unlabelled metric on a `/metrics` page.
fn metric(page: &str, name: &str) -> Option<f64> {
    page.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_record_costs_its_own_readings_and_no_others() {
    let test = "a_damaged_record_costs_its_own_readings_and_no_others";
    let Some(pg) = require(test, ThrowawayPostgres::start_ready().await) else {
        return;
    };
    let db = PgTestDb::create_on(&pg.url("postgres"))
        .await
        .expect("database");
    let sim = fleet_simulator(DEVICES, POINTS).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let spool_dir = dir.path().join("spool");
    let config = dir.path().join("historian.toml");
    write_config(&config, &db.url, &spool_dir, sim.addrs());

    // First run: spool into several segments with the database down, then SIGKILL.
    let mut first = historian_command(&config)
        .spawn()
        .expect("start the historian");
    eventually(
        "the first run storing readings",
        Duration::from_secs(30),
        async || match stored_keys(&db).await.len() {
            0 => Err("nothing stored".to_string()),
            _ => Ok(()),
        },
    )
    .await;
    pg.stop().expect("stop PostgreSQL");
    eventually(
        "several spool segments written",
        PATIENCE * 2,
        async || match segment_files(&spool_dir).len() {
            n if n >= SEGMENTS => Ok(()),
            n => Err(format!("{n} segments")),
        },
    )
    .await;
    first.kill().expect("SIGKILL the historian");
    let _ = first.wait();

    let spooled = spooled_keys(&spool_dir);
    let segs = segment_files(&spool_dir);
    assert!(segs.len() >= SEGMENTS, "{segs:?}");
    // The reported case: bit 4 of byte 6 of a record header, in a segment before the
    // last; the checksum still vouches for the record, so nothing is lost.
    let length_hit = records(&segs[1])[1].clone();
    flip(&segs[1], length_hit.offset + 6, 1 << 4);
    // A flipped payload bit: that record is lost, and only that record.
    let payload_hit = records(&segs[2])[1].clone();
    flip(&segs[2], payload_hit.payload().start + 20, 0x01);
    let damaged: HashSet<Key> = payload_hit.readings.iter().map(key).collect();
    assert!(!damaged.is_empty());
    let damaged_copy = dir.path().join("damaged");
    copy_dir(&spool_dir, &damaged_copy);

    // Second run, with the database back.
    pg.restart().await.expect("restart PostgreSQL");
    let before = stored_keys(&db).await;
    let expected: HashSet<Key> = spooled.difference(&damaged).copied().collect();
    let mut second = historian_command(&config)
        .spawn()
        .expect("start the historian");
    let stderr = second.stderr.take().expect("stderr");
    let log = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = BufReader::new(stderr).read_to_string(&mut text);
        text
    });
    let second = HistorianChild::started(second);
    let api = second.api.clone();
    assert!(api.starts_with("http://"), "{api:?}");
    eventually(
        "the spooled readings replayed",
        PATIENCE * 2,
        async || match expected.difference(&stored_keys(&db).await).count() {
            0 => Ok(()),
            n => Err(format!("{n} spooled readings not yet stored")),
        },
    )
    .await;
    let page = reqwest::get(format!("{api}/metrics"))
        .await
        .expect("GET /metrics")
        .text()
        .await
        .expect("metrics page");
    assert_eq!(
        metric(&page, "historian_spool_readings_lost_total"),
        Some(damaged.len() as f64),
        "{page}"
    );
    assert_eq!(
        metric(&page, "historian_spool_set_aside_bytes_total"),
        Some(payload_hit.len as f64)
    );
    let end = second.stop();
    let exit = end.status;
    let rest = end.stdout;
    let log = plain(&log.join().expect("log reader"));
    sim.shutdown();
    assert!(
        exit.code().is_some(),
        "second run ended by a signal: {exit}"
    );
    let polled: usize = rest
        .lines()
        .find_map(|l| l.strip_prefix("stopped: "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no closing line in {rest:?}"));

    // The start-up line names the segment, the offset and the bytes.
    let seg_name = segs[2].file_name().and_then(|n| n.to_str()).expect("name");
    let line = log
        .lines()
        .find(|l| l.contains("damaged spool bytes set aside"))
        .unwrap_or_else(|| panic!("no set-aside line in:\n{log}"));
    for part in [
        seg_name.to_string(),
        format!("offset={}", payload_hit.offset),
        format!("bytes={}", payload_hit.len),
        format!("readings={}", damaged.len()),
    ] {
        assert!(line.contains(&part), "{part:?} missing from {line:?}");
    }
    assert_eq!(
        log.matches("damaged spool bytes set aside").count(),
        1,
        "{log}"
    );
    let copy = segs[2].with_extension(format!("{}.corrupt", payload_hit.offset));
    assert_eq!(
        std::fs::metadata(&copy).expect("the .corrupt copy").len(),
        payload_hit.len
    );

    // Stored: what was there, every spooled reading but the damaged record's, and what
    // the second run polled; the damaged record's readings nowhere.
    let after = stored_keys(&db).await;
    assert!(after.is_superset(&before), "stored readings disappeared");
    let missing = expected.difference(&after).count();
    assert_eq!(missing, 0, "{missing} intact spooled readings never stored");
    let lost: HashSet<Key> = damaged.difference(&before).copied().collect();
    assert!(
        !lost.is_empty(),
        "the damaged record was stored before the kill"
    );
    assert!(
        lost.is_disjoint(&after),
        "readings of the damaged record were stored"
    );
    let kept: HashSet<Key> = before.union(&expected).copied().collect();
    assert_eq!(
        after.len(),
        kept.len() + polled,
        "rows = stored before + intact spooled + polled by the second run"
    );
    assert!(
        segment_files(&spool_dir).is_empty(),
        "spool segments left after the replay"
    );

    // inspect lists the damage of the copy; salvage recovers the rest of it.
    let damaged_dir = damaged_copy.to_str().expect("utf8 path");
    let listing = run_cli(&["spool", "inspect", damaged_dir]);
    for part in [
        format!("repairable at byte {}:", length_hit.offset),
        format!(
            "damaged at byte {}: {} bytes ({} readings",
            payload_hit.offset,
            payload_hit.len,
            damaged.len()
        ),
    ] {
        assert!(listing.contains(&part), "{part:?} missing from:\n{listing}");
    }
    let salvaged = dir.path().join("salvaged");
    let report = run_cli(&[
        "spool",
        "salvage",
        damaged_dir,
        "--out",
        salvaged.to_str().expect("utf8 path"),
    ]);
    assert!(report.contains("salvaged "), "{report}");
    assert_eq!(
        spooled_keys(&salvaged),
        expected,
        "salvage recovers every intact reading and no other:\n{report}"
    );
    assert!(
        std::fs::read_dir(&damaged_copy)
            .expect("dir")
            .flatten()
            .all(|e| e.path().extension().is_some_and(|x| x == "seg")),
        "inspect or salvage changed the folder they read"
    );
}
