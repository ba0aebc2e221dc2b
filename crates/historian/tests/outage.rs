//! The database goes away while the historian polls, with real processes: a PostgreSQL
//! server of the test's own is stopped for 30 s and started again, or the historian itself
//! is killed with SIGKILL while it spools. Every polled reading must end up in the database
//! exactly once.

mod common;

use common::process::{HistorianChild, ProcessConfig, historian_command};
use common::{TestHistorian, fleet_simulator};
use historian_store::StorageUrl;
use historian_testkit::{PATIENCE, PgTestDb, ThrowawayPostgres, require};
use modbus_historian::spool::{Spool, SpoolConfig};
use modbus_historian::stats::Stats;
use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

const DEVICES: usize = 4;
const POINTS: usize = 20;
const INTERVAL: Duration = Duration::from_millis(250);
/// How long the database stays away in the first test: the length of the outage is what
/// that test is about, so it is waited out in full.
const OUTAGE: Duration = Duration::from_secs(30);

async fn count(db: &PgTestDb) -> i64 {
    let client = db.client().await.expect("client");
    client
        .query_one("SELECT count(*) FROM register_readings", &[])
        .await
        .expect("count")
        .get(0)
}

async fn try_count(db: &PgTestDb) -> Option<i64> {
    let client = db.client().await.ok()?;
    let row = client
        .query_one("SELECT count(*) FROM register_readings", &[])
        .await
        .ok()?;
    Some(row.get(0))
}

/// `Ok` once the database holds a reading (until the historian has migrated the schema,
/// the table does not exist yet).
async fn some_stored(db: &PgTestDb) -> Result<(), String> {
    match try_count(db).await {
        Some(n) if n > 0 => Ok(()),
        n => Err(format!("{n:?} rows")),
    }
}

/// Every poll is stored whole: no (device, timestamp) holds fewer than all its registers.
async fn assert_polls_whole(db: &PgTestDb) {
    let client = db.client().await.expect("client");
    let partial: i64 = client
        .query_one(
            "SELECT count(*) FROM (SELECT device_id, timestamp FROM register_readings \
             GROUP BY 1, 2 HAVING count(*) <> $1) p",
            &[&(POINTS as i64)],
        )
        .await
        .expect("query")
        .get(0);
    assert_eq!(partial, 0, "polls stored in part");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_stopped_for_30_seconds_loses_no_reading() {
    let test = "postgres_stopped_for_30_seconds_loses_no_reading";
    let Some(pg) = require(test, ThrowawayPostgres::start_ready().await) else {
        return;
    };
    let db = PgTestDb::create_on(&pg.url("postgres"))
        .await
        .expect("database");
    let h = TestHistorian::new("outage")
        .fleet(DEVICES, POINTS)
        .interval(INTERVAL)
        .storage(StorageUrl::Postgres(db.url.clone()))
        .configure(|config| config.ingest.write_timeout = Duration::from_secs(2))
        .start()
        .await;
    let stats = std::sync::Arc::clone(&h.historian.stats);
    historian_testkit::eventually("readings stored before the outage", PATIENCE, || {
        some_stored(&db)
    })
    .await;

    pg.stop().expect("stop PostgreSQL");
    let stopped = tokio::time::Instant::now();
    historian_testkit::eventually(
        "readings spooled with the store down",
        PATIENCE,
        async || {
            let (waiting, up) = (
                Stats::get(&stats.spool_readings),
                Stats::get(&stats.store_up),
            );
            match (waiting, up) {
                (1.., 0) => Ok(()),
                _ => Err(format!("{waiting} readings spooled, store up {up}")),
            }
        },
    )
    .await;
    tokio::time::sleep_until(stopped + OUTAGE).await;
    let spooled = Stats::get(&stats.readings_spooled);
    let waiting = Stats::get(&stats.spool_readings);
    assert!(
        waiting > 0,
        "30 s without a database spooled nothing ({spooled} spooled)"
    );
    assert_eq!(Stats::get(&stats.store_up), 0);
    pg.restart().await.expect("restart PostgreSQL");

    historian_testkit::eventually("the spool to drain", Duration::from_secs(60), || async {
        let (batches, up) = (
            Stats::get(&stats.spool_batches),
            Stats::get(&stats.store_up),
        );
        if batches == 0 && up == 1 {
            Ok(())
        } else {
            Err(format!("{batches} spool batches, store up {up}"))
        }
    })
    .await;
    let summary = h.stop().await.summary;

    let rows = count(&db).await;
    assert_eq!(summary.lost, 0);
    assert_eq!(Stats::get(&stats.readings_dropped), 0);
    assert_eq!(rows as u64, summary.polled, "rows = polled readings");
    let polls: u64 = historian_polls(&stats);
    assert_eq!(
        rows as u64,
        polls * POINTS as u64,
        "rows = polls x registers"
    );
    assert_polls_whole(&db).await;
    assert!(Stats::get(&stats.readings_replayed) >= spooled);
    let missed = Stats::get(&stats.polls_missed);
    assert_eq!(missed, 0, "the outage delayed polling");
}

fn historian_polls(stats: &Stats) -> u64 {
    Stats::get(&stats.polls_ok) + Stats::get(&stats.polls_failed)
}

/// The config of a historian polling `sim` into `db_url`, spooling into `spool`.
fn write_config(path: &Path, db_url: &str, spool: &Path, sim: &[SocketAddr]) {
    ProcessConfig::new(db_url, spool)
        .fleet(sim, POINTS, INTERVAL)
        .section("[ingest]\nwrite_timeout = \"2s\"")
        .write(path);
}

/// Keys of the readings waiting in a spool folder, read from a copy so that the folder
/// stays as the killed run left it for the next start.
fn spooled_keys(dir: &Path) -> HashSet<(i64, i64, u32)> {
    let copy = tempfile::tempdir().expect("temp dir");
    for entry in std::fs::read_dir(dir).expect("spool dir").flatten() {
        std::fs::copy(entry.path(), copy.path().join(entry.file_name())).expect("copy");
    }
    let (mut spool, report) = Spool::open(SpoolConfig::new(copy.path())).expect("open copy");
    let mut keys = HashSet::new();
    while let Some(b) = spool.next_batch().expect("read spool") {
        for r in &b.readings {
            keys.insert((
                r.timestamp.timestamp_micros(),
                r.device_id,
                r.register_address.reference(),
            ));
        }
        spool.ack(&b).expect("ack");
    }
    assert_eq!(keys.len() as u64, report.readings, "spool keys are unique");
    keys
}

async fn stored_keys(db: &PgTestDb) -> HashSet<(i64, i64, u32)> {
    let client = db.client().await.expect("client");
    let rows = client
        .query(
            "SELECT (extract(epoch FROM timestamp) * 1000000)::bigint, device_id, register_address \
             FROM register_readings",
            &[],
        )
        .await
        .expect("keys");
    rows.iter()
        .map(|r| {
            (
                r.get::<_, i64>(0),
                r.get::<_, i64>(1),
                r.get::<_, i32>(2) as u32,
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_while_spooling_then_restarted_loses_no_spooled_reading() {
    let test = "killed_while_spooling_then_restarted_loses_no_spooled_reading";
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

    let mut first = historian_command(&config).spawn().expect("start historian");
    historian_testkit::eventually(
        "the first run storing readings",
        Duration::from_secs(30),
        || some_stored(&db),
    )
    .await;
    pg.stop().expect("stop PostgreSQL");
    // Spool for a while: several batches, each fsynced.
    let several = 4 * DEVICES * POINTS;
    historian_testkit::eventually("four polls of every device spooled", PATIENCE, async || {
        match spool_dir.exists().then(|| spooled_keys(&spool_dir).len()) {
            Some(n) if n >= several => Ok(()),
            n => Err(format!("{n:?} readings spooled")),
        }
    })
    .await;
    first.kill().expect("SIGKILL the historian");
    let _ = first.wait();

    pg.restart().await.expect("restart PostgreSQL");
    let before = stored_keys(&db).await;
    let spooled = spooled_keys(&spool_dir);
    assert!(!spooled.is_empty(), "the killed run spooled nothing");
    let spooled_new: HashSet<_> = spooled.difference(&before).copied().collect();

    let second = HistorianChild::start(historian_command(&config));
    // Stopped only once it has replayed the killed run's spool, however slowly it starts.
    historian_testkit::eventually(
        "the spooled readings replayed",
        historian_testkit::PATIENCE,
        || async {
            let missing = spooled.difference(&stored_keys(&db).await).count();
            match missing {
                0 => Ok(()),
                n => Err(format!("{n} spooled readings not yet stored")),
            }
        },
    )
    .await;
    let end = second.stop();
    let stdout = end.stdout;
    assert!(
        end.status.success(),
        "second run failed: {stdout}\n{}",
        end.stderr
    );
    let polled: u64 = stdout
        .lines()
        .find_map(|l| l.strip_prefix("stopped: "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no summary line in {stdout:?}"));
    sim.shutdown();

    let after = stored_keys(&db).await;
    assert!(after.is_superset(&before), "stored readings disappeared");
    assert!(
        after.is_superset(&spooled),
        "{} spooled readings never reached the database",
        spooled.difference(&after).count()
    );
    assert_eq!(
        after.len(),
        before.len() + spooled_new.len() + polled as usize,
        "rows = stored before the kill + spooled + polled by the second run"
    );
    assert_polls_whole(&db).await;
    let left = std::fs::read_dir(&spool_dir)
        .expect("spool dir")
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "seg"))
        .count();
    assert_eq!(
        left, 0,
        "spool segments left after a clean run with the database up"
    );
}
