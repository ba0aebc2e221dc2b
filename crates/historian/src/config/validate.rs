//! From the file as written ([`RawConfig`]) to a [`Config`], collecting every problem.

use super::access::{LinkFields, plan_options};
use super::api::{check_api, exposure_problem};
use super::raw::{RawConfig, RawDevice, RawRedis, RawSpool, RawStorage};
use super::{
    Config, ConfigError, DeviceConfig, ENV_API_BIND, ENV_BATCH_SIZE, ENV_DATABASE_URL,
    ENV_REDIS_URL, FsyncPolicy, IngestConfig, Link, Problem, RedisConfig, SpoolConfig, WhenFull,
};
use historian_modbus::map::check_map;
use historian_modbus::mapfile::{self, MapFormat, RawPoint, build_point};
use historian_modbus::{Addressing, RegisterPoint};
use historian_store::{Access, DeviceSpec, StorageUrl, StoreOptions};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

/// Storage used when neither the file nor the environment names one.
pub const DEFAULT_STORAGE_URL: &str = "sqlite://data/historian.db";
/// The spool folder when the config names none (relative to the working directory, beside
/// the default SQLite file).
pub const DEFAULT_SPOOL_DIR: &str = "data/spool";
/// API address used when neither the file nor the environment names one.
pub const DEFAULT_API_BIND: &str = "127.0.0.1:8080";
const DEFAULT_INTERVAL: Duration = Duration::from_secs(5);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1);

/// Collects problems while walking the file.
pub(super) struct Checker<'a> {
    source: &'a str,
    text: &'a str,
    problems: Vec<Problem>,
}

impl Checker<'_> {
    pub(super) fn at(
        &mut self,
        span: Option<&std::ops::Range<usize>>,
        path: String,
        message: String,
    ) {
        let location = match span {
            Some(span) => {
                let line = self.text[..span.start.min(self.text.len())]
                    .bytes()
                    .filter(|&b| b == b'\n')
                    .count()
                    + 1;
                format!("{}:{line}", self.source)
            }
            None => self.source.to_string(),
        };
        self.problems.push(Problem {
            location,
            path,
            message,
        });
    }

    pub(super) fn env(&mut self, var: &str, message: String) {
        self.problems.push(Problem {
            location: format!("environment {var}"),
            path: String::new(),
            message,
        });
    }
}

pub(super) fn duration(text: &str) -> Result<Duration, String> {
    match humantime::parse_duration(text) {
        Ok(d) if d.is_zero() => Err(format!("{text:?} is zero; give a positive duration")),
        Ok(d) => Ok(d),
        Err(e) => Err(format!(
            "{text:?} is not a duration ({e}); write e.g. \"500ms\", \"5s\" or \"1m\""
        )),
    }
}

fn path_of(p: &serde_ignored::Path<'_>) -> String {
    use serde_ignored::Path as P;
    match p {
        P::Root => String::new(),
        P::Seq { parent, index } => format!("{}[{index}]", path_of(parent)),
        // toml's Spanned wrapper shows up as a map key; it is not part of the user's path.
        P::Map { parent, key } if key.starts_with("$__serde_spanned_private") => path_of(parent),
        P::Map { parent, key } => {
            let head = path_of(parent);
            if head.is_empty() {
                key.clone()
            } else {
                format!("{head}.{key}")
            }
        }
        P::Some { parent } | P::NewtypeStruct { parent } | P::NewtypeVariant { parent } => {
            path_of(parent)
        }
    }
}

/// Parses and validates a whole file.
pub fn parse(
    text: &str,
    source: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, ConfigError> {
    let de = toml::Deserializer::parse(text).map_err(|e| syntax(e, text, source))?;
    let mut unknown = Vec::new();
    let raw: RawConfig = serde_ignored::deserialize(de, |p| unknown.push(path_of(&p)))
        .map_err(|e| syntax(e, text, source))?;
    let mut c = Checker {
        source,
        text,
        problems: Vec::new(),
    };
    for path in unknown {
        c.at(None, path, "unknown field".into());
    }
    let config = check(raw, &mut c, env);
    if c.problems.is_empty() {
        Ok(config)
    } else {
        Err(ConfigError::Invalid(c.problems))
    }
}

fn syntax(e: toml::de::Error, text: &str, source: &str) -> ConfigError {
    let location = match e.span() {
        Some(span) => {
            let before = &text[..span.start.min(text.len())];
            let line = before.bytes().filter(|&b| b == b'\n').count() + 1;
            let col = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
            format!("{source}:{line}:{col}")
        }
        None => source.to_string(),
    };
    ConfigError::Syntax(Problem {
        location,
        path: String::new(),
        message: e.message().trim().to_string(),
    })
}

fn check(raw: RawConfig, c: &mut Checker<'_>, env: &dyn Fn(&str) -> Option<String>) -> Config {
    let raw_storage = raw.storage.unwrap_or_default();
    let storage_options = check_storage_options(&raw_storage, c);
    let (url, url_from_env) = match env(ENV_DATABASE_URL) {
        Some(url) => (url, true),
        None => (
            raw_storage
                .url
                .unwrap_or_else(|| DEFAULT_STORAGE_URL.to_string()),
            false,
        ),
    };
    let storage = StorageUrl::parse(&url).unwrap_or_else(|e| {
        let msg = format!("{url:?}: {e}");
        if url_from_env {
            c.env(ENV_DATABASE_URL, msg);
        } else {
            c.at(None, "storage.url".into(), msg);
        }
        StorageUrl::Sqlite(DEFAULT_STORAGE_URL.into())
    });

    let raw_api = raw.api.unwrap_or_default();
    let api = check_api(&raw_api, c, env);
    let (bind_text, bind_from_env) = match env(ENV_API_BIND) {
        Some(b) => (b, true),
        None => (
            raw_api.bind.unwrap_or_else(|| DEFAULT_API_BIND.to_string()),
            false,
        ),
    };
    let api_bind = bind_text.parse::<SocketAddr>().unwrap_or_else(|_| {
        let msg = format!("{bind_text:?} is not an IP:PORT address, e.g. 127.0.0.1:8080");
        if bind_from_env {
            c.env(ENV_API_BIND, msg);
        } else {
            c.at(None, "api.bind".into(), msg);
        }
        SocketAddr::from(([127, 0, 0, 1], 8080))
    });
    if let Some(msg) = exposure_problem(api_bind, api.token.as_deref()) {
        if bind_from_env {
            c.env(ENV_API_BIND, msg);
        } else {
            c.at(None, "api.bind".into(), msg);
        }
    }

    let mut ingest = IngestConfig::default();
    let raw_ingest = raw.ingest.unwrap_or_default();
    let batch_size = match env(ENV_BATCH_SIZE) {
        Some(v) => match v.parse::<i64>() {
            Ok(n) => Some((n, true)),
            Err(_) => {
                c.env(ENV_BATCH_SIZE, format!("{v:?} is not a whole number"));
                None
            }
        },
        None => raw_ingest.batch_size.map(|n| (n, false)),
    };
    if let Some((n, from_env)) = batch_size {
        match usize::try_from(n) {
            Ok(n @ 1..=1_000_000) => ingest.batch_size = n,
            _ => {
                let msg = format!("{n} is out of range 1-1000000");
                if from_env {
                    c.env(ENV_BATCH_SIZE, msg);
                } else {
                    c.at(None, "ingest.batch_size".into(), msg);
                }
            }
        }
    }
    if let Some(age) = raw_ingest.batch_max_age {
        match duration(&age) {
            Ok(d) => ingest.batch_max_age = d,
            Err(e) => c.at(None, "ingest.batch_max_age".into(), e),
        }
    }
    if let Some(n) = raw_ingest.writers {
        match usize::try_from(n) {
            Ok(n @ 1..=16) => ingest.writers = n,
            _ => c.at(
                None,
                "ingest.writers".into(),
                format!("{n} is out of range 1-16"),
            ),
        }
    }
    if let Some(t) = raw_ingest.write_timeout {
        match duration(&t) {
            Ok(d) => ingest.write_timeout = d,
            Err(e) => c.at(None, "ingest.write_timeout".into(), e),
        }
    }
    if let Some(t) = raw_ingest.shutdown_timeout {
        match duration(&t) {
            Ok(d) => ingest.shutdown_timeout = d,
            Err(e) => c.at(None, "ingest.shutdown_timeout".into(), e),
        }
    }
    let spool = check_spool(raw.spool.unwrap_or_default(), c);
    let redis = check_redis(raw.redis.unwrap_or_default(), env, c);
    if let Some(n) = raw_ingest.channel_capacity {
        match usize::try_from(n) {
            Ok(n @ 1..=1_000_000) => ingest.channel_capacity = n,
            _ => c.at(
                None,
                "ingest.channel_capacity".into(),
                format!("{n} is out of range 1-1000000"),
            ),
        }
    }

    let polling = raw.polling.unwrap_or_default();
    let mut default_interval = DEFAULT_INTERVAL;
    if let Some(i) = polling.interval {
        match duration(&i) {
            Ok(d) => default_interval = d,
            Err(e) => c.at(None, "polling.interval".into(), e),
        }
    }
    let mut default_timeout = DEFAULT_TIMEOUT;
    if let Some(t) = polling.timeout {
        match duration(&t) {
            Ok(d) => default_timeout = d,
            Err(e) => c.at(None, "polling.timeout".into(), e),
        }
    }

    let mut names: HashMap<String, usize> = HashMap::new();
    let mut devices = Vec::new();
    for (i, spanned) in raw.devices.into_iter().enumerate() {
        let span = spanned.span();
        let path = format!("devices[{i}]");
        let d = spanned.into_inner();
        if let Some(name) = &d.name
            && let Some(first) = names.insert(name.clone(), i)
        {
            c.at(
                Some(&span),
                format!("{path}.name"),
                format!("duplicate device name {name:?} (also devices[{first}])"),
            );
        }
        if let Some(dev) = check_device(d, &span, &path, c, default_interval, default_timeout) {
            devices.push(dev);
        }
    }

    Config {
        source: c.source.to_string(),
        file: None,
        storage,
        storage_options,
        api_bind,
        api,
        ingest,
        spool,
        redis,
        devices,
        default_timeout,
    }
}

fn check_redis(
    raw: RawRedis,
    env: &dyn Fn(&str) -> Option<String>,
    c: &mut Checker<'_>,
) -> Option<RedisConfig> {
    let (url, from_env) = match env(ENV_REDIS_URL) {
        Some(u) => (u, true),
        None => (raw.url.clone()?, false),
    };
    if !(url.starts_with("redis://") || url.starts_with("rediss://"))
        || redis::Client::open(url.as_str()).is_err()
    {
        let msg = format!("{url:?}: expected redis://HOST:PORT/DB");
        if from_env {
            c.env(ENV_REDIS_URL, msg);
        } else {
            c.at(None, "redis.url".into(), msg);
        }
    }
    let mut cfg = RedisConfig {
        url,
        key_prefix: "historian".into(),
        timeout: Duration::from_millis(250),
    };
    if let Some(p) = raw.key_prefix {
        if p.is_empty() || p.contains(char::is_whitespace) {
            c.at(
                None,
                "redis.key_prefix".into(),
                format!("{p:?}: must be non-empty and without spaces"),
            );
        }
        cfg.key_prefix = p.trim_end_matches(':').to_string();
    }
    if let Some(t) = raw.timeout {
        match duration(&t) {
            Ok(d) => cfg.timeout = d,
            Err(e) => c.at(None, "redis.timeout".into(), e),
        }
    }
    Some(cfg)
}

fn check_spool(raw: RawSpool, c: &mut Checker<'_>) -> SpoolConfig {
    let mut s = SpoolConfig::new(raw.dir.as_deref().unwrap_or(DEFAULT_SPOOL_DIR));
    if raw.dir.as_deref().is_some_and(|d| d.trim().is_empty()) {
        c.at(None, "spool.dir".into(), "is empty; give a folder".into());
    }
    if let Some(v) = &raw.max_size {
        match byte_size(v) {
            Ok(n) if n >= 1024 * 1024 => s.max_bytes = n,
            Ok(n) => c.at(
                None,
                "spool.max_size".into(),
                format!("{n} bytes is below the 1MiB minimum"),
            ),
            Err(e) => c.at(None, "spool.max_size".into(), e),
        }
    }
    if let Some(v) = &raw.segment_size {
        match byte_size(v) {
            Ok(n) if n >= 64 * 1024 => s.segment_bytes = n,
            Ok(n) => c.at(
                None,
                "spool.segment_size".into(),
                format!("{n} bytes is below the 64KiB minimum"),
            ),
            Err(e) => c.at(None, "spool.segment_size".into(), e),
        }
    }
    if let Some(f) = &raw.fsync {
        s.fsync = match f.as_str() {
            "always" => FsyncPolicy::Always,
            "never" => FsyncPolicy::Never,
            other => match duration(other) {
                Ok(d) => FsyncPolicy::Interval(d),
                Err(_) => {
                    c.at(
                        None,
                        "spool.fsync".into(),
                        format!("{other:?}: expected \"always\", \"never\" or an interval such as \"1s\""),
                    );
                    FsyncPolicy::Always
                }
            },
        };
    }
    if let Some(w) = &raw.when_full {
        match w.as_str() {
            "block" => s.when_full = WhenFull::Block,
            "drop_newest" => s.when_full = WhenFull::DropNewest,
            other => c.at(
                None,
                "spool.when_full".into(),
                format!("{other:?}: expected \"block\" or \"drop_newest\""),
            ),
        }
    }
    s
}

/// A size as a whole number of bytes or a string such as "512MiB" or "2GB".
fn byte_size(v: &toml::Value) -> Result<u64, String> {
    match v {
        toml::Value::Integer(n) => u64::try_from(*n).map_err(|_| format!("{n} is negative")),
        toml::Value::String(text) => {
            let t = text.trim();
            let split = t.find(|ch: char| !ch.is_ascii_digit()).unwrap_or(t.len());
            let (num, unit) = t.split_at(split);
            let n: u64 = num.parse().map_err(|_| {
                format!("{text:?} is not a size; write e.g. \"512MiB\" or \"2GiB\"")
            })?;
            let mult: u64 = match unit.trim() {
                "" | "B" => 1,
                "KB" => 1_000,
                "KiB" => 1 << 10,
                "MB" => 1_000_000,
                "MiB" => 1 << 20,
                "GB" => 1_000_000_000,
                "GiB" => 1 << 30,
                "TB" => 1_000_000_000_000,
                "TiB" => 1 << 40,
                other => {
                    return Err(format!(
                        "{text:?}: unknown unit {other:?} (use B, KB, KiB, MB, MiB, GB, GiB, TB or TiB)"
                    ));
                }
            };
            n.checked_mul(mult)
                .ok_or_else(|| format!("{text:?} is too large"))
        }
        other => Err(format!(
            "expected a number of bytes or a string such as \"512MiB\", found {}",
            other.type_str()
        )),
    }
}

fn check_storage_options(s: &RawStorage, c: &mut Checker<'_>) -> StoreOptions {
    let mut o = StoreOptions::default();
    if let Some(mode) = &s.timescaledb {
        match mode.parse() {
            Ok(m) => o.timescaledb = m,
            Err(e) => c.at(None, "storage.timescaledb".into(), e),
        }
    }
    let mut set = |field: &str, text: &Option<String>, slot: &mut std::time::Duration| {
        if let Some(t) = text {
            match duration(t) {
                Ok(d) => *slot = d,
                Err(e) => c.at(None, format!("storage.{field}"), e),
            }
        }
    };
    set("compress_after", &s.compress_after, &mut o.compress_after);
    set("retention", &s.retention, &mut o.retention);
    set(
        "hourly_retention",
        &s.hourly_retention,
        &mut o.hourly_retention,
    );
    match s.daily_retention.as_deref() {
        None | Some("forever") => {}
        Some(t) => match duration(t) {
            Ok(d) => o.daily_retention = Some(d),
            Err(e) => c.at(
                None,
                "storage.daily_retention".into(),
                format!("{e}, or \"forever\""),
            ),
        },
    }
    if o.hourly_retention < o.retention {
        c.at(
            None,
            "storage.hourly_retention".into(),
            "must be at least storage.retention: roll-ups outlive the raw readings".into(),
        );
    }
    if let Some(d) = o.daily_retention
        && d < o.hourly_retention
    {
        c.at(
            None,
            "storage.daily_retention".into(),
            "must be at least storage.hourly_retention".into(),
        );
    }
    o
}

fn check_device(
    d: RawDevice,
    span: &std::ops::Range<usize>,
    path: &str,
    c: &mut Checker<'_>,
    default_interval: Duration,
    default_timeout: Duration,
) -> Option<DeviceConfig> {
    let before = c.problems.len();
    let link = check_link(&d, span, path, c);
    let name = match d.name {
        Some(n) if !n.trim().is_empty() => n,
        Some(_) => {
            c.at(Some(span), format!("{path}.name"), "is empty".into());
            String::new()
        }
        None => {
            c.at(Some(span), format!("{path}.name"), "is required".into());
            String::new()
        }
    };
    let host = match (&link, d.host) {
        // A serial device has no host: the store keeps the port's path in its place.
        (Link::Serial(s), None) => s.path.clone(),
        (Link::Serial(_), Some(_)) => {
            c.at(
                Some(span),
                format!("{path}.host"),
                "does not apply to transport = \"rtu\" (give serial_port)".into(),
            );
            String::new()
        }
        (_, Some(h)) if !h.trim().is_empty() => h,
        _ => {
            c.at(
                Some(span),
                format!("{path}.host"),
                "is required (host name or IP address)".into(),
            );
            String::new()
        }
    };
    let port = match d.port {
        None => 502,
        Some(p) => u16::try_from(p).ok().filter(|&p| p > 0).unwrap_or_else(|| {
            c.at(
                Some(span),
                format!("{path}.port"),
                format!("{p} is out of range 1-65535"),
            );
            502
        }),
    };
    let unit_id = match d.unit_id {
        None => 1,
        Some(u) => u8::try_from(u).unwrap_or_else(|_| {
            c.at(
                Some(span),
                format!("{path}.unit_id"),
                format!("{u} is out of range 0-255"),
            );
            1
        }),
    };
    let interval = match d.interval {
        None => default_interval,
        Some(i) => duration(&i).unwrap_or_else(|e| {
            c.at(Some(span), format!("{path}.interval"), e);
            default_interval
        }),
    };
    let timeout = d.timeout.and_then(|t| {
        duration(&t)
            .map_err(|e| c.at(Some(span), format!("{path}.timeout"), e))
            .ok()
    });
    let addressing = match d.addressing {
        None => Addressing::Wire,
        Some(a) => a.parse().unwrap_or_else(|e| {
            c.at(Some(span), format!("{path}.addressing"), e);
            Addressing::Wire
        }),
    };
    let plan = plan_options(d.max_gap, d.max_registers_per_read, &mut |field, what| {
        c.at(Some(span), format!("{path}.{field}"), what)
    });

    let pause = match d.pause_between_requests.as_deref() {
        None | Some("0") | Some("0s") | Some("0ms") => Duration::ZERO,
        Some(p) => duration(p).unwrap_or_else(|e| {
            c.at(Some(span), format!("{path}.pause_between_requests"), e);
            Duration::ZERO
        }),
    };
    let mut registers = Vec::new();
    let mut register_spans = Vec::new();
    if let Some(file) = d.register_map {
        let file_span = file.span();
        if d.registers.is_empty() {
            registers = load_map(file.get_ref(), &file_span, path, addressing, c);
        } else {
            c.at(
                Some(&file_span),
                format!("{path}.register_map"),
                "give registers or register_map, not both".into(),
            );
        }
    }
    for (j, r) in d.registers.into_iter().enumerate() {
        let rspan = r.span();
        let rpath = format!("{path}.registers[{j}]");
        if let Some(p) = check_register(r.into_inner(), &rspan, &rpath, addressing, c) {
            registers.push(p);
            register_spans.push((j, rspan));
        }
    }
    // A map file was checked as a whole when it was read; inline registers are checked here.
    if !register_spans.is_empty() {
        for (k, e) in check_map(&registers) {
            let (j, rspan) = &register_spans[k];
            c.at(Some(rspan), format!("{path}.registers[{j}]"), e.to_string());
        }
    }

    (c.problems.len() == before).then(|| {
        let spec = DeviceSpec {
            name,
            host,
            port,
            unit_id,
            poll_interval_ms: u64::try_from(interval.as_millis())
                .unwrap_or(u64::MAX)
                .max(1),
            enabled: d.enabled.unwrap_or(true),
            registers,
            access: Access {
                link,
                timeout,
                plan,
                pause,
            },
        };
        DeviceConfig::new(spec, default_timeout)
    })
}

/// The device's transport and, for a serial port, its line settings.
fn check_link(
    d: &RawDevice,
    span: &std::ops::Range<usize>,
    path: &str,
    c: &mut Checker<'_>,
) -> Link {
    LinkFields {
        transport: d.transport.as_deref(),
        serial_port: d.serial_port.as_deref(),
        baud_rate: d.baud_rate,
        parity: d.parity.as_deref(),
        stop_bits: d.stop_bits,
        data_bits: d.data_bits,
    }
    .check(&mut |field, what| c.at(Some(span), format!("{path}.{field}"), what))
}

/// Reads a device's map file, named relative to the config file's folder; every problem in
/// it is reported as `MAPFILE:LINE:COL: what`.
fn load_map(
    file: &str,
    span: &std::ops::Range<usize>,
    path: &str,
    addressing: Addressing,
    c: &mut Checker<'_>,
) -> Vec<RegisterPoint> {
    let base = Path::new(c.source).parent().unwrap_or(Path::new(""));
    let full = base.join(file);
    let field = format!("{path}.register_map");
    let Some(format) = MapFormat::of_path(&full) else {
        c.at(
            Some(span),
            field,
            format!("{file:?} must end in .csv or .toml"),
        );
        return Vec::new();
    };
    let text = match std::fs::read_to_string(&full) {
        Ok(t) => t,
        Err(e) => {
            c.at(
                Some(span),
                field,
                format!("cannot read {}: {e}", full.display()),
            );
            return Vec::new();
        }
    };
    match mapfile::parse(&text, format, addressing) {
        Ok(points) => points,
        Err(errors) => {
            for e in errors {
                c.problems.push(Problem {
                    location: format!("{}:{}:{}", full.display(), e.line, e.column),
                    path: String::new(),
                    message: e.message,
                });
            }
            Vec::new()
        }
    }
}

fn check_register(
    raw: RawPoint,
    span: &std::ops::Range<usize>,
    path: &str,
    addressing: Addressing,
    c: &mut Checker<'_>,
) -> Option<RegisterPoint> {
    build_point(raw, addressing)
        .map_err(|errors| {
            for e in errors {
                let field = if e.field.is_empty() {
                    path.to_string()
                } else {
                    format!("{path}.{}", e.field)
                };
                c.at(Some(span), field, e.message);
            }
        })
        .ok()
}
