//! `[mqtt]`: readings published to an MQTT broker, as plain JSON topics or Sparkplug B.

use super::checker::{Checker, duration};
use super::raw::RawMqtt;
use crate::ingest::mqtt::qos::Qos;
use crate::ingest::mqtt::topic::Template;
use crate::pem::TlsFiles;
use crate::pem::load_certified_key;
use std::collections::HashMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;
use toml::Spanned;

/// Environment variable that sets `mqtt.password` (and wins over the file).
pub const ENV_MQTT_PASSWORD: &str = "HISTORIAN_MQTT_PASSWORD";
/// `mqtt.topic_prefix` unless set.
pub const DEFAULT_TOPIC_PREFIX: &str = "modbus-historian";
/// `mqtt.topic` unless set.
pub const DEFAULT_TOPIC: &str = "{prefix}/{device}/{register}";
/// `mqtt.queue` unless set: readings waiting for the broker before the oldest are dropped.
pub const DEFAULT_QUEUE: usize = 100_000;

/// Where and how to publish.
#[derive(Clone, PartialEq)]
pub struct MqttConfig {
    /// The URL as written (`mqtt://HOST:PORT` or `mqtts://HOST:PORT`).
    pub url: String,
    /// The broker's host name or IP address.
    pub host: String,
    /// The broker's port (1883 for `mqtt://`, 8883 for `mqtts://` unless given).
    pub port: u16,
    /// True for `mqtts://`.
    pub tls: bool,
    /// The payload format and its options.
    pub format: MqttFormat,
    /// The MQTT client id.
    pub client_id: String,
    /// User name, if the broker wants one.
    pub username: Option<String>,
    /// Password (`mqtt.password` or `HISTORIAN_MQTT_PASSWORD`); never logged.
    pub password: Option<String>,
    /// PEM file of the CA that signed the broker's certificate, trusted instead of the
    /// system's store (`mqtts://` only).
    pub ca_file: Option<PathBuf>,
    /// Certificate and key this client presents (`mqtts://` only).
    pub client_cert: Option<TlsFiles>,
    /// Delivery guarantee of the readings.
    pub qos: Qos,
    /// Interval of the MQTT keep-alive pings.
    pub keep_alive: Duration,
    /// Readings that may wait for the broker; beyond it the oldest are dropped and counted.
    pub queue: usize,
}

// The password stays out of logs and error messages.
impl std::fmt::Debug for MqttConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MqttConfig")
            .field("url", &self.url)
            .field("format", &self.format)
            .field("client_id", &self.client_id)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<set>"))
            .field("ca_file", &self.ca_file)
            .field("client_cert", &self.client_cert)
            .field("qos", &self.qos)
            .field("keep_alive", &self.keep_alive)
            .field("queue", &self.queue)
            .finish()
    }
}

/// The payload format.
#[derive(Debug, Clone, PartialEq)]
pub enum MqttFormat {
    /// One JSON message per register (and optionally per poll) on topics of a template.
    Json(JsonOptions),
    /// Sparkplug B 3.0: the historian is an edge node, each device a Sparkplug device.
    SparkplugB(SparkplugOptions),
}

impl MqttFormat {
    /// The name as written in `mqtt.format`.
    pub fn name(&self) -> &'static str {
        match self {
            MqttFormat::Json(_) => "json",
            MqttFormat::SparkplugB(_) => "sparkplug_b",
        }
    }
}

/// Options of the JSON format.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonOptions {
    /// Topic of each register's message; `None` (`topic = ""`) publishes per poll only.
    pub topic: Option<Template>,
    /// Topic of one message per poll of a device, holding all its readings, if wanted.
    pub batch_topic: Option<Template>,
    /// Messages are retained by the broker (the latest value waits for new subscribers).
    pub retain: bool,
    /// Publish a reading only when it changed; `None` publishes every reading.
    pub on_change: Option<OnChange>,
}

impl Default for JsonOptions {
    fn default() -> Self {
        JsonOptions {
            topic: Template::parse(DEFAULT_TOPIC, DEFAULT_TOPIC_PREFIX).ok(),
            batch_topic: None,
            retain: false,
            on_change: None,
        }
    }
}

/// When an unchanged reading is left out.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct OnChange {
    /// A value counts as changed when it moved by more than this (absolute) since the
    /// last one published.
    pub deadband: f64,
    /// Deadbands of single registers: by `"device/register"`, else by `"register"` (name).
    pub deadbands: HashMap<String, f64>,
    /// An unchanged reading is published anyway once this long has passed since the
    /// register's last message (a heartbeat).
    pub max_silence: Option<Duration>,
}

impl OnChange {
    /// The deadband of `register` of `device`.
    pub fn deadband_of(&self, device: &str, register: &str) -> f64 {
        self.deadbands
            .get(&format!("{device}/{register}"))
            .or_else(|| self.deadbands.get(register))
            .copied()
            .unwrap_or(self.deadband)
    }
}

/// Options of the Sparkplug B format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SparkplugOptions {
    /// The Sparkplug group the edge node belongs to.
    pub group_id: String,
    /// The edge node's id (the host name unless set).
    pub edge_node_id: String,
}

/// Broker host, port and whether it speaks TLS, from `mqtt://HOST[:PORT]` or
/// `mqtts://HOST[:PORT]`.
pub fn parse_url(text: &str) -> Result<(String, u16, bool), String> {
    let expected = "expected mqtt://HOST:PORT or mqtts://HOST:PORT";
    let url = url::Url::parse(text).map_err(|e| format!("{text:?}: {e}; {expected}"))?;
    let tls = match url.scheme() {
        "mqtt" => false,
        "mqtts" => true,
        other => return Err(format!("{text:?}: scheme {other:?}; {expected}")),
    };
    if !url.username().is_empty() || url.password().is_some() {
        return Err(
            "holds credentials; give them as mqtt.username and mqtt.password (or \
             HISTORIAN_MQTT_PASSWORD) so that they stay out of logs"
                .into(),
        );
    }
    let host = match url.host() {
        Some(url::Host::Domain(d)) if !d.is_empty() => d.to_string(),
        Some(url::Host::Ipv4(ip)) => ip.to_string(),
        Some(url::Host::Ipv6(ip)) => ip.to_string(),
        _ => return Err(format!("{text:?}: no host; {expected}")),
    };
    if !matches!(url.path(), "" | "/") || url.query().is_some() || url.fragment().is_some() {
        return Err(format!(
            "{text:?}: a path or query has no meaning here; {expected}"
        ));
    }
    let port = url.port().unwrap_or(if tls { 8883 } else { 1883 });
    Ok((host, port, tls))
}

/// This machine's host name, for the default client id and Sparkplug edge node id.
pub fn hostname() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

impl MqttConfig {
    /// The defaults for the broker at `url`: JSON format, QoS 0, client id from the host name.
    pub fn new(url: &str) -> Result<MqttConfig, String> {
        let (host, port, tls) = parse_url(url)?;
        Ok(MqttConfig {
            url: url.to_string(),
            host,
            port,
            tls,
            format: MqttFormat::Json(JsonOptions::default()),
            client_id: format!("modbus-historian-{}", hostname()),
            username: None,
            password: None,
            ca_file: None,
            client_cert: None,
            qos: Qos::AtMostOnce,
            keep_alive: Duration::from_secs(30),
            queue: DEFAULT_QUEUE,
        })
    }

    /// The broker as shown in logs and status: scheme, host and port only.
    pub fn broker(&self) -> String {
        let scheme = if self.tls { "mqtts" } else { "mqtt" };
        if self.host.contains(':') {
            format!("{scheme}://[{}]:{}", self.host, self.port)
        } else {
            format!("{scheme}://{}:{}", self.host, self.port)
        }
    }
}

/// A Sparkplug id (group or edge node): one topic level, no wildcard.
fn sparkplug_id(text: &str) -> Result<(), String> {
    if text.is_empty() {
        return Err("is empty".into());
    }
    match text.chars().find(|c| matches!(c, '/' | '+' | '#' | '\0')) {
        Some(bad) => Err(format!(
            "{text:?}: {bad:?} cannot be part of a Sparkplug id (one topic level, no wildcard)"
        )),
        None => Ok(()),
    }
}

/// Validates `[mqtt]`, reporting problems to `c`; `None` when there is no `[mqtt]` table.
pub(super) fn check_mqtt(
    raw: Option<Spanned<RawMqtt>>,
    env: &dyn Fn(&str) -> Option<String>,
    c: &mut Checker<'_>,
) -> Option<MqttConfig> {
    let raw = raw?;
    let table = raw.span();
    let raw = raw.into_inner();
    let mut ok = true;
    let mut bad = |c: &mut Checker<'_>, span: Range<usize>, key: &str, msg: String| {
        ok = false;
        c.at(Some(&span), format!("mqtt.{key}"), msg);
    };
    let Some(url) = &raw.url else {
        bad(
            c,
            table,
            "url",
            "is required: mqtt://HOST:PORT or mqtts://HOST:PORT".into(),
        );
        return None;
    };
    let mut cfg = match MqttConfig::new(url.get_ref()) {
        Ok(cfg) => cfg,
        Err(e) => {
            bad(c, url.span(), "url", e);
            // Go on with a stand-in, so that every other mistake is reported too.
            MqttConfig::new("mqtt://localhost").ok()?
        }
    };

    let format = raw.format.as_ref().map_or("json", |f| f.get_ref().as_str());
    let json_keys = [
        ("topic_prefix", raw.topic_prefix.as_ref().map(Spanned::span)),
        ("topic", raw.topic.as_ref().map(Spanned::span)),
        ("batch_topic", raw.batch_topic.as_ref().map(Spanned::span)),
        ("retain", raw.retain.as_ref().map(Spanned::span)),
        ("on_change", raw.on_change.as_ref().map(Spanned::span)),
        ("deadband", raw.deadband.as_ref().map(Spanned::span)),
        ("deadbands", raw.deadbands.as_ref().map(Spanned::span)),
        ("max_silence", raw.max_silence.as_ref().map(Spanned::span)),
    ];
    let sparkplug_keys = [
        ("group_id", raw.group_id.as_ref().map(Spanned::span)),
        ("edge_node_id", raw.edge_node_id.as_ref().map(Spanned::span)),
    ];
    let (wrong_keys, wanted): (&[_], &str) = match format {
        "json" => (&sparkplug_keys, "sparkplug_b"),
        "sparkplug_b" => (&json_keys, "json"),
        other => {
            let span = raw.format.as_ref().map_or(table.clone(), Spanned::span);
            bad(
                c,
                span,
                "format",
                format!("{other:?}: expected \"json\" or \"sparkplug_b\""),
            );
            (&[], "")
        }
    };
    for (key, span) in wrong_keys {
        if let Some(span) = span {
            bad(
                c,
                span.clone(),
                key,
                format!("applies to format = \"{wanted}\" only (this is format = \"{format}\")"),
            );
        }
    }
    match format {
        "json" => cfg.format = MqttFormat::Json(check_json(&raw, &mut bad, c)),
        "sparkplug_b" => {
            let group_id = match &raw.group_id {
                None => {
                    bad(
                        c,
                        table.clone(),
                        "group_id",
                        "is required with format = \"sparkplug_b\"".into(),
                    );
                    String::new()
                }
                Some(g) => {
                    if let Err(e) = sparkplug_id(g.get_ref()) {
                        bad(c, g.span(), "group_id", e);
                    }
                    g.get_ref().clone()
                }
            };
            let edge_node_id = match &raw.edge_node_id {
                None => hostname(),
                Some(e) => {
                    if let Err(msg) = sparkplug_id(e.get_ref()) {
                        bad(c, e.span(), "edge_node_id", msg);
                    }
                    e.get_ref().clone()
                }
            };
            cfg.format = MqttFormat::SparkplugB(SparkplugOptions {
                group_id,
                edge_node_id,
            });
        }
        _ => {}
    }

    if let Some(id) = &raw.client_id {
        if id.get_ref().is_empty() || id.get_ref().len() > 65_535 {
            bad(
                c,
                id.span(),
                "client_id",
                "must be 1 to 65535 bytes long".into(),
            );
        }
        cfg.client_id = id.get_ref().clone();
    }
    cfg.username = raw.username.as_ref().map(|u| u.get_ref().clone());
    cfg.password =
        env(ENV_MQTT_PASSWORD).or_else(|| raw.password.as_ref().map(|p| p.get_ref().clone()));
    if cfg.password.is_some() && cfg.username.is_none() {
        let span = raw.password.as_ref().map_or(table.clone(), Spanned::span);
        bad(
            c,
            span,
            "password",
            "is set but mqtt.username is not: MQTT 3.1.1 sends a password only with a user name"
                .into(),
        );
    }
    if let Some(q) = &raw.qos {
        match *q.get_ref() {
            0 => cfg.qos = Qos::AtMostOnce,
            // Sparkplug 3.0 publishes births, data and deaths at QoS 0 only.
            1 if matches!(cfg.format, MqttFormat::SparkplugB(_)) => bad(
                c,
                q.span(),
                "qos",
                "1: Sparkplug B sends births, data and deaths at QoS 0 (the will at 1);                  leave qos out or set 0"
                    .into(),
            ),
            1 => cfg.qos = Qos::AtLeastOnce,
            n => bad(
                c,
                q.span(),
                "qos",
                format!("{n}: expected 0 (at most once) or 1 (at least once)"),
            ),
        }
    }
    if let Some(k) = &raw.keep_alive {
        match duration(k.get_ref()) {
            Ok(d) if (Duration::from_secs(1)..=Duration::from_secs(65_535)).contains(&d) => {
                cfg.keep_alive = d;
            }
            Ok(_) => bad(
                c,
                k.span(),
                "keep_alive",
                "must be between 1s and 65535s".into(),
            ),
            Err(e) => bad(c, k.span(), "keep_alive", e),
        }
    }
    if let Some(q) = &raw.queue {
        match usize::try_from(*q.get_ref()) {
            Ok(n @ 1..=10_000_000) => cfg.queue = n,
            _ => bad(
                c,
                q.span(),
                "queue",
                format!("{} is out of range 1-10000000 (readings)", q.get_ref()),
            ),
        }
    }

    let base = Path::new(c.source)
        .parent()
        .unwrap_or(Path::new(""))
        .to_path_buf();
    let needs_tls = |key: &str| {
        format!("{key} needs an mqtts:// URL: mqtt:// is plain text and uses no certificates")
    };
    if let Some(file) = &raw.ca_file {
        let full = base.join(file.get_ref());
        if !cfg.tls {
            bad(c, file.span(), "ca_file", needs_tls("ca_file"));
        } else {
            match crate::pem::read_ca_file(&full) {
                Ok(_) => cfg.ca_file = Some(full),
                Err(e) => bad(c, file.span(), "ca_file", e),
            }
        }
    }
    match (&raw.client_cert, &raw.client_key) {
        (None, None) => {}
        (Some(cert), Some(key)) => {
            if !cfg.tls {
                bad(c, cert.span(), "client_cert", needs_tls("client_cert"));
            } else {
                let files = TlsFiles {
                    cert: base.join(cert.get_ref()),
                    key: base.join(key.get_ref()),
                };
                match load_certified_key(&files.cert, &files.key) {
                    Ok(_) => cfg.client_cert = Some(files),
                    Err(e) if e.about_key() => bad(c, key.span(), "client_key", e.to_string()),
                    Err(e) => bad(c, cert.span(), "client_cert", e.to_string()),
                }
            }
        }
        (Some(one), None) | (None, Some(one)) => {
            let (key, other) = if raw.client_cert.is_some() {
                ("client_cert", "client_key")
            } else {
                ("client_key", "client_cert")
            };
            bad(
                c,
                one.span(),
                key,
                format!("is set but mqtt.{other} is not: give both or neither"),
            );
        }
    }
    ok.then_some(cfg)
}

type Bad<'f> = dyn FnMut(&mut Checker<'_>, Range<usize>, &str, String) + 'f;

/// The JSON options: templates, retain, on-change with its deadbands and heartbeat.
fn check_json(raw: &RawMqtt, bad: &mut Bad<'_>, c: &mut Checker<'_>) -> JsonOptions {
    let mut o = JsonOptions::default();
    let prefix = match &raw.topic_prefix {
        None => DEFAULT_TOPIC_PREFIX.to_string(),
        Some(p) => {
            let text = p.get_ref().trim_end_matches('/');
            if text.is_empty() || text.contains(['{', '}']) {
                bad(
                    c,
                    p.span(),
                    "topic_prefix",
                    format!("{:?}: must be non-empty text without braces", p.get_ref()),
                );
            }
            text.to_string()
        }
    };
    let topic_text = raw
        .topic
        .as_ref()
        .map_or(DEFAULT_TOPIC, |t| t.get_ref().as_str());
    let topic_span = raw.topic.as_ref().map(Spanned::span);
    o.topic = if topic_text.is_empty() {
        None
    } else {
        match Template::parse(topic_text, &prefix) {
            Ok(t) if !t.names_device() || !t.names_register() => {
                bad(
                    c,
                    topic_span.clone().unwrap_or_default(),
                    "topic",
                    format!(
                        "{topic_text:?} must name the device ({{device}} or {{device_id}}) and \
                         the register ({{register}} or {{address}}), or each message would \
                         overwrite the others"
                    ),
                );
                None
            }
            Ok(t) => Some(t),
            Err(e) => {
                bad(c, topic_span.clone().unwrap_or_default(), "topic", e);
                None
            }
        }
    };
    if let Some(b) = &raw.batch_topic {
        match Template::parse(b.get_ref(), &prefix) {
            Ok(t) if !t.names_device() || t.names_register() => bad(
                c,
                b.span(),
                "batch_topic",
                format!(
                    "{:?} must name the device ({{device}} or {{device_id}}) and no register: \
                     it carries a whole poll",
                    b.get_ref()
                ),
            ),
            Ok(t) => o.batch_topic = Some(t),
            Err(e) => bad(c, b.span(), "batch_topic", e),
        }
    }
    if topic_text.is_empty() && raw.batch_topic.is_none() {
        bad(
            c,
            topic_span.unwrap_or_default(),
            "topic",
            "is empty and no mqtt.batch_topic is set: nothing would be published".into(),
        );
    }
    o.retain = raw.retain.as_ref().is_some_and(|r| *r.get_ref());
    let on_change = raw.on_change.as_ref().is_some_and(|r| *r.get_ref());
    let mut oc = OnChange::default();
    if let Some(d) = &raw.deadband {
        match deadband(d.get_ref()) {
            Ok(v) => oc.deadband = v,
            Err(e) => bad(c, d.span(), "deadband", e),
        }
    }
    if let Some(table) = &raw.deadbands {
        for (name, v) in table.get_ref() {
            match deadband(v.get_ref()) {
                Ok(x) => {
                    oc.deadbands.insert(name.clone(), x);
                }
                Err(e) => bad(c, v.span(), &format!("deadbands.{name}"), e),
            }
        }
    }
    if let Some(s) = &raw.max_silence {
        match duration(s.get_ref()) {
            Ok(d) => oc.max_silence = Some(d),
            Err(e) => bad(c, s.span(), "max_silence", e),
        }
    }
    if on_change {
        o.on_change = Some(oc);
    } else {
        for (key, span) in [
            ("deadband", raw.deadband.as_ref().map(Spanned::span)),
            ("deadbands", raw.deadbands.as_ref().map(Spanned::span)),
            ("max_silence", raw.max_silence.as_ref().map(Spanned::span)),
        ] {
            if let Some(span) = span {
                bad(
                    c,
                    span,
                    key,
                    "applies with on_change = true only: without it every reading is published"
                        .into(),
                );
            }
        }
    }
    o
}

/// A deadband: a finite, non-negative number (integer or float).
fn deadband(v: &toml::Value) -> Result<f64, String> {
    let x = match v {
        toml::Value::Integer(n) => *n as f64,
        toml::Value::Float(f) => *f,
        other => return Err(format!("expected a number, found {}", other.type_str())),
    };
    if x.is_finite() && x >= 0.0 {
        Ok(x)
    } else {
        Err(format!("{x} must be a finite number of at least 0"))
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Config, ConfigError};
    use super::*;

    fn parse(text: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Config, Vec<String>> {
        Config::parse(text, "h.toml", env).map_err(|e| match e {
            ConfigError::Invalid(p) => p.iter().map(ToString::to_string).collect(),
            other => vec![format!("not a validation error: {other}")],
        })
    }

    fn problems(text: &str) -> Vec<String> {
        parse(text, &|_| None).err().unwrap_or_default()
    }

    fn mqtt(text: &str) -> MqttConfig {
        parse(text, &|_| None)
            .expect("valid")
            .mqtt
            .expect("mqtt configured")
    }

    #[test]
    fn off_unless_configured_and_defaults_otherwise() {
        assert!(parse("", &|_| None).expect("valid").mqtt.is_none());
        let m = mqtt("[mqtt]\nurl = \"mqtt://broker.local\"\n");
        assert_eq!(
            (m.host.as_str(), m.port, m.tls),
            ("broker.local", 1883, false)
        );
        assert!(
            m.client_id.starts_with("modbus-historian-"),
            "{}",
            m.client_id
        );
        assert_eq!(m.qos, Qos::AtMostOnce);
        assert_eq!(m.keep_alive, Duration::from_secs(30));
        assert_eq!(m.queue, DEFAULT_QUEUE);
        let MqttFormat::Json(j) = &m.format else {
            panic!("json is the default format: {:?}", m.format);
        };
        assert_eq!(*j, JsonOptions::default());
        let s = mqtt("[mqtt]\nurl = \"mqtts://[::1]\"\n");
        assert_eq!((s.host.as_str(), s.port, s.tls), ("::1", 8883, true));
    }

    #[test]
    fn every_key_is_read() {
        let m = mqtt(
            "[mqtt]\nurl = \"mqtt://10.0.0.2:1884\"\nclient_id = \"edge-7\"\nusername = \"u\"\n\
             password = \"p\"\nqos = 1\nkeep_alive = \"10s\"\nqueue = 500\ntopic_prefix = \"plant/\"\n\
             topic = \"{prefix}/{device_id}/{address}\"\nbatch_topic = \"{prefix}/{device}\"\n\
             retain = true\non_change = true\ndeadband = 0.5\nmax_silence = \"1m\"\n\
             [mqtt.deadbands]\ntemperature = 0.2\n\"boiler/pressure\" = 1\n",
        );
        assert_eq!(m.port, 1884);
        assert_eq!(m.client_id, "edge-7");
        assert_eq!(m.username.as_deref(), Some("u"));
        assert_eq!(m.password.as_deref(), Some("p"));
        assert_eq!(m.qos, Qos::AtLeastOnce);
        assert_eq!(m.keep_alive, Duration::from_secs(10));
        assert_eq!(m.queue, 500);
        let MqttFormat::Json(j) = &m.format else {
            panic!("json: {:?}", m.format);
        };
        let names = crate::ingest::mqtt::topic::Names {
            device: "boiler",
            device_id: 3,
            register: "pressure",
            address: 400_001,
        };
        assert_eq!(
            j.topic.as_ref().map(|t| t.render(names)).as_deref(),
            Some("plant/3/400001")
        );
        assert_eq!(
            j.batch_topic.as_ref().map(|t| t.render(names)).as_deref(),
            Some("plant/boiler")
        );
        assert!(j.retain);
        let oc = j.on_change.as_ref().expect("on_change");
        assert_eq!(oc.max_silence, Some(Duration::from_secs(60)));
        assert_eq!(oc.deadband_of("boiler", "pressure"), 1.0);
        assert_eq!(oc.deadband_of("other", "pressure"), 0.5);
        assert_eq!(oc.deadband_of("other", "temperature"), 0.2);
        assert!(
            !format!("{m:?}").contains("\"p\""),
            "the password is not shown: {m:?}"
        );
    }

    #[test]
    fn the_password_comes_from_the_environment_too() {
        let env = |k: &str| (k == ENV_MQTT_PASSWORD).then(|| "from-env".to_string());
        let c = parse(
            "[mqtt]\nurl = \"mqtt://b\"\nusername = \"u\"\npassword = \"file\"\n",
            &env,
        )
        .expect("valid");
        assert_eq!(c.mqtt.expect("mqtt").password.as_deref(), Some("from-env"));
    }

    #[test]
    fn sparkplug_needs_a_group_and_defaults_the_edge_node_to_the_host_name() {
        let m =
            mqtt("[mqtt]\nurl = \"mqtt://b\"\nformat = \"sparkplug_b\"\ngroup_id = \"plant\"\n");
        assert_eq!(
            m.format,
            MqttFormat::SparkplugB(SparkplugOptions {
                group_id: "plant".into(),
                edge_node_id: hostname(),
            })
        );
        assert_eq!(
            problems(
                "[mqtt]\nurl = \"mqtt://b\"\nformat = \"sparkplug_b\"\nedge_node_id = \"a/b\"\n"
            ),
            vec![
                "h.toml:1: mqtt.group_id: is required with format = \"sparkplug_b\"",
                "h.toml:4: mqtt.edge_node_id: \"a/b\": '/' cannot be part of a Sparkplug id (one topic level, no wildcard)",
            ]
        );
    }

    #[test]
    fn mistakes_are_named_with_line_and_key() {
        let text = "[storage]\nurl = \"sqlite://x.db\"\n\n[mqtt]\nurl = \"http://b\"\n\
                    format = \"xml\"\nqos = 2\nkeep_alive = \"0.5s\"\nqueue = 0\npassword = \"p\"\n\
                    ca_file = \"ca.pem\"\n";
        assert_eq!(
            problems(text),
            vec![
                "h.toml:5: mqtt.url: \"http://b\": scheme \"http\"; expected mqtt://HOST:PORT or mqtts://HOST:PORT",
                "h.toml:6: mqtt.format: \"xml\": expected \"json\" or \"sparkplug_b\"",
                "h.toml:10: mqtt.password: is set but mqtt.username is not: MQTT 3.1.1 sends a password only with a user name",
                "h.toml:7: mqtt.qos: 2: expected 0 (at most once) or 1 (at least once)",
                "h.toml:8: mqtt.keep_alive: must be between 1s and 65535s",
                "h.toml:9: mqtt.queue: 0 is out of range 1-10000000 (readings)",
                "h.toml:11: mqtt.ca_file: ca_file needs an mqtts:// URL: mqtt:// is plain text and uses no certificates",
            ]
        );
        assert_eq!(
            problems("[mqtt]\nformat = \"json\"\n"),
            vec!["h.toml:1: mqtt.url: is required: mqtt://HOST:PORT or mqtts://HOST:PORT"]
        );
        assert_eq!(
            problems("[mqtt]\nurl = \"mqtt://u:secret@b\"\n"),
            vec![
                "h.toml:2: mqtt.url: holds credentials; give them as mqtt.username and \
                 mqtt.password (or HISTORIAN_MQTT_PASSWORD) so that they stay out of logs"
            ]
        );
    }

    #[test]
    fn json_options_are_checked() {
        let p = problems(
            "[mqtt]\nurl = \"mqtt://b\"\ntopic = \"{prefix}/{device}\"\n\
             batch_topic = \"{prefix}/{device}/{register}\"\ndeadband = -1\ngroup_id = \"g\"\n",
        );
        assert_eq!(
            p,
            vec![
                "h.toml:6: mqtt.group_id: applies to format = \"sparkplug_b\" only (this is format = \"json\")",
                "h.toml:3: mqtt.topic: \"{prefix}/{device}\" must name the device ({device} or {device_id}) and the register ({register} or {address}), or each message would overwrite the others",
                "h.toml:4: mqtt.batch_topic: \"{prefix}/{device}/{register}\" must name the device ({device} or {device_id}) and no register: it carries a whole poll",
                "h.toml:5: mqtt.deadband: -1 must be a finite number of at least 0",
                "h.toml:5: mqtt.deadband: applies with on_change = true only: without it every reading is published",
            ]
        );
        assert_eq!(
            problems("[mqtt]\nurl = \"mqtt://b\"\ntopic = \"\"\n"),
            vec![
                "h.toml:3: mqtt.topic: is empty and no mqtt.batch_topic is set: nothing would be published"
            ]
        );
        let only_batch =
            mqtt("[mqtt]\nurl = \"mqtt://b\"\ntopic = \"\"\nbatch_topic = \"x/{device}\"\n");
        let MqttFormat::Json(j) = only_batch.format else {
            panic!("json");
        };
        assert!(j.topic.is_none() && j.batch_topic.is_some());
        assert_eq!(
            problems("[mqtt]\nurl = \"mqtt://b\"\non_change = true\n[mqtt.deadbands]\nt = \"x\"\n"),
            vec!["h.toml:5: mqtt.deadbands.t: expected a number, found string"]
        );
    }

    #[test]
    fn client_certificates_come_in_pairs_and_over_tls() {
        assert_eq!(
            problems("[mqtt]\nurl = \"mqtts://b\"\nclient_cert = \"c.pem\"\n"),
            vec![
                "h.toml:3: mqtt.client_cert: is set but mqtt.client_key is not: give both or neither"
            ]
        );
        let p = problems(
            "[mqtt]\nurl = \"mqtts://b\"\nclient_cert = \"/nonexistent/c.pem\"\nclient_key = \"/nonexistent/k.pem\"\n",
        );
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(p[0].starts_with("h.toml:3: mqtt.client_cert: "), "{p:?}");
    }
}
