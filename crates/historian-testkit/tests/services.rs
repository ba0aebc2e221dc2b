//! The test-support module itself: databases and prefixes are isolated and cleaned up, and
//! throwaway servers start from the installed binaries.

use historian_testkit::{PgTestDb, RedisPrefix, ThrowawayPostgres, ThrowawayRedis, require};

#[tokio::test]
async fn each_test_gets_its_own_postgres_database_dropped_afterwards() {
    let Some(a) = require("postgres_database", PgTestDb::create().await) else {
        return;
    };
    let b = PgTestDb::create().await.expect("second database");
    assert_ne!(a.name, b.name);
    let ca = a.client().await.expect("connect a");
    ca.batch_execute("CREATE TABLE t (x int); INSERT INTO t VALUES (1)")
        .await
        .expect("write a");
    let cb = b.client().await.expect("connect b");
    let err = cb.query("SELECT * FROM t", &[]).await;
    assert!(err.is_err(), "b must not see a's table");
    let name = a.name.clone();
    drop(ca);
    drop(a);
    let left = cb
        .query_one(
            "SELECT count(*) FROM pg_database WHERE datname = $1",
            &[&name],
        )
        .await
        .expect("query pg_database");
    assert_eq!(left.get::<_, i64>(0), 0, "database {name} was not dropped");
}

#[test]
fn each_test_gets_its_own_redis_prefix_cleaned_afterwards() {
    let Some(p) = require("redis_prefix", RedisPrefix::create()) else {
        return;
    };
    let q = RedisPrefix::create().expect("second prefix");
    assert_ne!(p.prefix, q.prefix);
    let client = redis::Client::open(p.url.as_str()).expect("client");
    let mut conn = client.get_connection().expect("connect");
    let key = p.key("k");
    redis::cmd("SET")
        .arg(&key)
        .arg("v")
        .query::<()>(&mut conn)
        .expect("set");
    drop(p);
    let exists: i64 = redis::cmd("EXISTS")
        .arg(&key)
        .query(&mut conn)
        .expect("exists");
    assert_eq!(exists, 0, "prefix keys must be deleted on drop");
}

#[tokio::test]
async fn throwaway_postgres_starts_from_the_installed_binaries() {
    let Some(server) = require("throwaway_postgres", ThrowawayPostgres::start()) else {
        return;
    };
    let db = PgTestDb::create_on(&server.url("postgres"))
        .await
        .expect("database on the throwaway server");
    let c = db.client().await.expect("connect");
    let row = c.query_one("SELECT 40 + 2", &[]).await.expect("query");
    assert_eq!(row.get::<_, i32>(0), 42);
}

#[test]
fn throwaway_redis_starts_from_the_installed_binary() {
    let Some(server) = require("throwaway_redis", ThrowawayRedis::start()) else {
        return;
    };
    let client = redis::Client::open(server.url()).expect("client");
    let mut conn = client.get_connection().expect("connect");
    let pong: String = redis::cmd("PING").query(&mut conn).expect("ping");
    assert_eq!(pong, "PONG");
}

#[test]
fn a_throwaway_mosquitto_stops_and_starts_again_on_its_port() {
    use historian_testkit::{ThrowawayMosquitto, mqtt_answers};
    let Some(broker) = require("throwaway_mosquitto", ThrowawayMosquitto::start()) else {
        return;
    };
    let addr = broker.addr().to_string();
    mqtt_answers(&addr).expect("answers after start");
    broker.stop().expect("stop");
    assert!(mqtt_answers(&addr).is_err(), "still answers after stop");
    broker.restart().expect("restart");
    mqtt_answers(&addr).expect("answers after restart");
}

#[test]
fn some_mqtt_broker_is_there_for_tests() {
    let Some(addr) = require("mqtt_broker", historian_testkit::mqtt_broker()) else {
        return;
    };
    historian_testkit::mqtt_answers(&addr).expect("the broker answers");
}
