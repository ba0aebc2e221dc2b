//! `[api]` beyond the bind address: the bearer tokens for writes and for reads, CORS, the
//! request body limit and the handler time-out.

use super::checker::{Checker, duration};
use super::raw::RawApi;
use std::net::SocketAddr;
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
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            token: None,
            read_token: None,
            cors_origins: Vec::new(),
            max_body_bytes: 1 << 20,
            request_timeout: Duration::from_secs(30),
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
    if let Some(t) = &raw.request_timeout {
        match duration(t) {
            Ok(d) => api.request_timeout = d,
            Err(e) => c.at(None, "api.request_timeout".into(), e),
        }
    }
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
