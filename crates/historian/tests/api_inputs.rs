//! What the device API takes, over a real socket against a historian whose devices live in
//! its database: serial ports only where a serial adapter is, names, hosts and units
//! without hidden characters, each refusal a 422 naming the field; and the bounds and
//! patterns the OpenAPI document states are exactly those the server enforces.

mod common;

use common::TestHistorian;
use modbus_historian::api::Problem;
use regex::Regex;
use serde_json::{Value, json};

/// A client of the historian at `base`.
struct Api {
    http: reqwest::Client,
    base: String,
}

impl Api {
    fn new(base: &str) -> Self {
        Api {
            http: reqwest::Client::new(),
            base: base.to_string(),
        }
    }

    /// POSTs `device`; the status and the answer.
    async fn create(&self, device: &Value) -> (u16, Value) {
        let resp = self
            .http
            .post(format!("{}/api/devices", self.base))
            .json(device)
            .send()
            .await
            .expect("post");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    /// POSTs `device`, expects 422, and returns each refused field as `path: detail`.
    async fn refused(&self, device: &Value) -> Vec<String> {
        let (status, body) = self.create(device).await;
        assert_eq!(status, 422, "{device}: {body}");
        let problem: Problem = serde_json::from_value(body).expect("problem details");
        problem
            .errors
            .into_iter()
            .map(|e| format!("{}: {}", e.path, e.detail))
            .collect()
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        let resp = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .expect("get");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }
}

fn serial(name: &str, port: &str) -> Value {
    json!({"name": name, "transport": "rtu", "serial_port": port, "enabled": false})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_bad_serial_port_is_refused_with_its_path() {
    let h = TestHistorian::new("inputs-serial").start().await;
    let api = Api::new(&h.base);
    let adapters = historian_model::input::serial::SERIAL_PORTS;
    for port in [
        "/dev/tty",
        "/dev/tty1",
        "/dev/ttyprintk",
        "/dev/pts/ptmx",
        "/dev/pts/0",
        "/dev/serial/by-id/",
        "/dev/serial/by-id/..",
        "/dev/ttyUSB0/../../etc/passwd",
        "/etc/passwd",
        "COM0",
        "COM257",
        "COM99999999999999999999",
    ] {
        assert_eq!(
            api.refused(&serial("s", port)).await,
            [format!("serial_port: {port:?} {adapters}")],
            "{port}"
        );
    }
    for (port, says) in [
        ("/dev/ttyUSB0\0", "contains U+0000 NULL at position 13"),
        ("/dev/ttyUSB0\n", "contains U+000A LINE FEED at position 13"),
        ("/dev/tty\u{1b}USB0", "contains U+001B ESCAPE at position 9"),
        ("/dev/ttyUSB0 ", "ends with U+0020 SPACE; remove it"),
        (" /dev/ttyUSB0", "starts with U+0020 SPACE; remove it"),
    ] {
        let got = api.refused(&serial("s", port)).await;
        assert_eq!(got.len(), 1, "{port:?}: {got:?}");
        assert!(
            got[0].starts_with(&format!("serial_port: {says}")),
            "{port:?}: {got:?}"
        );
    }
    for (i, port) in [
        "/dev/ttyUSB0",
        "/dev/ttyS1",
        "/dev/ttyACM0",
        "/dev/ttyAMA0",
        "/dev/serial/by-id/usb-FTDI_FT232R_USB_UART_A50285BI-if00-port0",
        "/dev/serial/by-path/platform-3f980000.usb-usb-0:1.3:1.0-port0",
        "COM3",
        "com256",
    ]
    .into_iter()
    .enumerate()
    {
        let (status, body) = api.create(&serial(&format!("rtu-{i}"), port)).await;
        assert_eq!(status, 201, "{port}: {body}");
        assert_eq!(body["serial"]["serial_port"], port);
    }
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hidden_characters_in_names_hosts_and_units_are_refused_by_field_and_position() {
    let h = TestHistorian::new("inputs-names").start().await;
    let api = Api::new(&h.base);
    let device = |name: &str, host: &str, register: &str, unit: &str| {
        json!({"name": name, "host": host, "enabled": false, "registers": [
            {"name": register, "table": "holding", "address": 0, "data_type": "uint16",
             "unit": unit}]})
    };
    let hidden = "(control characters and invisible formatting characters are not allowed)";
    assert_eq!(
        api.refused(&device("ab\u{202E}cd", "10.0.0.5", "v", "kWh"))
            .await,
        [format!(
            "name: contains U+202E RIGHT-TO-LEFT OVERRIDE at position 3 {hidden}"
        )]
    );
    assert_eq!(
        api.refused(&device(
            "meter",
            "plc\u{2066}.local",
            "v\u{200F}",
            "k\u{200B}Wh"
        ))
        .await,
        [
            format!("host: contains U+2066 LEFT-TO-RIGHT ISOLATE at position 4 {hidden}"),
            format!("registers[0].name: contains U+200F RIGHT-TO-LEFT MARK at position 2 {hidden}"),
            format!("registers[0].unit: contains U+200B ZERO WIDTH SPACE at position 2 {hidden}"),
        ]
    );
    assert_eq!(
        api.refused(&device(" meter", "10.0.0.5 ", "v\n", "kWh\u{FEFF}"))
            .await,
        [
            "name: starts with U+0020 SPACE; remove it".to_string(),
            "host: ends with U+0020 SPACE; remove it".to_string(),
            format!("registers[0].name: contains U+000A LINE FEED at position 2 {hidden}"),
            format!(
                "registers[0].unit: contains U+FEFF ZERO WIDTH NO-BREAK SPACE at position 4 {hidden}"
            ),
        ]
    );
    for (name, says) in [
        ("a\u{200E}", "U+200E LEFT-TO-RIGHT MARK at position 2"),
        ("a\u{202A}", "U+202A LEFT-TO-RIGHT EMBEDDING at position 2"),
        ("a\u{202B}", "U+202B RIGHT-TO-LEFT EMBEDDING at position 2"),
        (
            "a\u{202C}",
            "U+202C POP DIRECTIONAL FORMATTING at position 2",
        ),
        ("a\u{202D}", "U+202D LEFT-TO-RIGHT OVERRIDE at position 2"),
        ("a\u{2067}", "U+2067 RIGHT-TO-LEFT ISOLATE at position 2"),
        ("a\u{2068}", "U+2068 FIRST STRONG ISOLATE at position 2"),
        ("a\u{2069}", "U+2069 POP DIRECTIONAL ISOLATE at position 2"),
        ("a\u{200C}", "U+200C ZERO WIDTH NON-JOINER at position 2"),
        ("a\u{200D}", "U+200D ZERO WIDTH JOINER at position 2"),
        ("a\u{0}", "U+0000 NULL at position 2"),
        ("a\u{9f}", "U+009F a C1 control character at position 2"),
    ] {
        let got = api.refused(&device(name, "10.0.0.5", "v", "")).await;
        assert_eq!(got, [format!("name: contains {says} {hidden}")]);
    }
    for (host, says) in [
        ("10.0.0.256", "is neither an IPv4 address"),
        ("[::1]", "without brackets"),
        ("plc 7", "contains ' '"),
        ("", "is empty"),
    ] {
        let got = api.refused(&device("m", host, "v", "")).await;
        assert_eq!(got.len(), 1, "{host:?}: {got:?}");
        assert!(
            got[0].starts_with("host: ") && got[0].contains(says),
            "{host:?}: {got:?}"
        );
    }
    // Replacing checks the same way, and names the same fields.
    let (status, _) = api
        .create(&device("Zähler 3", "plc-7.site.example", "m³/h", "°C"))
        .await;
    assert_eq!(status, 201);
    let resp = api
        .http
        .put(format!("{}/api/devices/Zähler%203", h.base))
        .json(&device(
            "Zähler 3",
            "plc-7.site.example",
            "m³/h",
            "°C\u{202E}",
        ))
        .send()
        .await
        .expect("put");
    assert_eq!(resp.status(), 422);
    let problem: Problem = resp.json().await.expect("problem");
    assert_eq!(problem.errors[0].path, "registers[0].unit");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_naming_another_device_conflicts_and_whole_floats_are_integers() {
    let h = TestHistorian::new("inputs-replace").start().await;
    let api = Api::new(&h.base);
    let (status, body) = api
        .create(
            &json!({"name": "meter", "host": "10.0.0.5", "port": 502.0, "unit_id": 1e0,
                        "interval_ms": 2000.0, "enabled": false}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        (body["port"].clone(), body["interval_ms"].clone()),
        (json!(502), json!(2000))
    );
    let (status, body) = api
        .create(&json!({"name": "half", "host": "10.0.0.5", "port": 502.5}))
        .await;
    assert_eq!(status, 422, "{body}");
    let resp = api
        .http
        .put(format!("{}/api/devices/meter", h.base))
        .json(&json!({"name": "other", "host": "10.0.0.5"}))
        .send()
        .await
        .expect("put");
    assert_eq!(resp.status(), 409);
    let problem: Problem = resp.json().await.expect("problem");
    assert!(
        problem.detail.contains("rename by deleting and creating"),
        "{}",
        problem.detail
    );
    h.stop().await;
}

/// The `minimum` and `maximum` the document gives `pointer` (in DeviceInput's components).
fn bounds(doc: &Value, pointer: &str) -> (i64, i64) {
    let schema = doc
        .pointer(pointer)
        .unwrap_or_else(|| panic!("{pointer} in the document"));
    let at = |k: &str| {
        schema[k]
            .as_i64()
            .unwrap_or_else(|| panic!("{pointer}/{k}: {schema}"))
    };
    (at("minimum"), at("maximum"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_documented_bounds_and_patterns_are_the_enforced_ones() {
    let h = TestHistorian::new("inputs-document").start().await;
    let api = Api::new(&h.base);
    let (_, doc) = api.get("/api/openapi.json").await;
    let device = &doc["components"]["schemas"]["DeviceInput"];
    assert_eq!(device["additionalProperties"], json!(false), "{device}");
    assert_eq!(device["required"], json!(["name"]));
    let field = "/components/schemas/DeviceInput/properties";
    let numbers = [
        ("port", format!("{field}/port/anyOf/0")),
        ("unit_id", format!("{field}/unit_id/anyOf/0")),
        ("max_gap", format!("{field}/max_gap/anyOf/0")),
        (
            "max_registers_per_read",
            format!("{field}/max_registers_per_read/anyOf/0"),
        ),
        (
            "interval",
            "/components/schemas/Interval/oneOf/0".to_string(),
        ),
        ("timeout", "/components/schemas/Timeout/oneOf/0".to_string()),
        (
            "pause_between_requests",
            "/components/schemas/Pause/oneOf/0".to_string(),
        ),
    ];
    for (i, (name, pointer)) in numbers.iter().enumerate() {
        let (lo, hi) = bounds(&doc, pointer);
        for (value, accepted) in [(lo - 1, false), (lo, true), (hi, true), (hi + 1, false)] {
            let mut body = json!({"name": format!("d{i}-{value}"), "host": "10.0.0.5",
                                  "enabled": false});
            body[*name] = json!(value);
            let (status, answer) = api.create(&body).await;
            assert_eq!(
                status == 201,
                accepted,
                "{name} = {value}: {status} {answer}"
            );
            if !accepted {
                assert_eq!(status, 422, "{name} = {value}");
                assert_eq!(answer["errors"][0]["path"], *name, "{answer}");
            }
        }
    }
    let baud = bounds(&doc, &format!("{field}/baud_rate/anyOf/0"));
    for (value, accepted) in [
        (baud.0 - 1, false),
        (baud.0, true),
        (baud.1, true),
        (baud.1 + 1, false),
    ] {
        let body = json!({"name": format!("b{value}"), "transport": "rtu",
                          "serial_port": "/dev/ttyUSB0", "baud_rate": value, "enabled": false});
        assert_eq!(
            api.create(&body).await.0 == 201,
            accepted,
            "baud_rate = {value}"
        );
    }

    let port_pattern = Regex::new(
        doc["components"]["schemas"]["SerialPort"]["pattern"]
            .as_str()
            .expect("pattern"),
    )
    .expect("regex");
    for (i, port) in [
        "/dev/ttyUSB7",
        "/dev/tty",
        "COM256",
        "COM257",
        "/dev/serial/by-id/x",
        "/dev/serial/by-id/",
    ]
    .into_iter()
    .enumerate()
    {
        let (status, _) = api.create(&serial(&format!("p{i}"), port)).await;
        assert_eq!(
            status == 201,
            port_pattern.is_match(port),
            "{port}: {status}"
        );
    }

    // A register named by reference in a path: the document's pattern tells a number the
    // server reads as a reference (and refuses with 400 when no table has it) from a name.
    // The device is polled (readings are served for polled devices) at a port where
    // nothing listens.
    let (status, body) = api
        .create(&json!({"name": "refs", "host": "127.0.0.1", "port": historian_testkit::free_port().expect("port"),
            "registers": [{"name": "v", "table": "holding", "address": 0, "data_type": "uint16"}]}))
        .await;
    assert_eq!(status, 201, "{body}");
    historian_testkit::eventually(
        "the device is known",
        historian_testkit::PATIENCE,
        async || match api.get("/api/register_readings/refs/v").await {
            (200, _) => Ok(()),
            (status, body) => Err(format!("{status} {body}")),
        },
    )
    .await;
    let params =
        doc["paths"]["/api/register_readings/{device_id}/{register_address}"]["get"]["parameters"]
            .as_array()
            .expect("parameters");
    let key = params
        .iter()
        .find(|p| p["name"] == "register_address")
        .expect("register_address");
    let key = Regex::new(key["schema"]["pattern"].as_str().expect("pattern")).expect("regex");
    for (register, status) in [
        ("400001", 200),
        ("0400001", 200),
        ("v", 200),
        ("400002", 404),
        ("0", 400),
        ("200001", 400),
        ("40000116", 400),
        ("4294967296", 400),
        ("+400001", 404),
        ("v ", 404),
    ] {
        let sent = register.replace(' ', "%20");
        let (got, body) = api
            .get(&format!("/api/register_readings/refs/{sent}"))
            .await;
        assert_eq!(got, status, "{register}: {body}");
        assert_eq!(key.is_match(register), status != 400, "{register}");
    }
    h.stop().await;
}
