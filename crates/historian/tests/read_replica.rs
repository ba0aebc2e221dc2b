//! `/metrics` of a historian with `storage.read_url`: the replica's lag and where reads go,
//! while the replica serves and after it stops. Its own test binary: the metrics recorder is
//! process-wide.

mod common;

use common::TestHistorian;
use historian_store::{ReadReplicaOptions, StorageUrl};
use historian_testkit::{PATIENCE, PgTestDb, ThrowawayPostgres, require};
use std::time::{Duration, Instant};

/// The value of the unlabelled sample `name`, if present.
fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
}

/// Scrapes `/metrics` until `ok` holds for the page, failing with `why` after [`PATIENCE`].
async fn until_page(base: &str, why: &str, ok: impl Fn(&str) -> bool) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let page = common::scrape(base).await.unwrap_or_default();
        if ok(&page) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting: {why}\n{page}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replica_lag_and_routing_are_on_metrics() {
    let test = "replica_lag_and_routing_are_on_metrics";
    let Some(primary) = require(test, ThrowawayPostgres::start_ready().await) else {
        return;
    };
    let db = PgTestDb::create_on(&primary.url("postgres"))
        .await
        .expect("test database on the primary");
    let Some(replica) = require(test, ThrowawayPostgres::replica_of(&primary).await) else {
        return;
    };
    let replica_url = replica.url(&db.name);
    let running = TestHistorian::new(test)
        .storage(StorageUrl::Postgres(db.url.clone()))
        .configure(move |c| {
            c.storage_options.read_replica = Some(ReadReplicaOptions {
                url: replica_url,
                max_lag: Duration::from_secs(10),
            });
        })
        .start()
        .await;
    until_page(
        &running.base,
        "reads go to the replica, lag measured",
        |p| {
            sample(p, "historian_store_replica_reads") == Some(1.0)
                && sample(p, "historian_store_replica_lag_seconds")
                    .is_some_and(|l| (0.0..10.0).contains(&l))
        },
    )
    .await;
    replica.stop().expect("stop the replica");
    until_page(&running.base, "reads go to the primary, lag unknown", |p| {
        sample(p, "historian_store_replica_reads") == Some(0.0)
            && sample(p, "historian_store_replica_lag_seconds").is_some_and(f64::is_nan)
    })
    .await;
    running.stop().await;
}
