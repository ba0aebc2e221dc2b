//! From the file as written ([`RawConfig`]) to a [`Config`], collecting every problem.

use super::api::{check_api, exposure_problem};
use super::checker::{Checker, duration, path_of};
use super::checker::{ConfigError, Problem};
use super::raw::{DevicePositions, RawConfig, RawRedis, RawSpool, RawStorage};
use super::settings::{
    Config, DeviceConfig, ENV_API_BIND, ENV_BATCH_SIZE, ENV_DATABASE_URL, ENV_REDIS_URL,
    IngestConfig, RedisConfig,
};
use crate::spool::{FsyncPolicy, SpoolConfig, WhenFull};
use historian_modbus::mapfile::{self, MapFormat};
use historian_model::input::serial::check_extra_port;
use historian_model::input::{DeviceInput, InputSource};
use historian_model::{Addressing, RegisterPoint};
use historian_store::{ReadReplicaOptions, StorageUrl, StoreOptions, masked_url};
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
use historian_model::input::DEFAULT_INTERVAL;
/// Per-request time-out of a device when neither it nor `polling.timeout` names one.
pub const DEFAULT_POLL_TIMEOUT: Duration = Duration::from_secs(1);

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
        maps: Default::default(),
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
    let mut storage_options = check_storage_options(&raw_storage, c);
    let (url, url_from_env) = match env(ENV_DATABASE_URL) {
        Some(url) => (url, true),
        None => (
            raw_storage
                .url
                .clone()
                .unwrap_or_else(|| DEFAULT_STORAGE_URL.to_string()),
            false,
        ),
    };
    let storage = StorageUrl::parse(&url).unwrap_or_else(|e| {
        let msg = format!("{:?}: {e}", masked_url(&url));
        if url_from_env {
            c.env(ENV_DATABASE_URL, msg);
        } else {
            c.at(None, "storage.url".into(), msg);
        }
        StorageUrl::Sqlite(DEFAULT_STORAGE_URL.into())
    });
    storage_options.read_replica = check_read_replica(&raw_storage, &storage, c);

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

    let mut ingest = IngestConfig::for_storage(&storage);
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
    let mqtt = super::mqtt::check_mqtt(raw.mqtt, env, c);
    let cluster = super::cluster::check_cluster(raw.cluster, &storage, c);
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
    let mut default_timeout = DEFAULT_POLL_TIMEOUT;
    if let Some(t) = polling.timeout {
        match duration(&t) {
            Ok(d) => default_timeout = d,
            Err(e) => c.at(None, "polling.timeout".into(), e),
        }
    }

    let mut serial_ports = Vec::new();
    for (i, path) in polling
        .allowed_serial_ports
        .unwrap_or_default()
        .into_iter()
        .enumerate()
    {
        match check_extra_port(&path) {
            Ok(()) => serial_ports.push(path),
            Err(e) => c.at(None, format!("polling.allowed_serial_ports[{i}]"), e),
        }
    }

    let map_addressing = raw
        .devices
        .iter()
        .filter_map(|d| {
            let d = d.get_ref();
            let addressing = d.addressing.as_deref()?.parse::<Addressing>().ok()?;
            Some((d.name.clone()?, addressing))
        })
        .collect();
    let positions = DevicePositions::of(c.text, &raw.devices);
    let mut names: HashMap<String, usize> = HashMap::new();
    let mut devices = Vec::new();
    for (i, (spanned, at)) in raw.devices.into_iter().zip(&positions).enumerate() {
        let path = format!("devices[{i}]");
        let d = spanned.into_inner();
        if let Some(name) = &d.name
            && let Some(first) = names.insert(name.clone(), i)
        {
            c.at(
                Some(&at.device),
                format!("{path}.name"),
                format!("duplicate device name {name:?} (also devices[{first}])"),
            );
        }
        let defaults = (default_interval, default_timeout);
        if let Some(dev) = check_device(d, at, &path, c, defaults, &serial_ports) {
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
        mqtt,
        cluster,
        devices,
        map_addressing,
        default_interval,
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
        let msg = format!(
            "{:?}: expected redis://HOST:PORT/DB or rediss://HOST:PORT/DB",
            masked_url(&url)
        );
        if from_env {
            c.env(ENV_REDIS_URL, msg);
        } else {
            c.at(None, "redis.url".into(), msg);
        }
    }
    if url.starts_with("rediss://") && url.ends_with("#insecure") {
        let msg = format!(
            "{:?}: #insecure (no certificate verification) is not supported; trust a \
             private CA with redis.ca_file",
            masked_url(&url)
        );
        if from_env {
            c.env(ENV_REDIS_URL, msg);
        } else {
            c.at(None, "redis.url".into(), msg);
        }
    }
    let ca_file = raw.ca_file.and_then(|file| {
        let span = file.span();
        let base = Path::new(c.source).parent().unwrap_or(Path::new(""));
        let full = base.join(file.get_ref());
        let problem = if !url.starts_with("rediss://") {
            Some("needs a rediss:// URL: redis:// is plain text and uses no CA".to_string())
        } else {
            crate::pem::read_ca_file(&full).err()
        };
        match problem {
            Some(msg) => {
                c.at(Some(&span), "redis.ca_file".into(), msg);
                None
            }
            None => Some(full),
        }
    });
    let mut cfg = RedisConfig {
        url,
        ca_file,
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

/// `storage.read_url` and `storage.read_max_lag`: a PostgreSQL replica of a PostgreSQL
/// primary, checked like `storage.url` (TLS options included).
fn check_read_replica(
    s: &RawStorage,
    primary: &StorageUrl,
    c: &mut Checker<'_>,
) -> Option<ReadReplicaOptions> {
    let max_lag = match s.read_max_lag.as_deref().map(duration) {
        None => ReadReplicaOptions::DEFAULT_MAX_LAG,
        Some(Ok(d)) => d,
        Some(Err(e)) => {
            c.at(None, "storage.read_max_lag".into(), e);
            ReadReplicaOptions::DEFAULT_MAX_LAG
        }
    };
    let Some(url) = s.read_url.as_deref() else {
        if s.read_max_lag.is_some() {
            c.at(
                None,
                "storage.read_max_lag".into(),
                "is set but storage.read_url is not: it bounds the read replica's lag".into(),
            );
        }
        return None;
    };
    if matches!(primary, StorageUrl::Sqlite(_)) {
        c.at(
            None,
            "storage.read_url".into(),
            "a read replica needs PostgreSQL storage (storage.url = \"postgres://...\"); \
             SQLite has no replicas"
                .into(),
        );
        return None;
    }
    match StorageUrl::parse(url) {
        Ok(StorageUrl::Postgres(url)) => Some(ReadReplicaOptions { url, max_lag }),
        Ok(StorageUrl::Sqlite(_)) => {
            c.at(
                None,
                "storage.read_url".into(),
                format!(
                    "{:?}: expected postgres://USER@HOST:PORT/DB (a streaming replica)",
                    masked_url(url)
                ),
            );
            None
        }
        Err(e) => {
            c.at(
                None,
                "storage.read_url".into(),
                format!("{:?}: {e}", masked_url(url)),
            );
            None
        }
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
    if let Some(method) = &s.wal_compression {
        match method.parse() {
            Ok(m) => o.wal_compression = m,
            Err(e) => c.at(None, "storage.wal_compression".into(), e),
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

/// Checks one `[[devices]]` table through the one device validator; each problem is
/// placed at the line of the register, map file or device it is about.
fn check_device(
    d: DeviceInput,
    at: &DevicePositions,
    path: &str,
    c: &mut Checker<'_>,
    (default_interval, default_timeout): (Duration, Duration),
    serial_ports: &[String],
) -> Option<DeviceConfig> {
    let device_span = at.device.clone();
    let map_span = at
        .register_map
        .clone()
        .unwrap_or_else(|| device_span.clone());
    let result = {
        let mut load =
            |file: &str, addressing: Addressing| load_map(file, &map_span, path, addressing, c);
        d.check(InputSource {
            default_interval,
            extra_serial_ports: serial_ports,
            map_files: Some(&mut load),
        })
    };
    match result {
        Ok(spec) => Some(DeviceConfig::new(spec, default_timeout)),
        Err(errors) => {
            for e in errors {
                let span = match (e.register, e.field) {
                    (Some(j), _) => at.registers.get(j).unwrap_or(&device_span),
                    (None, "register_map") => &map_span,
                    (None, _) => &device_span,
                };
                c.at(Some(span), format!("{path}.{}", e.path()), e.message);
            }
            None
        }
    }
}

/// Reads a device's map file, named relative to the config file's folder; every problem in
/// it is reported as `MAPFILE:LINE:COL: what`.
fn load_map(
    file: &str,
    span: &std::ops::Range<usize>,
    path: &str,
    addressing: Addressing,
    c: &mut Checker<'_>,
) -> Option<Vec<RegisterPoint>> {
    let base = Path::new(c.source).parent().unwrap_or(Path::new(""));
    let full = base.join(file);
    if let Some((_, points)) = c
        .maps
        .get(&full)
        .and_then(|seen| seen.iter().find(|(a, _)| *a == addressing))
    {
        return Some(points.clone());
    }
    // Only good maps are kept: a bad one is read again, so that each device naming it
    // gets its problems placed at its own line.
    let points = parse_map(&full, file, span, path, addressing, c)?;
    c.maps
        .entry(full)
        .or_default()
        .push((addressing, points.clone()));
    Some(points)
}

/// Reads and parses one map file, reporting its problems.
fn parse_map(
    full: &Path,
    file: &str,
    span: &std::ops::Range<usize>,
    path: &str,
    addressing: Addressing,
    c: &mut Checker<'_>,
) -> Option<Vec<RegisterPoint>> {
    let field = format!("{path}.register_map");
    let Some(format) = MapFormat::of_path(full) else {
        c.at(
            Some(span),
            field,
            format!("{file:?} must end in .csv or .toml"),
        );
        return None;
    };
    let text = match std::fs::read_to_string(full) {
        Ok(t) => t,
        Err(e) => {
            c.at(
                Some(span),
                field,
                format!("cannot read {}: {e}", full.display()),
            );
            return None;
        }
    };
    match mapfile::parse(&text, format, addressing) {
        Ok(points) => Some(points),
        Err(errors) => {
            for e in errors {
                c.problems.push(Problem {
                    location: format!("{}:{}:{}", full.display(), e.line, e.column),
                    path: String::new(),
                    message: e.message,
                });
            }
            None
        }
    }
}
