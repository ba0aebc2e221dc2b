//! The conformance suite against plain PostgreSQL and against TimescaleDB, plus checks of
//! each mode's own objects. TimescaleDB tests report themselves skipped, by name, where the
//! server cannot create the extension (and fail under CI=true only if PostgreSQL itself is
//! missing).

mod conformance;

use historian_store::postgres::{PgMode, PostgresStore};
use historian_store::{Store, StoreOptions, TimescaleMode};
use historian_testkit::{PgTestDb, report_skip, require};
use std::time::Duration;

const DAY: u64 = 86_400;

fn options(mode: TimescaleMode) -> StoreOptions {
    StoreOptions {
        timescaledb: mode,
        retention: Duration::from_secs(30 * DAY),
        ..StoreOptions::default()
    }
}

/// A fresh database and a plain-PostgreSQL store on it (TimescaleDB switched off).
async fn plain(test: &str) -> Option<(PgTestDb, PostgresStore)> {
    let db = require(test, PgTestDb::create().await)?;
    let store = PostgresStore::open(&db.url, &options(TimescaleMode::Off))
        .await
        .expect("open plain PostgreSQL store");
    assert!(matches!(store.mode(), PgMode::Plain { .. }));
    assert_eq!(store.backend(), "postgres");
    Some((db, store))
}

/// A fresh database and a TimescaleDB store on it, or a skip report naming the test.
async fn timescale(test: &str) -> Option<(PgTestDb, PostgresStore)> {
    let db = require(test, PgTestDb::create().await)?;
    let client = db.client().await.expect("connect");
    if let Err(e) = client
        .batch_execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
        .await
    {
        report_skip(
            test,
            &format!("TimescaleDB is not available on this server: {e}"),
        );
        return None;
    }
    let store = PostgresStore::open(&db.url, &options(TimescaleMode::Required))
        .await
        .expect("open TimescaleDB store");
    assert!(matches!(store.mode(), PgMode::TimescaleDb { .. }));
    assert_eq!(store.backend(), "timescaledb");
    Some((db, store))
}

macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod plain_postgres {
            use super::*;
            $(
                #[tokio::test]
                async fn $name() {
                    let test = concat!("plain_postgres::", stringify!($name));
                    let Some((_db, store)) = plain(test).await else { return };
                    conformance::$name(&store).await;
                }
            )*
        }
        mod timescaledb {
            use super::*;
            $(
                #[tokio::test]
                async fn $name() {
                    let test = concat!("timescaledb::", stringify!($name));
                    let Some((_db, store)) = timescale(test).await else { return };
                    conformance::$name(&store).await;
                }
            )*
        }
    };
}

conformance!(
    devices_sync_by_name,
    batches_are_idempotent_and_tables_distinct,
    empty_queries,
    unknown_device_rows_are_rejected_alone,
);

#[tokio::test]
async fn plain_postgres_maintenance_applies_retention() {
    let Some((_db, store)) = plain("plain_postgres_maintenance_applies_retention").await else {
        return;
    };
    conformance::maintenance_applies_retention(&store).await;
}

#[tokio::test]
async fn plain_postgres_partitions_are_created_ahead_and_dropped_whole() {
    let Some((db, store)) =
        plain("plain_postgres_partitions_are_created_ahead_and_dropped_whole").await
    else {
        return;
    };
    let client = db.client().await.expect("connect");
    let parts = |c: tokio_postgres::Client| async move {
        let rows = c
            .query(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid \
                 WHERE i.inhparent = 'register_readings'::regclass ORDER BY 1",
                &[],
            )
            .await
            .expect("partitions");
        (
            c,
            rows.iter()
                .map(|r| r.get::<_, String>(0))
                .collect::<Vec<_>>(),
        )
    };
    let (client, before) = parts(client).await;
    let today = chrono::Utc::now().date_naive();
    let name = |d: chrono::NaiveDate| format!("register_readings_p{}", d.format("%Y%m%d"));
    assert!(before.contains(&"register_readings_default".to_string()));
    for k in [-1i64, 0, 1, 2, 3] {
        let day = today + chrono::Duration::days(k);
        assert!(
            before.contains(&name(day)),
            "{before:?} lacks {}",
            name(day)
        );
    }
    // Forty days later, with 30 days of retention, every partition made today ends
    // before the cut-off and is dropped whole.
    let later = chrono::Utc::now() + chrono::Duration::days(40);
    let report = store.run_maintenance(later).await.expect("maintenance");
    assert!(
        report.partitions_dropped.contains(&name(today)),
        "{report:?}"
    );
    let (_client, after) = parts(client).await;
    assert!(!after.contains(&name(today)));
    assert!(
        after.contains(&name(later.date_naive())),
        "made ahead of the new today"
    );
}

#[tokio::test]
async fn postgres_migrations_are_recorded_with_table_and_column_comments() {
    let Some((db, store)) =
        plain("postgres_migrations_are_recorded_with_table_and_column_comments").await
    else {
        return;
    };
    drop(store);
    // Opening again applies nothing new and keeps the data.
    PostgresStore::open(&db.url, &options(TimescaleMode::Off))
        .await
        .expect("reopen");
    let c = db.client().await.expect("connect");
    let versions: Vec<i32> = c
        .query(
            "SELECT version FROM refinery_schema_history ORDER BY version",
            &[],
        )
        .await
        .expect("history")
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(versions, vec![1, 2, 3]);
    let row = c
        .query_one(
            "SELECT obj_description('register_readings'::regclass, 'pg_class'), \
             (SELECT count(*) FROM pg_description d JOIN pg_attribute a \
                ON a.attrelid = d.objoid AND a.attnum = d.objsubid \
              WHERE d.objoid = 'register_readings'::regclass)",
            &[],
        )
        .await
        .expect("comments");
    assert!(row.get::<_, Option<String>>(0).is_some());
    assert_eq!(row.get::<_, i64>(1), 8, "every column is commented");
    let pk = c
        .query_one(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint \
             WHERE conrelid = 'register_readings'::regclass AND contype = 'p'",
            &[],
        )
        .await
        .expect("pk");
    assert_eq!(
        pk.get::<_, String>(0),
        "PRIMARY KEY (\"timestamp\", device_id, register_address)"
    );
    let fk = c
        .query_one(
            "SELECT count(*) FROM pg_constraint WHERE conrelid = 'register_readings'::regclass \
             AND contype = 'f' AND confrelid = 'devices'::regclass",
            &[],
        )
        .await
        .expect("fk");
    assert_eq!(fk.get::<_, i64>(0), 1);
}
