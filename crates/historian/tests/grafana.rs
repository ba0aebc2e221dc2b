//! The Grafana dashboards in deploy/grafana run: every panel's SQL and every variable's
//! query, with Grafana's macros expanded as its PostgreSQL data source does, against a
//! real database holding 80 days of readings and their roll-ups, over a 6-hour, a 7-day
//! and an 80-day range; each answers the columns Grafana needs (a `time` column and
//! numeric values for time series) and the trends find data in every range (raw, hourly,
//! daily). Plain PostgreSQL, and TimescaleDB where the server offers it.

use chrono::{DateTime, Duration as ChronoDuration, DurationRound, Utc};
use historian_model::{DataType, DeviceSpec, Quality, Reading, RegisterPoint, RegisterRef, Table};
use historian_store::{StorageUrl, Store, StoreOptions, TimescaleMode};
use historian_testkit::{PgTestDb, report_skip, require};
use serde_json::Value;
use std::sync::Arc;
use tokio_postgres::types::Type;

fn dashboard(name: &str) -> Value {
    let path = format!(
        "{}/../../deploy/grafana/dashboards/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(&path).expect("dashboard")).expect("JSON")
}

/// The text between `open` (just past a macro's `(`) and its matching `)`.
fn arguments(sql: &str, open: usize) -> (String, usize) {
    let mut depth = 1;
    for (i, c) in sql[open..].char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    return (sql[open..open + i].to_string(), open + i + 1);
                }
            }
            _ => {}
        }
    }
    panic!("unbalanced macro in {sql}");
}

/// Seconds of a Grafana interval such as `1m`, `5s`, `1h`, `1d`.
fn seconds(interval: &str) -> i64 {
    let interval = interval.trim().trim_matches('\'');
    let (n, unit) = interval.split_at(interval.len() - 1);
    let n: i64 = n
        .parse()
        .unwrap_or_else(|_| panic!("interval {interval:?}"));
    n * match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => panic!("interval {interval:?}"),
    }
}

/// Expands the macros of Grafana's PostgreSQL data source and the dashboard variables.
fn expand(
    sql: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    interval: &str,
    vars: &[(&str, String)],
) -> String {
    let lit =
        |t: DateTime<Utc>| format!("'{}'", t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
    let mut out = sql.replace("$__interval", interval);
    for (name, value) in vars {
        out = out.replace(&format!("${name}"), value);
    }
    out = out
        .replace("$__timeFrom()", &lit(from))
        .replace("$__timeTo()", &lit(to));
    for (name, render) in [
        ("$__timeFilter(", 0),
        ("$__timeGroupAlias(", 1),
        ("$__timeGroup(", 2),
    ] {
        while let Some(at) = out.find(name) {
            let (args, end) = arguments(&out, at + name.len());
            let replaced = match render {
                0 => format!("{} BETWEEN {} AND {}", args.trim(), lit(from), lit(to)),
                _ => {
                    let (col, step) = args.rsplit_once(',').expect("column, interval");
                    let s = seconds(step);
                    let group = format!("floor(extract(epoch from {})/{s})*{s}", col.trim());
                    if render == 1 {
                        format!("{group} AS \"time\"")
                    } else {
                        group
                    }
                }
            };
            out.replace_range(at..end, &replaced);
        }
    }
    assert!(!out.contains('$'), "an unexpanded macro or variable: {out}");
    out
}

fn numeric(t: &Type) -> bool {
    [
        Type::FLOAT8,
        Type::FLOAT4,
        Type::INT8,
        Type::INT4,
        Type::INT2,
        Type::NUMERIC,
    ]
    .contains(t)
}

/// Two registers polled every 10 minutes for 80 days before `now`.
async fn fill(store: &dyn Store, now: DateTime<Utc>) -> (i64, Vec<i32>) {
    let point = |name: &str, address: u16, unit: &str| RegisterPoint {
        name: name.into(),
        register: RegisterRef::new(Table::HoldingRegister, address),
        data_type: DataType::Uint16,
        unit: unit.into(),
        ..RegisterPoint::default()
    };
    let spec = DeviceSpec {
        name: "grafana-meter".into(),
        host: "127.0.0.1".into(),
        port: 502,
        unit_id: 1,
        poll_interval_ms: 600_000,
        enabled: true,
        registers: vec![point("volts", 0, "V"), point("amps", 1, "A")],
        access: Default::default(),
    };
    let device = store.upsert_device(&spec).await.expect("device");
    let start = (now - ChronoDuration::days(80))
        .duration_trunc(ChronoDuration::minutes(10))
        .expect("trunc");
    let mut batch = Vec::new();
    let mut t = start;
    let mut i = 0u32;
    while t < now {
        for p in &spec.registers {
            batch.push(Reading {
                timestamp: t,
                device_id: device.id,
                register_address: p.register,
                value: Some(f64::from(i % 50) + f64::from(p.register.address) * 100.0),
                text: None,
                quality: if i.is_multiple_of(97) {
                    Quality::Uncertain
                } else {
                    Quality::Good
                },
                register_name: Arc::from(p.name.as_str()),
                data_type: p.data_type,
                unit: Arc::from(p.unit.as_str()),
            });
        }
        if batch.len() >= 2_000 {
            store
                .insert_register_readings_batch(&batch)
                .await
                .expect("insert");
            batch.clear();
        }
        t += ChronoDuration::minutes(10);
        i += 1;
    }
    store
        .insert_register_readings_batch(&batch)
        .await
        .expect("insert");
    let refs = spec
        .registers
        .iter()
        .map(|p| i32::try_from(p.register.reference()).expect("reference"))
        .collect();
    (device.id, refs)
}

async fn every_panel_runs(test: &str, db: &PgTestDb, mode: TimescaleMode) {
    let options = StoreOptions {
        timescaledb: mode,
        ..StoreOptions::default()
    };
    let store = historian_store::open(&StorageUrl::Postgres(db.url.clone()), &options)
        .await
        .expect("store");
    let now = Utc::now();
    let (device_id, refs) = fill(&*store, now).await;
    store.run_maintenance(now).await.expect("roll-ups");
    let client = db.client().await.expect("connect");
    if store.backend() == "timescaledb" {
        for view in ["register_readings_hourly", "register_readings_daily"] {
            historian_testkit::refresh_continuous_aggregate(
                &client,
                view,
                historian_testkit::PATIENCE,
            )
            .await
            .expect("refresh");
        }
    }
    let vars = [
        ("device", device_id.to_string()),
        (
            "register",
            refs.iter()
                .map(i32::to_string)
                .collect::<Vec<_>>()
                .join(","),
        ),
    ];
    let ranges = [
        ("6h", ChronoDuration::hours(6), "1m"),
        ("7d", ChronoDuration::days(7), "30m"),
        ("80d", ChronoDuration::days(80), "12h"),
    ];
    let mut ran = 0;
    for name in ["fleet-overview", "device-detail"] {
        let board = dashboard(name);
        for var in board["templating"]["list"].as_array().expect("templating") {
            let sql = expand(
                var["query"].as_str().expect("query"),
                now - ChronoDuration::hours(6),
                now,
                "1m",
                &vars,
            );
            let rows = client.query(&sql, &[]).await.unwrap_or_else(|e| {
                panic!("{test}: {name} variable {}: {e:?}\n{sql}", var["name"])
            });
            assert!(
                !rows.is_empty(),
                "{name} variable {} found nothing",
                var["name"]
            );
            let cols: Vec<&str> = rows[0].columns().iter().map(|c| c.name()).collect();
            assert_eq!(
                cols,
                ["__text", "__value"],
                "{name} variable {}",
                var["name"]
            );
        }
        for panel in board["panels"].as_array().expect("panels") {
            let title = panel["title"].as_str().expect("title");
            for target in panel["targets"].as_array().expect("targets") {
                let format = target["format"].as_str().expect("format");
                for (range, length, interval) in ranges {
                    let sql = expand(
                        target["rawSql"].as_str().expect("rawSql"),
                        now - length,
                        now,
                        interval,
                        &vars,
                    );
                    let rows = client.query(&sql, &[]).await.unwrap_or_else(|e| {
                        panic!("{test}: {name} / {title} over {range}: {e:?}\n{sql}")
                    });
                    ran += 1;
                    assert!(
                        !rows.is_empty(),
                        "{name} / {title} over {range}: no rows\n{sql}"
                    );
                    let columns = rows[0].columns();
                    if format == "time_series" {
                        assert_eq!(columns[0].name(), "time", "{name} / {title}");
                        assert!(
                            numeric(columns[0].type_()) || *columns[0].type_() == Type::TIMESTAMPTZ,
                            "{name} / {title}: time is {}",
                            columns[0].type_()
                        );
                        let values: Vec<_> = columns[1..]
                            .iter()
                            .filter(|c| c.name() != "metric")
                            .collect();
                        assert!(!values.is_empty(), "{name} / {title}: no value column");
                        for c in values {
                            assert!(
                                numeric(c.type_()),
                                "{name} / {title}: {} is {}",
                                c.name(),
                                c.type_()
                            );
                        }
                        // In time order, as Grafana expects (numeric epochs read through
                        // a cast, which the client library can decode).
                        let times: Vec<f64> = if *columns[0].type_() == Type::TIMESTAMPTZ {
                            rows.iter()
                                .map(|r| r.get::<_, DateTime<Utc>>(0).timestamp() as f64)
                                .collect()
                        } else {
                            let cast = format!("SELECT \"time\"::float8 FROM ({sql}) AS q");
                            let rows = client.query(&cast, &[]).await.expect("times");
                            rows.iter().map(|r| r.get::<_, f64>(0)).collect()
                        };
                        assert!(
                            times.windows(2).all(|w| w[0] <= w[1]),
                            "{name} / {title}: not in time order"
                        );
                    } else {
                        assert_eq!(format, "table", "{name} / {title}");
                        assert!(!columns.is_empty());
                    }
                }
            }
        }
    }
    assert!(ran >= 20, "{ran} panel queries ran");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_panel_runs_on_plain_postgres() {
    let test = "every_panel_runs_on_plain_postgres";
    let Some(db) = require(test, PgTestDb::create().await) else {
        return;
    };
    every_panel_runs(test, &db, TimescaleMode::Off).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_panel_runs_on_timescaledb() {
    let test = "every_panel_runs_on_timescaledb";
    let Some(db) = require(test, PgTestDb::create().await) else {
        return;
    };
    let client = db.client().await.expect("connect");
    if let Err(e) = client
        .batch_execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
        .await
    {
        report_skip(
            test,
            &format!("TimescaleDB is not available on this server: {e}"),
        );
        return;
    }
    every_panel_runs(test, &db, TimescaleMode::Required).await;
}
