//! The audit trail through the API, against running historians: each accepted write is
//! kept with who made it and the device before and after exactly as the API answered it,
//! newest first, paged and filtered; refused writes leave nothing; with a token the trail
//! says `token` and needs the token to be read; config file loads and edits are recorded
//! as `config`.

mod common;

use common::{TestHistorian, captured_logs};
use modbus_historian::api::{AuditPageResponse, Problem};
use modbus_historian::app::Historian;
use modbus_historian::config::Config;
use serde_json::{Value, json};

const TOKEN: &str = "audit-token-0123456789";

/// `GET /api/audit?{query}`, expecting 200.
async fn trail(
    http: &reqwest::Client,
    base: &str,
    query: &str,
    token: Option<&str>,
) -> AuditPageResponse {
    let mut req = http.get(format!("{base}/api/audit?{query}"));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.expect("audit");
    assert_eq!(resp.status(), 200, "{query}");
    resp.json().await.expect("audit page")
}

/// Sends `req`, expects `status`, and returns the body as JSON (null when empty).
async fn expect(req: reqwest::RequestBuilder, status: u16) -> Value {
    let resp = req.send().await.expect("request");
    let got = resp.status();
    let text = resp.text().await.expect("body");
    assert_eq!(got, status, "{text}");
    if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).expect("json body")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_accepted_write_is_kept_with_its_before_and_after_newest_first() {
    let logs = captured_logs();
    // No devices in the config: the historian's devices live in the database.
    let h = TestHistorian::new("audit-local").start().await;
    let (base, http) = (h.base.clone(), reqwest::Client::new());
    assert_eq!(trail(&http, &base, "", None).await.count, 0, "nothing yet");

    // Without registers the device is never polled, so it gets no readings and can be
    // deleted at the end.
    let device = |port: u16, enabled: bool| {
        json!({"name": "pm", "host": "127.0.0.1", "port": port, "interval_ms": 1000,
               "enabled": enabled, "registers": []})
    };
    let created = expect(
        http.post(format!("{base}/api/devices"))
            .json(&device(502, true)),
        201,
    )
    .await;
    let updated = expect(
        http.put(format!("{base}/api/devices/pm"))
            .json(&device(1502, true)),
        200,
    )
    .await;
    let disabled = expect(
        http.put(format!("{base}/api/devices/pm"))
            .json(&device(1502, false)),
        200,
    )
    .await;

    // Refused writes change nothing and leave no entry.
    let mut bad = device(1502, false);
    bad["interval_ms"] = json!(0);
    let problem = expect(http.put(format!("{base}/api/devices/pm")).json(&bad), 422).await;
    assert_eq!(problem["errors"][0]["path"], "interval_ms", "{problem}");
    expect(http.post(format!("{base}/api/devices")).json(&bad), 422).await;
    expect(
        http.post(format!("{base}/api/devices"))
            .json(&device(502, true)),
        409,
    )
    .await;
    expect(http.delete(format!("{base}/api/devices/nope")), 404).await;

    let map = "address,table,name,data_type\n0,holding_register,volts,uint16\n";
    let imported = expect(
        http.put(format!("{base}/api/devices/pm/register_map"))
            .header("content-type", "text/csv")
            .body(map),
        200,
    )
    .await;
    expect(http.delete(format!("{base}/api/devices/pm")), 204).await;
    let maintenance = expect(http.post(format!("{base}/api/storage/maintenance")), 200).await;

    let page = trail(&http, &base, "", None).await;
    let e = &page.entries;
    let actions: Vec<&str> = e.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "storage.maintenance",
            "device.delete",
            "device.register_map",
            "device.disable",
            "device.update",
            "device.create"
        ],
        "newest first"
    );
    assert_eq!(
        (page.count, page.truncated, page.next_cursor.as_deref()),
        (6, false, None)
    );
    assert!(
        e.windows(2)
            .all(|w| w[0].id > w[1].id && w[0].time >= w[1].time)
    );
    assert!(
        e.iter().all(|e| e.who == "local"),
        "no token configured: local"
    );
    assert!(e[1..].iter().all(|e| e.target == "pm") && e[0].target == "storage");
    // Before and after are the device exactly as the API answered each write.
    let states: Vec<(Option<&Value>, Option<&Value>)> = e
        .iter()
        .map(|e| (e.before.as_ref(), e.after.as_ref()))
        .collect();
    assert_eq!(
        states,
        [
            (None, Some(&maintenance)),
            (Some(&imported), None),
            (Some(&disabled), Some(&imported)),
            (Some(&updated), Some(&disabled)),
            (Some(&created), Some(&updated)),
            (None, Some(&created)),
        ]
    );
    assert!(
        logs.contains("INFO audit: device.create pm by local")
            && logs.contains("INFO audit: storage.maintenance storage by local"),
        "each entry is logged under the audit target"
    );

    // Paged by cursor: every entry once, in order.
    let mut seen = Vec::new();
    let mut query = "limit=4".to_string();
    loop {
        let page = trail(&http, &base, &query, None).await;
        assert!(page.count <= 4);
        seen.extend(page.entries.iter().map(|e| e.id));
        match page.next_cursor {
            Some(c) => {
                assert!(page.truncated);
                query = format!("limit=4&cursor={c}");
            }
            None => break,
        }
    }
    assert_eq!(seen, e.iter().map(|e| e.id).collect::<Vec<_>>());

    // Filters.
    let of = async |q: &str| {
        trail(&http, &base, q, None)
            .await
            .entries
            .into_iter()
            .map(|e| e.action)
            .collect::<Vec<_>>()
    };
    assert_eq!(of("action=device.update").await, ["device.update"]);
    assert_eq!(of("target=storage").await, ["storage.maintenance"]);
    assert_eq!(
        of("target=pm&action=device.delete").await,
        ["device.delete"]
    );
    let newest = e[0].time;
    let after_newest = urlencode(&(newest + chrono::Duration::microseconds(1)).to_rfc3339());
    assert!(of(&format!("start={after_newest}")).await.is_empty());
    let upto = of(&format!("end={}", urlencode(&newest.to_rfc3339()))).await;
    assert!(
        !upto.is_empty() && !upto.contains(&"storage.maintenance".to_string()),
        "end is exclusive: {upto:?}"
    );

    // Bad parameters: 400 naming them.
    for (q, says) in [
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("cursor=abc", "cursor"),
        ("start=yesterday", "start"),
        ("start=2026-01-02T00:00:00Z&end=2026-01-01T00:00:00Z", "end"),
        ("device=pm", "unknown field"),
    ] {
        let p: Problem =
            serde_json::from_value(expect(http.get(format!("{base}/api/audit?{q}")), 400).await)
                .expect("problem");
        assert!(p.detail.contains(says), "{q}: {p:?}");
    }
    h.stop().await;
}

/// `+` and `:` as a query string needs them.
fn urlencode(text: &str) -> String {
    text.replace('+', "%2B").replace(':', "%3A")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_token_the_trail_names_it_and_needs_it() {
    let h = TestHistorian::new("audit-token")
        .configure(|c| c.api.token = Some(TOKEN.into()))
        .start()
        .await;
    let (base, http) = (h.base.clone(), reqwest::Client::new());
    let maintenance = format!("{base}/api/storage/maintenance");
    // Refused for want of the token: not recorded.
    expect(http.post(&maintenance), 401).await;
    expect(
        http.post(&maintenance)
            .bearer_auth("wrong-token-0123456789"),
        401,
    )
    .await;
    expect(http.post(&maintenance).bearer_auth(TOKEN), 200).await;

    // The trail reveals the configuration: it needs the token too.
    let p: Problem =
        serde_json::from_value(expect(http.get(format!("{base}/api/audit")), 401).await)
            .expect("problem");
    assert!(p.detail.contains("Authorization: Bearer"), "{p:?}");
    expect(
        http.get(format!("{base}/api/audit"))
            .bearer_auth("wrong-token-0123456789"),
        401,
    )
    .await;
    let page = trail(&http, &base, "", Some(TOKEN)).await;
    assert_eq!(page.count, 1, "only the accepted write");
    assert_eq!(
        (
            page.entries[0].who.as_str(),
            page.entries[0].action.as_str()
        ),
        ("token", "storage.maintenance")
    );
    h.stop().await;
}

/// A config file with device `a` on `port`, storing in `dir`.
fn config_text(dir: &std::path::Path, port: u16) -> String {
    format!(
        "[storage]\nurl = \"sqlite://{}\"\n[api]\nbind = \"127.0.0.1:0\"\n[spool]\ndir = \"{}\"\n\
         [[devices]]\nname = \"a\"\nhost = \"127.0.0.1\"\nport = {port}\nenabled = false\n\
         [[devices.registers]]\nname = \"r\"\ntable = \"holding_register\"\naddress = 0\ndata_type = \"uint16\"\n",
        dir.join("h.db").display(),
        dir.join("spool").display()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_file_loads_and_edits_are_recorded_as_config() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("h.toml");
    std::fs::write(&path, config_text(dir.path(), 1)).expect("config");
    let h = Historian::start(&Config::load(&path).expect("load"))
        .await
        .expect("start");
    let (base, http) = (format!("http://{}", h.api_addr), reqwest::Client::new());
    let page = trail(&http, &base, "", None).await;
    assert_eq!(page.count, 1, "{:?}", page.entries);
    let load = &page.entries[0];
    assert_eq!(
        (load.who.as_str(), load.action.as_str()),
        ("config", "config.load")
    );
    assert_eq!(load.target, path.display().to_string());
    assert_eq!(load.before, Some(json!([])), "a new device has no before");
    assert_eq!(load.after.as_ref().map(|a| &a[0]["port"]), Some(&json!(1)));

    std::fs::write(&path, config_text(dir.path(), 2)).expect("edit");
    historian_testkit::eventually(
        "the edit is recorded",
        historian_testkit::PATIENCE,
        async || match trail(&http, &base, "action=config.reload", None)
            .await
            .count
        {
            0 => Err("no config.reload entry yet".to_string()),
            _ => Ok(()),
        },
    )
    .await;
    let reload = trail(&http, &base, "action=config.reload", None).await;
    let e = &reload.entries[0];
    assert_eq!(e.who, "config");
    assert_eq!(e.before.as_ref().map(|b| &b[0]["port"]), Some(&json!(1)));
    assert_eq!(e.after.as_ref().map(|a| &a[0]["port"]), Some(&json!(2)));
    h.shutdown().await;
}

/// `devices import` on the command line is recorded as `cli`, with the map before and after.
#[tokio::test]
async fn a_map_imported_on_the_command_line_is_recorded_as_cli() {
    use historian_store::{AuditQuery, StorageUrl};
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("h.db");
    let url = format!("sqlite://{}", db.display());
    let store = historian_store::open(&StorageUrl::parse(&url).expect("url"), &Default::default())
        .await
        .expect("store");
    let device = common::device(
        "a",
        1,
        &[],
        std::time::Duration::from_secs(1),
        std::time::Duration::from_secs(1),
    );
    store.upsert_device(&device.spec).await.expect("device a");
    let map = dir.path().join("a.csv");
    std::fs::write(
        &map,
        "address,table,name,data_type\n0,holding_register,volts,uint16\n",
    )
    .expect("map");
    modbus_historian::maps::import(
        &map,
        "a",
        Some(historian_model::Addressing::Wire),
        None,
        Some(&url),
    )
    .await
    .expect("import");
    let entries = store
        .audit_entries(&AuditQuery::default())
        .await
        .expect("trail");
    assert_eq!(entries.len(), 1, "{entries:?}");
    let e = &entries[0];
    assert_eq!(
        (e.who.as_str(), e.action.as_str(), e.target.as_str()),
        ("cli", "device.register_map", "a")
    );
    let registers = |state: &Option<String>| -> usize {
        let v: Value = serde_json::from_str(state.as_deref().expect("state")).expect("json");
        v["registers"].as_array().map_or(usize::MAX, Vec::len)
    };
    assert_eq!((registers(&e.before), registers(&e.after)), (0, 1));
}

/// The OpenAPI document describes the trail as the server serves it: guarded like a
/// write, with its parameters' bounds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_trail_is_documented_as_served() {
    let h = TestHistorian::new("audit-doc").start().await;
    let doc: Value = reqwest::get(format!("{}/api/openapi.json", h.base))
        .await
        .expect("openapi")
        .json()
        .await
        .expect("json");
    let get = &doc["paths"]["/api/audit"]["get"];
    assert_eq!(get["security"], json!([{}, {"bearer": []}]), "{get}");
    for status in ["200", "400", "401", "500"] {
        assert!(get["responses"][status].is_object(), "{status}: {get}");
    }
    let param = |name: &str| {
        get["parameters"]
            .as_array()
            .and_then(|ps| ps.iter().find(|p| p["name"] == name))
            .cloned()
            .unwrap_or(Value::Null)
    };
    assert_eq!(param("limit")["schema"]["maximum"], 1000, "{get}");
    assert_eq!(param("limit")["schema"]["minimum"], 1, "{get}");
    // The cursor pattern admits exactly the ids the server reads (63 bits).
    let cursor = regex::Regex::new(
        param("cursor")["schema"]["pattern"]
            .as_str()
            .expect("pattern"),
    )
    .expect("a pattern");
    for (text, ok) in [
        ("42", true),
        ("9223372036854775807", true),
        ("9223372036854775808", false),
        ("-1", false),
    ] {
        assert_eq!(cursor.is_match(text), ok, "{text}");
    }
    for name in ["start", "end", "action", "target"] {
        assert!(param(name).is_object(), "{name}: {get}");
    }
    let entry = &doc["components"]["schemas"]["AuditEntryResponse"];
    assert!(entry["properties"]["before"].is_object(), "{entry}");
    h.stop().await;
}
