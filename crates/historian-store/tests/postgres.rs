//! The conformance suite against plain PostgreSQL and against TimescaleDB, plus checks of
//! each mode's own objects. TimescaleDB tests report themselves skipped, by name, where the
//! server cannot create the extension (and fail under CI=true only if PostgreSQL itself is
//! missing).

mod conformance;

use historian_store::postgres::{PgMode, PostgresStore};
use historian_store::{SeriesKey, Store, StoreOptions, TimeRange, TimescaleMode};
use historian_testkit::{PATIENCE, PgTestDb, report_skip, require};
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

/// A fresh database with the TimescaleDB extension, or a skip report naming the test.
async fn timescale_db(test: &str) -> Option<PgTestDb> {
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
    Some(db)
}

/// A fresh database and a TimescaleDB store on it, or a skip report naming the test.
async fn timescale(test: &str) -> Option<(PgTestDb, PostgresStore)> {
    timescale_with(test, &options(TimescaleMode::Required)).await
}

/// As [`timescale`], keeping a century of readings: TimescaleDB's retention job runs by
/// itself soon after the store opens, and the fixed dates the conformance suite writes
/// (1999, 2026-11-01) must stay inside its window whatever day the tests run, or the job
/// drops them in the middle of a test.
async fn timescale_keeping_all(test: &str) -> Option<(PgTestDb, PostgresStore)> {
    let century = Duration::from_secs(100 * 365 * DAY);
    let opts = StoreOptions {
        retention: century,
        hourly_retention: century,
        ..options(TimescaleMode::Required)
    };
    timescale_with(test, &opts).await
}

async fn timescale_with(test: &str, opts: &StoreOptions) -> Option<(PgTestDb, PostgresStore)> {
    let db = timescale_db(test).await?;
    let store = PostgresStore::open(&db.url, opts)
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
                    let Some((_db, store)) = timescale_keeping_all(test).await else { return };
                    conformance::$name(&store).await;
                }
            )*
        }
    };
}

conformance!(
    readings_round_trip_exactly,
    devices_sync_by_name,
    devices_edited_one_by_one_and_watched,
    batches_are_idempotent_and_tables_distinct,
    empty_queries,
    unknown_device_rows_are_rejected_alone,
    aggregates_agree_across_sources,
    strings_bits_and_single_device_writes,
    audit_trail_is_kept_with_each_change,
    removed_registers_and_disabled_devices_keep_their_history,
    many_ranges_read_together_match_one_by_one,
    sixty_four_bit_integers_round_trip_exactly,
    removed_devices_keep_their_history,
    a_fleet_is_written_in_config_order,
    an_audited_fleet_write_answers_what_it_stored,
    texts_read_back_through_every_read,
);

#[tokio::test]
async fn postgres_auto_mode_matches_what_the_server_offers() {
    let test = "postgres_auto_mode_matches_what_the_server_offers";
    let Some(probe) = require(test, PgTestDb::create().await) else {
        return;
    };
    let c = probe.client().await.expect("connect");
    let offered: bool = c
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb')",
            &[],
        )
        .await
        .expect("probe")
        .get(0);
    let creatable = c
        .batch_execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
        .await
        .is_ok();
    let db = PgTestDb::create().await.expect("database");
    let store = PostgresStore::open(&db.url, &options(TimescaleMode::Auto))
        .await
        .expect("auto mode opens on any PostgreSQL");
    match (store.mode(), creatable, offered) {
        (PgMode::TimescaleDb { .. }, true, _) => {}
        (PgMode::Plain { reason }, false, true) => {
            assert!(reason.contains("CREATE EXTENSION failed"), "{reason}")
        }
        (PgMode::Plain { reason }, false, false) => {
            assert!(reason.contains("does not offer"), "{reason}")
        }
        (mode, _, _) => panic!("mode {mode:?} with creatable={creatable} offered={offered}"),
    }
    if !creatable {
        let err = PostgresStore::open(
            &PgTestDb::create().await.expect("database").url,
            &options(TimescaleMode::Required),
        )
        .await
        .expect_err("required mode refuses plain PostgreSQL");
        assert!(err.to_string().contains("timescaledb"), "{err}");
    }
}

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
                 WHERE i.inhparent = 'readings'::regclass ORDER BY 1",
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
    let figures = store.storage_figures().await.expect("figures");
    assert_eq!(figures.chunks as usize, after.len(), "{figures:?}");
    assert!(figures.database_bytes > 0);
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
    assert_eq!(
        versions,
        vec![
            1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 20, 21, 22, 23, 24, 25, 26, 27
        ]
    );
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
    assert_eq!(row.get::<_, i64>(1), 9, "every column is commented");
    assert_eq!(primary_key(&c).await, COVERING_KEY);
    // Plain PostgreSQL takes the widened address check (bit references) on readings too.
    let check = c
        .query_one(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint \
             WHERE conrelid = 'readings'::regclass \
             AND conname = 'register_readings_register_address_check'",
            &[],
        )
        .await
        .expect("address check");
    assert!(check.get::<_, String>(0).contains("30000100"));
}

/// The index of the readings that have a text (strings, 64-bit integers beyond 2^53).
const TEXT_INDEX: &str = "CREATE INDEX readings_value_text ON public.readings \
    USING btree (device_id, register_address, \"timestamp\") INCLUDE (value_text) \
    WHERE (value_text IS NOT NULL)";

async fn one_i64(c: &tokio_postgres::Client, sql: &str) -> i64 {
    c.query_one(sql, &[]).await.expect(sql).get(0)
}

/// The definition of the readings table's primary key.
async fn primary_key(c: &tokio_postgres::Client) -> String {
    c.query_one(
        "SELECT pg_get_constraintdef(oid) FROM pg_constraint \
         WHERE conrelid = 'readings'::regclass AND contype = 'p'",
        &[],
    )
    .await
    .expect("primary key")
    .get(0)
}

/// UTC midnight `days` days before today.
fn midnight_days_ago(days: i64) -> chrono::DateTime<chrono::Utc> {
    (chrono::Utc::now().date_naive() - chrono::Duration::days(days))
        .and_hms_opt(0, 0, 0)
        .expect("midnight")
        .and_utc()
}

/// `fill`'s readings from `start` to `end` are all there (`want` of them), and writing
/// them again stores none: each is recognised as a duplicate.
async fn replay_is_all_duplicates(
    store: &PostgresStore,
    id: i64,
    (start, end): (chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>),
    want: usize,
) {
    let register = historian_model::RegisterRef::new(historian_model::Table::InputRegister, 0);
    let stored = store
        .get_readings_time_range(
            SeriesKey::new(id, register),
            TimeRange::new(start, end),
            want + 1,
        )
        .await
        .expect("stored range");
    assert_eq!(stored.len(), want);
    let replay = store
        .insert_register_readings_batch(&stored)
        .await
        .expect("replay");
    assert_eq!((replay.inserted, replay.duplicates), (0, want));
}

#[tokio::test]
async fn timescaledb_objects_and_policies_exist() {
    let Some((db, _store)) = timescale("timescaledb_objects_and_policies_exist").await else {
        return;
    };
    let c = db.client().await.expect("connect");
    let row = c
        .query_one(
            "SELECT d.time_interval, h.compression_enabled \
             FROM timescaledb_information.hypertables h \
             JOIN timescaledb_information.dimensions d USING (hypertable_schema, hypertable_name) \
             WHERE h.hypertable_name = 'readings'",
            &[],
        )
        .await
        .expect("hypertable");
    let compression_enabled: bool = row.get(1);
    assert!(compression_enabled);
    let one_day = one_i64(
        &c,
        "SELECT extract(epoch FROM time_interval)::bigint FROM timescaledb_information.dimensions \
         WHERE hypertable_name = 'readings'",
    )
    .await;
    assert_eq!(one_day, 86_400, "1-day chunks");

    let indexes: Vec<String> = c
        .query(
            "SELECT indexdef FROM pg_indexes WHERE tablename = 'readings' ORDER BY 1",
            &[],
        )
        .await
        .expect("indexes")
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(
        indexes,
        [
            TEXT_INDEX,
            "CREATE INDEX register_readings_timestamp_brin ON public.readings \
             USING brin (\"timestamp\") WITH (autosummarize=off)",
            "CREATE UNIQUE INDEX register_readings_pkey ON public.readings \
             USING btree (device_id, register_address, \"timestamp\") \
             INCLUDE (value, quality)",
        ],
        "the covering primary key, the texts' index and the BRIN on time, no default time index"
    );

    /// (column, segmentby index, orderby index, orderby ascending)
    type Setting = (String, Option<i16>, Option<i16>, Option<bool>);
    let settings: Vec<Setting> = c
        .query(
            "SELECT attname, segmentby_column_index, orderby_column_index, orderby_asc \
             FROM timescaledb_information.compression_settings \
             WHERE hypertable_name = 'readings' ORDER BY attname",
            &[],
        )
        .await
        .expect("compression settings")
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .collect();
    assert_eq!(
        settings,
        vec![
            ("device_id".into(), Some(1), None, None),
            ("register_address".into(), Some(2), None, None),
            ("timestamp".into(), None, Some(1), Some(false)),
        ]
    );

    let jobs: Vec<(String, Option<String>, String)> = c
        .query(
            "SELECT proc_name, hypertable_name, coalesce(config::text, '') \
             FROM timescaledb_information.jobs \
             WHERE proc_name LIKE 'policy_%' AND hypertable_name IS NOT NULL ORDER BY 1, 2",
            &[],
        )
        .await
        .expect("jobs")
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    let procs: Vec<&str> = jobs.iter().map(|j| j.0.as_str()).collect();
    assert_eq!(
        procs,
        vec![
            "policy_compression",
            "policy_refresh_continuous_aggregate",
            "policy_refresh_continuous_aggregate",
            "policy_retention",
            "policy_retention",
        ],
        "{jobs:?}"
    );
    assert!(
        jobs[0].2.contains("\"compress_after\": \"7 days\""),
        "{jobs:?}"
    );

    let caggs: Vec<(String, bool)> = c
        .query(
            "SELECT view_name, materialized_only FROM timescaledb_information.continuous_aggregates \
             ORDER BY view_name",
            &[],
        )
        .await
        .expect("caggs")
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(
        caggs,
        vec![
            ("register_readings_daily".into(), false),
            ("register_readings_hourly".into(), false),
        ],
        "both aggregates, real-time"
    );
    for view in ["register_readings_hourly", "register_readings_daily"] {
        let n = c
            .query_one(
                "SELECT count(*) FROM pg_indexes i \
                 JOIN timescaledb_information.continuous_aggregates a \
                   ON i.tablename = a.materialization_hypertable_name \
                 WHERE a.view_name = $1 AND i.indexdef LIKE '%(device_id, register_address, bucket DESC)%'",
                &[&view],
            )
            .await
            .expect("cagg index");
        assert_eq!(n.get::<_, i64>(0), 1, "{view} has its lookup index");
    }
}

#[tokio::test]
async fn timescaledb_changed_intervals_replace_policies_without_duplicates() {
    let test = "timescaledb_changed_intervals_replace_policies_without_duplicates";
    let Some((db, store)) = timescale(test).await else {
        return;
    };
    drop(store);
    let changed = StoreOptions {
        compress_after: Duration::from_secs(3 * DAY),
        retention: Duration::from_secs(90 * DAY),
        daily_retention: Some(Duration::from_secs(3650 * DAY)),
        ..options(TimescaleMode::Required)
    };
    PostgresStore::open(&db.url, &changed)
        .await
        .expect("reopen");
    PostgresStore::open(&db.url, &changed)
        .await
        .expect("reopen twice");
    let c = db.client().await.expect("connect");
    let rows = c
        .query(
            "SELECT proc_name, hypertable_name, config::text FROM timescaledb_information.jobs \
             WHERE proc_name IN ('policy_compression', 'policy_retention') ORDER BY 1, 2",
            &[],
        )
        .await
        .expect("jobs");
    let jobs: Vec<(String, String)> = rows.iter().map(|r| (r.get(0), r.get(2))).collect();
    assert_eq!(
        jobs.len(),
        4,
        "compression + raw, hourly, daily retention: {jobs:?}"
    );
    assert!(
        jobs[0].1.contains("\"compress_after\": \"3 days\""),
        "{jobs:?}"
    );
    let retention: Vec<&str> = jobs[1..].iter().map(|j| j.1.as_str()).collect();
    assert!(
        retention
            .iter()
            .any(|c| c.contains("\"drop_after\": \"90 days\"")),
        "{retention:?}"
    );
    assert!(
        retention
            .iter()
            .any(|c| c.contains("\"drop_after\": \"3650 days\"")),
        "{retention:?}"
    );
}

/// Refreshes a continuous aggregate whole, waiting out a refresh its policy is running.
async fn refresh(c: &tokio_postgres::Client, view: &str) {
    historian_testkit::refresh_continuous_aggregate(c, view, historian_testkit::PATIENCE)
        .await
        .unwrap_or_else(|e| panic!("refresh {view}: {e:?}"));
}

/// Moves a job's next start away so the scheduler does not race `run_job`, then runs it.
async fn run_job(c: &tokio_postgres::Client, proc_name: &str, relation: &str) {
    let job: i32 = c
        .query_one(
            "SELECT job_id FROM timescaledb_information.jobs \
             WHERE proc_name = $1 AND hypertable_name = $2",
            &[&proc_name, &relation],
        )
        .await
        .expect("job")
        .get(0);
    c.batch_execute(&format!(
        "SELECT alter_job({job}, next_start => now() + INTERVAL '1 day')"
    ))
    .await
    .expect("alter_job");
    // The scheduler may have started the job when the policy was made; running it a
    // second time meanwhile would race the first for the same chunks.
    historian_testkit::eventually(
        "the job's scheduled run finished",
        historian_testkit::PATIENCE,
        || async {
            let running: bool = c
                .query_one(
                    "SELECT coalesce(bool_or(job_status = 'Running'), false) \
                     FROM timescaledb_information.job_stats WHERE job_id = $1",
                    &[&job],
                )
                .await
                .map_err(|e| e.to_string())?
                .get(0);
            if running {
                Err("still running".into())
            } else {
                Ok(())
            }
        },
    )
    .await;
    c.batch_execute(&format!("CALL run_job({job})"))
        .await
        .expect("run_job");
}

async fn fill(store: &PostgresStore, days_ago: std::ops::Range<i64>) -> i64 {
    use historian_model::{DataType, Quality, RegisterPoint, RegisterRef, Table};
    let spec = historian_model::DeviceSpec {
        name: "tsdb".into(),
        host: "127.0.0.1".into(),
        port: 502,
        unit_id: 1,
        poll_interval_ms: 1000,
        enabled: true,
        registers: vec![RegisterPoint {
            limits: Default::default(),
            name: "v".into(),
            register: RegisterRef::new(Table::InputRegister, 0),
            data_type: DataType::Float32,
            unit: "V".into(),
            ..RegisterPoint::default()
        }],
        access: Default::default(),
    };
    let recs = store.sync_devices(&[spec]).await.expect("sync");
    let id = recs[0].id;
    let mut batch = Vec::new();
    for d in days_ago {
        let day = midnight_days_ago(d);
        for minute in 0..(24 * 60) {
            batch.push(historian_model::Reading {
                timestamp: day + chrono::Duration::minutes(minute),
                device_id: id,
                register_address: RegisterRef::new(Table::InputRegister, 0),
                value: Some((minute % 60) as f64),
                quality: Quality::Good,
                register_name: "v".into(),
                data_type: DataType::Float32,
                unit: "V".into(),
                text: None,
            });
        }
    }
    store
        .insert_register_readings_batch(&batch)
        .await
        .expect("fill");
    id
}

#[tokio::test]
async fn timescaledb_compression_job_compresses_old_chunks_and_queries_still_work() {
    let test = "timescaledb_compression_job_compresses_old_chunks_and_queries_still_work";
    let Some((db, store)) = timescale(test).await else {
        return;
    };
    let id = fill(&store, 0..12).await;
    let c = db.client().await.expect("connect");
    run_job(&c, "policy_compression", "readings").await;
    let (total, compressed) = {
        let r = c
            .query_one(
                "SELECT count(*), count(*) FILTER (WHERE is_compressed) \
                 FROM timescaledb_information.chunks WHERE hypertable_name = 'readings'",
                &[],
            )
            .await
            .expect("chunks");
        (r.get::<_, i64>(0), r.get::<_, i64>(1))
    };
    assert!(total >= 12, "{total} chunks");
    // Chunks entirely older than 7 days: days 8..=11 ago at least.
    assert!(compressed >= 4, "{compressed} of {total} chunks compressed");
    assert!(compressed < total, "recent chunks stay uncompressed");
    let figures = store.storage_figures().await.expect("figures");
    assert_eq!(
        (figures.chunks, figures.compressed_chunks),
        (total as u64, compressed as u64)
    );
    let ratio = figures.compression_ratio.expect("ratio");
    assert!(ratio > 2.0, "compression ratio {ratio}");
    let job = figures
        .jobs
        .iter()
        .find(|j| j.name == "policy_compression")
        .expect("compression job listed");
    assert_eq!(job.relation, "readings");
    // Status is reported, not asserted: on PostgreSQL 15.20 TimescaleDB 2.28.3 records
    // scheduled runs as failed although their work is done (checked above by effect).
    assert!(figures.jobs.len() >= 5, "{:?}", figures.jobs);
    println!("compression ratio {ratio:.1}x, {figures:?}");
    // A replay into a compressed chunk is still accepted without duplicates.
    let start = midnight_days_ago(10);
    replay_is_all_duplicates(&store, id, (start, start + chrono::Duration::hours(1)), 60).await;
}

#[tokio::test]
async fn timescaledb_retention_job_drops_old_chunks_and_aggregates_keep_them() {
    let test = "timescaledb_retention_job_drops_old_chunks_and_aggregates_keep_them";
    let Some((db, store)) = timescale(test).await else {
        return;
    };
    let c = db.client().await.expect("connect");
    // The policies' first scheduled runs are due at once after start-up and must not
    // interleave with the steps below: a retention run between the inserts and the
    // refresh dropped old raw chunks before they were rolled up (48-86 of 96 hourly
    // buckets, most runs). The test runs each job itself.
    c.batch_execute(
        "SELECT alter_job(job_id, scheduled => false) FROM timescaledb_information.jobs \
         WHERE hypertable_name IS NOT NULL",
    )
    .await
    .expect("pause the policies");
    // Whole past days only: buckets after now behave differently in continuous aggregates.
    let id = fill(&store, 1..3).await;
    fill(&store, 40..42).await;
    for view in ["register_readings_hourly", "register_readings_daily"] {
        refresh(&c, view).await;
    }
    let hourly_before = one_i64(&c, "SELECT count(*) FROM register_readings_hourly").await;
    run_job(&c, "policy_retention", "readings").await;
    let oldest_days = one_i64(
        &c,
        "SELECT extract(day FROM now() - min(\"timestamp\"))::bigint FROM register_readings",
    )
    .await;
    assert!(
        oldest_days <= 30,
        "raw readings older than 30 days remain: {oldest_days}"
    );
    let hourly_after = one_i64(&c, "SELECT count(*) FROM register_readings_hourly").await;
    assert_eq!(
        hourly_after, hourly_before,
        "hourly roll-ups outlive raw readings"
    );
    assert!(hourly_after >= 4 * 24, "{hourly_after} hourly buckets");
    let row = c
        .query_one(
            "SELECT avg, min, max, count, first, last FROM register_readings_hourly \
             WHERE device_id = $1 ORDER BY bucket LIMIT 1",
            &[&id],
        )
        .await
        .expect("hourly row");
    let (avg, min, max, count, first, last): (f64, f64, f64, i64, f64, f64) = (
        row.get(0),
        row.get(1),
        row.get(2),
        row.get(3),
        row.get(4),
        row.get(5),
    );
    assert_eq!((min, max, count, first, last), (0.0, 59.0, 60, 0.0, 59.0));
    assert!((avg - 29.5).abs() < 1e-9);
    let day40 = midnight_days_ago(41);
    let reg = historian_model::RegisterRef::new(historian_model::Table::InputRegister, 0);
    let hourly = store
        .get_aggregates(
            id,
            &[reg],
            TimeRange::new(day40, day40 + chrono::Duration::days(1)),
            3600,
        )
        .await
        .expect("hourly aggregates after raw retention");
    assert_eq!(
        hourly.len(),
        24,
        "materialized hourly buckets answer without raw data"
    );
    assert!(hourly.iter().all(|h| h.count == 60 && h.avg == Some(29.5)));
    let daily = c
        .query_one(
            "SELECT count, min, max FROM register_readings_daily WHERE device_id = $1 \
             ORDER BY bucket LIMIT 1",
            &[&id],
        )
        .await
        .expect("daily row");
    assert_eq!(daily.get::<_, i64>(0), 24 * 60);
}

/// The primary key: the plan's columns, in the order history queries use them, carrying
/// what a series answer reads but the texts (in their own partial index).
const COVERING_KEY: &str =
    "PRIMARY KEY (device_id, register_address, \"timestamp\") INCLUDE (value, quality)";

/// The plan of the store's own series statement over days 0..3 of `fill`, after VACUUM
/// (which autovacuum does in production), and the rows it returned.
///
/// VACUUM can mark a page all-visible only when no open snapshot might still need its
/// older row versions, and the planner costs an index-only scan by the pages so marked: while
/// another test's transaction is open, a VACUUM may leave pages unmarked and the plan may be
/// a Seq Scan or show heap fetches. So VACUUM and EXPLAIN are repeated until the plan is
/// index-only (for at most [`PATIENCE`]).
async fn series_plan(db: &PgTestDb, store: &PostgresStore) -> (String, usize) {
    let id = fill(store, 0..3).await;
    let c = db.client().await.expect("connect");
    let start = midnight_days_ago(2);
    let end = start + chrono::Duration::days(1);
    c.batch_execute(&format!(
        "PREPARE series AS {}",
        historian_store::postgres::series_sql()
    ))
    .await
    .expect("prepare");
    let mut plan = String::new();
    historian_testkit::eventually("an index-only plan", PATIENCE, async || {
        c.batch_execute("VACUUM ANALYZE readings")
            .await
            .expect("vacuum");
        plan = c
            .query(
                &format!(
                    "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) EXECUTE series({id}, 300001, \
                     '{}', '{}', 100000)",
                    start.to_rfc3339(),
                    end.to_rfc3339()
                ),
                &[],
            )
            .await
            .expect("explain")
            .iter()
            .map(|r| r.get::<_, String>(0))
            .collect::<Vec<_>>()
            .join("\n");
        not_index_only(&plan).map_or(Ok(()), Err)
    })
    .await;
    let got = store
        .get_series(
            SeriesKey::new(
                id,
                historian_model::RegisterRef::new(historian_model::Table::InputRegister, 0),
            ),
            TimeRange::new(start, end),
            100_000,
        )
        .await
        .expect("series");
    (plan, got.len())
}

/// Why `plan` is not an index-only scan that read no heap page, if it is not.
fn not_index_only(plan: &str) -> Option<String> {
    if !plan.contains("Index Only Scan") {
        return Some(format!("no Index Only Scan in\n{plan}"));
    }
    if let Some(forbidden) = ["Seq Scan", "Bitmap Heap Scan", "Index Scan using"]
        .into_iter()
        .find(|f| plan.contains(f))
    {
        return Some(format!("{forbidden} in\n{plan}"));
    }
    let fetches: Vec<&str> = plan
        .lines()
        .filter_map(|l| l.trim().strip_prefix("Heap Fetches: "))
        .collect();
    if fetches.is_empty() || fetches.iter().any(|f| *f != "0") {
        return Some(format!("heap fetches {fetches:?} in\n{plan}"));
    }
    None
}

/// One register's history comes from the primary key alone: no heap page is read.
fn assert_index_only(plan: &str, rows: usize) {
    assert_eq!(rows, 1440, "one day of minute readings");
    if let Some(why) = not_index_only(plan) {
        panic!("{why}");
    }
}

#[tokio::test]
async fn plain_postgres_series_reads_are_index_only_scans() {
    let Some((db, store)) = plain("plain_postgres_series_reads_are_index_only_scans").await else {
        return;
    };
    let (plan, rows) = series_plan(&db, &store).await;
    assert_index_only(&plan, rows);
}

#[tokio::test]
async fn timescaledb_series_reads_are_index_only_scans() {
    let Some((db, store)) = timescale("timescaledb_series_reads_are_index_only_scans").await else {
        return;
    };
    let (plan, rows) = series_plan(&db, &store).await;
    assert_index_only(&plan, rows);
}

/// Readings with texts written into a V007 schema for device `id`: an hourly string and
/// 64-bit integer beyond 2^53 over the 12 days the upgrade tests fill, as the store reads
/// them back.
async fn old_texts(c: &tokio_postgres::Client, id: i64) -> Vec<historian_model::Reading> {
    use historian_model::{DataType, Quality, Reading, RegisterRef, Table};
    c.batch_execute(&format!(
        "INSERT INTO device_register_map (device_id, position, register_address, register_name, \
           data_type, unit, string_length) VALUES ({id}, 1, 400011, 'serial', 'string', '', 4), \
           ({id}, 2, 400021, 'big', 'int64', '', NULL)"
    ))
    .await
    .expect("map of texts");
    let first = midnight_days_ago(11);
    let mut rows = Vec::new();
    for h in 0..12 * 24_i64 {
        let timestamp = first + chrono::Duration::hours(h);
        let string = Reading {
            timestamp,
            device_id: id,
            register_address: RegisterRef::new(Table::HoldingRegister, 10),
            value: None,
            text: Some(format!("SN-{h}").into()),
            quality: Quality::Good,
            register_name: "serial".into(),
            data_type: DataType::String,
            unit: "".into(),
        };
        let n = (1_i128 << 53) + 1 + i128::from(h);
        let big = Reading {
            register_address: RegisterRef::new(Table::HoldingRegister, 20),
            value: Some(n as f64),
            text: historian_model::exact_text(n),
            register_name: "big".into(),
            data_type: DataType::Int64,
            ..string.clone()
        };
        rows.extend([string, big]);
    }
    let times: Vec<_> = rows.iter().map(|r| r.timestamp).collect();
    let registers: Vec<i32> = rows
        .iter()
        .map(|r| r.register_address.reference() as i32)
        .collect();
    let values: Vec<Option<f64>> = rows.iter().map(|r| r.value).collect();
    let texts: Vec<Option<&str>> = rows.iter().map(|r| r.text.as_deref()).collect();
    let names: Vec<&str> = rows.iter().map(|r| &*r.register_name).collect();
    let types: Vec<String> = rows.iter().map(|r| r.data_type.to_string()).collect();
    c.execute(
        "INSERT INTO register_readings (\"timestamp\", device_id, register_address, value, \
           quality, register_name, data_type, unit, value_text) \
         SELECT t, $1, a, v, 'good', n, d, '', x \
         FROM unnest($2::timestamptz[], $3::integer[], $4::float8[], $5::text[], $6::text[], \
           $7::text[]) AS u(t, a, v, x, n, d)",
        &[&id, &times, &registers, &values, &texts, &names, &types],
    )
    .await
    .expect("old texts");
    rows
}

/// A database made by V001-V007 (one register, a minute apart for 12 days; on
/// TimescaleDB with the older chunks compressed, as the store's policy leaves them) is
/// upgraded by opening it: the covering key replaces both former keys and every reading
/// stays readable and deduplicated.
async fn upgrade_from_v7(db: &PgTestDb, mode: TimescaleMode) {
    let opts = options(mode);
    let applied = historian_store::postgres::migrate_to(&db.url, &opts, Some(7))
        .await
        .expect("migrate to V007");
    assert_eq!(applied.len(), 7, "{applied:?}");
    let c = db.client().await.expect("connect");
    let id: i64 = c
        .query_one(
            "INSERT INTO devices (name, host, port, unit_id, poll_interval_ms) \
             VALUES ('old', '127.0.0.1', 502, 1, 60000) RETURNING id",
            &[],
        )
        .await
        .expect("device")
        .get(0);
    c.batch_execute(&format!(
        "INSERT INTO device_register_map (device_id, position, register_address, register_name, \
           data_type, unit) VALUES ({id}, 0, 300001, 'v', 'float32', 'V'); \
         INSERT INTO register_readings (\"timestamp\", device_id, register_address, value, quality, \
           register_name, data_type, unit) \
         SELECT ts, {id}, 300001, extract(epoch FROM ts) / 60, 'good', 'v', 'float32', 'V' \
         FROM generate_series(date_trunc('day', now()) - INTERVAL '11 days', \
                              date_trunc('day', now()) + INTERVAL '1 day' - INTERVAL '1 minute', \
                              INTERVAL '1 minute') AS ts"
    ))
    .await
    .expect("old readings");
    let texts = old_texts(&c, id).await;
    if mode == TimescaleMode::Required {
        c.batch_execute(
            "ALTER TABLE register_readings SET (timescaledb.compress, \
               timescaledb.compress_segmentby = 'device_id, register_address', \
               timescaledb.compress_orderby = '\"timestamp\" DESC'); \
             SELECT count(compress_chunk(ch)) \
               FROM show_chunks('register_readings', older_than => INTERVAL '7 days') ch",
        )
        .await
        .expect("compress old chunks");
    }
    let before = one_i64(&c, "SELECT count(*) FROM register_readings").await;
    assert_eq!(before, 12 * 1440 + texts.len() as i64);

    let store = PostgresStore::open(&db.url, &opts)
        .await
        .expect("open upgrades to V008");
    assert_eq!(primary_key(&c).await, COVERING_KEY);
    let indexes: Vec<String> = c
        .query(
            "SELECT indexname FROM pg_indexes WHERE tablename = 'readings' ORDER BY 1",
            &[],
        )
        .await
        .expect("indexes")
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(
        indexes,
        [
            "readings_value_text",
            "register_readings_pkey",
            "register_readings_timestamp_brin"
        ]
    );
    // Every chunk or partition, old or made at the start, leaves summaries to maintenance.
    let asking = one_i64(
        &c,
        "SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid \
         JOIN pg_am a ON a.oid = c.relam \
         WHERE a.amname = 'brin' AND c.relkind = 'i' \
           AND NOT coalesce(c.reloptions @> ARRAY['autosummarize=off'], false) \
           AND (i.indrelid = 'readings'::regclass OR i.indrelid IN \
                (SELECT inhrelid FROM pg_inherits WHERE inhparent = 'readings'::regclass))",
    )
    .await;
    assert_eq!(asking, 0, "BRIN indexes still asking autovacuum per range");
    assert_eq!(
        one_i64(&c, "SELECT count(*) FROM register_readings").await,
        before
    );
    // The view keeps the former columns: each reading has its name, type and unit.
    assert_eq!(
        one_i64(
            &c,
            "SELECT count(*) FROM register_readings \
             WHERE register_name = 'v' AND data_type = 'float32' AND unit = 'V'"
        )
        .await,
        12 * 1440
    );
    // Strings and big integers keep their texts, read from the index of texts.
    conformance::texts_read_back_exactly(&store, &texts).await;
    let first = midnight_days_ago(11);
    let register = historian_model::RegisterRef::new(historian_model::Table::InputRegister, 0);
    let all = store
        .get_series(
            SeriesKey::new(id, register),
            TimeRange::new(first, first + chrono::Duration::days(12)),
            100_000,
        )
        .await
        .expect("series after the upgrade");
    assert_eq!(all.len(), 12 * 1440);
    for (k, p) in all.iter().enumerate() {
        let want = first + chrono::Duration::minutes(k as i64);
        assert_eq!(p.timestamp, want);
        assert_eq!(p.value, Some(want.timestamp() as f64 / 60.0));
    }
    // A replay of the oldest day (compressed on TimescaleDB) is recognised as stored.
    replay_is_all_duplicates(&store, id, (first, first + chrono::Duration::days(1)), 1440).await;

    // The upgraded device is removed with its history, and a new device takes its name.
    let old = store.list_devices().await.expect("devices").remove(0);
    assert_eq!((old.id, old.removed_at), (id, None));
    assert_eq!(
        store.delete_device("old").await.expect("remove"),
        historian_store::DeleteOutcome::Removed
    );
    let new = store
        .upsert_device(&old.spec)
        .await
        .expect("the name is free");
    assert_ne!(new.id, id);
    let kept = store
        .get_series(
            SeriesKey::new(id, register),
            TimeRange::new(first, first + chrono::Duration::days(1)),
            100_000,
        )
        .await
        .expect("the removed device's series");
    assert_eq!(kept.len(), 1440);
}

#[tokio::test]
async fn plain_postgres_upgrades_from_v7_with_its_readings() {
    let test = "plain_postgres_upgrades_from_v7_with_its_readings";
    let Some(db) = require(test, PgTestDb::create().await) else {
        return;
    };
    upgrade_from_v7(&db, TimescaleMode::Off).await;
}

#[tokio::test]
async fn timescaledb_upgrades_from_v7_with_compressed_chunks() {
    let test = "timescaledb_upgrades_from_v7_with_compressed_chunks";
    let Some(db) = timescale_db(test).await else {
        return;
    };
    upgrade_from_v7(&db, TimescaleMode::Required).await;
}

/// No foreign key checks each reading or map row against `devices`; deleting a device with
/// readings is refused all the same (by the store and by plain SQL), one without takes its
/// map along, and readings whose device is gone are reported by maintenance.
async fn device_history_is_kept_without_a_foreign_key(db: &PgTestDb, store: &PostgresStore) {
    let client = db.client().await.expect("connect");
    let keys = one_i64(
        &client,
        "SELECT count(*) FROM pg_constraint WHERE contype = 'f' \
         AND conrelid = 'readings'::regclass",
    )
    .await;
    assert_eq!(keys, 0, "the readings reference no other table");
    let map_keys = one_i64(
        &client,
        "SELECT count(*) FROM pg_constraint WHERE contype = 'f' \
         AND conrelid = 'device_register_map'::regclass",
    )
    .await;
    assert_eq!(map_keys, 0, "the map references no other table");

    // A device without readings deleted by plain SQL takes its map and labels along.
    let id = fill(store, 0..0).await;
    let rows_of = async |table: &str| {
        one_i64(
            &client,
            &format!("SELECT count(*) FROM {table} WHERE device_id = {id}"),
        )
        .await
    };
    assert_eq!(rows_of("device_register_map").await, 1);
    client
        .execute("DELETE FROM devices WHERE id = $1", &[&id])
        .await
        .expect("a device without readings is deleted");
    assert_eq!(
        rows_of("device_register_map").await,
        0,
        "its map goes with it"
    );
    assert_eq!(rows_of("register_labels").await, 0, "and its labels");

    let id = fill(store, 0..1).await;
    let err = client
        .execute("DELETE FROM devices WHERE id = $1", &[&id])
        .await
        .expect_err("a device with readings cannot be deleted");
    assert_eq!(
        err.code(),
        Some(&tokio_postgres::error::SqlState::FOREIGN_KEY_VIOLATION),
        "{err:?}"
    );
    assert_eq!(
        store.delete_device("tsdb").await.expect("delete"),
        historian_store::DeleteOutcome::Removed
    );

    let clean = store
        .run_maintenance(chrono::Utc::now())
        .await
        .expect("maintenance");
    assert_eq!(clean.orphaned_devices, Vec::<i64>::new());
    // Readings written behind the store's back for a device that does not exist: one
    // recent (reported), one older than the check's window (not looked at).
    for (device, age) in [(9_999_999_i64, "1 hour"), (8_888_888, "5 days")] {
        client
            .execute(
                "INSERT INTO register_readings (\"timestamp\", device_id, register_address, \
                 value, quality, register_name, data_type, unit) \
                 VALUES (now() - $2::text::interval, $1, 300001, 1, 'good', 'v', 'float32', 'V')",
                &[&device, &age],
            )
            .await
            .expect("orphan reading");
    }
    let report = store
        .run_maintenance(chrono::Utc::now())
        .await
        .expect("maintenance");
    assert_eq!(report.orphaned_devices, vec![9_999_999]);
}

#[tokio::test]
async fn plain_postgres_device_history_is_kept_without_a_foreign_key() {
    let test = "plain_postgres_device_history_is_kept_without_a_foreign_key";
    let Some((db, store)) = plain(test).await else {
        return;
    };
    device_history_is_kept_without_a_foreign_key(&db, &store).await;
}

#[tokio::test]
async fn timescaledb_device_history_is_kept_without_a_foreign_key() {
    let test = "timescaledb_device_history_is_kept_without_a_foreign_key";
    let Some((db, store)) = timescale(test).await else {
        return;
    };
    device_history_is_kept_without_a_foreign_key(&db, &store).await;
}

/// Readings are narrow rows; the view `register_readings` gives each its register's name,
/// type and unit, the map's as it changes, and the last one after the register leaves the
/// map or its map row is deleted by hand. A query of the view that asks no label reads the
/// narrow table alone.
async fn narrow_readings_keep_their_labels(db: &PgTestDb, store: &PostgresStore) {
    use historian_model::{DataType, RegisterPoint, RegisterRef, Table};
    let id = fill(store, 0..1).await;
    let c = db.client().await.expect("connect");
    let columns: Vec<String> = c
        .query(
            "SELECT attname::text FROM pg_attribute WHERE attrelid = 'readings'::regclass \
             AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
            &[],
        )
        .await
        .expect("columns")
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(
        columns,
        [
            "timestamp",
            "device_id",
            "register_address",
            "value",
            "quality",
            "value_text"
        ]
    );
    let label = async || -> (String, String, String) {
        let r = c
            .query_one(
                "SELECT DISTINCT register_name, data_type, unit FROM register_readings \
                 WHERE device_id = $1",
                &[&id],
            )
            .await
            .expect("labels");
        (r.get(0), r.get(1), r.get(2))
    };
    assert_eq!(label().await, ("v".into(), "float32".into(), "V".into()));

    let register = RegisterRef::new(Table::InputRegister, 0);
    let mut spec = store.list_devices().await.expect("list")[0].spec.clone();
    spec.registers[0].name = "volts".into();
    spec.registers[0].unit = "kV".into();
    spec.registers.push(RegisterPoint {
        name: "other".into(),
        register: RegisterRef::new(Table::InputRegister, 1),
        data_type: DataType::Uint16,
        ..RegisterPoint::default()
    });
    store.sync_devices(&[spec.clone()]).await.expect("rename");
    assert_eq!(
        label().await,
        ("volts".into(), "float32".into(), "kV".into())
    );
    spec.registers.remove(0);
    store.sync_devices(&[spec]).await.expect("unmap");
    assert_eq!(
        label().await,
        ("volts".into(), "float32".into(), "kV".into())
    );
    let latest = async || {
        let r = store
            .get_latest_reading(id, register)
            .await
            .expect("latest")
            .expect("a reading");
        (r.register_name.to_string(), r.data_type, r.unit.to_string())
    };
    let volts = ("volts".to_string(), DataType::Float32, "kV".to_string());
    assert_eq!(latest().await, volts);
    let kept = async || {
        one_i64(
            &c,
            &format!("SELECT count(*) FROM register_labels WHERE device_id = {id}"),
        )
        .await
    };
    assert_eq!(
        kept().await,
        0,
        "labels come from the map, not a copy of it"
    );

    // A map row deleted by hand leaves its labels behind for the register's history.
    c.execute(
        "DELETE FROM device_register_map WHERE device_id = $1 AND register_address = 300001",
        &[&id],
    )
    .await
    .expect("delete the map row");
    assert_eq!(kept().await, 1);
    assert_eq!(
        label().await,
        ("volts".into(), "float32".into(), "kV".into())
    );
    assert_eq!(latest().await, volts);

    let plan: Vec<String> = c
        .query(
            &format!(
                "EXPLAIN SELECT \"timestamp\", value, quality FROM register_readings \
                 WHERE device_id = {id} AND register_address = 300001 \
                   AND \"timestamp\" > now() - INTERVAL '1 hour'"
            ),
            &[],
        )
        .await
        .expect("explain")
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(
        !plan
            .iter()
            .any(|l| l.contains("register_labels") || l.contains("device_register_map")),
        "{plan:#?}"
    );
}

#[tokio::test]
async fn plain_postgres_narrow_readings_keep_their_labels() {
    let Some((db, store)) = plain("plain_postgres_narrow_readings_keep_their_labels").await else {
        return;
    };
    narrow_readings_keep_their_labels(&db, &store).await;
}

#[tokio::test]
async fn timescaledb_narrow_readings_keep_their_labels() {
    let test = "timescaledb_narrow_readings_keep_their_labels";
    let Some((db, store)) = timescale(test).await else {
        return;
    };
    narrow_readings_keep_their_labels(&db, &store).await;
}

/// Strings and 64-bit integers beyond 2^53 read back exactly from a day 10 days old
/// (compressed on TimescaleDB) and from today, through every read of the store and
/// through the view `register_readings`.
async fn texts_read_back_from_old_and_new_days(db: &PgTestDb, store: &PostgresStore) {
    let (id, points) = conformance::text_device(store).await;
    let mut written = conformance::text_readings(id, &points, midnight_days_ago(10));
    written.extend(conformance::text_readings(
        id,
        &points,
        midnight_days_ago(0),
    ));
    let out = store
        .insert_register_readings_batch(&written)
        .await
        .expect("insert");
    assert_eq!(out.inserted, written.len());
    let c = db.client().await.expect("connect");
    if matches!(store.mode(), PgMode::TimescaleDb { .. }) {
        let compressed = one_i64(
            &c,
            "SELECT count(compress_chunk(ch, if_not_compressed => true)) \
             FROM show_chunks('readings', older_than => INTERVAL '7 days') ch",
        )
        .await;
        assert!(compressed >= 1, "the old day's chunk is compressed");
    }
    conformance::texts_read_back_exactly(store, &written).await;

    type Row = (
        chrono::DateTime<chrono::Utc>,
        i32,
        Option<f64>,
        Option<String>,
    );
    let viewed: Vec<Row> = c
        .query(
            "SELECT \"timestamp\", register_address, value, value_text FROM register_readings \
             WHERE device_id = $1 ORDER BY register_address, \"timestamp\"",
            &[&id],
        )
        .await
        .expect("the view")
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .collect();
    let mut want: Vec<Row> = written
        .iter()
        .map(|r| {
            let reference = r.register_address.reference() as i32;
            (
                r.timestamp,
                reference,
                r.value,
                r.text.as_deref().map(String::from),
            )
        })
        .collect();
    want.sort_by_key(|r| (r.1, r.0));
    assert_eq!(viewed, want);
}

#[tokio::test]
async fn plain_postgres_texts_read_back_from_old_and_new_days() {
    let test = "plain_postgres_texts_read_back_from_old_and_new_days";
    let Some((db, store)) = plain(test).await else {
        return;
    };
    texts_read_back_from_old_and_new_days(&db, &store).await;
}

#[tokio::test]
async fn timescaledb_texts_read_back_from_old_and_new_days() {
    let test = "timescaledb_texts_read_back_from_old_and_new_days";
    let Some((db, store)) = timescale(test).await else {
        return;
    };
    texts_read_back_from_old_and_new_days(&db, &store).await;
}

/// Synchronising a fleet rewrites only the devices that changed: an unchanged device's
/// rows stay the very same row versions, a changed one's are new.
#[tokio::test]
async fn plain_postgres_sync_rewrites_only_changed_devices() {
    let test = "plain_postgres_sync_rewrites_only_changed_devices";
    let Some((db, store)) = plain(test).await else {
        return;
    };
    let id = fill(&store, 0..1).await;
    let mut specs = store
        .list_devices()
        .await
        .expect("list")
        .into_iter()
        .map(|r| r.spec)
        .collect::<Vec<_>>();
    let mut other = specs[0].clone();
    other.name = "other".into();
    specs.push(other);
    store.sync_devices(&specs).await.expect("sync");
    let c = db.client().await.expect("connect");
    let versions = async || -> Vec<(String, String)> {
        c.query(
            "SELECT d.name, d.xmin::text || '/' || string_agg(m.xmin::text, ',') \
             FROM devices d JOIN device_register_map m ON m.device_id = d.id \
             GROUP BY d.name, d.xmin ORDER BY d.name",
            &[],
        )
        .await
        .expect("row versions")
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
    };
    let before = versions().await;
    specs[1].port = 1502;
    store.sync_devices(&specs).await.expect("sync again");
    let after = versions().await;
    assert_eq!(after[1], before[1], "unchanged device {id} kept as it was");
    assert_eq!(after[0].0, "other");
    assert_ne!(after[0], before[0], "the changed device is rewritten");
    let stored = store.list_devices().await.expect("list");
    assert_eq!(
        stored.iter().map(|r| r.spec.clone()).collect::<Vec<_>>(),
        specs
    );
}

/// One register's readings of one bucket, as the aggregate of the raw readings says.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Expected {
    count: i64,
    min: f64,
    max: f64,
    sum: f64,
    first: f64,
    last: f64,
}

/// The aggregates `width_secs` wide of `readings` (sorted by time), from scratch.
fn recompute(
    readings: &[(chrono::DateTime<chrono::Utc>, f64)],
    width_secs: i64,
) -> std::collections::BTreeMap<i64, Expected> {
    let mut out = std::collections::BTreeMap::new();
    for &(t, v) in readings {
        let b = t.timestamp().div_euclid(width_secs) * width_secs;
        out.entry(b)
            .and_modify(|e: &mut Expected| {
                e.count += 1;
                e.min = e.min.min(v);
                e.max = e.max.max(v);
                e.sum += v;
                e.last = v;
            })
            .or_insert(Expected {
                count: 1,
                min: v,
                max: v,
                sum: v,
                first: v,
                last: v,
            });
    }
    out
}

/// A spool replayed a week late (readings 7 days old, written after maintenance rolled
/// those days up or refreshed them) reaches the hourly and daily aggregates: after the
/// next maintenance both equal what the raw readings say.
async fn a_week_old_replay_reaches_the_rollups(
    store: &PostgresStore,
    before_replay: impl AsyncFn(),
) {
    use chrono::{DurationRound, TimeDelta, Utc};
    use historian_model::Table;
    use historian_model::{DataType, DeviceSpec, Quality, Reading, RegisterPoint, RegisterRef};
    let point = RegisterPoint {
        name: "energy".into(),
        register: RegisterRef::new(Table::HoldingRegister, 0),
        data_type: DataType::Float64,
        ..RegisterPoint::default()
    };
    let spec = DeviceSpec {
        name: "site".into(),
        host: "127.0.0.1".into(),
        port: 502,
        unit_id: 1,
        poll_interval_ms: 1000,
        enabled: true,
        registers: vec![point.clone()],
        access: Default::default(),
    };
    let id = store.sync_devices(&[spec]).await.expect("sync")[0].id;
    let now = Utc::now();
    let day0 = (now - TimeDelta::days(7))
        .duration_trunc(TimeDelta::days(1))
        .expect("day");
    let reading = |t, v: f64| Reading {
        timestamp: t,
        device_id: id,
        register_address: point.register,
        value: Some(v),
        text: None,
        quality: Quality::Good,
        register_name: point.name.as_str().into(),
        data_type: point.data_type,
        unit: "".into(),
    };
    // Two days, every 10 minutes; the replay fills in the 5-minute marks between.
    let on_time: Vec<Reading> = (0..288)
        .map(|k| reading(day0 + TimeDelta::minutes(10 * k), (k % 7) as f64))
        .collect();
    let replay: Vec<Reading> = (0..288)
        .map(|k| {
            reading(
                day0 + TimeDelta::minutes(10 * k + 5),
                100.0 + (k % 13) as f64,
            )
        })
        .collect();
    store
        .insert_register_readings_batch(&on_time)
        .await
        .expect("on time");
    let maintain = async || {
        historian_testkit::eventually("maintenance ran", PATIENCE, async || {
            store
                .run_maintenance(now)
                .await
                .map(drop)
                .map_err(|e| e.to_string())
        })
        .await
    };
    maintain().await;
    before_replay().await;
    let range = TimeRange::new(day0, day0 + TimeDelta::days(2));
    let hourly = store
        .get_aggregates(id, &[point.register], range, 3600)
        .await
        .expect("hourly");
    assert_eq!(hourly.len(), 48, "rolled up before the replay");
    let out = store
        .insert_register_readings_batch(&replay)
        .await
        .expect("replay");
    assert_eq!(out.inserted, replay.len());
    maintain().await;

    let mut all: Vec<(chrono::DateTime<Utc>, f64)> = on_time
        .iter()
        .chain(&replay)
        .map(|r| (r.timestamp, r.value.unwrap_or(f64::NAN)))
        .collect();
    all.sort_by_key(|&(t, _)| t);
    for width in [3600, 86_400] {
        let got = store
            .get_aggregates(id, &[point.register], range, width as u64)
            .await
            .expect("aggregates");
        let want = recompute(&all, width);
        assert_eq!(got.len(), want.len(), "{width} s buckets");
        for (b, (at, e)) in got.iter().zip(&want) {
            assert_eq!(b.bucket.timestamp(), *at);
            let label = format!("{width} s bucket at {}", b.bucket);
            assert_eq!(b.count, e.count, "{label}");
            assert_eq!((b.min, b.max), (Some(e.min), Some(e.max)), "{label}");
            assert_eq!((b.first, b.last), (Some(e.first), Some(e.last)), "{label}");
            let avg = b.avg.unwrap_or(f64::NAN);
            assert!(
                (avg - e.sum / e.count as f64).abs() < 1e-9,
                "{label}: avg {avg}"
            );
        }
    }
}

#[tokio::test]
async fn plain_postgres_a_week_old_replay_reaches_the_rollups() {
    let test = "plain_postgres_a_week_old_replay_reaches_the_rollups";
    let Some((db, store)) = plain(test).await else {
        return;
    };
    a_week_old_replay_reaches_the_rollups(&store, async || {}).await;
    let client = db.client().await.expect("connect");
    let left: i64 = client
        .query_one("SELECT count(*) FROM rollup_dirty", &[])
        .await
        .expect("marks")
        .get(0);
    assert_eq!(left, 0, "maintenance took every mark");
}

#[tokio::test]
async fn timescaledb_a_week_old_replay_reaches_the_rollups() {
    let test = "timescaledb_a_week_old_replay_reaches_the_rollups";
    let Some((db, store)) = timescale(test).await else {
        return;
    };
    let client = db.client().await.expect("connect");
    // As the refresh policies would have done by now, had these days been live.
    let refreshed = async || {
        historian_testkit::eventually("continuous aggregates refreshed", PATIENCE, async || {
            for name in ["register_readings_hourly", "register_readings_daily"] {
                client
                    .batch_execute(&format!(
                        "CALL refresh_continuous_aggregate('{name}', NULL, NULL)"
                    ))
                    .await
                    .map_err(|e| format!("{name}: {e}"))?;
            }
            Ok(())
        })
        .await
    };
    a_week_old_replay_reaches_the_rollups(&store, refreshed).await;
    let left: i64 = client
        .query_one("SELECT count(*) FROM rollup_dirty", &[])
        .await
        .expect("marks")
        .get(0);
    assert_eq!(left, 0, "maintenance took every mark");
}

/// An audit entry's states are compressed with LZ4 on a server that has it: a fleet's
/// first start is one entry of tens of MB of JSON that repeats itself beyond the reach of
/// PostgreSQL's own compression.
#[tokio::test]
async fn audit_states_are_compressed_with_lz4_where_the_server_has_it() {
    let test = "audit_states_are_compressed_with_lz4_where_the_server_has_it";
    let Some((db, _store)) = plain(test).await else {
        return;
    };
    let client = db.client().await.expect("connect");
    let has_lz4 = client
        .batch_execute("CREATE TEMPORARY TABLE lz4_probe (t text COMPRESSION lz4)")
        .await
        .is_ok();
    let methods: Vec<String> = client
        .query(
            "SELECT attname || '=' || attcompression::text FROM pg_attribute \
             WHERE attrelid = 'audit_log'::regclass AND attname IN ('before', 'after') \
             ORDER BY attname",
            &[],
        )
        .await
        .expect("columns")
        .iter()
        .map(|r| r.get(0))
        .collect();
    let expected = if has_lz4 {
        ["after=l", "before=l"]
    } else {
        ["after=", "before="]
    };
    assert_eq!(methods, expected);
}

/// The store's own sessions compress full-page images where the role may set it, keep the
/// server's setting where it may not (and still store), and refuse to open when a method
/// was asked for that cannot be used.
#[tokio::test]
async fn the_historian_sessions_compress_wal_images_where_the_role_may() {
    use historian_store::WalCompression;
    let test = "the_historian_sessions_compress_wal_images_where_the_role_may";
    let Some(db) = require(test, PgTestDb::create().await) else {
        return;
    };
    let admin = db.client().await.expect("connect");
    let methods: Vec<String> = admin
        .query_one(
            "SELECT enumvals FROM pg_settings WHERE name = 'wal_compression'",
            &[],
        )
        .await
        .expect("methods")
        .get(0);
    let server: String = admin
        .query_one("SELECT current_setting('wal_compression')", &[])
        .await
        .expect("setting")
        .get(0);
    let best = if methods.iter().any(|m| m == "lz4") {
        "lz4"
    } else {
        "pglz"
    };
    let with = |w: WalCompression| StoreOptions {
        wal_compression: w,
        ..options(TimescaleMode::Off)
    };
    async fn sessions(store: &PostgresStore) -> String {
        store
            .storage_figures()
            .await
            .expect("figures")
            .wal_compression
            .expect("a PostgreSQL store names its setting")
    }

    // A superuser's sessions take the best method the server has (unless it compresses
    // already); `server` leaves its setting alone.
    let store = PostgresStore::open(&db.url, &with(WalCompression::Auto))
        .await
        .expect("open");
    let expected = if server == "off" {
        best
    } else {
        server.as_str()
    };
    assert_eq!(sessions(&store).await, expected);
    drop(store);
    let store = PostgresStore::open(&db.url, &with(WalCompression::Server))
        .await
        .expect("open");
    assert_eq!(sessions(&store).await, server);
    drop(store);

    // A role that owns a database of its own but may not set the parameter.
    let role_db = PgTestDb::create().await.expect("database");
    let role = historian_testkit::unique_name("walrole");
    admin
        .batch_execute(&format!(
            "CREATE ROLE \"{role}\" LOGIN NOSUPERUSER; \
             ALTER DATABASE \"{}\" OWNER TO \"{role}\"",
            role_db.name
        ))
        .await
        .expect("role");
    let role_url = role_db
        .url
        .replacen("://postgres@", &format!("://{role}@"), 1);
    assert_ne!(
        role_url, role_db.url,
        "the test database URL names the postgres role"
    );
    let err = PostgresStore::open(&role_url, &with(WalCompression::Method("pglz")))
        .await
        .expect_err("an explicit method the role may not set refuses to open");
    let text = err.to_string();
    assert!(
        text.contains("storage.wal_compression") && text.contains("may not set"),
        "{text}"
    );
    let store = PostgresStore::open(&role_url, &with(WalCompression::Auto))
        .await
        .expect("auto opens without the privilege");
    assert_eq!(sessions(&store).await, server);
    let spec = conformance::device("walrole-device");
    let device = store
        .write_devices(std::slice::from_ref(&spec), false)
        .await
        .expect("devices")
        .remove(0);
    let reading =
        conformance::reading(device.id, &spec.registers[0], chrono::Utc::now(), Some(1.5));
    let outcome = store
        .insert_register_reading(&reading)
        .await
        .expect("stores without it");
    assert_eq!(outcome.inserted, 1);
    drop(store);

    // Granted the parameter, the same role's sessions compress.
    admin
        .batch_execute(&format!(
            "GRANT SET ON PARAMETER wal_compression TO \"{role}\""
        ))
        .await
        .expect("grant");
    let store = PostgresStore::open(&role_url, &with(WalCompression::Method(best)))
        .await
        .expect("open with the grant");
    assert_eq!(sessions(&store).await, best);
    drop(store);
    admin
        .batch_execute(&format!(
            "REVOKE SET ON PARAMETER wal_compression FROM \"{role}\""
        ))
        .await
        .expect("revoke");
    // The role goes once its database has: it owns the objects in it.
    drop(role_db);
    admin
        .batch_execute(&format!("DROP ROLE \"{role}\""))
        .await
        .expect("drop role");
}

/// Recent chunks or partitions keep a BRIN summary of time, made by maintenance instead of
/// one autovacuum request per filled range (whose queue overflows at high rates).
async fn time_summaries_are_made_by_maintenance(store: &PostgresStore, db: &PgTestDb) {
    let spec = conformance::device("brin");
    let id = store
        .write_devices(std::slice::from_ref(&spec), false)
        .await
        .expect("device")
        .remove(0)
        .id;
    // Enough rows for several ranges of 128 heap pages, in the last hour.
    let start = chrono::Utc::now() - chrono::Duration::minutes(50);
    let readings: Vec<_> = (0..60_000)
        .map(|k| {
            let at = start + chrono::Duration::milliseconds(50 * k);
            conformance::reading(id, &spec.registers[0], at, Some(k as f64))
        })
        .collect();
    for batch in readings.chunks(10_000) {
        store
            .insert_register_readings_batch(batch)
            .await
            .expect("write");
    }
    let c = db.client().await.expect("connect");
    let leaf_brin_options = "SELECT c.relname::text, coalesce(c.reloptions::text, '') \
        FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid \
        JOIN pg_am a ON a.oid = c.relam \
        WHERE a.amname = 'brin' AND c.relkind = 'i' \
          AND (i.indrelid = 'readings'::regclass OR i.indrelid IN \
               (SELECT inhrelid FROM pg_inherits WHERE inhparent = 'readings'::regclass))";

    let first = store
        .run_maintenance(chrono::Utc::now())
        .await
        .expect("maintenance");
    assert!(
        first.time_ranges_summarized >= 2,
        "the ranges filled by 60,000 readings are summarised: {first:?}"
    );
    let options: Vec<(String, String)> = c
        .query(leaf_brin_options, &[])
        .await
        .expect("indexes")
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert!(!options.is_empty());
    for (index, option) in &options {
        assert_eq!(option, "{autosummarize=off}", "{index}");
    }
    let again = store
        .run_maintenance(chrono::Utc::now())
        .await
        .expect("maintenance");
    assert_eq!(again.time_ranges_summarized, 0, "nothing new to summarise");
    c.batch_execute("SET enable_seqscan = off")
        .await
        .expect("set");
    let in_range = one_i64(
        &c,
        "SELECT count(*) FROM readings WHERE \"timestamp\" >= now() - interval '2 hours'",
    )
    .await;
    assert_eq!(in_range, 60_000, "a time scan finds every reading");
}

#[tokio::test]
async fn plain_postgres_time_summaries_are_made_by_maintenance() {
    let Some((db, store)) = plain("plain_postgres_time_summaries_are_made_by_maintenance").await
    else {
        return;
    };
    time_summaries_are_made_by_maintenance(&store, &db).await;
}

#[tokio::test]
async fn timescaledb_time_summaries_are_made_by_maintenance() {
    let Some((db, store)) = timescale("timescaledb_time_summaries_are_made_by_maintenance").await
    else {
        return;
    };
    time_summaries_are_made_by_maintenance(&store, &db).await;
}
