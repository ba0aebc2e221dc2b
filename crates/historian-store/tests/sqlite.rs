//! The conformance suite against SQLite, plus SQLite-specific behaviour.

mod compacted;
mod conformance;

use historian_store::sqlite::SqliteStore;
use historian_store::{Store, StoreOptions};
use rusqlite::OptionalExtension;

fn month_retention() -> StoreOptions {
    StoreOptions {
        retention: std::time::Duration::from_secs(30 * 86_400),
        ..StoreOptions::default()
    }
}

async fn fresh() -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(&dir.path().join("sub/h.db"), &month_retention())
        .await
        .expect("open creates folders and migrates");
    (dir, store)
}

macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            use super::*;
            $(
                #[tokio::test]
                async fn $name() {
                    let (_dir, store) = fresh().await;
                    conformance::$name(&store).await;
                }
            )*
        }

        /// The same suite with every reading moved into blocks as soon as it is written:
        /// each read then meets the compacted layout (and later writes meet blocks).
        mod sqlite_compacted {
            use super::*;
            $(
                #[tokio::test]
                async fn $name() {
                    let (_dir, store) = fresh().await;
                    conformance::$name(&compacted::Compacting(store)).await;
                }
            )*
        }
    };
}

conformance!(
    devices_sync_by_name,
    readings_round_trip_exactly,
    devices_edited_one_by_one_and_watched,
    batches_are_idempotent_and_tables_distinct,
    strings_bits_and_single_device_writes,
    empty_queries,
    unknown_device_rows_are_rejected_alone,
    maintenance_applies_retention,
    aggregates_agree_across_sources,
    audit_trail_is_kept_with_each_change,
    removed_registers_and_disabled_devices_keep_their_history,
    many_ranges_read_together_match_one_by_one,
    sixty_four_bit_integers_round_trip_exactly,
    removed_devices_keep_their_history,
    a_fleet_is_written_in_config_order,
    an_audited_fleet_write_answers_what_it_stored,
    texts_read_back_through_every_read,
);

/// A profile found `CHECK (quality IN (...))` building an ephemeral table for every
/// inserted row (about half the historian's instructions); the insert's program must not.
#[tokio::test]
async fn sqlite_reading_insert_builds_no_ephemeral_table() {
    let (dir, s) = fresh().await;
    drop(s);
    let conn = rusqlite::Connection::open(dir.path().join("sub/h.db")).expect("open");
    let ops: Vec<String> = conn
        .prepare(
            "EXPLAIN INSERT INTO register_readings (timestamp, device_id, register_address, \
             value, quality, register_name, data_type, unit, value_text) \
             VALUES (1, 1, 400001, 1.0, 'good', 'n', 'uint16', '', NULL) ON CONFLICT DO NOTHING",
        )
        .expect("explain")
        .query_map([], |r| r.get::<_, String>(1))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    assert!(
        ops.iter().any(|o| o == "Insert" || o == "IdxInsert"),
        "{ops:?}"
    );
    assert!(!ops.iter().any(|o| o == "OpenEphemeral"), "{ops:?}");
}

#[tokio::test]
async fn sqlite_migrations_are_recorded_and_reopening_is_idempotent() {
    let (dir, s) = fresh().await;
    assert_eq!(s.backend(), "sqlite");
    drop(s);
    let again = SqliteStore::open(&dir.path().join("sub/h.db"), &Default::default())
        .await
        .expect("reopen");
    assert_eq!(again.count_readings().await.expect("count"), 0);
    let conn = rusqlite::Connection::open(dir.path().join("sub/h.db")).expect("open");
    let versions: Vec<i64> = conn
        .prepare("SELECT version FROM refinery_schema_history ORDER BY version")
        .expect("history table")
        .query_map([], |r| r.get(0))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    assert_eq!(
        versions,
        vec![1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 20, 30, 31]
    );
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .expect("pragma");
    assert_eq!(mode, "wal");
}

#[tokio::test]
async fn sqlite_unopenable_path_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("file");
    std::fs::write(&file, b"x").expect("write");
    let err = SqliteStore::open(&file.join("h.db"), &Default::default())
        .await
        .expect_err("a file is not a folder");
    assert!(err.to_string().starts_with("cannot open"), "{err}");
}

#[tokio::test]
async fn sqlite_storage_figures_report_file_and_table_size() {
    let (_d, s) = fresh().await;
    conformance::aggregates_agree_across_sources(&s).await;
    let f = s.storage_figures().await.expect("figures");
    assert!(f.database_bytes > 100_000, "{f:?}");
    // Maintenance moved the closed hours into blocks: both tables hold pages.
    assert!(
        f.readings_bytes > 8_192 && f.readings_bytes <= f.database_bytes,
        "{f:?}"
    );
    assert_eq!(f.chunks, 0);
}

#[tokio::test]
async fn sqlite_readers_and_the_writer_never_wait_for_each_other() {
    let (dir, s) = fresh().await;
    conformance::devices_sync_by_name(&s).await;
    let path = dir.path().join("sub/h.db");
    let devices = s.list_devices().await.expect("devices");
    let id = devices[0].id;
    let reg = devices[0].spec.registers[0].register;

    // Another connection holds a write transaction open: reads still answer at once.
    let other = rusqlite::Connection::open(&path).expect("open");
    other
        .execute_batch("BEGIN IMMEDIATE; DELETE FROM rollup_watermarks;")
        .expect("hold the write lock");
    let t = std::time::Instant::now();
    s.get_latest_reading(id, reg)
        .await
        .expect("read while a writer holds the lock");
    s.list_devices().await.expect("read");
    assert!(
        t.elapsed() < std::time::Duration::from_secs(1),
        "{:?}",
        t.elapsed()
    );
    other.execute_batch("ROLLBACK").expect("release");

    // A long read transaction is open: the store still writes at once.
    other
        .execute_batch("BEGIN; SELECT count(*) FROM register_readings;")
        .expect("hold a read snapshot");
    let t = std::time::Instant::now();
    let row = historian_model::Reading {
        timestamp: chrono::Utc::now(),
        device_id: id,
        register_address: reg,
        value: Some(1.0),
        quality: historian_model::Quality::Good,
        register_name: "hr0".into(),
        data_type: historian_model::DataType::Uint16,
        unit: "V".into(),
        text: None,
    };
    let out = s
        .insert_register_reading(&row)
        .await
        .expect("write during a read");
    assert_eq!(out.inserted, 1);
    assert!(
        t.elapsed() < std::time::Duration::from_secs(1),
        "{:?}",
        t.elapsed()
    );
    other.execute_batch("COMMIT").expect("end read");
}

/// A database made before devices could be removed upgrades with its devices, maps and
/// readings in place (the devices table is rebuilt under them); afterwards a device with
/// readings is removed and its name taken by a new one.
#[tokio::test]
async fn sqlite_upgrades_to_removable_devices_with_everything_in_place() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("old.db");
    historian_store::sqlite::migrate_to(&path, 30).expect("migrate to V030");
    {
        let conn = rusqlite::Connection::open(&path).expect("open");
        conn.execute_batch(
            "PRAGMA foreign_keys = ON;
             INSERT INTO devices (id, name, host, port, unit_id, poll_interval_ms, transport,
                 serial_baud_rate, max_registers_per_read)
               VALUES (4, 'old', '/dev/ttyUSB0', 502, 7, 60000, 'rtu', 19200, 60);
             INSERT INTO device_register_map (device_id, position, register_address,
                 register_name, data_type, unit) VALUES (4, 0, 300001, 'v', 'float32', 'V');
             INSERT INTO register_readings (timestamp, device_id, register_address, value,
                 quality, register_name, data_type, unit)
               VALUES (1764417600000000, 4, 300001, 230.5, 'good', 'v', 'float32', 'V');",
        )
        .expect("an old database's rows");
    }
    let store = SqliteStore::open(&path, &month_retention())
        .await
        .expect("open upgrades");
    let old = store.list_devices().await.expect("list");
    assert_eq!(old.len(), 1);
    let old = &old[0];
    assert_eq!(
        (old.id, old.spec.name.as_str(), old.removed_at),
        (4, "old", None)
    );
    assert_eq!(
        (old.spec.unit_id, old.spec.access.plan.max_registers),
        (7, 60)
    );
    assert_eq!(old.spec.registers.len(), 1, "the map survived the rebuild");
    let reference = old.spec.registers[0].register;
    let key = historian_store::SeriesKey::new(4, reference);
    let at = chrono::DateTime::from_timestamp_micros(1_764_417_600_000_000).expect("time");
    let range = historian_store::TimeRange::new(at, at + chrono::Duration::seconds(1));
    let values =
        |rs: Vec<historian_model::Reading>| rs.into_iter().map(|r| r.value).collect::<Vec<_>>();
    let before = store
        .get_readings_time_range(key, range, 10)
        .await
        .expect("readings");
    assert_eq!(values(before), [Some(230.5)]);

    assert_eq!(
        store.delete_device("old").await.expect("remove"),
        historian_store::DeleteOutcome::Removed
    );
    let new = store
        .upsert_device(&old.spec)
        .await
        .expect("the name is free");
    assert!(new.id > 4, "{}", new.id);
    let after = store
        .get_readings_time_range(key, range, 10)
        .await
        .expect("readings");
    assert_eq!(values(after), [Some(230.5)], "the removed device's history");
    drop(store);
    let conn = rusqlite::Connection::open(&path).expect("open");
    let broken: Option<String> = conn
        .query_row("PRAGMA foreign_key_check", [], |r| r.get(0))
        .optional()
        .expect("check");
    assert_eq!(broken, None, "every reference still holds");
}
