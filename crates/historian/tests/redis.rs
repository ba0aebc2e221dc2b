//! Latest values written through to a real Redis: a hash per device and a message per
//! poll; and storing goes on undisturbed when Redis is killed.

mod common;

use common::{Running, TestHistorian};
use historian_testkit::{RedisPrefix, ThrowawayRedis, require};
use modbus_historian::config::RedisConfig;
use modbus_historian::stats::Stats;
use std::collections::HashMap;
use std::time::Duration;

const DEVICES: usize = 3;
const POINTS: usize = 10;

async fn historian(redis: RedisConfig) -> Running {
    TestHistorian::new("redis")
        .fleet(DEVICES, POINTS)
        .interval(Duration::from_millis(200))
        .configure(|config| config.redis = Some(redis))
        .start()
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latest_values_and_poll_messages_reach_redis() {
    let test = "latest_values_and_poll_messages_reach_redis";
    let Some(prefix) = require(test, RedisPrefix::create()) else {
        return;
    };
    let key_prefix = prefix.prefix.trim_end_matches(':').to_string();
    let client = redis::Client::open(prefix.url.as_str()).expect("client");
    // Subscribe before the historian starts so the first messages are seen.
    let mut sub = client.get_connection().expect("connection");
    let pattern = format!("{key_prefix}:readings:*");
    let (msg_tx, msg_rx) = std::sync::mpsc::channel::<String>();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<()>();
    std::thread::spawn(move || {
        let mut pubsub = sub.as_pubsub();
        if pubsub.psubscribe(&pattern).is_err() {
            return;
        }
        let _ = ready_tx.send(());
        let _ = pubsub.set_read_timeout(Some(historian_testkit::PATIENCE));
        while let Ok(m) = pubsub.get_message() {
            let Ok(payload) = m.get_payload::<String>() else {
                break;
            };
            if msg_tx.send(payload).is_err() {
                break;
            }
        }
    });
    // The std channels block: wait on them off the runtime's workers.
    tokio::task::block_in_place(|| ready_rx.recv_timeout(historian_testkit::PATIENCE))
        .expect("subscribed to the readings channel");

    let cfg = RedisConfig {
        url: prefix.url.clone(),
        ca_file: None,
        key_prefix: key_prefix.clone(),
        timeout: Duration::from_millis(500),
    };
    let h = historian(cfg).await;
    let first_message =
        tokio::task::block_in_place(|| msg_rx.recv_timeout(historian_testkit::PATIENCE))
            .expect("a pub/sub message");
    let ids: Vec<i64> = h
        .historian
        .registry
        .devices()
        .iter()
        .map(|d| d.id)
        .collect();
    historian_testkit::eventually(
        "every device's latest hash filled",
        historian_testkit::PATIENCE,
        || async {
            let mut conn = client.get_connection().map_err(|e| e.to_string())?;
            for id in &ids {
                let fields: usize = redis::cmd("HLEN")
                    .arg(format!("{key_prefix}:latest:{id}"))
                    .query(&mut conn)
                    .map_err(|e| e.to_string())?;
                if fields != POINTS {
                    return Err(format!("device {id}: {fields} fields"));
                }
            }
            Ok(())
        },
    )
    .await;
    let stats = std::sync::Arc::clone(&h.historian.stats);
    let summary = h.stop().await.summary;
    assert_eq!(summary.lost, 0);

    let mut conn = client.get_connection().expect("connection");
    for id in &ids {
        let hash: HashMap<String, String> = redis::cmd("HGETALL")
            .arg(format!("{key_prefix}:latest:{id}"))
            .query(&mut conn)
            .expect("HGETALL");
        assert_eq!(hash.len(), POINTS, "device {id}: {hash:?}");
        for (field, json) in &hash {
            let v: serde_json::Value = serde_json::from_str(json).expect("json");
            assert_eq!(v["register_address"].to_string(), *field);
            assert_eq!(v["quality"], "good", "{json}");
            assert!(v["value"].is_number(), "{json}");
            assert!(v["timestamp"].is_string(), "{json}");
        }
    }
    let polls = Stats::get(&stats.polls_ok);
    let first: serde_json::Value = serde_json::from_str(&first_message).expect("json");
    assert!(ids.contains(&first["device_id"].as_i64().expect("device_id")));
    assert_eq!(
        first["readings"].as_array().map(Vec::len),
        Some(POINTS),
        "one message carries one whole poll"
    );
    assert_eq!(
        Stats::get(&stats.redis_updates),
        polls,
        "one update per poll"
    );
    assert_eq!(Stats::get(&stats.redis_updates_skipped), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_redis_does_not_disturb_polling_or_storing() {
    let test = "killing_redis_does_not_disturb_polling_or_storing";
    let Some(server) = require(test, ThrowawayRedis::start()) else {
        return;
    };
    let cfg = RedisConfig {
        url: server.url(),
        ca_file: None,
        key_prefix: "h".into(),
        timeout: Duration::from_millis(200),
    };
    let h = historian(cfg).await;
    let stats = std::sync::Arc::clone(&h.historian.stats);
    historian_testkit::eventually(
        "an update in redis",
        historian_testkit::PATIENCE,
        || async {
            match Stats::get(&stats.redis_updates) {
                0 => Err("nothing reached redis".to_string()),
                _ => Ok(()),
            }
        },
    )
    .await;
    server.kill().expect("kill redis");
    let stored_at_kill = Stats::get(&stats.readings_stored);
    // 3 devices x 10 registers every 200 ms is 150 readings a second.
    historian_testkit::eventually(
        "300 more readings stored and updates skipped after redis died",
        historian_testkit::PATIENCE,
        || async {
            let stored = Stats::get(&stats.readings_stored);
            let skipped = Stats::get(&stats.redis_updates_skipped);
            if stored >= stored_at_kill + 300 && skipped > 0 {
                Ok(())
            } else {
                Err(format!(
                    "stored {stored_at_kill} -> {stored}, {skipped} skipped"
                ))
            }
        },
    )
    .await;
    let summary = h.stop().await.summary;
    assert_eq!(
        Stats::get(&stats.polls_missed),
        0,
        "polling waited on redis"
    );
    assert_eq!(summary.lost, 0);
    assert_eq!(summary.stored, summary.polled);
}
