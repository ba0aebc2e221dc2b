use super::*;
use crate::device::Link;
use std::time::Duration;

fn source() -> InputSource<'static> {
    InputSource {
        default_interval: Duration::from_secs(5),
        serial_ports_checked: true,
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
    assert_eq!(
        Period::Text("1m".into()).duration(false),
        Ok(Duration::from_secs(60))
    );
    assert_eq!(
        Period::Millis(250).duration(false),
        Ok(Duration::from_millis(250))
    );
    assert_eq!(Period::Millis(0).duration(true), Ok(Duration::ZERO));
    assert_eq!(Period::Text("0s".into()).duration(true), Ok(Duration::ZERO));
    assert!(Period::Millis(-1).duration(true).is_err());
    assert!(Period::Text("0s".into()).duration(false).is_err());
}

#[test]
fn a_serial_device_keeps_its_port_as_host_and_only_serial_paths_pass_from_the_network() {
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
    assert_eq!(
        errors(serial("/etc/passwd")),
        [format!("serial_port: {SERIAL}")]
    );
    let trusted = InputSource {
        serial_ports_checked: false,
        ..source()
    };
    assert!(serial("/dev/modbus0-by-udev").check(trusted).is_ok());
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

const SERIAL: &str = "must be a serial device: /dev/tty*, /dev/serial/*, /dev/pts/* or COMn";

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
