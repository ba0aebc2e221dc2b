use super::*;
use crate::device::Link;
use std::time::Duration;

fn source<'a>() -> InputSource<'a> {
    InputSource {
        default_interval: Duration::from_secs(5),
        extra_serial_ports: &[],
        map_files: None,
    }
}

fn errors(input: DeviceInput) -> Vec<String> {
    input
        .check(source())
        .expect_err("invalid")
        .iter()
        .map(|e| e.to_string())
        .collect()
}

#[test]
fn a_config_table_and_an_api_body_give_the_same_device() {
    let toml_input: DeviceInput = toml::from_str(
        r#"
        name = "meter"
        host = "10.0.0.5"
        interval = "2s"
        timeout = "500ms"
        pause_between_requests = "20ms"
        [[registers]]
        name = "v"
        table = "holding"
        address = 0
        data_type = "uint16"
        "#,
    )
    .expect("toml");
    let json_input: DeviceInput = serde_json::from_str(
        r#"{"name": "meter", "host": "10.0.0.5", "interval_ms": 2000, "timeout_ms": 500,
            "pause_between_requests_ms": 20,
            "registers": [{"name": "v", "table": "holding", "address": 0, "data_type": "uint16"}]}"#,
    )
    .expect("json");
    let a = toml_input.check(source()).expect("valid");
    let b = json_input.check(source()).expect("valid");
    assert_eq!(a, b);
    assert_eq!(a.poll_interval_ms, 2000);
    assert_eq!(a.access.timeout, Some(Duration::from_millis(500)));
    assert_eq!(a.access.pause, Duration::from_millis(20));
    assert_eq!((a.port, a.unit_id, a.enabled), (502, 1, true));
}

#[test]
fn every_wrong_field_is_reported_with_its_path() {
    let input = DeviceInput {
        name: Some(" ".into()),
        port: Some(70_000),
        unit_id: Some(-1),
        interval: Some(Period::Millis(0)),
        timeout: Some(Period::Text("soon".into())),
        max_gap: Some(125),
        registers: vec![
            RegisterInput {
                name: Some("a".into()),
                table: Some("holding".into()),
                address: Some(0),
                data_type: Some("uint32".into()),
                ..RegisterInput::default()
            },
            RegisterInput {
                name: Some("b".into()),
                table: Some("holding".into()),
                address: Some(1),
                data_type: Some("quad".into()),
                ..RegisterInput::default()
            },
            RegisterInput {
                name: Some("c".into()),
                table: Some("holding".into()),
                address: Some(1),
                data_type: Some("uint16".into()),
                ..RegisterInput::default()
            },
        ],
        ..DeviceInput::default()
    };
    let got = errors(input);
    let paths: Vec<&str> = got
        .iter()
        .map(|e| e.split(':').next().unwrap_or_default())
        .collect();
    assert_eq!(
        paths,
        [
            "name",
            "host",
            "port",
            "unit_id",
            "interval",
            "timeout",
            "max_gap",
            "registers[1].data_type",
            "registers[2]"
        ],
        "{got:#?}"
    );
    assert!(got[8].contains("overlaps \"a\""), "{}", got[8]);
}

#[test]
fn durations_are_words_or_milliseconds() {
    use super::duration::{INTERVAL, PAUSE};
    assert_eq!(
        Period::Text("1m".into()).duration(INTERVAL),
        Ok(Duration::from_secs(60))
    );
    assert_eq!(
        Period::Millis(250).duration(INTERVAL),
        Ok(Duration::from_millis(250))
    );
    assert_eq!(Period::Millis(0).duration(PAUSE), Ok(Duration::ZERO));
    assert_eq!(
        Period::Text("0s".into()).duration(PAUSE),
        Ok(Duration::ZERO)
    );
    assert!(Period::Millis(-1).duration(PAUSE).is_err());
    assert!(Period::Text("0s".into()).duration(INTERVAL).is_err());
    assert_eq!(
        Period::from(Duration::from_secs(90)),
        Period::Text("90s".into())
    );
}

#[test]
fn a_serial_device_keeps_its_port_as_host_and_only_serial_adapters_pass() {
    let serial = |port: &str| DeviceInput {
        name: Some("rtu".into()),
        transport: Some("rtu".into()),
        serial_port: Some(port.into()),
        parity: Some("none".into()),
        ..DeviceInput::default()
    };
    let spec = serial("/dev/ttyUSB0").check(source()).expect("valid");
    assert_eq!(spec.host, "/dev/ttyUSB0");
    assert!(matches!(&spec.access.link, Link::Serial(s) if s.parity == crate::Parity::None));
    for bad in [
        "/etc/passwd",
        "/dev/tty",
        "/dev/tty1",
        "/dev/ttyprintk",
        "/dev/pts/ptmx",
        "/dev/serial/by-id/",
        "COM0",
        "COM257",
        "COM99999999999999999999",
    ] {
        assert_eq!(
            errors(serial(bad)),
            [format!(
                "serial_port: {bad:?} {}",
                super::serial::SERIAL_PORTS
            )],
            "{bad}"
        );
    }
    for (bad, says) in [
        ("/dev/ttyUSB0\0", "contains U+0000 NULL at position 13"),
        ("/dev/ttyUSB0\n", "contains U+000A LINE FEED at position 13"),
        ("/dev/ttyUSB0\u{7}", "contains U+0007 BELL at position 13"),
        ("/dev/ttyUSB0 ", "ends with U+0020 SPACE; remove it"),
        (" /dev/ttyUSB0", "starts with U+0020 SPACE; remove it"),
        ("", "is required with transport = \"rtu\""),
    ] {
        let got = errors(serial(bad));
        assert_eq!(got.len(), 1, "{got:?}");
        assert!(
            got[0].starts_with(&format!("serial_port: {says}")),
            "{bad:?}: {got:?}"
        );
    }
    let extra = ["/dev/modbus0".to_string()];
    let operator = InputSource {
        extra_serial_ports: &extra,
        ..source()
    };
    assert!(serial("/dev/modbus0").check(operator).is_ok());
    assert!(errors(serial("/dev/modbus0"))[0].contains("polling.allowed_serial_ports"));
    let tcp_with_serial_fields = DeviceInput {
        name: Some("x".into()),
        host: Some("h".into()),
        baud_rate: Some(9600),
        ..DeviceInput::default()
    };
    assert_eq!(
        errors(tcp_with_serial_fields),
        ["baud_rate: applies to transport = \"rtu\" (a serial port) only"]
    );
}

#[test]
fn names_hosts_and_units_are_refused_with_the_character_and_its_position() {
    let device = |name: &str, host: &str, register: &str, unit: &str| DeviceInput {
        name: Some(name.into()),
        host: Some(host.into()),
        registers: vec![RegisterInput {
            name: Some(register.into()),
            table: Some("holding".into()),
            address: Some(0),
            data_type: Some("uint16".into()),
            unit: Some(unit.into()),
            ..RegisterInput::default()
        }],
        ..DeviceInput::default()
    };
    assert!(
        device("meter", "10.0.0.5", "v", "kWh")
            .check(source())
            .is_ok()
    );
    assert_eq!(
        errors(device("me\u{202E}ter", "10.0.0.5", "v\u{2066}", " kWh")),
        [
            "name: contains U+202E RIGHT-TO-LEFT OVERRIDE at position 3 (control characters and invisible formatting characters are not allowed)",
            "registers[0].name: contains U+2066 LEFT-TO-RIGHT ISOLATE at position 2 (control characters and invisible formatting characters are not allowed)",
            "registers[0].unit: starts with U+0020 SPACE; remove it",
        ]
    );
    assert_eq!(
        errors(device("meter ", "plc\u{200B}.local", "", "")),
        [
            "name: ends with U+0020 SPACE; remove it",
            "host: contains U+200B ZERO WIDTH SPACE at position 4 (control characters and invisible formatting characters are not allowed)",
            "registers[0].name: is empty",
        ]
    );
    for (name, says) in [
        ("a\u{0}", "U+0000 NULL at position 2"),
        ("a\nb", "U+000A LINE FEED at position 2"),
        ("\u{200E}a", "U+200E LEFT-TO-RIGHT MARK at position 1"),
        ("a\u{200F}", "U+200F RIGHT-TO-LEFT MARK at position 2"),
        ("a\u{200D}", "U+200D ZERO WIDTH JOINER at position 2"),
        (
            "a\u{FEFF}",
            "U+FEFF ZERO WIDTH NO-BREAK SPACE at position 2",
        ),
        ("a\u{2069}", "U+2069 POP DIRECTIONAL ISOLATE at position 2"),
    ] {
        let got = errors(device(name, "h", "v", ""));
        assert!(
            got[0].starts_with(&format!("name: contains {says}")),
            "{got:?}"
        );
    }
    assert_eq!(
        errors(device("m", "10.0.0.256", "v", "")),
        [
            "host: \"10.0.0.256\" is neither an IPv4 address (four numbers 0-255, no leading zeros) nor a host name"
        ]
    );
}

#[test]
fn a_map_file_is_read_only_where_files_may_be_named() {
    let input = DeviceInput {
        name: Some("m".into()),
        host: Some("h".into()),
        register_map: Some("meter.csv".into()),
        ..DeviceInput::default()
    };
    assert!(errors(input.clone())[0].starts_with("register_map: names a file"));
    let mut asked = Vec::new();
    let mut loader = |file: &str, _: crate::Addressing| {
        asked.push(file.to_string());
        None
    };
    let failed = input.check(InputSource {
        map_files: Some(&mut loader),
        ..source()
    });
    assert_eq!(failed, Err(Vec::new()), "the loader reports its own errors");
    assert_eq!(asked, ["meter.csv"]);
}

#[test]
fn an_api_body_names_a_scale_factor_by_name_or_address() {
    let body = |sf: &str| {
        serde_json::from_str::<DeviceInput>(&format!(
            r#"{{"name": "pv", "host": "10.0.0.7", "addressing": "modicon", "registers": [
                {{"name": "w", "address": 40084, "data_type": "int16", "scale_factor": {sf}}},
                {{"name": "w_sf", "address": 40085, "data_type": "int16"}},
                {{"name": "f", "address": 40086, "data_type": "float32"}}]}}"#
        ))
        .expect("json")
    };
    for sf in [r#""w_sf""#, "40085"] {
        let d = body(sf).check(source()).expect("valid");
        assert_eq!(d.registers[0].scale_factor.as_deref(), Some("w_sf"), "{sf}");
    }
    assert_eq!(
        errors(body(r#""f""#)),
        [
            "registers[0]: scale_factor \"f\" is float32; an exponent register must be an integer type"
        ]
    );
    assert_eq!(
        errors(body("40090")),
        [
            "registers[0].scale_factor: no register of this map is at address 40090 of this register's table"
        ]
    );
}
