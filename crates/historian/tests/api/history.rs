//! History of what the poller no longer has: a device disabled (left out of the config)
//! and a register taken out of a map are still asked for by id, address and name.

use crate::fixture::{STEPS, call, state};
use axum::http::StatusCode;
use historian_model::{DataType, DeviceSpec, RegisterPoint, RegisterRef, Table};
use modbus_historian::api::AppState;
use modbus_historian::config::DeviceConfig;
use modbus_historian::registry::Registry;
use std::sync::Arc;

/// Stores `specs` as the whole config (devices left out are disabled) and returns the
/// state a historian running that config has: its registry holds only those devices.
async fn reconfigure(s: &AppState, specs: &[DeviceSpec]) -> AppState {
    let records = s.store.sync_devices(specs).await.expect("sync");
    let configs: Vec<DeviceConfig> = specs
        .iter()
        .map(|spec| DeviceConfig {
            spec: spec.clone(),
            timeout: std::time::Duration::from_secs(1),
        })
        .collect();
    AppState::new(
        Arc::new(Registry::build(&configs, &records)),
        s.store.clone(),
        s.latest.clone(),
        s.stats.clone(),
    )
}

/// The stored spec of device `name`.
async fn spec(s: &AppState, name: &str) -> DeviceSpec {
    s.store
        .list_devices()
        .await
        .expect("list")
        .into_iter()
        .find(|d| d.spec.name == name)
        .expect("device")
        .spec
}

fn count(body: &serde_json::Value) -> u64 {
    body["count"].as_u64().unwrap_or(u64::MAX)
}

#[tokio::test]
async fn a_disabled_devices_history_answers_by_id_and_name() {
    let (_d, s) = state().await;
    let relay = spec(&s, "relay").await;
    let s = reconfigure(&s, &[relay]).await;
    let (_, _, devices) = call(&s, "/api/devices").await;
    assert_eq!(devices[1]["name"], "meter");
    assert_eq!(devices[1]["status"], "disabled", "{devices}");

    for uri in [
        "/api/register_readings/meter/current_000",
        "/api/register_readings/2/300001",
        "/api/register_readings/range?devices=meter&registers=current_000",
        "/api/register_readings/range?devices=2&registers=300001",
    ] {
        let (status, _, body) = call(&s, uri).await;
        assert_eq!(status, StatusCode::OK, "{uri}: {body}");
        assert_eq!(count(&body), STEPS as u64, "{uri}: {body}");
        assert_eq!(body["readings"][0]["value"], 1000.0, "{uri}: {body}");
    }
    let (status, _, body) = call(&s, "/api/register_readings/meter").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(count(&body), 5 * STEPS as u64, "every register's readings");
    let (status, _, body) = call(&s, "/api/register_readings/meter/current_000?bucket=1h").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let counted: i64 = body["buckets"]
        .as_array()
        .expect("buckets")
        .iter()
        .map(|b| b["count"].as_i64().unwrap_or(0))
        .sum();
    assert_eq!(counted, STEPS, "{body}");
    let (status, _, body) = call(&s, "/api/register_readings/latest/meter").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["device_id"], 2);
    assert_eq!(
        body["readings"],
        serde_json::json!([]),
        "nothing live: {body}"
    );

    // A range over every device means the polled ones.
    let (status, _, body) = call(&s, "/api/register_readings/range?registers=300001").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(count(&body), STEPS as u64, "relay's only: {body}");
    let (status, _, _) = call(&s, "/api/register_readings/3/300001").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_removed_register_answers_by_its_old_name_until_a_current_one_takes_it() {
    let (_d, s) = state().await;
    let meter = spec(&s, "meter").await;
    let mut relay = spec(&s, "relay").await;
    let gone = relay.registers.remove(0);
    assert_eq!(gone.name, "current_000");
    let s = reconfigure(&s, &[relay.clone(), meter.clone()]).await;

    for uri in [
        "/api/register_readings/relay/current_000",
        "/api/register_readings/1/300001",
        "/api/register_readings/range?devices=relay&registers=current_000",
    ] {
        let (status, _, body) = call(&s, uri).await;
        assert_eq!(status, StatusCode::OK, "{uri}: {body}");
        assert_eq!(count(&body), STEPS as u64, "{uri}: {body}");
        assert_eq!(body["readings"][0]["value"], 0.0, "{uri}: {body}");
    }
    let (_, _, devices) = call(&s, "/api/devices").await;
    assert_eq!(
        devices[0]["removed_registers"][0]["name"], "current_000",
        "{devices}"
    );
    assert_eq!(
        devices[0]["removed_registers"][0]["register_address"],
        300001
    );
    assert!(devices[1].get("removed_registers").is_none(), "{devices}");
    let (_, _, body) = call(&s, "/api/register_readings/relay").await;
    assert_eq!(
        count(&body),
        4 * STEPS as u64,
        "a device's readings are its current map's"
    );

    // A new register takes the name; the old one is still reached by its address.
    relay.registers.push(RegisterPoint {
        name: "current_000".into(),
        register: RegisterRef::new(Table::HoldingRegister, 500),
        data_type: DataType::Uint16,
        ..RegisterPoint::default()
    });
    let s = reconfigure(&s, &[relay, meter]).await;
    let (status, _, body) = call(&s, "/api/register_readings/relay/current_000").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(count(&body), 0, "the name is the new register's: {body}");
    let (_, _, body) = call(&s, "/api/register_readings/relay/300001").await;
    assert_eq!(count(&body), STEPS as u64, "{body}");
    let (status, _, _) = call(&s, "/api/register_readings/relay/no_such_register").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
