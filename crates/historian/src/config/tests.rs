//! One test per kind of configuration mistake: each checks the exact message a user sees.

use super::*;
use historian_store::StorageUrl;
use std::time::Duration;

fn no_env(_: &str) -> Option<String> {
    None
}

fn problems(text: &str) -> Vec<String> {
    match Config::parse(text, "h.toml", &no_env) {
        Err(ConfigError::Invalid(p)) => p.iter().map(ToString::to_string).collect(),
        Err(other) => vec![format!("not a validation error: {other}")],
        Ok(_) => Vec::new(),
    }
}

const DEVICE: &str = "[[devices]]\nname = \"d\"\nhost = \"127.0.0.1\"\n";

fn with_register(fields: &str) -> String {
    format!("{DEVICE}\n[[devices.registers]]\n{fields}\n")
}

#[test]
fn empty_file_gives_the_documented_defaults() {
    let c = Config::parse("", "h.toml", &no_env).expect("valid");
    assert_eq!(c.storage, StorageUrl::Sqlite("data/historian.db".into()));
    assert_eq!(c.api_bind.to_string(), "127.0.0.1:8080");
    assert_eq!(c.ingest, IngestConfig::default());
    assert!(c.devices.is_empty());
}

#[test]
fn the_shipped_example_is_valid() {
    let text = include_str!("../../../../examples/historian.toml");
    let c = Config::parse(text, "historian.toml", &no_env).expect("example must be valid");
    assert_eq!(c.devices.len(), 2);
    let relay = &c.devices[0].spec;
    assert_eq!(relay.name, "main-sel-751");
    assert_eq!(relay.poll_interval_ms, 1000);
    let freq = &relay.registers[3];
    assert_eq!(freq.register.to_string(), "300007");
    assert_eq!(freq.scale, 0.01);
    assert_eq!(relay.registers[6].register.to_string(), "100001");
}

#[test]
fn unknown_fields_are_named_with_their_path() {
    let text = format!(
        "[api]\nbnd = \"x\"\n{}",
        with_register(
            "name = \"a\"\naddress = 0\ntable = \"hr\"\ndata_type = \"uint16\"\ncolour = 1"
        )
    );
    assert_eq!(
        problems(&text),
        vec![
            "h.toml:2: api.bnd: unknown field",
            "h.toml:12: devices[0].registers[0].colour: unknown field",
        ]
    );
}

#[test]
fn duplicate_device_names() {
    let text = format!("{DEVICE}{DEVICE}");
    assert_eq!(
        problems(&text),
        vec!["h.toml:4: devices[1].name: duplicate device name \"d\" (also devices[0])"]
    );
}

#[test]
fn address_out_of_range_in_each_addressing_mode() {
    let text = with_register(
        "name = \"a\"\ntable = \"holding_register\"\naddress = 65536\ndata_type = \"uint16\"",
    );
    assert_eq!(
        problems(&text),
        vec![
            "h.toml:5: devices[0].registers[0].address: address 65536 is out of range 0-65535 (wire addressing)"
        ]
    );
    let text = "[[devices]]\nname = \"d\"\nhost = \"h\"\naddressing = \"one_based\"\n[[devices.registers]]\nname = \"a\"\ntable = \"hr\"\naddress = 0\ndata_type = \"uint16\"\n";
    assert_eq!(
        problems(text),
        vec![
            "h.toml:5: devices[0].registers[0].address: address 0 is out of range 1-65536 (one_based addressing)"
        ]
    );
    let text = "[[devices]]\nname = \"d\"\nhost = \"h\"\naddressing = \"modicon\"\n[[devices.registers]]\nname = \"a\"\naddress = 20001\ndata_type = \"uint16\"\n";
    assert_eq!(
        problems(text),
        vec![
            "h.toml:5: devices[0].registers[0].address: address 20001 is not a Modicon reference (00001-09999, 10001-19999, 30001-39999, 40001-49999 or six-digit 100001-165536, 300001-365536, 400001-465536)"
        ]
    );
}

#[test]
fn unknown_data_type_table_and_byte_order() {
    let text = with_register(
        "name = \"a\"\ntable = \"holdng\"\naddress = 0\ndata_type = \"flaot32\"\nbyte_order = \"ABDC\"",
    );
    assert_eq!(
        problems(&text),
        vec![
            "h.toml:5: devices[0].registers[0].table: unknown table \"holdng\" (expected one of: coil, discrete_input, input_register, holding_register)",
            "h.toml:5: devices[0].registers[0].data_type: unknown data type \"flaot32\" (expected one of: bool, int16, uint16, int32, uint32, int64, uint64, float32, float64, string)",
            "h.toml:5: devices[0].registers[0].byte_order: unknown byte order \"ABDC\" (expected one of: ABCD, CDAB, BADC, DCBA)",
        ]
    );
}

#[test]
fn missing_required_fields() {
    let text = "[[devices]]\n[[devices.registers]]\n";
    assert_eq!(
        problems(text),
        vec![
            "h.toml:1: devices[0].name: is required",
            "h.toml:1: devices[0].host: is required (host name or IP address)",
            "h.toml:2: devices[0].registers[0].name: is required",
            "h.toml:2: devices[0].registers[0].address: is required",
            "h.toml:2: devices[0].registers[0].data_type: is required",
        ]
    );
}

#[test]
fn impossible_register_maps() {
    let text = format!(
        "{DEVICE}[[devices.registers]]\nname = \"a\"\ntable = \"hr\"\naddress = 0\ndata_type = \"float32\"\n\
         [[devices.registers]]\nname = \"b\"\ntable = \"hr\"\naddress = 1\ndata_type = \"uint16\"\n\
         [[devices.registers]]\nname = \"a\"\ntable = \"ir\"\naddress = 0\ndata_type = \"uint16\"\n\
         [[devices.registers]]\nname = \"c\"\ntable = \"coil\"\naddress = 0\ndata_type = \"float32\"\n\
         [[devices.registers]]\nname = \"d\"\ntable = \"ir\"\naddress = 65535\ndata_type = \"uint32\"\n"
    );
    assert_eq!(
        problems(&text),
        vec![
            "h.toml:19: devices[0].registers[3]: data type float32 cannot be read from the coil table",
            "h.toml:24: devices[0].registers[4]: uint32 at wire address 65535 needs 2 registers and runs past address 65535",
            "h.toml:9: devices[0].registers[1]: overlaps \"a\", which also uses holding_register address 1",
            "h.toml:14: devices[0].registers[2]: duplicate register name \"a\"",
        ]
    );
}

#[test]
fn device_settings_out_of_range() {
    let text = "[[devices]]\nname = \"d\"\nhost = \"h\"\nport = 0\nunit_id = 256\ninterval = \"fast\"\ntimeout = \"0s\"\naddressing = \"octal\"\nmax_gap = 200\nmax_registers_per_read = 126\npause_between_requests = \"a bit\"\n";
    assert_eq!(
        problems(text),
        vec![
            "h.toml:1: devices[0].port: 0 is out of range 1-65535",
            "h.toml:1: devices[0].unit_id: 256 is out of range 0-255",
            "h.toml:1: devices[0].interval: \"fast\" is not a duration; write a whole number and one unit (ms, s, m, h or d), e.g. \"500ms\", \"5s\" or \"1m\"",
            "h.toml:1: devices[0].timeout: \"0s\" is zero; give a positive duration",
            "h.toml:1: devices[0].addressing: unknown addressing \"octal\" (expected wire, one_based or modicon)",
            "h.toml:1: devices[0].max_gap: 200 is out of range 0-124",
            "h.toml:1: devices[0].max_registers_per_read: 126 is out of range 1-125",
            "h.toml:1: devices[0].pause_between_requests: \"a bit\" is not a duration; write a whole number and one unit (ms, s, m, h or d), e.g. \"500ms\", \"5s\" or \"1m\"",
        ]
    );
}

#[test]
fn global_settings_out_of_range() {
    let text = "[storage]\nurl = \"mysql://x\"\n[api]\nbind = \"localhost\"\n[ingest]\nbatch_size = 0\nbatch_max_age = \"soon\"\nchannel_capacity = -1\n[polling]\ninterval = \"0ms\"\n";
    assert_eq!(
        problems(text),
        vec![
            "h.toml:2: storage.url: \"mysql://x\": expected sqlite://PATH or postgres://USER@HOST:PORT/DB",
            "h.toml:4: api.bind: \"localhost\" is not an IP:PORT address, e.g. 127.0.0.1:8080",
            "h.toml:6: ingest.batch_size: 0 is out of range 1-1000000",
            "h.toml:7: ingest.batch_max_age: \"soon\" is not a duration (expected number at 0); write e.g. \"500ms\", \"5s\" or \"1m\"",
            "h.toml:8: ingest.channel_capacity: -1 is out of range 1-1000000",
            "h.toml:10: polling.interval: \"0ms\" is zero; give a positive duration",
        ]
    );
}

#[test]
fn scale_must_be_usable() {
    let text = with_register(
        "name = \"a\"\ntable = \"hr\"\naddress = 0\ndata_type = \"uint16\"\nscale = 0.0\noffset = nan",
    );
    assert_eq!(
        problems(&text),
        vec![
            "h.toml:5: devices[0].registers[0].scale: 0 must be a finite, non-zero number",
            "h.toml:5: devices[0].registers[0].offset: NaN must be a finite number",
        ]
    );
}

#[test]
fn syntax_and_type_errors_point_at_line_and_column() {
    match Config::parse("[api]\nbind = \n", "h.toml", &no_env) {
        Err(ConfigError::Syntax(p)) => {
            assert_eq!(p.location, "h.toml:2:8");
            assert!(p.message.contains("string values must be quoted") || !p.message.is_empty());
        }
        other => panic!("expected a syntax error, got {other:?}"),
    }
    match Config::parse(
        "[[devices]]\nname = \"d\"\nhost = \"h\"\nport = \"502\"\n",
        "h.toml",
        &no_env,
    ) {
        Err(ConfigError::Syntax(p)) => {
            assert_eq!(p.location, "h.toml:4:8");
            assert_eq!(p.message, "invalid type: string \"502\", expected i64");
        }
        other => panic!("expected a type error, got {other:?}"),
    }
}

#[test]
fn environment_overrides_the_file_and_is_validated() {
    let env = |k: &str| match k {
        ENV_DATABASE_URL => Some("postgres://u@db/h".to_string()),
        ENV_API_BIND => Some("0.0.0.0:9000".to_string()),
        ENV_API_TOKEN => Some("0123456789abcdef-token".to_string()),
        ENV_BATCH_SIZE => Some("250".to_string()),
        _ => None,
    };
    let c = Config::parse("[storage]\nurl = \"sqlite://x.db\"\n", "h.toml", &env).expect("valid");
    assert_eq!(c.storage, StorageUrl::Postgres("postgres://u@db/h".into()));
    assert_eq!(c.api_bind.to_string(), "0.0.0.0:9000");
    assert_eq!(c.ingest.batch_size, 250);

    let bad = |k: &str| match k {
        ENV_DATABASE_URL => Some("redis://x".to_string()),
        ENV_BATCH_SIZE => Some("many".to_string()),
        _ => None,
    };
    match Config::parse("", "h.toml", &bad) {
        Err(ConfigError::Invalid(p)) => {
            let msgs: Vec<String> = p.iter().map(ToString::to_string).collect();
            assert_eq!(
                msgs,
                vec![
                    "environment HISTORIAN_DATABASE_URL: \"redis://x\": expected sqlite://PATH or postgres://USER@HOST:PORT/DB",
                    "environment HISTORIAN_BATCH_SIZE: \"many\" is not a whole number",
                ]
            );
        }
        other => panic!("expected validation errors, got {other:?}"),
    }
}

#[test]
fn expected_range_and_not_available_marker() {
    let ok = with_register(
        "name = \"a\"\ntable = \"hr\"\naddress = 0\ndata_type = \"uint16\"\nmin = 0\nmax = 100.5\nnot_available = 0xFFFF",
    );
    let c = Config::parse(&ok, "h.toml", &no_env).expect("valid");
    let limits = c.devices[0].spec.registers[0].limits;
    assert_eq!(
        (limits.min, limits.max, limits.not_available),
        (Some(0.0), Some(100.5), Some(0xFFFF))
    );
    let bad = with_register(
        "name = \"a\"\ntable = \"hr\"\naddress = 0\ndata_type = \"uint16\"\nmin = 10\nmax = 5\nnot_available = 0x10000",
    );
    assert_eq!(
        problems(&bad),
        vec![
            "h.toml:5: devices[0].registers[0].max: 5 is below min 10",
            "h.toml:5: devices[0].registers[0].not_available: 65536 is not a raw value of this register (0 to 2^16-1, written e.g. 0xFFFF; not for bool)",
        ]
    );
}

#[test]
fn api_section_token_cors_limits() {
    let text = "[api]\nbind = \"0.0.0.0:8080\"\ntoken = \"s3cret-s3cret-s3cret\"\n\
                cors_origins = [\"https://grafana.example.com\", \"http://localhost:3000\"]\n\
                max_body_bytes = 4096\nrequest_timeout = \"5s\"\n";
    let c = Config::parse(text, "h.toml", &no_env).expect("valid");
    assert_eq!(c.api.token.as_deref(), Some("s3cret-s3cret-s3cret"));
    assert_eq!(c.api.cors_origins.len(), 2);
    assert_eq!(c.api.max_body_bytes, 4096);
    assert_eq!(c.api.request_timeout, std::time::Duration::from_secs(5));
    assert!(
        !format!("{c:?}").contains("s3cret"),
        "the token leaks into Debug output"
    );
    // The environment's token wins over the file's.
    let env = |k: &str| (k == ENV_API_TOKEN).then(|| "from-the-environment-1".to_string());
    let c = Config::parse(text, "h.toml", &env).expect("valid");
    assert_eq!(c.api.token.as_deref(), Some("from-the-environment-1"));
}

#[test]
fn api_read_token_from_the_file_or_the_environment_and_checked_like_the_token() {
    let text = "[api]\nread_token = \"reader-reader-reader\"\n";
    let c = Config::parse(text, "h.toml", &no_env).expect("valid");
    assert_eq!(c.api.read_token.as_deref(), Some("reader-reader-reader"));
    assert_eq!(c.api.token, None);
    assert!(
        !format!("{c:?}").contains("reader-reader"),
        "the read token leaks into Debug output"
    );
    let env = |k: &str| (k == ENV_API_READ_TOKEN).then(|| "from-the-environment-2".to_string());
    let c = Config::parse(text, "h.toml", &env).expect("valid");
    assert_eq!(c.api.read_token.as_deref(), Some("from-the-environment-2"));

    let bad = "[api]\nread_token = \"short\"\n";
    assert_eq!(
        problems(bad),
        vec!["h.toml:2: api.read_token: the token is 5 characters long; use at least 16"]
    );
    let env = |k: &str| (k == ENV_API_READ_TOKEN).then(|| "with a space in it ok".to_string());
    let msg = Config::parse("", "h.toml", &env)
        .expect_err("invalid")
        .to_string();
    assert!(
        msg.contains("environment HISTORIAN_API_READ_TOKEN: the token must be printable ASCII"),
        "{msg}"
    );
    // A read token does not open the network: writes still need the token.
    let msg = Config::parse(
        "[api]\nbind = \"0.0.0.0:8080\"\nread_token = \"reader-reader-reader\"\n",
        "h.toml",
        &no_env,
    )
    .expect_err("invalid")
    .to_string();
    assert!(msg.contains("no API token is set"), "{msg}");
}

#[test]
fn api_refuses_the_network_without_a_token_and_bad_values() {
    let text = "[api]\nbind = \"0.0.0.0:8080\"\ntoken = \"short\"\ncors_origins = [\"*\", \"https://x.example/path\"]\n\
                max_body_bytes = 0\nrequest_timeout = \"soon\"\n";
    let err = Config::parse(text, "h.toml", &no_env).expect_err("invalid");
    let msg = err.to_string();
    for want in [
        "h.toml:3: api.token: the token is 5 characters long; use at least 16",
        "h.toml:4: api.cors_origins[0]: \"*\" is not an origin",
        "h.toml:4: api.cors_origins[1]: \"https://x.example/path\" is not an origin",
        "h.toml:5: api.max_body_bytes: 0 is out of range",
        "h.toml:6: api.request_timeout: \"soon\" is not a duration",
        "h.toml:2: api.bind: 0.0.0.0:8080 is reachable from other hosts, but no API token is set",
    ] {
        assert!(msg.contains(want), "{msg}\nlacks: {want}");
    }
    // Loopback needs no token; IPv6 loopback neither.
    for bind in ["127.0.0.1:8080", "[::1]:8080"] {
        let t = format!("[api]\nbind = \"{bind}\"\n");
        Config::parse(&t, "h.toml", &no_env).expect("loopback without a token is fine");
    }
    let env = |k: &str| (k == ENV_API_BIND).then(|| "10.0.0.5:80".to_string());
    let msg = Config::parse("", "h.toml", &env)
        .expect_err("invalid")
        .to_string();
    assert!(
        msg.contains("environment HISTORIAN_API_BIND: 10.0.0.5:80 is reachable"),
        "{msg}"
    );
}

#[test]
fn api_connection_limits_have_defaults_and_ranges() {
    let c = Config::parse("", "h.toml", &no_env).expect("valid");
    assert_eq!(c.api.header_timeout, Duration::from_secs(10));
    assert_eq!(c.api.idle_timeout, Duration::from_secs(60));
    assert_eq!(c.api.max_connections, DEFAULT_MAX_CONNECTIONS);
    assert_eq!(c.api.max_streams, DEFAULT_MAX_STREAMS);
    assert_eq!(c.api.tls, None);
    let c = Config::parse(
        "[api]\nheader_timeout = \"2s\"\nidle_timeout = \"5m\"\nmax_connections = 100\nmax_streams = 10\n",
        "h.toml",
        &no_env,
    )
    .expect("valid");
    assert_eq!(c.api.header_timeout, Duration::from_secs(2));
    assert_eq!(c.api.idle_timeout, Duration::from_secs(300));
    assert_eq!((c.api.max_connections, c.api.max_streams), (100, 10));

    let got = problems(
        "[api]\nheader_timeout = \"soon\"\nidle_timeout = \"never\"\nmax_connections = 1\nmax_streams = 0\n",
    );
    for want in [
        "h.toml:2: api.header_timeout: \"soon\" is not a duration",
        "h.toml:3: api.idle_timeout: \"never\" is not a duration",
        "h.toml:4: api.max_connections: 1 is out of range 2-1000000",
        "h.toml:5: api.max_streams: 0 is out of range 1-1000000",
    ] {
        assert!(
            got.iter().any(|p| p.starts_with(want)),
            "{got:?}\nlacks: {want}"
        );
    }
    assert_eq!(
        problems("[api]\nmax_connections = 10\nmax_streams = 10\n"),
        vec![
            "h.toml:3: api.max_streams: 10 must be below api.max_connections (10), so that event \
             streams cannot take every connection"
        ]
    );
}

#[test]
fn api_tls_files_are_read_from_the_config_folder_and_checked_as_a_pair() {
    let pki = historian_testkit::TestPki::new(&["localhost"]).expect("pki");
    let other = historian_testkit::TestPki::new(&["localhost"]).expect("pki");
    std::fs::copy(other.key_path(), pki.dir().join("other-key.pem")).expect("copy");
    let source = pki.dir().join("h.toml").display().to_string();
    let parse = |api: &str| Config::parse(&format!("[api]\n{api}\n"), &source, &no_env);
    let c = parse("tls_cert = \"cert.pem\"\ntls_key = \"key.pem\"").expect("valid");
    assert_eq!(
        c.api.tls,
        Some(TlsFiles {
            cert: pki.cert_path(),
            key: pki.key_path()
        })
    );
    let problem = |api: &str| match parse(api) {
        Err(ConfigError::Invalid(p)) => {
            assert_eq!(p.len(), 1, "{p:?}");
            format!("{}: {}", p[0].path, p[0].message)
        }
        other => panic!("{api}: {other:?}"),
    };
    assert_eq!(
        problem("tls_key = \"key.pem\""),
        "api.tls_key: is set but api.tls_cert is not: give both (HTTPS) or neither (HTTP)"
    );
    let got = problem("tls_cert = \"cert.pem\"\ntls_key = \"other-key.pem\"");
    assert!(
        got.starts_with("api.tls_key: ") && got.contains("does not belong to the certificate"),
        "{got}"
    );
    let got = problem("tls_cert = \"missing.pem\"\ntls_key = \"key.pem\"");
    assert!(got.starts_with("api.tls_cert: cannot read "), "{got}");
    let got = problem("tls_cert = \"cert.pem\"\ntls_key = \"cert.pem\"");
    assert!(
        got.starts_with("api.tls_key: ") && got.contains("no PEM private key"),
        "{got}"
    );
}

#[test]
fn strings_and_register_bits() {
    let ok = format!(
        "{DEVICE}\n[[devices.registers]]\nname = \"model\"\ntable = \"hr\"\naddress = 0\ndata_type = \"string\"\nlength = 8\nbyte_order = \"BADC\"\n\
         [[devices.registers]]\nname = \"trip\"\ntable = \"hr\"\naddress = 8\ndata_type = \"bool\"\nbit = 0\n\
         [[devices.registers]]\nname = \"closed\"\ntable = \"hr\"\naddress = 8\ndata_type = \"bool\"\nbit = 15\n"
    );
    let c = Config::parse(&ok, "h.toml", &no_env).expect("valid");
    let r = &c.devices[0].spec.registers;
    assert_eq!(
        (r[0].data_type, r[0].length),
        (historian_model::DataType::String, Some(8))
    );
    assert_eq!(r[1].register.to_string(), "40000900");
    assert_eq!(r[2].register.to_string(), "40000915");
    let bad = format!(
        "{DEVICE}\n[[devices.registers]]\nname = \"model\"\ntable = \"hr\"\naddress = 0\ndata_type = \"string\"\nlength = 200\n\
         [[devices.registers]]\nname = \"trip\"\ntable = \"hr\"\naddress = 8\ndata_type = \"bool\"\n\
         [[devices.registers]]\nname = \"x\"\ntable = \"hr\"\naddress = 9\ndata_type = \"bool\"\nbit = 16\n"
    );
    assert_eq!(
        problems(&bad),
        vec![
            "h.toml:5: devices[0].registers[0].length: 200 is out of range 1-125 (registers, two characters each)",
            "h.toml:11: devices[0].registers[1]: bool in the holding_register table needs a bit (0-15): which bit of the register holds it",
            "h.toml:16: devices[0].registers[2].bit: 16 is out of range 0-15",
        ]
    );
}

#[test]
fn a_device_may_name_a_map_file_relative_to_the_config() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir(dir.path().join("maps")).expect("mkdir");
    std::fs::write(
        dir.path().join("maps/ok.csv"),
        "address,name,data_type,unit\n40001,volts,uint16,V\n40002,amps,float32,A\n",
    )
    .expect("write");
    std::fs::write(
        dir.path().join("maps/bad.csv"),
        "address,name,data_type\n40001,volts,uint16\n40001,amps,uint16\n",
    )
    .expect("write");
    let config = dir.path().join("h.toml");
    let source = config.display().to_string();
    let text = format!(
        "{DEVICE}addressing = \"modicon\"\nregister_map = \"maps/ok.csv\"\n\
         [[devices]]\nname = \"e\"\nhost = \"h\"\nport = 503\nregister_map = \"maps/bad.csv\"\naddressing = \"modicon\"\n\
         [[devices]]\nname = \"f\"\nhost = \"h\"\nport = 504\nregister_map = \"maps/none.csv\"\n\
         [[devices]]\nname = \"g\"\nhost = \"h\"\nport = 505\nregister_map = \"maps/ok.txt\"\n"
    );
    let problems = match Config::parse(&text, &source, &no_env) {
        Err(ConfigError::Invalid(p)) => p.iter().map(ToString::to_string).collect::<Vec<_>>(),
        other => panic!("expected problems, got {other:?}"),
    };
    let maps = dir.path().join("maps");
    assert_eq!(
        problems,
        vec![
            format!(
                "{}:3:1: register \"amps\" overlaps \"volts\", which also uses holding_register address 0",
                maps.join("bad.csv").display()
            ),
            format!(
                "{source}:16: devices[2].register_map: cannot read {}: No such file or directory (os error 2)",
                maps.join("none.csv").display()
            ),
            format!(
                "{source}:21: devices[3].register_map: \"maps/ok.txt\" must end in .csv or .toml"
            ),
        ]
    );
    let good = text
        .split("[[devices]]\nname = \"e\"")
        .next()
        .unwrap_or_default();
    let c = Config::parse(good, &source, &no_env).expect("valid");
    let r = &c.devices[0].spec.registers;
    assert_eq!(r.len(), 2);
    assert_eq!(r[1].register.to_string(), "400002");
    assert_eq!(r[1].unit, "A");
}

#[test]
fn transports_and_serial_line_settings() {
    let ok = "[[devices]]\nname = \"gw\"\nhost = \"10.0.0.5\"\nport = 4001\ntransport = \"rtu_over_tcp\"\n\
              [[devices]]\nname = \"rs485\"\ntransport = \"rtu\"\nserial_port = \"/dev/ttyUSB0\"\nbaud_rate = 9600\nparity = \"none\"\nstop_bits = 2\ndata_bits = 8\n\
              [[devices]]\nname = \"defaults\"\ntransport = \"rtu\"\nserial_port = \"/dev/ttyS1\"\n";
    let c = Config::parse(ok, "h.toml", &no_env).expect("valid");
    use historian_modbus::client::Transport;
    use historian_model::{Parity, SerialSettings};
    assert_eq!(
        c.devices[0].transport(),
        Transport::RtuOverTcp("10.0.0.5:4001".into())
    );
    assert_eq!(
        c.devices[1].transport(),
        Transport::RtuSerial(SerialSettings {
            path: "/dev/ttyUSB0".into(),
            baud_rate: 9600,
            parity: Parity::None,
            stop_bits: 2,
            data_bits: 8,
        })
    );
    assert_eq!(c.devices[1].spec.host, "/dev/ttyUSB0");
    assert_eq!(
        c.devices[2].transport(),
        Transport::RtuSerial(SerialSettings::new("/dev/ttyS1")),
        "Modbus RTU defaults: 19200 8E1"
    );
    let bad = "[[devices]]\nname = \"a\"\nhost = \"h\"\ntransport = \"udp\"\n\
               [[devices]]\nname = \"b\"\nhost = \"h\"\nbaud_rate = 9600\n\
               [[devices]]\nname = \"c\"\ntransport = \"rtu\"\nparity = \"mark\"\nstop_bits = 3\ndata_bits = 5\nbaud_rate = 1\n\
               [[devices]]\nname = \"d\"\ntransport = \"rtu\"\nserial_port = \"/dev/ttyUSB1\"\nhost = \"h\"\n";
    assert_eq!(
        problems(bad),
        vec![
            "h.toml:1: devices[0].transport: unknown transport \"udp\" (expected tcp, rtu_over_tcp or rtu)",
            "h.toml:5: devices[1].baud_rate: applies to transport = \"rtu\" (a serial port) only",
            "h.toml:9: devices[2].serial_port: is required with transport = \"rtu\" (e.g. \"/dev/ttyUSB0\")",
            "h.toml:9: devices[2].baud_rate: 1 is out of range 300-4000000",
            "h.toml:9: devices[2].parity: unknown parity \"mark\" (expected none, even or odd)",
            "h.toml:9: devices[2].stop_bits: 3 is not 1 or 2",
            "h.toml:9: devices[2].data_bits: 5 is not 7 or 8",
            "h.toml:16: devices[3].host: does not apply to transport = \"rtu\" (give serial_port)",
        ]
    );
}

#[test]
fn serial_ports_are_adapters_unless_the_operator_allows_a_device_path() {
    let text = "[polling]\nallowed_serial_ports = [\"/dev/modbus0\", \"/etc/passwd\", \"/dev/../etc/shadow\", \" /dev/x\"]\n\
                [[devices]]\nname = \"custom\"\ntransport = \"rtu\"\nserial_port = \"/dev/modbus0\"\n\
                [[devices]]\nname = \"other\"\ntransport = \"rtu\"\nserial_port = \"/dev/modbus1\"\n\
                [[devices]]\nname = \"console\"\ntransport = \"rtu\"\nserial_port = \"/dev/tty1\"\n\
                [[devices]]\nname = \"usb\"\ntransport = \"rtu\"\nserial_port = \"/dev/ttyUSB0\"\n";
    let got = problems(text);
    let adapters = historian_model::input::serial::SERIAL_PORTS;
    assert_eq!(
        got,
        vec![
            "h.toml:2: polling.allowed_serial_ports[1]: \"/etc/passwd\" must be a device path under /dev/".to_string(),
            "h.toml:2: polling.allowed_serial_ports[2]: \"/dev/../etc/shadow\" must name a file under /dev/ plainly (no empty, \".\" or \"..\" parts)".to_string(),
            "h.toml:2: polling.allowed_serial_ports[3]: starts with U+0020 SPACE; remove it".to_string(),
            format!("h.toml:7: devices[1].serial_port: \"/dev/modbus1\" {adapters}"),
            format!("h.toml:11: devices[2].serial_port: \"/dev/tty1\" {adapters}"),
        ]
    );
    let allowed = "[polling]\nallowed_serial_ports = [\"/dev/modbus0\"]\n\
                   [[devices]]\nname = \"custom\"\ntransport = \"rtu\"\nserial_port = \"/dev/modbus0\"\n";
    let c = Config::parse(allowed, "h.toml", &no_env).expect("valid");
    assert_eq!(c.devices[0].spec.host, "/dev/modbus0");
}

#[test]
fn spool_settings_are_read_with_sizes_and_policies() {
    let text = "[spool]\ndir = \"/var/lib/h/spool\"\nmax_size = \"2GiB\"\nsegment_size = 1048576\n\
                fsync = \"1s\"\nwhen_full = \"drop_newest\"\n\
                [ingest]\nwrite_timeout = \"5s\"\nshutdown_timeout = \"3s\"\nwriters = 4\n";
    let c = Config::parse(text, "h.toml", &no_env).expect("valid");
    assert_eq!(c.spool.dir, std::path::PathBuf::from("/var/lib/h/spool"));
    assert_eq!(c.spool.max_bytes, 2 << 30);
    assert_eq!(c.spool.segment_bytes, 1 << 20);
    assert_eq!(c.spool.fsync, FsyncPolicy::Interval(Duration::from_secs(1)));
    assert_eq!(c.spool.when_full, WhenFull::DropNewest);
    assert_eq!(c.ingest.write_timeout, Duration::from_secs(5));
    assert_eq!(c.ingest.shutdown_timeout, Duration::from_secs(3));
    assert_eq!(c.ingest.writers, 4);
    assert_eq!(
        problems("[ingest]\nwriters = 0\n"),
        vec!["h.toml:2: ingest.writers: 0 is out of range 1-16"]
    );
    let d = Config::parse("", "h.toml", &no_env).expect("valid");
    assert_eq!(d.spool, SpoolConfig::new(DEFAULT_SPOOL_DIR));
}

#[test]
fn bad_spool_settings_are_each_reported() {
    let p = problems(
        "[spool]\nmax_size = \"lots\"\nsegment_size = \"10KiB\"\nfsync = \"sometimes\"\nwhen_full = \"panic\"\n",
    );
    assert_eq!(
        p,
        vec![
            "h.toml:2: spool.max_size: \"lots\" is not a size; write e.g. \"512MiB\" or \"2GiB\"",
            "h.toml:3: spool.segment_size: 10240 bytes is below the 64KiB minimum",
            "h.toml:4: spool.fsync: \"sometimes\": expected \"always\", \"never\" or an interval such as \"1s\"",
            "h.toml:5: spool.when_full: \"panic\": expected \"block\" or \"drop_newest\"",
        ]
    );
    assert_eq!(
        problems("[spool]\nmax_size = \"3 parsecs\"\n"),
        vec![
            "h.toml:2: spool.max_size: \"3 parsecs\": unknown unit \"parsecs\" (use B, KB, KiB, MB, MiB, GB, GiB, TB or TiB)"
        ]
    );
}

#[test]
fn redis_is_off_unless_configured_and_its_url_is_checked() {
    assert_eq!(
        Config::parse("", "h.toml", &no_env).expect("valid").redis,
        None
    );
    let c = Config::parse(
        "[redis]\nurl = \"redis://127.0.0.1:6379/2\"\nkey_prefix = \"site7:\"\ntimeout = \"100ms\"\n",
        "h.toml",
        &no_env,
    )
    .expect("valid");
    let r = c.redis.expect("redis configured");
    assert_eq!(r.key_prefix, "site7");
    assert_eq!(r.timeout, Duration::from_millis(100));
    assert_eq!(
        problems("[redis]\nurl = \"http://x\"\n"),
        vec![
            "h.toml:2: redis.url: \"http://x\": expected redis://HOST:PORT/DB or \
             rediss://HOST:PORT/DB"
        ]
    );
    let env = |k: &str| (k == ENV_REDIS_URL).then(|| "redis://10.0.0.5:6379/".to_string());
    let c = Config::parse("", "h.toml", &env).expect("valid");
    assert_eq!(
        c.redis.map(|r| r.url),
        Some("redis://10.0.0.5:6379/".into())
    );
}

#[test]
fn a_redis_ca_file_is_read_beside_the_config_and_needs_rediss() {
    let pki = historian_testkit::TestPki::new(&["localhost"]).expect("pki");
    let source = pki.dir().join("h.toml");
    let source = source.to_str().expect("utf-8 path");
    let c = Config::parse(
        "[redis]\nurl = \"rediss://localhost:6380/\"\nca_file = \"ca.pem\"\n",
        source,
        &no_env,
    )
    .expect("valid");
    assert_eq!(c.redis.and_then(|r| r.ca_file), Some(pki.ca_path()));

    let problems = |text: &str| match Config::parse(text, source, &no_env) {
        Err(ConfigError::Invalid(p)) => p.iter().map(ToString::to_string).collect(),
        other => vec![format!("{other:?}")],
    };
    assert_eq!(
        problems("[redis]\nurl = \"redis://localhost/\"\nca_file = \"ca.pem\"\n"),
        vec![format!(
            "{source}:3: redis.ca_file: needs a rediss:// URL: redis:// is plain text and \
             uses no CA"
        )]
    );
    assert_eq!(
        problems("[redis]\nurl = \"rediss://localhost/#insecure\"\n"),
        vec![format!(
            "{source}:2: redis.url: \"rediss://localhost/#insecure\": #insecure (no certificate \
             verification) is not supported; trust a private CA with redis.ca_file"
        )]
    );
    let missing = pki.dir().join("nope.pem");
    let got = problems("[redis]\nurl = \"rediss://localhost/\"\nca_file = \"nope.pem\"\n");
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(
        got[0].starts_with(&format!(
            "{source}:3: redis.ca_file: cannot read {}: ",
            missing.display()
        )),
        "{got:?}"
    );
    std::fs::write(&missing, "no certificate here\n").expect("write");
    assert_eq!(
        problems("[redis]\nurl = \"rediss://localhost/\"\nca_file = \"nope.pem\"\n"),
        vec![format!(
            "{source}:3: redis.ca_file: {} holds no PEM certificate",
            missing.display()
        )]
    );
}

#[test]
fn a_postgres_sslmode_is_checked_with_the_config() {
    assert_eq!(
        problems("[storage]\nurl = \"postgres://u@db/h?sslmode=verify-full&sslrootcert=ca.pem\"\n"),
        Vec::<String>::new()
    );
    assert_eq!(
        problems("[storage]\nurl = \"postgres://u@db/h?sslmode=verify\"\n"),
        vec![
            "h.toml:2: storage.url: \"postgres://u@db/h?sslmode=verify\": unknown sslmode \
             \"verify\": expected one of disable, prefer, require, verify-ca, verify-full"
        ]
    );
}

#[test]
fn url_errors_do_not_repeat_passwords() {
    let text = "[storage]\nurl = \"postgres://u:hunter2@db/h?sslmode=verify\"\n\
                [redis]\nurl = \"http://:hunter3@cache\"\n";
    let err = problems(text).join("\n");
    assert!(err.contains("postgres://u:***@db/h"), "{err}");
    assert!(err.contains("http://:***@cache"), "{err}");
    assert!(
        !err.contains("hunter2") && !err.contains("hunter3"),
        "{err}"
    );
}

#[test]
fn cluster_mode_is_refused_on_sqlite_in_one_line() {
    let p = problems("[cluster]\nenabled = true\n");
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(
        p[0].starts_with("h.toml:2: cluster.enabled: cluster mode needs PostgreSQL storage"),
        "{p:?}"
    );
    assert!(!p[0].contains('\n'), "one line: {p:?}");
}

#[test]
fn cluster_settings_have_defaults_and_are_checked_together() {
    let pg = "[storage]\nurl = \"postgres://h@db/h\"\n";
    let c = Config::parse(
        &format!("{pg}[cluster]\nenabled = true\n"),
        "h.toml",
        &no_env,
    )
    .expect("valid");
    let cl = c.cluster.expect("cluster on");
    assert_eq!(
        (cl.lease_ttl, cl.heartbeat, cl.node),
        (DEFAULT_LEASE_TTL, DEFAULT_HEARTBEAT, None)
    );
    let off =
        Config::parse(&format!("{pg}[cluster]\nnode = \"a\"\n"), "h.toml", &no_env).expect("valid");
    assert!(off.cluster.is_none(), "off unless enabled");
    let p = problems(&format!(
        "{pg}[cluster]\nenabled = true\nlease_ttl = \"2s\"\nheartbeat = \"1s\"\nnode = \"\"\n"
    ));
    assert_eq!(p.len(), 2, "{p:?}");
    assert!(
        p.iter()
            .any(|m| m.contains("cluster.lease_ttl: 2s is too short")),
        "{p:?}"
    );
    assert!(
        p.iter().any(|m| m.contains("cluster.node: must be 1-200")),
        "{p:?}"
    );
}

#[test]
fn polling_and_ingest_values_are_reported_with_their_line() {
    let text = "[polling]\ninterval = \"-5s\"\n\n[ingest]\nwriters = 2\nbatch_size = -1\n";
    let got = problems(text);
    assert_eq!(got.len(), 2, "{got:?}");
    assert!(
        got[0].starts_with("h.toml:6: ingest.batch_size: -1 is out of range"),
        "{got:?}"
    );
    assert!(
        got[1].starts_with("h.toml:2: polling.interval: \"-5s\""),
        "{got:?}"
    );
}

#[test]
fn the_addressing_of_each_device_map_is_kept_for_imports() {
    let text = "[[devices]]\nname = \"a\"\nhost = \"h\"\naddressing = \"modicon\"\n\
                [[devices]]\nname = \"b\"\nhost = \"h\"\n";
    let c = Config::parse(text, "h.toml", &|_| None).expect("valid");
    assert_eq!(
        c.map_addressing.get("a"),
        Some(&historian_model::Addressing::Modicon)
    );
    assert_eq!(c.map_addressing.get("b"), None);
}

#[test]
fn a_duplicate_register_name_is_reported_beside_other_mistakes() {
    let text = with_register(
        "name = \"a\"\ntable = \"hr\"\naddress = 0\ndata_type = \"uint16\"\n\
         [[devices.registers]]\nname = \"a\"\ntable = \"hr\"\naddress = 1\ndata_type = \"flaot32\"",
    );
    let got = problems(&text);
    assert_eq!(got.len(), 2, "{got:?}");
    assert!(
        got[0].contains("devices[0].registers[1].data_type: unknown data type"),
        "{got:?}"
    );
    assert!(
        got[1].contains("devices[0].registers[1]: duplicate register name \"a\""),
        "{got:?}"
    );
}

#[test]
fn a_read_replica_needs_postgres_and_takes_a_lag_bound() {
    let pg = "[storage]\nurl = \"postgres://h@db/h\"\n";
    let c = Config::parse(
        &format!(
            "{pg}read_url = \"postgres://h@replica/h?sslmode=require\"\nread_max_lag = \"3s\"\n"
        ),
        "h.toml",
        &no_env,
    )
    .expect("valid");
    assert_eq!(
        c.storage_options.read_replica,
        Some(historian_store::ReadReplicaOptions {
            url: "postgres://h@replica/h?sslmode=require".into(),
            max_lag: std::time::Duration::from_secs(3),
        })
    );
    let c = Config::parse(
        &format!("{pg}read_url = \"postgres://h@replica/h\"\n"),
        "h.toml",
        &no_env,
    )
    .expect("valid");
    assert_eq!(
        c.storage_options.read_replica.map(|r| r.max_lag),
        Some(historian_store::ReadReplicaOptions::DEFAULT_MAX_LAG)
    );
    assert_eq!(
        Config::parse(pg, "h.toml", &no_env)
            .expect("valid")
            .storage_options
            .read_replica,
        None
    );
    assert_eq!(
        problems("[storage]\nurl = \"sqlite://h.db\"\nread_url = \"postgres://h@replica/h\"\n"),
        vec![
            "h.toml:3: storage.read_url: a read replica needs PostgreSQL storage \
             (storage.url = \"postgres://...\"); SQLite has no replicas"
        ]
    );
    assert_eq!(
        problems(&format!(
            "{pg}read_url = \"postgres://h:pw@replica/h?sslmode=verify\"\nread_max_lag = \"soon\"\n"
        ))
        .len(),
        2
    );
    let got = problems(&format!(
        "{pg}read_url = \"postgres://h:pw@replica/h?sslmode=verify\"\n"
    ));
    assert!(
        got.len() == 1
            && got[0].starts_with("h.toml:3: storage.read_url: ")
            && !got[0].contains("pw"),
        "{got:?}"
    );
    assert_eq!(
        problems(&format!("{pg}read_max_lag = \"3s\"\n")),
        vec![
            "h.toml:3: storage.read_max_lag: is set but storage.read_url is not: it bounds the \
             read replica's lag"
        ]
    );
}

#[test]
fn wal_compression_takes_a_known_method_and_names_an_unknown_one() {
    use historian_store::WalCompression;
    let c =
        Config::parse("[storage]\nwal_compression = \"zstd\"\n", "h.toml", &no_env).expect("valid");
    assert_eq!(
        c.storage_options.wal_compression,
        WalCompression::Method("zstd")
    );
    let c = Config::parse("", "h.toml", &no_env).expect("valid");
    assert_eq!(c.storage_options.wal_compression, WalCompression::Auto);
    assert_eq!(
        problems("[storage]\nwal_compression = \"gzip\"\n"),
        vec![
            "h.toml:2: storage.wal_compression: unknown wal_compression \"gzip\" (expected auto, \
             server, lz4, zstd or pglz)"
        ]
    );
}

#[test]
fn the_batch_size_defaults_by_backend_and_a_configured_one_wins() {
    let sqlite = Config::parse("", "h.toml", &no_env).expect("valid");
    assert_eq!(sqlite.ingest.batch_size, 5_000);
    let pg = "[storage]\nurl = \"postgres://historian@db:5432/historian\"\n";
    let postgres = Config::parse(pg, "h.toml", &no_env).expect("valid");
    assert_eq!(postgres.ingest.batch_size, 10_000);
    let set = format!("{pg}[ingest]\nbatch_size = 2500\n");
    assert_eq!(
        Config::parse(&set, "h.toml", &no_env)
            .expect("valid")
            .ingest
            .batch_size,
        2_500
    );
    let from_env = |k: &str| {
        (k == "HISTORIAN_DATABASE_URL").then(|| "postgres://historian@db:5432/h".to_string())
    };
    assert_eq!(
        Config::parse("", "h.toml", &from_env)
            .expect("valid")
            .ingest
            .batch_size,
        10_000
    );
}
