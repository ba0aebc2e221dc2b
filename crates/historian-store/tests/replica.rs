//! Reads off a streaming replica: history and aggregates come from it while it keeps up,
//! from the primary while it lags beyond the bound or is down, and no read fails meanwhile.

use chrono::{DateTime, Utc};
use historian_model::{DataType, DeviceSpec, Quality, Reading, RegisterPoint, RegisterRef, Table};
use historian_store::postgres::PostgresStore;
use historian_store::{
    ReadReplicaOptions, ReplicaStatus, SeriesKey, Store, StoreOptions, TimeRange, TimescaleMode,
};
use historian_testkit::{PATIENCE, PgTestDb, ThrowawayPostgres, require};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn options(replica_url: &str, max_lag: Duration) -> StoreOptions {
    StoreOptions {
        timescaledb: TimescaleMode::Off,
        read_replica: Some(ReadReplicaOptions {
            url: replica_url.to_string(),
            max_lag,
        }),
        ..StoreOptions::default()
    }
}

fn point() -> RegisterPoint {
    RegisterPoint {
        name: "hr0".into(),
        register: RegisterRef::new(Table::HoldingRegister, 0),
        data_type: DataType::Uint16,
        unit: "V".into(),
        ..RegisterPoint::default()
    }
}

fn reading(device_id: i64, at: DateTime<Utc>, value: f64) -> Reading {
    let p = point();
    Reading {
        timestamp: at,
        device_id,
        register_address: p.register,
        value: Some(value),
        quality: Quality::Good,
        register_name: Arc::from(p.name.as_str()),
        data_type: p.data_type,
        unit: Arc::from(p.unit.as_str()),
        text: None,
    }
}

/// Polls `what` until it holds, failing with `why` after [`PATIENCE`].
async fn until<F, Fut>(why: &str, mut what: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + PATIENCE;
    while !what().await {
        assert!(Instant::now() < deadline, "timed out waiting: {why}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The values of register hr0 of `device` over the last hour, through `store`; a failed
/// read fails the test.
async fn values(store: &PostgresStore, device: i64) -> Vec<f64> {
    let now = Utc::now();
    let range = TimeRange::new(
        now - chrono::Duration::hours(1),
        now + chrono::Duration::hours(1),
    );
    let key = SeriesKey::new(device, point().register);
    let series = store
        .get_series(key, range, 1000)
        .await
        .expect("series read");
    let full = store
        .get_readings_time_range(key, range, 1000)
        .await
        .expect("range read");
    assert_eq!(series.len(), full.len(), "series and range reads agree");
    let buckets = store
        .get_aggregates(device, &[point().register], range, 7200)
        .await
        .expect("aggregate read");
    let counted: i64 = buckets.iter().map(|b| b.count).sum();
    assert_eq!(
        counted as usize,
        series.len(),
        "aggregates count what the series holds"
    );
    series.iter().filter_map(|p| p.value).collect()
}

fn status(store: &PostgresStore) -> ReplicaStatus {
    store.replica_status().expect("a replica is configured")
}

#[tokio::test]
async fn reads_follow_the_replica_and_fall_back_to_the_primary() {
    let test = "reads_follow_the_replica_and_fall_back_to_the_primary";
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
    // One store tolerates any lag (to show where its reads come from), one only a second.
    let patient = PostgresStore::open(&db.url, &options(&replica_url, Duration::from_secs(3600)))
        .await
        .expect("open with a patient replica bound");
    let strict = PostgresStore::open(&db.url, &options(&replica_url, Duration::from_secs(1)))
        .await
        .expect("open with a strict replica bound");
    let device = patient
        .write_devices(
            &[DeviceSpec {
                name: "pump".into(),
                host: "127.0.0.1".into(),
                port: 502,
                unit_id: 1,
                poll_interval_ms: 1000,
                enabled: true,
                registers: vec![point()],
                access: Default::default(),
            }],
            false,
        )
        .await
        .expect("device")[0]
        .id;
    let start = Utc::now();
    let first: Vec<Reading> = (0..5)
        .map(|i| reading(device, start + chrono::Duration::milliseconds(i), i as f64))
        .collect();
    patient
        .insert_register_readings_batch(&first)
        .await
        .expect("write to the primary");

    until("the replica is in use with its lag measured", || async {
        let s = status(&patient);
        s.in_use && s.lag_seconds.is_some()
    })
    .await;
    until("the replica replays the readings", || async {
        values(&patient, device).await.len() == 5
    })
    .await;

    // Replay paused: the replica keeps serving the old rows to the patient store, while
    // the strict one sees its lag pass the bound and reads the primary.
    let admin = replica_client(&replica.url("postgres")).await;
    admin
        .batch_execute("SELECT pg_wal_replay_pause()")
        .await
        .expect("pause replay");
    let later = reading(device, start + chrono::Duration::seconds(1), 99.0);
    patient
        .insert_register_readings_batch(std::slice::from_ref(&later))
        .await
        .expect("write while replay is paused");
    until("the strict store bypasses the lagging replica", || async {
        let s = status(&strict);
        !s.in_use && s.lag_seconds.is_some_and(|l| l > 1.0)
    })
    .await;
    assert_eq!(
        values(&strict, device).await.len(),
        6,
        "the primary has the new row"
    );
    assert!(
        status(&patient).in_use,
        "the patient store still reads the replica"
    );
    assert_eq!(
        values(&patient, device).await.len(),
        5,
        "the paused replica has not replayed the new row"
    );
    admin
        .batch_execute("SELECT pg_wal_replay_resume()")
        .await
        .expect("resume replay");
    until("the strict store returns to the replica", || async {
        status(&strict).in_use
    })
    .await;

    // Replica gone: every read still answers (from the primary), and the watcher notices.
    replica.stop().expect("stop the replica");
    for store in [&patient, &strict] {
        assert_eq!(
            values(store, device).await.len(),
            6,
            "read with the replica down"
        );
    }
    until("both stores read the primary with no lag known", || async {
        [&patient, &strict].iter().all(|s| {
            let st = status(s);
            !st.in_use && st.lag_seconds.is_none()
        })
    })
    .await;
    assert_eq!(values(&patient, device).await.len(), 6);
}

async fn replica_client(url: &str) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("connect to the replica");
    tokio::spawn(async move {
        let _ = conn.await;
    });
    client
}
