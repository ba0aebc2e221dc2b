//! `[api]` beyond the bind address: the bearer tokens for writes and for reads, CORS, the
//! request body limit, the handler time-out, the connection limits and HTTPS.

use super::checker::{Checker, duration};
use super::raw::RawApi;
pub use crate::pem::TlsFiles;
use crate::pem::load_certified_key;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

/// Environment variable that overrides `api.token`.
pub const ENV_API_TOKEN: &str = "HISTORIAN_API_TOKEN";
/// Environment variable that overrides `api.read_token`.
pub const ENV_API_READ_TOKEN: &str = "HISTORIAN_API_READ_TOKEN";
/// Shortest accepted token: long enough not to be guessed.
pub const MIN_TOKEN_LEN: usize = 16;

/// HTTP API settings.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiConfig {
    /// Bearer token that writes require, and that reads accept (none: writes only from
    /// this machine, through its loopback address and its own origin).
    pub token: Option<String>,
    /// Bearer token that reads require (none: reads are open).
    pub read_token: Option<String>,
    /// Origins allowed to call the API from a browser (empty: CORS off).
    pub cors_origins: Vec<String>,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Longest a handler may take before the client gets 503.
    pub request_timeout: Duration,
    /// Longest a client may take to send a request's headers, from connecting (TLS
    /// handshake included) or from the first byte of a later request.
    pub header_timeout: Duration,
    /// A connection with no request in flight, or whose client stops reading an answer,
    /// is closed after this long.
    pub idle_timeout: Duration,
    /// Most connections open at once.
    pub max_connections: usize,
    /// Most event streams open at once (each also holds a connection).
    pub max_streams: usize,
    /// Certificate and key: the API serves HTTPS when set.
    pub tls: Option<TlsFiles>,
}

/// `api.max_connections` unless set: below the common limit of 1024 open files, with room
/// for the devices, the database and the spool.
pub const DEFAULT_MAX_CONNECTIONS: usize = 512;
/// `api.max_streams` unless set.
pub const DEFAULT_MAX_STREAMS: usize = 64;

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            token: None,
            read_token: None,
            cors_origins: Vec::new(),
            max_body_bytes: 1 << 20,
            request_timeout: Duration::from_secs(30),
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_streams: DEFAULT_MAX_STREAMS,
            tls: None,
        }
    }
}

// The token stays out of logs and error messages.
impl std::fmt::Debug for ApiConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiConfig")
            .field("token", &self.token.as_ref().map(|_| "<set>"))
            .field("read_token", &self.read_token.as_ref().map(|_| "<set>"))
            .field("cors_origins", &self.cors_origins)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("request_timeout", &self.request_timeout)
            .field("header_timeout", &self.header_timeout)
            .field("idle_timeout", &self.idle_timeout)
            .field("max_connections", &self.max_connections)
            .field("max_streams", &self.max_streams)
            .field("tls", &self.tls)
            .finish()
    }
}

/// Why the API must not listen on `bind` with `token`: a non-loopback address without a
/// token would open the write endpoints to the network.
pub fn exposure_problem(bind: SocketAddr, token: Option<&str>) -> Option<String> {
    (!bind.ip().is_loopback() && token.is_none()).then(|| {
        format!(
            "{bind} is reachable from other hosts, but no API token is set: set [api] token \
             (or {ENV_API_TOKEN}) to a secret of at least {MIN_TOKEN_LEN} characters, or bind \
             127.0.0.1"
        )
    })
}

/// Validates `[api]` (all but `bind`), reporting problems to `c`.
pub(super) fn check_api(
    raw: &RawApi,
    c: &mut Checker<'_>,
    env: &dyn Fn(&str) -> Option<String>,
) -> ApiConfig {
    let mut api = ApiConfig {
        token: check_token(raw.token.as_deref(), "api.token", ENV_API_TOKEN, c, env),
        read_token: check_token(
            raw.read_token.as_deref(),
            "api.read_token",
            ENV_API_READ_TOKEN,
            c,
            env,
        ),
        ..ApiConfig::default()
    };
    for (i, origin) in raw.cors_origins.iter().flatten().enumerate() {
        let ok = (origin.starts_with("http://") || origin.starts_with("https://"))
            && !origin
                .trim_end_matches('/')
                .contains(|ch: char| ch.is_whitespace())
            && origin
                .split("://")
                .nth(1)
                .is_some_and(|h| !h.is_empty() && !h.contains('/'));
        if ok {
            api.cors_origins.push(origin.clone());
        } else {
            c.at(
                None,
                format!("api.cors_origins[{i}]"),
                format!("{origin:?} is not an origin; write e.g. \"https://grafana.example.com\" (scheme, host, optional port, no path)"),
            );
        }
    }
    if let Some(n) = raw.max_body_bytes {
        match usize::try_from(n) {
            Ok(n @ 1..=67_108_864) => api.max_body_bytes = n,
            _ => c.at(
                None,
                "api.max_body_bytes".into(),
                format!("{n} is out of range 1-67108864"),
            ),
        }
    }
    for (key, text, slot) in [
        (
            "request_timeout",
            &raw.request_timeout,
            &mut api.request_timeout,
        ),
        (
            "header_timeout",
            &raw.header_timeout,
            &mut api.header_timeout,
        ),
        ("idle_timeout", &raw.idle_timeout, &mut api.idle_timeout),
    ] {
        if let Some(t) = text {
            match duration(t) {
                Ok(d) => *slot = d,
                Err(e) => c.at(None, format!("api.{key}"), e),
            }
        }
    }
    check_connections(raw, c, &mut api);
    api.tls = check_tls(raw, c);
    api
}

/// The token of `key` in the file, or of `var` in the environment (which wins), when it is
/// long enough and can travel in an HTTP header.
fn check_token(
    in_file: Option<&str>,
    key: &str,
    var: &str,
    c: &mut Checker<'_>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Option<String> {
    let (token, from_env) = match env(var) {
        Some(t) => (t, true),
        None => (in_file?.to_string(), false),
    };
    let len = token.chars().count();
    let bad = if len < MIN_TOKEN_LEN {
        format!("the token is {len} characters long; use at least {MIN_TOKEN_LEN}")
    } else if !token.bytes().all(|b| b.is_ascii_graphic()) {
        "the token must be printable ASCII without spaces (it travels in an HTTP header)".into()
    } else {
        return Some(token);
    };
    if from_env {
        c.env(var, bad);
    } else {
        c.at(None, key.into(), bad);
    }
    None
}

/// `max_connections` and `max_streams`: streams must leave connections for other requests.
fn check_connections(raw: &RawApi, c: &mut Checker<'_>, api: &mut ApiConfig) {
    if let Some(n) = raw.max_connections {
        match usize::try_from(n) {
            Ok(n @ 2..=1_000_000) => api.max_connections = n,
            _ => c.at(
                None,
                "api.max_connections".into(),
                format!("{n} is out of range 2-1000000"),
            ),
        }
    }
    if let Some(n) = raw.max_streams {
        match usize::try_from(n) {
            Ok(n @ 1..=1_000_000) => api.max_streams = n,
            _ => c.at(
                None,
                "api.max_streams".into(),
                format!("{n} is out of range 1-1000000"),
            ),
        }
    }
    if api.max_streams >= api.max_connections {
        c.at(
            None,
            "api.max_streams".into(),
            format!(
                "{} must be below api.max_connections ({}), so that event streams cannot take \
                 every connection",
                api.max_streams, api.max_connections
            ),
        );
    }
}

/// `tls_cert` and `tls_key`: both or neither, each readable, and the key the
/// certificate's, loaded the way the server loads them. Relative paths are taken from the
/// config file's folder.
fn check_tls(raw: &RawApi, c: &mut Checker<'_>) -> Option<TlsFiles> {
    let base = Path::new(c.source).parent().unwrap_or(Path::new(""));
    let (cert, key) = match (&raw.tls_cert, &raw.tls_key) {
        (None, None) => return None,
        (Some(cert), Some(key)) => (base.join(cert), base.join(key)),
        (Some(_), None) => {
            c.at(
                None,
                "api.tls_cert".into(),
                "is set but api.tls_key is not: give both (HTTPS) or neither (HTTP)".into(),
            );
            return None;
        }
        (None, Some(_)) => {
            c.at(
                None,
                "api.tls_key".into(),
                "is set but api.tls_cert is not: give both (HTTPS) or neither (HTTP)".into(),
            );
            return None;
        }
    };
    match load_certified_key(&cert, &key) {
        Ok(_) => Some(TlsFiles { cert, key }),
        Err(e) => {
            let field = if e.about_key() { "tls_key" } else { "tls_cert" };
            c.at(None, format!("api.{field}"), e.to_string());
            None
        }
    }
}
