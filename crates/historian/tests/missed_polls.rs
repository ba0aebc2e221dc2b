//! Missed polls are counted as their grid slots pass, also while the pollers are held up
//! by ingest (a full spool with `when_full = "block"` and the database down), and each
//! slot once: afterwards the count equals the slots the stored polls skipped.

mod common;

use common::{TestHistorian, metric_sum, scrape};
use historian_store::StorageUrl;
use historian_testkit::{PATIENCE, PgTestDb, ThrowawayPostgres, require};
use modbus_historian::config::WhenFull;
use modbus_historian::stats::Stats;
use std::collections::BTreeMap;
use std::time::Duration;

const DEVICES: usize = 4;
const POINTS: usize = 100;
const INTERVAL: Duration = Duration::from_millis(200);
/// Time for 2,000 readings a second to fill the smallest spool (1 MiB) on a slow machine.
const FILL: Duration = Duration::from_secs(90);
const MISSED: &str = "historian_polls_missed_total";

/// The poll timestamps of each device, in microseconds, in order.
async fn poll_times(db: &PgTestDb) -> BTreeMap<i64, Vec<i64>> {
    let client = db.client().await.expect("client");
    let rows = client
        .query(
            "SELECT device_id, (extract(epoch FROM timestamp) * 1000000)::bigint \
             FROM register_readings GROUP BY 1, 2 ORDER BY 1, 2",
            &[],
        )
        .await
        .expect("poll times");
    let mut by_device: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    for r in rows {
        by_device.entry(r.get(0)).or_default().push(r.get(1));
    }
    by_device
}

/// Grid slots skipped between consecutive polls: a gap of n intervals skipped n - 1.
fn skipped_between(times: &[i64]) -> u64 {
    let iv = INTERVAL.as_micros() as f64;
    times
        .windows(2)
        .map(|w| ((w[1] - w[0]) as f64 / iv).round() as u64 - 1)
        .sum()
}

async fn missed(base: &str) -> Result<f64, String> {
    scrape(base).await.map(|page| metric_sum(&page, MISSED))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missed_polls_are_counted_while_ingest_blocks_the_pollers_and_only_once() {
    let test = "missed_polls_are_counted_while_ingest_blocks_the_pollers_and_only_once";
    let Some(pg) = require(test, ThrowawayPostgres::start_ready().await) else {
        return;
    };
    let db = PgTestDb::create_on(&pg.url("postgres"))
        .await
        .expect("database");
    let h = TestHistorian::new("missed")
        .fleet(DEVICES, POINTS)
        .interval(INTERVAL)
        .storage(StorageUrl::Postgres(db.url.clone()))
        .configure(|c| {
            c.ingest.write_timeout = Duration::from_secs(2);
            // One poll between the pollers and the batcher: a blocked batcher holds every
            // poller at once.
            c.ingest.channel_capacity = 1;
            c.spool.max_bytes = 1024 * 1024;
            c.spool.segment_bytes = 64 * 1024;
            c.spool.when_full = WhenFull::Block;
        })
        .start()
        .await;
    let base = h.base.clone();
    let stats = std::sync::Arc::clone(&h.historian.stats);
    historian_testkit::eventually("readings stored", PATIENCE, || async {
        match Stats::get(&stats.readings_stored) {
            0 => Err("none yet".to_string()),
            _ => Ok(()),
        }
    })
    .await;

    pg.stop().expect("stop PostgreSQL");
    // With the spool full the batcher waits for room, so every poller waits in its send:
    // the count must move anyway, and keep moving, while the database is still down.
    let before = missed(&base).await.expect("metrics");
    let first = std::cell::Cell::new(0.0);
    historian_testkit::eventually("missed polls counted while blocked", FILL, || async {
        match missed(&base).await? {
            n if n >= before + 2.0 * DEVICES as f64 => {
                first.set(n);
                Ok(())
            }
            n => Err(format!("{n} missed")),
        }
    })
    .await;
    historian_testkit::eventually(
        "more missed polls while still blocked",
        PATIENCE,
        || async {
            match missed(&base).await? {
                n if n >= first.get() + 2.0 * DEVICES as f64 => Ok(()),
                n => Err(format!("{n} missed, {} before", first.get())),
            }
        },
    )
    .await;
    assert_eq!(Stats::get(&stats.store_up), 0, "the store stayed down");

    pg.restart().await.expect("restart PostgreSQL");
    historian_testkit::eventually("the spool drained", Duration::from_secs(60), || async {
        let (batches, up) = (
            Stats::get(&stats.spool_batches),
            Stats::get(&stats.store_up),
        );
        match (batches, up) {
            (0, 1) => Ok(()),
            _ => Err(format!("{batches} spool batches, store up {up}")),
        }
    })
    .await;
    let stopped = h.stop().await;
    assert_eq!(stopped.summary.lost, 0, "block drops nothing");
    assert_eq!(stopped.summary.stored, stopped.summary.polled);

    let total = Stats::get(&stats.polls_missed);
    let times = poll_times(&db).await;
    assert_eq!(times.len(), DEVICES);
    let polls: usize = times.values().map(Vec::len).sum();
    assert_eq!(
        polls as u64,
        Stats::get(&stats.polls_ok) + Stats::get(&stats.polls_failed),
        "every poll stored"
    );
    let skipped: u64 = times.values().map(|t| skipped_between(t)).sum();
    assert!(
        skipped >= 4 * DEVICES as u64,
        "the block skipped only {skipped} slots"
    );
    assert_eq!(
        total, skipped,
        "missed polls counted = slots skipped between the stored polls"
    );
    let page = modbus_historian::telemetry::handle()
        .expect("recorder")
        .render();
    assert_eq!(
        metric_sum(&page, MISSED) as u64,
        total,
        "{MISSED} = the total"
    );
}
