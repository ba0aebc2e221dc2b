//! SQLite's compacted blocks: late readings reach the roll-ups, replays do not double, and
//! an interrupted compaction (the upgrade of an old database included) resumes with every
//! reading kept exactly once.

use chrono::{DateTime, Duration, Utc};
use historian_model::{DataType, DeviceSpec, Quality, Reading, RegisterPoint, RegisterRef, Table};
use historian_store::sqlite::SqliteStore;
use historian_store::{AggregateBucket, DiskProjection, SeriesKey, Store, StoreOptions, TimeRange};
use std::collections::BTreeMap;
use std::sync::Arc;

const HOUR: i64 = 3_600;
const DAY: i64 = 86_400;

async fn fresh() -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().expect("temp dir");
    let options = StoreOptions {
        retention: std::time::Duration::from_secs(30 * 86_400),
        ..StoreOptions::default()
    };
    let store = SqliteStore::open(&dir.path().join("h.db"), &options)
        .await
        .expect("open");
    (dir, store)
}

fn spec() -> DeviceSpec {
    let point = |name: &str, address: u16| RegisterPoint {
        name: name.into(),
        register: RegisterRef::new(Table::HoldingRegister, address),
        data_type: DataType::Int32,
        unit: "kWh".into(),
        ..RegisterPoint::default()
    };
    DeviceSpec {
        name: "meter".into(),
        host: "127.0.0.1".into(),
        port: 502,
        unit_id: 1,
        poll_interval_ms: 1000,
        enabled: true,
        registers: vec![point("energy", 0), point("status", 2)],
        access: Default::default(),
    }
}

fn reading(device_id: i64, p: &RegisterPoint, at: DateTime<Utc>, value: Option<f64>) -> Reading {
    Reading {
        timestamp: at,
        device_id,
        register_address: p.register,
        value,
        quality: if value.is_some() {
            Quality::Good
        } else {
            Quality::Bad
        },
        register_name: Arc::from(p.name.as_str()),
        data_type: p.data_type,
        unit: Arc::from(p.unit.as_str()),
        text: None,
    }
}

/// An hour-aligned instant `days` before the current hour.
fn hours_ago(hours: i64) -> DateTime<Utc> {
    let now = Utc::now().timestamp();
    DateTime::from_timestamp(now - now.rem_euclid(HOUR) - hours * HOUR, 0).expect("time")
}

/// Readings of both registers every 5 minutes over `from..to`: an energy counter and a
/// status value with a failed read every 7th step (integers, so every sum is exact).
fn history(id: i64, spec: &DeviceSpec, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<Reading> {
    let mut out = Vec::new();
    let mut at = from;
    while at < to {
        let step = (at.timestamp() / 300) % 1_000_000;
        out.push(reading(id, &spec.registers[0], at, Some(step as f64)));
        let status = (step % 7 != 0).then_some((step % 5) as f64);
        out.push(reading(id, &spec.registers[1], at, status));
        at += Duration::minutes(5);
    }
    out
}

/// The aggregates computed here from raw readings, as the store defines them.
fn expected(readings: &[Reading], register: RegisterRef, width: i64) -> Vec<AggregateBucket> {
    let mut by_bucket: BTreeMap<i64, Vec<&Reading>> = BTreeMap::new();
    for r in readings.iter().filter(|r| r.register_address == register) {
        let t = r.timestamp.timestamp();
        by_bucket
            .entry(t - t.rem_euclid(width))
            .or_default()
            .push(r);
    }
    by_bucket
        .into_iter()
        .map(|(b, mut rs)| {
            rs.sort_by_key(|r| r.timestamp);
            let values: Vec<f64> = rs.iter().filter_map(|r| r.value).collect();
            let count = values.len() as i64;
            AggregateBucket {
                bucket: DateTime::from_timestamp(b, 0).expect("bucket"),
                register_address: register,
                avg: (count > 0).then(|| values.iter().sum::<f64>() / count as f64),
                min: values.iter().copied().reduce(f64::min),
                max: values.iter().copied().reduce(f64::max),
                count,
                first: values.first().copied(),
                last: values.last().copied(),
            }
        })
        .collect()
}

async fn assert_aggregates_match(
    store: &SqliteStore,
    id: i64,
    spec: &DeviceSpec,
    all: &[Reading],
    range: TimeRange,
) {
    for width in [600, HOUR, DAY] {
        for p in &spec.registers {
            let got = store
                .get_aggregates(id, &[p.register], range, width as u64)
                .await
                .expect("aggregates");
            let in_range: Vec<Reading> = all
                .iter()
                .filter(|r| r.timestamp >= range.start() && r.timestamp < range.end())
                .cloned()
                .collect();
            // A bucket starting before the range is left out (roll-up buckets count whole).
            let mut want = expected(&in_range, p.register, width);
            want.retain(|b| b.bucket >= range.start());
            assert_eq!(got, want, "{} width {width}", p.name);
        }
    }
}

/// A spool replayed a week late lands in hours already compacted: after the next
/// maintenance the hourly and daily roll-ups equal those recomputed from raw readings,
/// and a replay of readings already in blocks adds nothing.
#[tokio::test]
async fn sqlite_a_week_old_replay_reaches_blocks_and_roll_ups() {
    let (_dir, store) = fresh().await;
    let spec = spec();
    let id = store
        .sync_devices(std::slice::from_ref(&spec))
        .await
        .expect("sync")[0]
        .id;
    let start = hours_ago(10 * 24);
    let all = history(id, &spec, start, hours_ago(0));
    // Six hours a week ago never arrived: the spool holds them.
    let (gap_from, gap_to) = (hours_ago(7 * 24 + 3), hours_ago(7 * 24 - 3));
    let (late, on_time): (Vec<Reading>, Vec<Reading>) = all
        .iter()
        .cloned()
        .partition(|r| r.timestamp >= gap_from && r.timestamp < gap_to);
    for part in on_time.chunks(1_000) {
        store
            .insert_register_readings_batch(part)
            .await
            .expect("insert");
    }
    store
        .run_maintenance(Utc::now())
        .await
        .expect("maintenance");
    assert!(
        store
            .get_aggregates(
                id,
                &[spec.registers[0].register],
                TimeRange::new(gap_from, gap_to),
                3600
            )
            .await
            .expect("gap")
            .is_empty(),
        "the gap is empty before the replay"
    );

    // The replay: the late readings and, around them, readings already stored.
    let mut replay = late.clone();
    let stored_again: Vec<Reading> = on_time
        .iter()
        .filter(|r| r.timestamp >= gap_to && r.timestamp < gap_to + Duration::hours(2))
        .cloned()
        .collect();
    replay.extend(stored_again.iter().cloned());
    let out = store
        .insert_register_readings_batch(&replay)
        .await
        .expect("replay");
    assert_eq!(
        (out.inserted, out.duplicates),
        (late.len(), stored_again.len())
    );
    store
        .run_maintenance(Utc::now())
        .await
        .expect("maintenance");

    assert_eq!(
        store.count_readings().await.expect("count"),
        all.len() as u64
    );
    let range = TimeRange::new(start, hours_ago(0));
    assert_aggregates_match(&store, id, &spec, &all, range).await;
    // Each series reads back whole and once, oldest first.
    for p in &spec.registers {
        let got = store
            .get_readings_time_range(SeriesKey::new(id, p.register), range, usize::MAX)
            .await
            .expect("range");
        let want: Vec<Reading> = all
            .iter()
            .filter(|r| r.register_address == p.register)
            .cloned()
            .collect();
        assert_eq!(got, want, "{}", p.name);
    }
}

fn raw_rows(path: &std::path::Path) -> (i64, i64) {
    let conn = rusqlite::Connection::open(path).expect("open");
    let rows = conn
        .query_row("SELECT count(*) FROM register_readings", [], |r| r.get(0))
        .expect("rows");
    let blocks = conn
        .query_row("SELECT count(*) FROM reading_blocks", [], |r| r.get(0))
        .expect("blocks");
    (rows, blocks)
}

/// A database holding its history as rows (an upgraded one) is compacted hour by hour; a
/// compaction aborted in the middle of an hour's transaction leaves every reading there
/// exactly once, and the next run finishes the work.
#[tokio::test]
async fn sqlite_an_interrupted_compaction_resumes_without_loss() {
    let (dir, store) = fresh().await;
    let path = dir.path().join("h.db");
    let spec = spec();
    let id = store
        .sync_devices(std::slice::from_ref(&spec))
        .await
        .expect("sync")[0]
        .id;
    let start = hours_ago(30);
    let all = history(id, &spec, start, hours_ago(0));
    for part in all.chunks(1_000) {
        store
            .insert_register_readings_batch(part)
            .await
            .expect("insert");
    }
    // The hour's roll-up is written after its block and the deletion of its rows, so
    // aborting it there undoes the whole hour.
    let stop_at = hours_ago(12).timestamp_micros();
    let conn = rusqlite::Connection::open(&path).expect("open");
    conn.execute_batch(&format!(
        "CREATE TRIGGER stop_compaction BEFORE INSERT ON register_readings_hourly \
         WHEN NEW.bucket = {stop_at} AND NEW.register_address = {} \
         BEGIN SELECT RAISE(ABORT, 'interrupted'); END;",
        spec.registers[1].register.reference()
    ))
    .expect("trigger");
    let err = store
        .run_maintenance(Utc::now())
        .await
        .expect_err("compaction stops at the trigger");
    assert!(err.to_string().contains("interrupted"), "{err}");
    let (rows, blocks) = raw_rows(&path);
    assert!(
        rows > 0 && blocks > 0,
        "stopped half way: {rows} rows, {blocks} blocks"
    );
    assert_eq!(
        store.count_readings().await.expect("count"),
        all.len() as u64
    );
    let range = TimeRange::new(start, hours_ago(0));
    for p in &spec.registers {
        let got = store
            .get_readings_time_range(SeriesKey::new(id, p.register), range, usize::MAX)
            .await
            .expect("range");
        let want: Vec<Reading> = all
            .iter()
            .filter(|r| r.register_address == p.register)
            .cloned()
            .collect();
        assert_eq!(got, want, "{} mid-way", p.name);
    }

    conn.execute_batch("DROP TRIGGER stop_compaction")
        .expect("drop");
    store.run_maintenance(Utc::now()).await.expect("resumed");
    let (rows, blocks) = raw_rows(&path);
    assert_eq!(rows, 0, "every closed hour is in a block");
    assert_eq!(blocks, 2 * 30);
    assert_eq!(
        store.count_readings().await.expect("count"),
        all.len() as u64
    );
    for p in &spec.registers {
        let got = store
            .get_readings_time_range(SeriesKey::new(id, p.register), range, usize::MAX)
            .await
            .expect("range");
        let want: Vec<Reading> = all
            .iter()
            .filter(|r| r.register_address == p.register)
            .cloned()
            .collect();
        assert_eq!(got, want, "{} after", p.name);
    }
    assert_aggregates_match(&store, id, &spec, &all, range).await;
}

/// Set to a database path, [`compaction_child`] compacts it (as the child process of
/// [`sqlite_a_killed_compaction_resumes_without_loss`]).
const CHILD_DB: &str = "HISTORIAN_TEST_COMPACT_DB";

/// Not a test of its own: the process that [`sqlite_a_killed_compaction_resumes_without_loss`]
/// starts and kills in the middle of its compaction.
#[tokio::test]
#[ignore = "started by sqlite_a_killed_compaction_resumes_without_loss"]
async fn compaction_child() {
    let path = std::env::var(CHILD_DB).expect("the parent test names the database");
    let store = SqliteStore::open(std::path::Path::new(&path), &StoreOptions::default())
        .await
        .expect("open");
    store
        .run_maintenance(Utc::now())
        .await
        .expect("maintenance");
}

/// A database whose history is all rows (as an upgraded one is) is compacted by another
/// process that is killed (SIGKILL) half way; the next maintenance finishes the work with
/// every reading there exactly once.
#[tokio::test]
async fn sqlite_a_killed_compaction_resumes_without_loss() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("h.db");
    let store = SqliteStore::open(&path, &StoreOptions::default())
        .await
        .expect("open");
    let mut spec = spec();
    let template = spec.registers[0].clone();
    spec.registers = (0..40u16)
        .map(|k| RegisterPoint {
            name: format!("r{k}"),
            register: RegisterRef::new(Table::HoldingRegister, 2 * k),
            ..template.clone()
        })
        .collect();
    let id = store
        .sync_devices(std::slice::from_ref(&spec))
        .await
        .expect("sync")[0]
        .id;
    // 40 registers x 72 hours, one reading a minute: 2,880 hours to compact.
    let start = hours_ago(72);
    let mut all = Vec::new();
    let mut at = start;
    while at < hours_ago(0) {
        for (k, p) in spec.registers.iter().enumerate() {
            all.push(reading(
                id,
                p,
                at,
                Some((at.timestamp() / 60 + k as i64) as f64),
            ));
        }
        at += Duration::minutes(1);
    }
    for part in all.chunks(5_000) {
        store
            .insert_register_readings_batch(part)
            .await
            .expect("insert");
    }
    drop(store);

    let mut child = std::process::Command::new(std::env::current_exe().expect("test binary"))
        .args(["--exact", "compaction_child", "--ignored", "--nocapture"])
        .env(CHILD_DB, &path)
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("start the compacting process");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        let (_, blocks) = raw_rows(&path);
        if blocks >= 20 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the child compacted nothing"
        );
        assert!(
            child.try_wait().expect("child").is_none(),
            "the child ended early"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    child.kill().expect("kill");
    child.wait().expect("reap");
    let (rows, blocks) = raw_rows(&path);
    assert!(
        rows > 0 && blocks < 2_880,
        "killed half way: {rows} rows, {blocks} blocks"
    );

    let store = SqliteStore::open(&path, &StoreOptions::default())
        .await
        .expect("reopen");
    assert_eq!(
        store.count_readings().await.expect("count"),
        all.len() as u64
    );
    store.run_maintenance(Utc::now()).await.expect("resumed");
    assert_eq!(raw_rows(&path), (0, 2_880));
    assert_eq!(
        store.count_readings().await.expect("count"),
        all.len() as u64
    );
    let range = TimeRange::new(start, hours_ago(0));
    for p in &spec.registers {
        let got = store
            .get_readings_time_range(SeriesKey::new(id, p.register), range, usize::MAX)
            .await
            .expect("range");
        let want: Vec<Reading> = all
            .iter()
            .filter(|r| r.register_address == p.register)
            .cloned()
            .collect();
        assert_eq!(got, want, "{}", p.name);
    }
}

/// The disk projection: the fleet's rate from the enabled devices' registers, bytes per
/// reading measured once history is compacted, and the warning when what is still to be
/// written does not fit the free space.
#[tokio::test]
async fn sqlite_storage_figures_project_the_disk_the_fleet_needs() {
    let (_dir, store) = fresh().await;
    let spec = spec();
    let id = store
        .sync_devices(std::slice::from_ref(&spec))
        .await
        .expect("sync")[0]
        .id;
    let before = store.storage_figures().await.expect("figures");
    let p = before.projection.expect("a projection");
    assert_eq!(p.readings_per_second, 2.0, "two registers every second");
    assert_eq!(p.retention_secs, 30 * 86_400);
    assert!(
        !p.measured && before.bytes_per_reading.is_none(),
        "{before:?}"
    );
    assert_eq!(
        p.projected_bytes,
        (2.0 * 30.0 * 86_400.0 * DiskProjection::ESTIMATED_BYTES_PER_READING) as u64
    );
    assert!(p.free_bytes.is_some_and(|f| f > 0), "{p:?}");

    let all = history(id, &spec, hours_ago(48), hours_ago(0));
    store
        .insert_register_readings_batch(&all)
        .await
        .expect("insert");
    store
        .run_maintenance(Utc::now())
        .await
        .expect("maintenance");
    let after = store.storage_figures().await.expect("figures");
    let bpr = after.bytes_per_reading.expect("measured");
    // 12 readings an hour here: the block's key and summary weigh on each.
    assert!(bpr > 1.0 && bpr < 64.0, "{after:?}");
    let p = after.projection.expect("a projection");
    assert!(p.measured && p.bytes_per_reading == bpr, "{p:?}");

    // The warning's rule: what is still to be written against the free space.
    let fits = DiskProjection::new(600.0, 365 * 86_400, Some(3.0), Some(60_000_000_000), 0);
    assert!(!fits.exceeds_free_space(), "{fits:?}");
    let short = DiskProjection::new(600.0, 365 * 86_400, Some(3.0), Some(10_000_000_000), 0);
    assert!(short.exceeds_free_space(), "{short:?}");
    let written = DiskProjection::new(
        600.0,
        365 * 86_400,
        Some(3.0),
        Some(10_000_000_000),
        50_000_000_000,
    );
    assert!(
        !written.exceeds_free_space(),
        "most of it is on disk already: {written:?}"
    );
    let unknown = DiskProjection::new(600.0, 365 * 86_400, Some(3.0), None, 0);
    assert!(!unknown.exceeds_free_space());
}
