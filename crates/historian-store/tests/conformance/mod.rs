//! The behaviour every [`Store`] backend must show. Each backend's test file runs these
//! functions against a fresh store of its kind.

use chrono::{DateTime, Duration, TimeZone, Utc};
use historian_model::{Access, DeviceSpec, Link, Reading};
use historian_model::{DataType, Quality, RegisterPoint, RegisterRef, Table, WordOrder};
use historian_model::{Parity, SerialSettings};
use historian_store::{SeriesKey, SeriesPoint, Store, TimeRange};
use std::sync::Arc;

fn point(name: &str, table: Table, address: u16, data_type: DataType) -> RegisterPoint {
    RegisterPoint {
        name: name.into(),
        register: RegisterRef::new(table, address),
        data_type,
        unit: "V".into(),
        ..RegisterPoint::default()
    }
}

pub fn device(name: &str) -> DeviceSpec {
    DeviceSpec {
        name: name.into(),
        host: "/dev/ttyUSB3".into(),
        port: 502,
        unit_id: 1,
        poll_interval_ms: 1000,
        enabled: true,
        registers: vec![
            point("hr0", Table::HoldingRegister, 0, DataType::Uint16),
            // Same wire address, another table: a different register.
            RegisterPoint {
                limits: historian_model::ValueLimits {
                    min: Some(-5.0),
                    max: Some(250.0),
                    not_available: Some(0xFFFF_FFFF),
                },
                ..point("ir0", Table::InputRegister, 0, DataType::Float32)
            },
            point("coil7", Table::Coil, 7, DataType::Bool),
            // A string over 8 registers, bytes swapped, and two bits of one register.
            RegisterPoint {
                word_order: WordOrder::Badc,
                length: Some(8),
                unit: String::new(),
                ..point("model", Table::HoldingRegister, 10, DataType::String)
            },
            RegisterPoint {
                register: RegisterRef::new(Table::InputRegister, 20).with_bit(0),
                ..point("trip", Table::InputRegister, 20, DataType::Bool)
            },
            RegisterPoint {
                register: RegisterRef::new(Table::InputRegister, 20).with_bit(15),
                interval_ms: Some(60_000),
                ..point("closed", Table::InputRegister, 20, DataType::Bool)
            },
            // A value taking its power of ten from another register.
            RegisterPoint {
                scale_factor: Some("w_sf".into()),
                ..point("w", Table::HoldingRegister, 30, DataType::Uint16)
            },
            point("w_sf", Table::HoldingRegister, 31, DataType::Int16),
        ],
        // Every access field away from its default, so a store that drops one fails.
        access: Access {
            link: Link::Serial(SerialSettings {
                path: "/dev/ttyUSB3".into(),
                baud_rate: 9_600,
                parity: Parity::Odd,
                stop_bits: 2,
                data_bits: 7,
            }),
            timeout: Some(std::time::Duration::from_millis(750)),
            plan: historian_model::PlanOptions {
                max_registers: 60,
                max_gap: 4,
                ..Default::default()
            },
            pause: std::time::Duration::from_millis(15),
        },
    }
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0)
        .single()
        .expect("valid date")
}

pub fn reading(
    device_id: i64,
    p: &RegisterPoint,
    at: DateTime<Utc>,
    value: Option<f64>,
) -> Reading {
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

/// A string reading keeps its text (value null); a bit reading is a number like a coil;
/// `upsert_device` writes one device and leaves the others as they are.
pub async fn strings_bits_and_single_device_writes(store: &dyn Store) {
    let recs = store
        .sync_devices(&[device("s"), device("other")])
        .await
        .expect("sync");
    let id = recs[0].id;
    let map = &recs[0].spec.registers;
    assert_eq!(
        map,
        &device("s").registers,
        "string length and bits round-trip"
    );
    let text = Reading {
        text: Some(Arc::from("SEL-751 \u{e9}")),
        ..reading(id, &map[3], t0(), None)
    };
    let text = Reading {
        quality: Quality::Good,
        ..text
    };
    // Two bits of one register at one instant are two readings.
    let bit = reading(id, &map[5], t0(), Some(1.0));
    let other_bit = reading(id, &map[4], t0(), Some(0.0));
    let out = store
        .insert_register_readings_batch(&[text.clone(), bit.clone(), other_bit])
        .await
        .expect("insert");
    assert_eq!(out.inserted, 3);
    let latest = store
        .get_latest_reading(id, map[3].register)
        .await
        .expect("latest");
    assert_eq!(latest, Some(text.clone()));
    let range = store
        .get_readings_time_range(
            SeriesKey::new(id, map[3].register),
            TimeRange::new(t0() - Duration::seconds(1), t0() + Duration::seconds(1)),
            10,
        )
        .await
        .expect("range");
    assert_eq!(range, vec![text.clone()]);
    // The series form of the same range: the same points, text included.
    let series = store
        .get_series(
            SeriesKey::new(id, map[3].register),
            TimeRange::new(t0() - Duration::seconds(1), t0() + Duration::seconds(1)),
            10,
        )
        .await
        .expect("series");
    assert_eq!(series, vec![historian_store::SeriesPoint::from(text)]);
    let bits = store
        .get_latest_reading(id, map[5].register)
        .await
        .expect("latest bit");
    assert_eq!(bits.and_then(|r| r.value), Some(1.0));

    let mut s2 = device("s");
    s2.registers.truncate(2);
    s2.port = 1502;
    let rec = store.upsert_device(&s2).await.expect("upsert");
    assert_eq!((rec.id, &rec.spec), (id, &s2));
    let new = store.upsert_device(&device("new")).await.expect("insert");
    assert_ne!(new.id, id);
    let all = store.list_devices().await.expect("list");
    let names: Vec<(&str, bool)> = all
        .iter()
        .map(|r| (r.spec.name.as_str(), r.spec.enabled))
        .collect();
    assert_eq!(names, [("s", true), ("other", true), ("new", true)]);
    assert_eq!(all[1].spec, device("other"), "untouched");
}

/// Every field of a reading comes back exactly as written: microsecond timestamps (also
/// before 2000, PostgreSQL's epoch), negative and tiny values, nulls, text, every quality.
pub async fn readings_round_trip_exactly(store: &dyn Store) {
    let recs = store.sync_devices(&[device("rt")]).await.expect("sync");
    let id = recs[0].id;
    let p = &recs[0].spec.registers[0];
    let base = Utc
        .with_ymd_and_hms(1999, 12, 31, 23, 59, 59)
        .single()
        .expect("date");
    let cases: [(Option<f64>, Quality, Option<&str>); 6] = [
        (Some(-1234.5678), Quality::Good, None),
        (Some(f64::MIN_POSITIVE), Quality::Uncertain, None),
        (Some(1e300), Quality::Good, None),
        (None, Quality::Bad, None),
        (None, Quality::Good, Some("SEL-751 ümlaut")),
        (Some(0.0), Quality::Good, Some("")),
    ];
    let written: Vec<Reading> = cases
        .iter()
        .enumerate()
        .map(|(i, (value, quality, text))| Reading {
            timestamp: base + chrono::Duration::microseconds(i as i64 * 1_000_001 + 7),
            value: *value,
            quality: *quality,
            text: text.map(Arc::from),
            ..reading(id, p, base, None)
        })
        .collect();
    let out = store
        .insert_register_readings_batch(&written)
        .await
        .expect("insert");
    assert_eq!(out.inserted, written.len());
    let got = store
        .get_readings_time_range(
            SeriesKey::new(id, p.register),
            TimeRange::new(base, base + chrono::Duration::hours(1)),
            100,
        )
        .await
        .expect("range");
    assert_eq!(got, written);
}

/// Devices are written, re-synced by name, and disabled when they leave the config.
pub async fn devices_sync_by_name(store: &dyn Store) {
    let recs = store
        .sync_devices(&[device("a"), device("b")])
        .await
        .expect("first sync");
    assert_eq!(recs.len(), 2);
    let a_id = recs[0].id;
    assert_eq!(recs[0].spec, device("a"));

    let mut a2 = device("a");
    a2.port = 1502;
    a2.registers.pop();
    let recs = store
        .sync_devices(std::slice::from_ref(&a2))
        .await
        .expect("second sync");
    assert_eq!(recs.len(), 2, "b is kept for its history");
    let a = recs.iter().find(|r| r.spec.name == "a").expect("a");
    assert_eq!(a.id, a_id, "a keeps its id");
    assert_eq!(a.spec, a2);
    let b = recs.iter().find(|r| r.spec.name == "b").expect("b");
    assert!(!b.spec.enabled, "b left the config and is disabled");
    assert_eq!(store.list_devices().await.expect("list"), recs);
}

/// One device is created, changed and deleted without touching the others; a device
/// with readings is kept; every change is signalled to a watcher, and only changes are
/// (besides one signal when the watch begins).
pub async fn devices_edited_one_by_one_and_watched(store: &dyn Store) {
    use historian_store::DeleteOutcome;
    use std::time::Duration;
    let mut watch = store.watch_devices().await.expect("watch");
    // Echoes of one change may come a watch tick or two apart (SQLite looks every 250 ms).
    const QUIET: Duration = Duration::from_millis(700);
    // Waits (patiently: the machine may be loaded) for a signal, then until the watch has
    // been quiet for QUIET, so the next check sees only later changes.
    async fn expect_signal(w: &mut tokio::sync::mpsc::Receiver<()>, what: &str) {
        let got = tokio::time::timeout(historian_testkit::PATIENCE, w.recv()).await;
        assert!(matches!(got, Ok(Some(()))), "{what}");
        historian_testkit::eventually(
            &format!("{what}: the echoes to end"),
            historian_testkit::PATIENCE,
            async || match tokio::time::timeout(QUIET, w.recv()).await {
                Err(_) => Ok(()),
                Ok(got) => Err(format!("still signalling: {got:?}")),
            },
        )
        .await;
    }
    // Once watching, it signals: a reload then covers changes made before the watch began.
    expect_signal(&mut watch, "the watch signals once it watches").await;

    store.sync_devices(&[device("a")]).await.expect("sync");
    expect_signal(&mut watch, "creating a device is signalled").await;
    // An absence is seen only over a span of time: QUIET, more than two watch ticks.
    let unasked = tokio::time::timeout(QUIET, watch.recv()).await;
    assert!(unasked.is_err(), "no change, no signal");

    let recs = store
        .write_devices(&[device("b")], false)
        .await
        .expect("add b alone");
    assert_eq!(recs.len(), 2);
    assert!(recs.iter().all(|r| r.spec.enabled), "a is left as it was");
    let mut b2 = device("b");
    b2.registers.truncate(1);
    b2.poll_interval_ms = 250;
    let recs = store
        .write_devices(&[b2.clone()], false)
        .await
        .expect("edit b");
    let b = recs.iter().find(|r| r.spec.name == "b").expect("b");
    assert_eq!(b.spec, b2);
    expect_signal(&mut watch, "editing a map is signalled").await;

    assert_eq!(
        store.delete_device("nope").await.expect("delete"),
        DeleteOutcome::NotFound
    );
    assert_eq!(
        store.delete_device("b").await.expect("delete"),
        DeleteOutcome::Deleted
    );
    let names: Vec<String> = store
        .list_devices()
        .await
        .expect("list")
        .into_iter()
        .map(|r| r.spec.name)
        .collect();
    assert_eq!(names, vec!["a".to_string()]);
    expect_signal(&mut watch, "deleting is signalled").await;

    let a = store.list_devices().await.expect("list")[0].clone();
    let out = store
        .insert_register_readings_batch(&[reading(a.id, &a.spec.registers[0], t0(), Some(1.0))])
        .await
        .expect("insert");
    assert_eq!(out.inserted, 1);
    assert_eq!(
        store.delete_device("a").await.expect("delete"),
        DeleteOutcome::Removed,
        "history is never deleted with its device"
    );
    assert!(store.list_devices().await.expect("list").is_empty());
    let kept = store
        .list_devices_including_removed()
        .await
        .expect("list with removed");
    assert_eq!(kept.len(), 1);
    assert_eq!((kept[0].id, kept[0].removed_at.is_some()), (a.id, true));
}

/// Batches store every reading once; replays are accepted without duplicates; registers
/// at the same wire address in different tables never mix.
pub async fn batches_are_idempotent_and_tables_distinct(store: &dyn Store) {
    let recs = store.sync_devices(&[device("d")]).await.expect("sync");
    let id = recs[0].id;
    let map = &recs[0].spec.registers;
    let mut batch = Vec::new();
    for s in 0..10 {
        let at = t0() + Duration::seconds(s);
        batch.push(reading(id, &map[0], at, Some(s as f64)));
        batch.push(reading(id, &map[1], at, Some(1000.0 + s as f64)));
        batch.push(reading(
            id,
            &map[2],
            at,
            if s == 3 { None } else { Some(1.0) },
        ));
    }
    let first = store
        .insert_register_readings_batch(&batch)
        .await
        .expect("insert");
    assert_eq!((first.inserted, first.duplicates), (30, 0));
    assert!(first.rejected.is_empty());
    let replay = store
        .insert_register_readings_batch(&batch)
        .await
        .expect("replay");
    assert_eq!(
        (replay.inserted, replay.duplicates),
        (0, 30),
        "a replayed batch adds nothing and does not fail"
    );
    // A batch mixing new rows and rows already stored stores exactly the new ones.
    let extra = reading(id, &map[0], t0() + Duration::seconds(10), Some(10.0));
    let mut mixed = batch[..5].to_vec();
    mixed.push(extra.clone());
    let mixed = store
        .insert_register_readings_batch(&mixed)
        .await
        .expect("mixed");
    assert_eq!((mixed.inserted, mixed.duplicates), (1, 5));
    assert_eq!(store.count_readings().await.expect("count"), 31);

    let hr = store
        .get_latest_reading(id, map[0].register)
        .await
        .expect("latest")
        .expect("some");
    assert_eq!(hr, extra);
    let ir = store
        .get_latest_reading(id, RegisterRef::new(Table::InputRegister, 0))
        .await
        .expect("latest ir")
        .expect("some");
    assert_eq!(ir.value, Some(1009.0));
    assert_eq!(ir.register_address.reference(), 300_001);

    let range = store
        .get_readings_time_range(
            SeriesKey::new(id, map[2].register),
            TimeRange::new(t0() + Duration::seconds(2), t0() + Duration::seconds(5)),
            100,
        )
        .await
        .expect("range");
    let got: Vec<(i64, Option<f64>, Quality)> = range
        .iter()
        .map(|r| ((r.timestamp - t0()).num_seconds(), r.value, r.quality))
        .collect();
    assert_eq!(
        got,
        vec![
            (2, Some(1.0), Quality::Good),
            (3, None, Quality::Bad),
            (4, Some(1.0), Quality::Good),
        ],
        "start inclusive, end exclusive, oldest first, bad readings kept"
    );
    let limited = store
        .get_readings_time_range(
            SeriesKey::new(id, map[0].register),
            TimeRange::new(t0(), t0() + Duration::hours(1)),
            4,
        )
        .await
        .expect("limited");
    assert_eq!(limited.len(), 4);
    assert_eq!(limited[3].value, Some(3.0));
    let series = store
        .get_series(
            SeriesKey::new(id, map[0].register),
            TimeRange::new(t0(), t0() + Duration::hours(1)),
            4,
        )
        .await
        .expect("series");
    let want: Vec<historian_store::SeriesPoint> = limited.into_iter().map(Into::into).collect();
    assert_eq!(series, want, "the series form agrees with whole readings");

    let latest = store
        .get_device_readings_latest(id)
        .await
        .expect("device latest");
    let refs: Vec<u32> = latest
        .iter()
        .map(|r| r.register_address.reference())
        .collect();
    assert_eq!(
        refs,
        vec![8, 300_001, 400_001],
        "one per register, in reference order"
    );
    assert!(
        latest
            .iter()
            .all(|r| r.timestamp >= t0() + Duration::seconds(9))
    );
}

/// Empty answers are empty, not errors.
pub async fn empty_queries(store: &dyn Store) {
    let recs = store.sync_devices(&[device("e")]).await.expect("sync");
    let id = recs[0].id;
    assert_eq!(
        store
            .get_latest_reading(id, RegisterRef::new(Table::HoldingRegister, 0))
            .await
            .expect("latest"),
        None
    );
    assert!(
        store
            .get_device_readings_latest(id)
            .await
            .expect("dev")
            .is_empty()
    );
    assert!(
        store
            .get_device_readings_latest(9999)
            .await
            .expect("unknown")
            .is_empty()
    );
    assert_eq!(
        store
            .insert_register_readings_batch(&[])
            .await
            .expect("empty"),
        historian_store::WriteOutcome::default()
    );
}

/// A row for an unknown device is refused with a clear reason; the rest is stored.
pub async fn unknown_device_rows_are_rejected_alone(store: &dyn Store) {
    let recs = store.sync_devices(&[device("u")]).await.expect("sync");
    let id = recs[0].id;
    let map = &recs[0].spec.registers;
    let batch = vec![
        reading(id, &map[0], t0(), Some(1.0)),
        reading(id + 1000, &map[0], t0(), Some(2.0)),
        reading(id, &map[1], t0(), Some(3.0)),
    ];
    let out = store
        .insert_register_readings_batch(&batch)
        .await
        .expect("insert");
    assert_eq!(out.inserted, 2);
    assert_eq!(out.rejected.len(), 1);
    assert_eq!(out.rejected[0].reading, batch[1]);
    assert_eq!(
        out.rejected[0].reason,
        format!("unknown device id {}", id + 1000)
    );
    assert_eq!(store.count_readings().await.expect("count"), 2);
}

/// With a retention of 30 days, maintenance removes older readings and keeps newer ones.
/// (TimescaleDB leaves this to its retention policy, tested on its own.)
pub async fn maintenance_applies_retention(store: &dyn Store) {
    let recs = store.sync_devices(&[device("r")]).await.expect("sync");
    let id = recs[0].id;
    let p = &recs[0].spec.registers[0];
    // Stores keep microseconds.
    let now = DateTime::from_timestamp_micros(Utc::now().timestamp_micros()).expect("now");
    let old: Vec<Reading> = (0..7)
        .map(|k| {
            reading(
                id,
                p,
                now - Duration::days(40) + Duration::hours(k),
                Some(1.0),
            )
        })
        .collect();
    let recent = reading(id, p, now - Duration::hours(1), Some(2.0));
    let mut batch = old.clone();
    batch.push(recent.clone());
    store
        .insert_register_readings_batch(&batch)
        .await
        .expect("insert");
    let report = store.run_maintenance(now).await.expect("maintenance");
    assert_eq!(report.rows_deleted, 7, "{report:?}");
    assert_eq!(store.count_readings().await.expect("count"), 1);
    assert_eq!(
        store
            .get_latest_reading(id, p.register)
            .await
            .expect("latest"),
        Some(recent)
    );
    let again = store.run_maintenance(now).await.expect("maintenance again");
    assert_eq!(again.rows_deleted, 0, "maintenance is idempotent");
    // The raw readings are gone but their hourly and daily roll-ups remain.
    let day = (now - Duration::days(40))
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .expect("midnight")
        .and_utc();
    let rolled = store
        .get_aggregates(
            id,
            &[p.register],
            TimeRange::new(day, day + Duration::days(2)),
            86_400,
        )
        .await
        .expect("daily roll-up");
    assert_eq!(rolled.iter().map(|b| b.count).sum::<i64>(), 7, "{rolled:?}");
}

/// Aggregates of any bucket width agree with the raw readings, before roll-ups exist, after
/// maintenance rolled them up, and with fresh readings not rolled up yet.
pub async fn aggregates_agree_across_sources(store: &dyn Store) {
    let mut spec = device("agg");
    spec.registers.truncate(2); // hr0 (uint16) and ir0 (float32)
    let recs = store.sync_devices(&[spec]).await.expect("sync");
    let id = recs[0].id;
    // a = ir0 (300001) sorts before b = hr0 (400001).
    let (a, b) = (&recs[0].spec.registers[1], &recs[0].spec.registers[0]);
    let day0 = (Utc::now() - Duration::days(3))
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .expect("midnight")
        .and_utc();
    // 50 hours of one reading a minute: a = minute of the hour; b the same, but every
    // tenth minute the read failed (null, bad).
    let mut batch = Vec::new();
    for m in 0..(50 * 60) {
        let at = day0 + Duration::minutes(m);
        let minute = (m % 60) as f64;
        batch.push(reading(id, a, at, Some(minute)));
        batch.push(reading(id, b, at, (m % 10 != 0).then_some(minute)));
    }
    store
        .insert_register_readings_batch(&batch)
        .await
        .expect("insert");
    let regs = [a.register, b.register];

    let check = |label: &'static str| async move {
        let q = |w: u64| {
            store.get_aggregates(
                id,
                &regs,
                TimeRange::new(day0, day0 + Duration::hours(50)),
                w,
            )
        };
        // 10-minute buckets come from raw readings.
        let ten = q(600).await.expect("10 min");
        assert_eq!(ten.len(), 2 * 300, "{label}");
        let first = &ten[0];
        assert_eq!(first.bucket, day0, "{label}: epoch-aligned");
        assert_eq!(
            first.register_address, a.register,
            "{label}: register order"
        );
        assert_eq!(
            (first.min, first.max, first.count, first.first, first.last),
            (Some(0.0), Some(9.0), 10, Some(0.0), Some(9.0)),
            "{label}"
        );
        assert_eq!(first.avg, Some(4.5), "{label}");
        let b_first = &ten[300];
        assert_eq!(b_first.register_address, b.register, "{label}");
        assert_eq!(
            (b_first.min, b_first.count, b_first.first),
            (Some(1.0), 9, Some(1.0)),
            "{label}: failed reads do not count"
        );
        // Whole hours come from hourly roll-ups.
        let hours = q(3600).await.expect("hourly");
        assert_eq!(hours.len(), 2 * 50, "{label}");
        for h in &hours[..50] {
            assert_eq!(
                (h.min, h.max, h.count, h.first, h.last, h.avg),
                (Some(0.0), Some(59.0), 60, Some(0.0), Some(59.0), Some(29.5)),
                "{label} {h:?}"
            );
        }
        for h in &hours[50..] {
            assert_eq!(
                (h.min, h.max, h.count, h.first, h.last, h.avg),
                (Some(1.0), Some(59.0), 54, Some(1.0), Some(59.0), Some(30.0)),
                "{label} {h:?}"
            );
        }
        let two = q(7200).await.expect("2 hours");
        assert_eq!(two.len(), 2 * 25, "{label}");
        assert_eq!(
            (two[0].count, two[0].first, two[0].last),
            (120, Some(0.0), Some(59.0))
        );
        // Whole days come from daily roll-ups (the third day holds 2 hours).
        let days = q(86_400).await.expect("daily");
        let got: Vec<(i64, Option<f64>)> = days.iter().map(|d| (d.count, d.avg)).collect();
        assert_eq!(
            got,
            vec![
                (1440, Some(29.5)),
                (1440, Some(29.5)),
                (120, Some(29.5)),
                (1296, Some(30.0)),
                (1296, Some(30.0)),
                (108, Some(30.0)),
            ],
            "{label}"
        );
    };
    check("before maintenance").await;
    store
        .run_maintenance(Utc::now())
        .await
        .expect("maintenance");
    check("after maintenance").await;

    // Readings of the current hour are not rolled up yet and still count.
    let hour = DateTime::from_timestamp(Utc::now().timestamp() / 3600 * 3600, 0).expect("hour");
    let fresh: Vec<Reading> = (0..3)
        .map(|k| reading(id, a, hour + Duration::seconds(k), Some(100.0 + k as f64)))
        .collect();
    store
        .insert_register_readings_batch(&fresh)
        .await
        .expect("fresh");
    let now_hour = store
        .get_aggregates(
            id,
            &[a.register],
            TimeRange::new(hour, hour + Duration::hours(1)),
            3600,
        )
        .await
        .expect("current hour");
    assert_eq!(now_hour.len(), 1);
    assert_eq!(
        (
            now_hour[0].count,
            now_hour[0].first,
            now_hour[0].last,
            now_hour[0].max
        ),
        (3, Some(100.0), Some(102.0), Some(102.0))
    );
    let today = hour.date_naive().and_hms_opt(0, 0, 0).expect("t").and_utc();
    let now_day = store
        .get_aggregates(
            id,
            &[a.register],
            TimeRange::new(today, today + Duration::days(1)),
            86_400,
        )
        .await
        .expect("current day");
    assert_eq!(now_day.len(), 1);
    assert_eq!(now_day[0].count, 3);
}

/// A device as the audit closures below render it: small JSON naming what the tests check.
fn brief(r: &historian_store::DeviceRecord) -> String {
    format!(
        r#"{{"id":{},"name":"{}","enabled":{},"registers":{}}}"#,
        r.id,
        r.spec.name,
        r.spec.enabled,
        r.spec.registers.len()
    )
}

/// What an audit closure was shown: the names of the devices before and after.
type Seen = Arc<std::sync::Mutex<Vec<(Vec<String>, Vec<String>)>>>;

/// An audit closure for `action` on `target` at `time` by `who`, noting what it was shown;
/// the entry's before/after are the touched devices named `target`.
fn audit(
    seen: &Seen,
    action: &str,
    target: &str,
    time: DateTime<Utc>,
) -> historian_store::DeviceAudit {
    let seen = Arc::clone(seen);
    let (action, target) = (action.to_string(), target.to_string());
    Box::new(move |before, after| {
        let names = |rs: &[historian_store::DeviceRecord]| {
            rs.iter().map(|r| r.spec.name.clone()).collect::<Vec<_>>()
        };
        seen.lock()
            .expect("lock")
            .push((names(before), names(after)));
        let pick = |rs: &[historian_store::DeviceRecord]| {
            rs.iter().find(|r| r.spec.name == target).map(brief)
        };
        Some(historian_store::NewAuditEntry {
            time,
            who: "local".into(),
            peer: Some("127.0.0.1:50000".into()),
            action,
            before: pick(before),
            after: pick(after),
            target,
        })
    })
}

/// Changes of devices keep their audit entry in the same transaction (an entry the
/// database refuses undoes the change); the closure sees only the touched devices (all
/// of them when the others are disabled); entries read back newest first, exactly, paged
/// by id and filtered by time, action and target.
pub async fn audit_trail_is_kept_with_each_change(store: &dyn Store) {
    use historian_store::{AuditQuery, DeleteOutcome, NewAuditEntry};
    let seen: Seen = Arc::default();
    let at = |minutes: i64| t0() + Duration::minutes(minutes) + Duration::microseconds(123_457);
    assert!(
        store
            .audit_entries(&AuditQuery::default())
            .await
            .expect("empty trail")
            .is_empty()
    );

    store.sync_devices(&[device("x")]).await.expect("sync x");
    let created = store
        .upsert_device_audited(&device("a"), audit(&seen, "device.create", "a", at(0)))
        .await
        .expect("create a");
    let a_id = created.value.id;
    let first = created.entry.expect("an entry for the creation");
    assert_eq!(first.action, "device.create");
    assert_eq!(first.before, None);
    assert_eq!(
        first.after.as_deref(),
        Some(format!(r#"{{"id":{a_id},"name":"a","enabled":true,"registers":8}}"#).as_str())
    );

    let mut off = device("a");
    off.enabled = false;
    off.registers.truncate(2);
    let updated = store
        .upsert_device_audited(&off, audit(&seen, "device.disable", "a", at(1)))
        .await
        .expect("disable a");
    assert_eq!(updated.value.spec, off);
    let entry = updated.entry.expect("an entry for the update");
    assert!(entry.id > first.id);
    assert!(
        entry
            .before
            .as_deref()
            .is_some_and(|b| b.contains(r#""enabled":true,"registers":8"#))
    );
    assert!(
        entry
            .after
            .as_deref()
            .is_some_and(|b| b.contains(r#""enabled":false,"registers":2"#))
    );

    // A closure that records nothing: the change is kept without an entry.
    let quiet = store
        .write_devices_audited(&[device("b")], false, Box::new(|_, _| None))
        .await
        .expect("b without an entry");
    assert!(quiet.entry.is_none());
    assert_eq!(quiet.value.len(), 3, "every device is returned");

    // An entry the database refuses (its before is not JSON) undoes the change with it.
    let refused = store
        .write_devices_audited(
            &[device("c")],
            false,
            Box::new(|_, _| {
                Some(NewAuditEntry {
                    time: t0(),
                    who: "local".into(),
                    peer: None,
                    action: "device.create".into(),
                    target: "c".into(),
                    before: Some("not json".into()),
                    after: None,
                })
            }),
        )
        .await
        .expect_err("the entry is refused");
    assert!(!refused.is_transient(), "{refused}");
    let names: Vec<String> = store
        .list_devices()
        .await
        .expect("list")
        .into_iter()
        .map(|r| r.spec.name)
        .collect();
    assert_eq!(
        names,
        ["x", "a", "b"],
        "c was not created without its entry"
    );

    // Disabling the others: the closure sees every device, before and after.
    let synced = store
        .write_devices_audited(
            &[device("b")],
            true,
            audit(&seen, "config.reload", "x", at(2)),
        )
        .await
        .expect("sync b alone");
    let entry = synced.entry.expect("an entry for the sync");
    assert!(
        entry
            .before
            .as_deref()
            .is_some_and(|b| b.contains(r#""enabled":true"#))
    );
    assert!(
        entry
            .after
            .as_deref()
            .is_some_and(|b| b.contains(r#""enabled":false"#))
    );
    // The same sync again changes nothing: the closure sees the same devices before and
    // after, and every device comes back as stored.
    let again = store
        .write_devices_audited(
            &[device("b")],
            true,
            Box::new(|before, after| {
                assert_eq!(before, after, "nothing changed");
                assert_eq!(before.len(), 3);
                None
            }),
        )
        .await
        .expect("sync b alone again");
    assert!(again.entry.is_none());
    assert_eq!(again.value, store.list_devices().await.expect("list"));

    // Only a deletion is audited (a removal's entry: removed_devices_keep_their_history).
    let missing = store
        .delete_device_audited("nope", audit(&seen, "device.delete", "nope", at(3)))
        .await
        .expect("nothing to delete");
    assert_eq!(
        (missing.value, missing.entry),
        (DeleteOutcome::NotFound, None)
    );
    let deleted = store
        .delete_device_audited("a", audit(&seen, "device.delete", "a", at(3)))
        .await
        .expect("delete a");
    assert_eq!(deleted.value, DeleteOutcome::Deleted);
    let entry = deleted.entry.expect("an entry for the deletion");
    assert!(
        entry
            .before
            .as_deref()
            .is_some_and(|b| b.contains(r#""name":"a""#))
    );
    assert_eq!(entry.after, None);

    let strs = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(
        *seen.lock().expect("lock"),
        vec![
            (strs(&[]), strs(&["a"])),
            (strs(&["a"]), strs(&["a"])),
            (strs(&["x", "a", "b"]), strs(&["x", "a", "b"])),
            (strs(&["a"]), strs(&[])),
        ],
        "each closure saw only the touched devices, and ran only for a change"
    );

    // An entry for a change outside the store's transactions.
    let maintenance = NewAuditEntry {
        time: at(4),
        who: "token".into(),
        peer: None,
        action: "storage.maintenance".into(),
        target: "storage".into(),
        before: None,
        after: Some(r#"{"partitions_dropped":[],"rows_deleted":0}"#.into()),
    };
    let appended = store.append_audit(&maintenance).await.expect("append");
    assert_eq!(appended, maintenance.clone().with_id(appended.id));

    // Newest first, exactly as written.
    let all = store
        .audit_entries(&AuditQuery::default())
        .await
        .expect("read");
    let actions: Vec<&str> = all.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "storage.maintenance",
            "device.delete",
            "config.reload",
            "device.disable",
            "device.create"
        ]
    );
    assert_eq!(all[0], appended);
    assert_eq!(all[4].time, at(0), "times keep their microseconds");
    assert_eq!(all[4].peer.as_deref(), Some("127.0.0.1:50000"));
    assert_eq!(all[1], entry);

    // Paged by id, filtered by time, action and target.
    let query = |f: &dyn Fn(&mut AuditQuery)| {
        let mut q = AuditQuery::default();
        f(&mut q);
        async move {
            store
                .audit_entries(&q)
                .await
                .expect("query")
                .into_iter()
                .map(|e| e.action)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        query(&|q| q.limit = 2).await,
        ["storage.maintenance", "device.delete"]
    );
    let second = all[1].id;
    assert_eq!(
        query(&|q| {
            q.before_id = Some(second);
            q.limit = 2;
        })
        .await,
        ["config.reload", "device.disable"]
    );
    assert_eq!(
        query(&|q| {
            q.start = Some(at(1));
            q.end = Some(at(3));
        })
        .await,
        ["config.reload", "device.disable"],
        "start is inclusive, end exclusive"
    );
    assert_eq!(
        query(&|q| q.target = Some("a".into())).await,
        ["device.delete", "device.disable", "device.create"]
    );
    assert_eq!(
        query(&|q| {
            q.action = Some("device.delete".into());
            q.target = Some("a".into());
        })
        .await,
        ["device.delete"]
    );
    assert!(
        query(&|q| q.action = Some("device".into()))
            .await
            .is_empty(),
        "actions match whole"
    );
}

/// A register taken out of a map stays in the store, marked removed with the time, with
/// its readings still readable by address; a current register may take its name, and
/// putting it back in the map makes it current again. A device left out of the config is
/// disabled and keeps its map and its readings.
pub async fn removed_registers_and_disabled_devices_keep_their_history(store: &dyn Store) {
    let full = device("a");
    let recs = store
        .sync_devices(&[full.clone(), device("b")])
        .await
        .expect("first sync");
    let a_id = recs.iter().find(|r| r.spec.name == "a").expect("a").id;
    let b_id = recs.iter().find(|r| r.spec.name == "b").expect("b").id;
    let hr0 = full.registers[0].clone();
    let ir0 = full.registers[1].clone();
    let batch = [
        reading(a_id, &hr0, t0(), Some(1.0)),
        reading(a_id, &ir0, t0(), Some(2.0)),
        reading(b_id, &hr0, t0(), Some(3.0)),
    ];
    store
        .insert_register_readings_batch(&batch)
        .await
        .expect("readings");

    // hr0 leaves a's map, and b leaves the config.
    let before = Utc::now() - Duration::seconds(5);
    let mut shorter = full.clone();
    shorter.registers.remove(0);
    let recs = store
        .sync_devices(std::slice::from_ref(&shorter))
        .await
        .expect("second sync");
    let a = recs.iter().find(|r| r.id == a_id).expect("a kept");
    assert_eq!(a.spec, shorter, "the current map is the new one");
    assert_eq!(a.removed_registers.len(), 1, "{:?}", a.removed_registers);
    assert_eq!(a.removed_registers[0].point, hr0, "kept as it was mapped");
    assert!(
        a.removed_registers[0].removed_at >= before
            && a.removed_registers[0].removed_at <= Utc::now() + Duration::seconds(5),
        "removed at {}",
        a.removed_registers[0].removed_at
    );
    assert_eq!(
        a.find_register(|p| p.name == "hr0").map(|p| p.register),
        Some(hr0.register),
        "a removed register answers to its name"
    );
    let range = TimeRange::new(t0(), t0() + Duration::seconds(1));
    let kept = store
        .get_readings_time_range(SeriesKey::new(a_id, hr0.register), range, 10)
        .await
        .expect("removed register's readings");
    assert_eq!(kept.len(), 1, "the removed register's history is kept");
    assert_eq!(kept[0].value, Some(1.0));
    let latest = store
        .get_device_readings_latest(a_id)
        .await
        .expect("latest");
    assert!(
        latest.iter().all(|r| r.register_address != hr0.register),
        "the latest values are the current map's: {latest:?}"
    );
    let b = recs.iter().find(|r| r.id == b_id).expect("b kept");
    assert!(!b.spec.enabled, "b left the config and is disabled");
    assert_eq!(b.spec.registers, device("b").registers, "b keeps its map");
    let b_history = store
        .get_readings_time_range(SeriesKey::new(b_id, hr0.register), range, 10)
        .await
        .expect("disabled device's readings");
    assert_eq!(b_history.len(), 1, "the disabled device's history is kept");

    // A new register at another address takes the removed one's name.
    let mut renamed = shorter.clone();
    renamed
        .registers
        .push(point("hr0", Table::HoldingRegister, 100, DataType::Uint16));
    let recs = store
        .sync_devices(std::slice::from_ref(&renamed))
        .await
        .expect("a current register reuses a removed one's name");
    let a = recs.iter().find(|r| r.id == a_id).expect("a");
    assert_eq!(a.spec, renamed);
    assert_eq!(
        a.find_register(|p| p.name == "hr0").map(|p| p.register),
        Some(RegisterRef::new(Table::HoldingRegister, 100)),
        "the name is taken by the current register"
    );
    assert_eq!(
        a.find_register(|p| p.register == hr0.register)
            .map(|p| p.name.as_str()),
        Some("hr0"),
        "the removed register stays reachable by address"
    );

    // Back in the map as it was: current again, no longer removed.
    let recs = store
        .sync_devices(std::slice::from_ref(&full))
        .await
        .expect("third sync");
    let a = recs.iter().find(|r| r.id == a_id).expect("a");
    assert_eq!(a.spec, full);
    assert_eq!(
        a.removed_registers
            .iter()
            .map(|r| r.point.register)
            .collect::<Vec<_>>(),
        vec![RegisterRef::new(Table::HoldingRegister, 100)],
        "only the register left out this time is removed"
    );
}

/// Many series read together give what each gives read alone, in the order asked, across
/// more series than one statement takes, with empty ranges, series without readings and
/// the same series asked twice.
pub async fn many_ranges_read_together_match_one_by_one(store: &dyn Store) {
    let recs = store
        .sync_devices(&[device("m1"), device("m2")])
        .await
        .expect("sync");
    let mut written = Vec::new();
    for rec in &recs {
        // Every register but the last has readings: the last answers nothing.
        let mapped = rec.spec.registers.len() - 1;
        for (i, p) in rec.spec.registers.iter().take(mapped).enumerate() {
            for s in 0..6 {
                let value = (rec.id * 100 + i as i64 * 10 + s) as f64;
                written.push(reading(rec.id, p, t0() + Duration::seconds(s), Some(value)));
            }
        }
    }
    let out = store
        .insert_register_readings_batch(&written)
        .await
        .expect("insert");
    assert_eq!(out.inserted, written.len());

    let mut requests = Vec::new();
    for k in 0..1_205_i64 {
        let rec = &recs[(k % 2) as usize];
        let p = &rec.spec.registers[(k / 2) as usize % rec.spec.registers.len()];
        let from = t0() + Duration::seconds(k % 7 - 1);
        let to = from + Duration::seconds(k % 5);
        requests.push((SeriesKey::new(rec.id, p.register), TimeRange::new(from, to)));
    }
    for limit in [1, 3, 100] {
        let together = store
            .get_readings_time_ranges(&requests, limit)
            .await
            .expect("read together");
        assert_eq!(together.len(), requests.len());
        let mut rows = 0;
        for (i, (key, range)) in requests.iter().enumerate() {
            let alone = store
                .get_readings_time_range(*key, *range, limit)
                .await
                .expect("read alone");
            assert_eq!(
                together[i], alone,
                "request {i} ({key:?}, {range:?}), limit {limit}"
            );
            rows += alone.len();
        }
        assert!(
            rows > requests.len() / 3,
            "the requests found readings: {rows}"
        );
    }
    let none = store
        .get_readings_time_ranges(&[], 10)
        .await
        .expect("no requests");
    assert!(none.is_empty());
}

/// 64-bit integers a double would round (2^63-1, 2^64-1, 2^53+1) come back exactly: the
/// double in `value`, every digit in `text`; -2^63 is exact as a double and has no text.
/// Aggregates read the doubles.
pub async fn sixty_four_bit_integers_round_trip_exactly(store: &dyn Store) {
    use historian_model::{Number, exact_text};
    let wide = DeviceSpec {
        registers: vec![
            point("u64", Table::HoldingRegister, 100, DataType::Uint64),
            point("i64", Table::HoldingRegister, 104, DataType::Int64),
        ],
        ..device("wide")
    };
    let recs = store.sync_devices(&[wide]).await.expect("sync");
    let id = recs[0].id;
    let (u, i) = (&recs[0].spec.registers[0], &recs[0].spec.registers[1]);
    let cases: [(&RegisterPoint, i128); 5] = [
        (i, i128::from(i64::MAX)),
        (i, i128::from(i64::MIN)),
        (u, i128::from(u64::MAX)),
        (i, (1 << 53) + 1),
        (u, (1 << 53) + 1),
    ];
    let written: Vec<Reading> = cases
        .iter()
        .enumerate()
        .map(|(k, &(p, n))| Reading {
            text: exact_text(n),
            ..reading(id, p, t0() + Duration::seconds(k as i64), Some(n as f64))
        })
        .collect();
    assert_eq!(written[1].text, None, "-2^63 is exact as a double");
    let out = store
        .insert_register_readings_batch(&written)
        .await
        .expect("insert");
    assert_eq!(out.inserted, written.len());
    let range = TimeRange::new(t0(), t0() + Duration::hours(1));
    for p in [u, i] {
        let mine: Vec<&Reading> = written
            .iter()
            .filter(|r| r.register_address == p.register)
            .collect();
        let got = store
            .get_readings_time_range(SeriesKey::new(id, p.register), range, 100)
            .await
            .expect("range");
        assert_eq!(got.iter().collect::<Vec<_>>(), mine, "{}", p.name);
        let series = store
            .get_series(SeriesKey::new(id, p.register), range, 100)
            .await
            .expect("series");
        let numbers: Vec<Option<Number>> = series
            .iter()
            .map(|s| Number::of(p.data_type, s.value, s.text.as_deref()))
            .collect();
        let expected: Vec<Option<Number>> = mine.iter().map(|r| r.number()).collect();
        assert_eq!(numbers, expected, "{}", p.name);
        let latest = store
            .get_latest_reading(id, p.register)
            .await
            .expect("latest")
            .expect("a latest reading");
        assert_eq!(Some(&&latest), mine.last(), "{}", p.name);
    }
    let exact: Vec<Option<Number>> = cases
        .iter()
        .map(|&(_, n)| Some(Number::Integer(n)))
        .collect();
    assert_eq!(
        written.iter().map(Reading::number).collect::<Vec<_>>(),
        exact
    );
    let latest = store
        .get_device_readings_latest(id)
        .await
        .expect("device latest");
    let latest: Vec<Option<Number>> = latest.iter().map(Reading::number).collect();
    assert_eq!(
        latest,
        [
            Some(Number::Integer((1 << 53) + 1)),
            Some(Number::Integer((1 << 53) + 1))
        ]
    );
    let buckets = store
        .get_aggregates(id, &[u.register, i.register], range, 1800)
        .await
        .expect("aggregates");
    let max_u = buckets
        .iter()
        .find(|b| b.register_address == u.register)
        .and_then(|b| b.max);
    assert_eq!(max_u, Some(u64::MAX as f64));
}

/// A device of three registers: a number, a string and a 64-bit integer.
pub async fn text_device(store: &dyn Store) -> (i64, Vec<RegisterPoint>) {
    let spec = DeviceSpec {
        registers: vec![
            point("n", Table::HoldingRegister, 0, DataType::Uint16),
            RegisterPoint {
                length: Some(4),
                ..point("serial", Table::HoldingRegister, 10, DataType::String)
            },
            point("big", Table::HoldingRegister, 20, DataType::Int64),
        ],
        ..device("texts")
    };
    let rec = store.sync_devices(&[spec]).await.expect("sync").remove(0);
    (rec.id, rec.spec.registers)
}

/// Ten instants a second apart from `at` of [`text_device`]'s registers: numbers; texts
/// (one failed read among them, without text); 64-bit integers beyond 2^53 (value and
/// exact text) every other second, small ones (no text) between.
pub fn text_readings(id: i64, points: &[RegisterPoint], at: DateTime<Utc>) -> Vec<Reading> {
    use historian_model::exact_text;
    let mut out = Vec::new();
    for k in 0..10_i64 {
        let t = at + Duration::seconds(k);
        out.push(reading(id, &points[0], t, Some(k as f64)));
        out.push(if k == 4 {
            reading(id, &points[1], t, None)
        } else {
            Reading {
                text: Some(Arc::from(format!("SN-{k} \u{e9}").as_str())),
                quality: Quality::Good,
                ..reading(id, &points[1], t, None)
            }
        });
        let n: i128 = if k % 2 == 0 {
            (1 << 53) + 1 + i128::from(k)
        } else {
            i128::from(k)
        };
        out.push(Reading {
            text: exact_text(n),
            ..reading(id, &points[2], t, Some(n as f64))
        });
    }
    out
}

/// Every read gives `written` (one device's readings, any registers) back exactly, texts
/// included: a range and a series, whole and cut by a limit, many ranges in one call, the
/// latest reading of each register and of the device.
pub async fn texts_read_back_exactly(store: &dyn Store, written: &[Reading]) {
    let mut by_register: std::collections::BTreeMap<RegisterRef, Vec<&Reading>> =
        Default::default();
    for r in written {
        by_register.entry(r.register_address).or_default().push(r);
    }
    let mut requests = Vec::new();
    let mut wanted = Vec::new();
    for mine in by_register.values_mut() {
        mine.sort_by_key(|r| r.timestamp);
        let (first, last) = (mine[0], mine[mine.len() - 1]);
        let key = SeriesKey::new(first.device_id, first.register_address);
        let range = TimeRange::new(first.timestamp, last.timestamp + Duration::seconds(1));
        let name = &*first.register_name;
        for limit in [3, 1000] {
            let want: Vec<Reading> = mine.iter().take(limit).map(|r| (*r).clone()).collect();
            let got = store
                .get_readings_time_range(key, range, limit)
                .await
                .expect("range");
            assert_eq!(got, want, "range of {name}, limit {limit}");
            let series = store.get_series(key, range, limit).await.expect("series");
            let points: Vec<_> = want.iter().cloned().map(SeriesPoint::from).collect();
            assert_eq!(series, points, "series of {name}, limit {limit}");
        }
        let latest = store
            .get_latest_reading(first.device_id, first.register_address)
            .await
            .expect("latest");
        assert_eq!(latest.as_ref(), Some(last), "latest of {name}");
        requests.push((key, range));
        wanted.push(mine.clone());
    }
    for limit in [3, 1000] {
        let together = store
            .get_readings_time_ranges(&requests, limit)
            .await
            .expect("ranges");
        let want: Vec<Vec<Reading>> = wanted
            .iter()
            .map(|rows| rows.iter().take(limit).map(|r| (*r).clone()).collect())
            .collect();
        assert_eq!(together, want, "ranges, limit {limit}");
    }
    let device = store
        .get_device_readings_latest(written[0].device_id)
        .await
        .expect("device latest");
    let lasts: Vec<Reading> = wanted
        .iter()
        .map(|rows| (*rows[rows.len() - 1]).clone())
        .collect();
    for last in &lasts {
        assert!(device.contains(last), "{last:?} in {device:?}");
    }
}

/// Strings and 64-bit integers beyond 2^53 keep their exact text through every read,
/// among numbers of the same device, and a limit cuts texts and readings alike.
pub async fn texts_read_back_through_every_read(store: &dyn Store) {
    let (id, points) = text_device(store).await;
    let written = text_readings(id, &points, t0());
    assert_eq!(
        written.iter().filter(|r| r.text.is_some()).count(),
        9 + 5,
        "texts of strings and of big integers"
    );
    let out = store
        .insert_register_readings_batch(&written)
        .await
        .expect("insert");
    assert_eq!(out.inserted, written.len());
    texts_read_back_exactly(store, &written).await;
}

/// A device deleted while it has readings is removed, not deleted: it keeps its row, map
/// and readings (history by id), leaves the catalogue, stops being enabled, and its name
/// is free for a new device, whose readings never mix with the old one's. The removal is
/// audited like a deletion.
pub async fn removed_devices_keep_their_history(store: &dyn Store) {
    use historian_store::DeleteOutcome;
    let old = store.sync_devices(&[device("pm")]).await.expect("sync")[0].clone();
    let hr0 = old.spec.registers[0].clone();
    let range = TimeRange::new(t0(), t0() + Duration::seconds(10));
    store
        .insert_register_readings_batch(&[
            reading(old.id, &hr0, t0(), Some(1.0)),
            reading(old.id, &hr0, t0() + Duration::seconds(1), Some(2.0)),
        ])
        .await
        .expect("old readings");
    let seen: Seen = Arc::default();
    let removed = store
        .delete_device_audited("pm", audit(&seen, "device.delete", "pm", t0()))
        .await
        .expect("remove");
    assert_eq!(removed.value, DeleteOutcome::Removed);
    let entry = removed.entry.expect("the removal is audited");
    assert_eq!(entry.action, "device.delete");
    assert!(entry.before.is_some() && entry.after.is_none(), "{entry:?}");
    let strs = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(
        *seen.lock().expect("lock"),
        [(strs(&["pm"]), strs(&[]))],
        "the device before, none after"
    );
    assert_eq!(
        store.delete_device("pm").await.expect("delete again"),
        DeleteOutcome::NotFound,
        "a removed device is not in the catalogue"
    );
    assert!(store.list_devices().await.expect("list").is_empty());
    let history = store
        .get_readings_time_range(SeriesKey::new(old.id, hr0.register), range, 10)
        .await
        .expect("old history");
    let values = |rs: &[Reading]| rs.iter().map(|r| r.value).collect::<Vec<_>>();
    assert_eq!(values(&history), [Some(1.0), Some(2.0)]);

    // A new device takes the name; the old one keeps its id, map and readings.
    let mut new_spec = device("pm");
    new_spec.port = 1502;
    let new = store
        .upsert_device(&new_spec)
        .await
        .expect("reuse the name");
    assert_ne!(new.id, old.id);
    assert_eq!((new.spec.clone(), new.removed_at), (new_spec.clone(), None));
    store
        .insert_register_readings_batch(&[reading(new.id, &hr0, t0(), Some(7.0))])
        .await
        .expect("new readings");
    let all = store
        .list_devices_including_removed()
        .await
        .expect("list with removed");
    assert_eq!(
        all.iter().map(|r| r.id).collect::<Vec<_>>(),
        [old.id, new.id]
    );
    let kept = &all[0];
    assert_eq!(kept.spec.name, "pm");
    assert!(!kept.spec.enabled, "a removed device is not polled");
    assert_eq!(kept.spec.registers, old.spec.registers, "it keeps its map");
    assert!(
        kept.removed_at
            .is_some_and(|at| at <= Utc::now() + Duration::seconds(5))
    );
    assert_eq!(
        store.list_devices().await.expect("list"),
        std::slice::from_ref(&new)
    );
    let old_history = store
        .get_readings_time_range(SeriesKey::new(old.id, hr0.register), range, 10)
        .await
        .expect("old history");
    assert_eq!(values(&old_history), [Some(1.0), Some(2.0)]);
    let new_history = store
        .get_readings_time_range(SeriesKey::new(new.id, hr0.register), range, 10)
        .await
        .expect("new history");
    assert_eq!(values(&new_history), [Some(7.0)]);

    // Writing the name again, or syncing a config without it, touches only the new one.
    new_spec.port = 2502;
    let synced = store
        .sync_devices(std::slice::from_ref(&new_spec))
        .await
        .expect("sync");
    assert_eq!(
        synced
            .iter()
            .map(|r| (r.id, r.spec.port))
            .collect::<Vec<_>>(),
        [(new.id, 2502)]
    );
    store.sync_devices(&[]).await.expect("sync none");
    let all = store
        .list_devices_including_removed()
        .await
        .expect("list with removed");
    assert_eq!(
        all[0].spec.port, old.spec.port,
        "the removed device is left as it was"
    );
    assert!(
        !all[1].spec.enabled && all[1].removed_at.is_none(),
        "left the config: disabled"
    );
    // A second removal of the name keeps both old devices apart.
    assert_eq!(
        store.delete_device("pm").await.expect("remove"),
        DeleteOutcome::Removed
    );
    let all = store
        .list_devices_including_removed()
        .await
        .expect("list with removed");
    assert!(all.iter().all(|r| r.removed_at.is_some()) && all.len() == 2);
}

/// Device `i` of a fleet: a name that does not sort like `i`, and a map of its own
/// (`len` registers, names and addresses differing from device to device).
fn fleet_device(i: usize, len: usize) -> DeviceSpec {
    let registers = (0..len)
        .map(|r| {
            let address = u16::try_from(r * 2 + i % 7).expect("address");
            let table = if r % 3 == 0 {
                Table::InputRegister
            } else {
                Table::HoldingRegister
            };
            RegisterPoint {
                scale: 0.1 * (r % 4 + 1) as f64,
                ..point(&format!("r{i}_{r}"), table, address, DataType::Uint16)
            }
        })
        .collect();
    DeviceSpec {
        name: format!("z{:04}-{i}", (i * 7919) % 10_000),
        host: "127.0.0.1".into(),
        port: u16::try_from(1000 + i).expect("port"),
        unit_id: u8::try_from(i % 250).expect("unit"),
        poll_interval_ms: 1000,
        enabled: true,
        registers,
        access: Access::default(),
    }
}

/// A fleet written at once (more map rows than one statement of the batched writers
/// takes) gets ids in the order it is given, whatever the names, and every map whole and
/// in order; a second sync keeps the ids of the devices it knows, gives new ones (placed
/// between known ones) later ids in the order given, and records the registers each map
/// left out.
pub async fn a_fleet_is_written_in_config_order(store: &dyn Store) {
    let first: Vec<DeviceSpec> = (0..330).map(|i| fleet_device(i, 70 + i % 11)).collect();
    let recs = store.sync_devices(&first).await.expect("first sync");
    assert_eq!(recs.len(), first.len());
    let ids: Vec<i64> = recs.iter().map(|r| r.id).collect();
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "ordered by id: {ids:?}"
    );
    for (rec, spec) in recs.iter().zip(&first) {
        assert_eq!(rec.spec.name, spec.name, "ids follow the config's order");
        assert_eq!(&rec.spec, spec, "{} is stored whole", spec.name);
        assert!(rec.removed_registers.is_empty());
    }
    assert_eq!(store.list_devices().await.expect("list"), recs);

    // Every third device's map loses its first register and gains one; a new device
    // comes after every tenth; the config's order is kept.
    let old_id: std::collections::HashMap<String, i64> =
        recs.iter().map(|r| (r.spec.name.clone(), r.id)).collect();
    let mut second = Vec::new();
    let mut added = Vec::new();
    for (i, d) in first.iter().enumerate() {
        let mut d = d.clone();
        if i % 3 == 0 {
            d.registers.remove(0);
            d.registers
                .push(point("extra", Table::Coil, 9, DataType::Bool));
        }
        second.push(d);
        if i % 10 == 0 {
            let new = fleet_device(1000 + i, 5 + i % 4);
            added.push(new.name.clone());
            second.push(new);
        }
    }
    let recs = store.sync_devices(&second).await.expect("second sync");
    assert_eq!(recs.len(), second.len());
    let by_name: std::collections::HashMap<&str, &historian_store::DeviceRecord> =
        recs.iter().map(|r| (r.spec.name.as_str(), r)).collect();
    let newest_old = ids.iter().max().copied().expect("ids");
    for (i, d) in first.iter().enumerate() {
        let r = by_name[d.name.as_str()];
        assert_eq!(r.id, old_id[&d.name], "{} keeps its id", d.name);
        if i % 3 == 0 {
            assert_eq!(
                r.removed_registers
                    .iter()
                    .map(|x| &x.point)
                    .collect::<Vec<_>>(),
                vec![&d.registers[0]],
                "{}: the register left out is kept, removed",
                d.name
            );
        } else {
            assert!(r.removed_registers.is_empty(), "{}", d.name);
        }
    }
    for d in &second {
        assert_eq!(&by_name[d.name.as_str()].spec, d, "{} as given", d.name);
    }
    let new_ids: Vec<i64> = added.iter().map(|n| by_name[n.as_str()].id).collect();
    assert!(
        new_ids[0] > newest_old && new_ids.windows(2).all(|w| w[0] < w[1]),
        "new devices take later ids in the config's order: {new_ids:?} after {newest_old}"
    );
    assert_eq!(store.list_devices().await.expect("list"), recs);
}

/// An audited write of a whole fleet (what the historian does at start-up) answers, and
/// hands its audit entry, exactly the devices a fresh read of the store finds: on a first
/// start (every device new), when devices are only added, and when one changes, one is
/// disabled by being left out, and one is added at once. Every field of a device and of a
/// register is away from its default in at least one device.
pub async fn an_audited_fleet_write_answers_what_it_stored(store: &dyn Store) {
    use historian_store::DeviceRecord;
    type Seen = Arc<std::sync::Mutex<Vec<(Vec<DeviceRecord>, Vec<DeviceRecord>)>>>;
    let seen: Seen = Arc::default();
    let audit = |seen: &Seen| -> historian_store::DeviceAudit {
        let seen = Arc::clone(seen);
        Box::new(move |before, after| {
            seen.lock()
                .expect("audit log")
                .push((before.to_vec(), after.to_vec()));
            None
        })
    };
    let rich = |name: &str| DeviceSpec {
        enabled: false,
        poll_interval_ms: 250,
        ..device(name)
    };
    let mut fleet: Vec<DeviceSpec> = (0..40).map(|i| fleet_device(i, 30 + i % 5)).collect();
    fleet.insert(7, rich("rich-a"));
    fleet.push(device("rich-b"));
    let write_and_compare = async |specs: &[DeviceSpec], what: &str| {
        let written = store
            .write_devices_audited(specs, true, audit(&seen))
            .await
            .expect(what);
        let stored = store.list_devices().await.expect("list");
        assert_eq!(
            written.value, stored,
            "{what}: the answer is what was stored"
        );
        let (_, after) = seen.lock().expect("audit log").pop().expect("audited");
        assert_eq!(after, stored, "{what}: the audit sees what was stored");
        for s in specs {
            let r = stored
                .iter()
                .find(|r| r.spec.name == s.name)
                .expect("stored");
            assert_eq!(&r.spec, s, "{what}: {} as given", s.name);
        }
        stored
    };

    let first = write_and_compare(&fleet, "first start").await;
    let ids: Vec<i64> = first.iter().map(|r| r.id).collect();
    assert_eq!(
        first.iter().map(|r| &r.spec.name).collect::<Vec<_>>(),
        fleet.iter().map(|s| &s.name).collect::<Vec<_>>(),
        "ids follow the order given"
    );

    fleet.insert(3, fleet_device(100, 12));
    fleet.push(rich("rich-c"));
    let added = write_and_compare(&fleet, "devices added").await;
    assert!(
        first.iter().all(|r| added.contains(r)),
        "devices stored before are untouched"
    );

    fleet[0].registers.pop();
    let gone = fleet.remove(5);
    fleet.push(fleet_device(101, 3));
    let changed = write_and_compare(&fleet, "changed, left out, added").await;
    assert!(
        changed
            .iter()
            .all(|r| ids.contains(&r.id) || r.id > ids[ids.len() - 1])
    );
    assert_eq!(
        changed[0].removed_registers.len(),
        1,
        "the register left out is kept"
    );
    let left_out = store
        .list_devices()
        .await
        .expect("list")
        .into_iter()
        .find(|r| r.spec.name == gone.name)
        .expect("the device left out is kept");
    assert!(!left_out.spec.enabled, "and disabled");
}
