//! Who may call the API. [`guard`] sees every request: a write (any method but GET, HEAD
//! and OPTIONS) needs the bearer token when one is configured, and otherwise must be
//! provably local: `Host` names a loopback address with the port the API is bound to,
//! `Origin` (when sent) is that same origin, and `Sec-Fetch-Site` is not `cross-site`. So
//! a web page the operator happens to open can neither post a form to the historian nor
//! reach it through a rebound DNS name. When a read token is configured, reads (all but
//! `/api/health`) need it or the write token. A write handler also takes a [`WriteAccess`]
//! argument, which runs the same check and says who wrote.

use super::error::{ApiError, PROBLEM_JSON, Problem};
use crate::api::state::AppState;
use crate::config::ApiConfig;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::uri::Authority;
use axum::http::{HeaderMap, Method, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use subtle::ConstantTimeEq;
use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::security::SecurityRequirement;
use utoipa::openapi::{ContentBuilder, OpenApi, Ref, ResponseBuilder};

/// The one endpoint a read token leaves open, so that liveness probes need no secret.
pub const OPEN_PATH: &str = "/api/health";

/// Who made an accepted write, as the audit trail records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller {
    /// The request carried the configured bearer token.
    Token,
    /// No token is configured and the request came from this machine.
    Local,
}

impl Caller {
    /// The name kept in logs and the audit trail.
    pub fn name(self) -> &'static str {
        match self {
            Caller::Token => "token",
            Caller::Local => "local",
        }
    }
}

/// Proof that the caller may write: extracting it runs the write check of [`guard`].
#[derive(Debug, Clone, Copy)]
pub struct WriteAccess(pub Caller);

impl FromRequestParts<AppState> for WriteAccess {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        may_write(&parts.headers, &parts.uri, state).map(WriteAccess)
    }
}

/// Whether `method` only reads: every other method is treated as a write, whatever route
/// it reaches, so that no write can slip past the check by being new or unusual.
pub fn is_read(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// The middleware in front of every route (and the fallback): refuses what [`may_write`]
/// or [`may_read`] refuses.
pub async fn guard(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let verdict = if is_read(req.method()) {
        may_read(req.uri().path(), req.headers(), &state.settings)
    } else {
        may_write(req.headers(), req.uri(), &state).map(drop)
    };
    match verdict {
        Ok(()) => next.run(req).await,
        Err(e) => e.into_response(),
    }
}

/// The bearer token a request carries, if any.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = v.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
}

/// Compared in constant time, so the answer's timing does not reveal a matching prefix.
fn matches(given: &str, token: Option<&str>) -> bool {
    token.is_some_and(|t| bool::from(given.as_bytes().ct_eq(t.as_bytes())))
}

const NEEDS_TOKEN: &str =
    "this endpoint changes data and needs an `Authorization: Bearer <token>` header";

/// Whether a write with these headers is allowed, and who makes it.
pub fn may_write(headers: &HeaderMap, uri: &Uri, state: &AppState) -> Result<Caller, ApiError> {
    let cfg = &state.settings;
    let given = bearer(headers);
    if cfg.token.is_some() {
        return match given {
            Some(g) if matches(g, cfg.token.as_deref()) => Ok(Caller::Token),
            Some(g) if matches(g, cfg.read_token.as_deref()) => Err(ApiError::Forbidden(
                "the read token does not allow writes; use the write token (api.token)".into(),
            )),
            Some(_) => Err(ApiError::Unauthorized("the bearer token is wrong".into())),
            None => Err(ApiError::Unauthorized(NEEDS_TOKEN.into())),
        };
    }
    if let Err(why) = local(headers, uri, state.api_addr) {
        return Err(ApiError::Forbidden(format!(
            "{why}; without an API token, writes are accepted only from this machine, \
             addressed by its loopback address and the API's port, and not from another \
             site's page (set [api] token to write from elsewhere)"
        )));
    }
    // A read token means nothing is open to an anonymous caller, however local.
    match (cfg.read_token.as_deref(), given) {
        (None, _) => Ok(Caller::Local),
        (Some(t), Some(g)) if matches(g, Some(t)) => Ok(Caller::Local),
        (Some(_), Some(_)) => Err(ApiError::Unauthorized("the bearer token is wrong".into())),
        (Some(_), None) => Err(ApiError::Unauthorized(NEEDS_TOKEN.into())),
    }
}

/// Whether a read of `path` with these headers is allowed: always, unless a read token is
/// configured; then it or the write token is needed, except on [`OPEN_PATH`].
pub fn may_read(path: &str, headers: &HeaderMap, cfg: &ApiConfig) -> Result<(), ApiError> {
    if cfg.read_token.is_none() || path == OPEN_PATH {
        return Ok(());
    }
    match bearer(headers) {
        Some(g) if matches(g, cfg.read_token.as_deref()) || matches(g, cfg.token.as_deref()) => {
            Ok(())
        }
        Some(_) => Err(ApiError::Unauthorized("the bearer token is wrong".into())),
        None => Err(ApiError::Unauthorized(
            "reading needs an `Authorization: Bearer <token>` header (the read or the write \
             token)"
                .into(),
        )),
    }
}

/// `Ok` when the request provably comes from this machine to this API, else why not.
fn local(headers: &HeaderMap, uri: &Uri, bound: Option<SocketAddr>) -> Result<(), String> {
    let Some(bound) = bound else {
        return Err("the API does not know the address it listens on".into());
    };
    let port = bound.port();
    let mut hosts = headers.get_all(header::HOST).iter();
    let host = match (hosts.next(), hosts.next()) {
        (Some(h), None) => h
            .to_str()
            .ok()
            .and_then(|h| h.parse::<Authority>().ok())
            .ok_or("the Host header is not a host and port")?,
        (Some(_), Some(_)) => return Err("the request has more than one Host header".into()),
        // HTTP/2 names the host in the request target only.
        (None, _) => uri
            .authority()
            .cloned()
            .ok_or("the request names no Host")?,
    };
    loopback_at(&host, port).map_err(|why| format!("the Host header {:?} {why}", host.as_str()))?;
    // An absolute request target must name the same place as Host.
    if let Some(target) = uri.authority()
        && !same_place(target, &host)
    {
        return Err(format!(
            "the request target {:?} differs from the Host header {:?}",
            target.as_str(),
            host.as_str()
        ));
    }
    let mut origins = headers.get_all(header::ORIGIN).iter();
    match (origins.next(), origins.next()) {
        (None, _) => {}
        (Some(o), None) => own_origin(o.to_str().unwrap_or(""), &host, port)
            .map_err(|why| format!("the Origin {:?} {why}", o.to_str().unwrap_or("?")))?,
        (Some(_), Some(_)) => return Err("the request has more than one Origin header".into()),
    }
    let cross_site = headers
        .get_all("sec-fetch-site")
        .iter()
        .any(|v| v.as_bytes().eq_ignore_ascii_case(b"cross-site"));
    if cross_site {
        return Err("the browser says the request comes from another site".into());
    }
    Ok(())
}

/// `Ok` when `a` is a loopback name or address with `port` (a missing port is the scheme's
/// default, so it passes on 80 and 443 only).
fn loopback_at(a: &Authority, port: u16) -> Result<(), String> {
    if a.as_str().contains('@') {
        return Err("carries user information".into());
    }
    let host = a.host();
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host.parse::<Ipv4Addr>().is_ok_and(|ip| ip.is_loopback())
        || host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .and_then(|h| h.parse::<Ipv6Addr>().ok())
            .is_some_and(|ip| ip.is_loopback());
    if !loopback {
        return Err("is not a loopback name or address (localhost, 127.0.0.0/8, [::1])".into());
    }
    match a.port_u16() {
        Some(p) if p == port => Ok(()),
        None if port == 80 || port == 443 => Ok(()),
        Some(p) => Err(format!("names port {p}, not the API's port {port}")),
        None => Err(format!("names no port; the API's port is {port}")),
    }
}

/// Whether `a` and `b` name the same host and port.
fn same_place(a: &Authority, b: &Authority) -> bool {
    a.host().eq_ignore_ascii_case(b.host()) && a.port_u16() == b.port_u16()
}

/// `Ok` when `origin` is `http(s)://` the host of `host` at `port`: a page the historian
/// served itself.
fn own_origin(origin: &str, host: &Authority, port: u16) -> Result<(), &'static str> {
    let (scheme, rest) = origin
        .split_once("://")
        .ok_or("is not this API's origin (an opaque origin, such as null, never is)")?;
    let default_port = match scheme.to_ascii_lowercase().as_str() {
        "http" => 80,
        "https" => 443,
        _ => return Err("is not an http(s) origin"),
    };
    let a = rest
        .parse::<Authority>()
        .ok()
        .filter(|a| a.as_str() == rest && !rest.contains('@'))
        .ok_or("is not a scheme, host and port")?;
    if a.host().eq_ignore_ascii_case(host.host()) && a.port_u16().unwrap_or(default_port) == port {
        Ok(())
    } else {
        Err("is another site, not this API's own origin")
    }
}

/// Declares in `doc` what [`guard`] does: reads accept a bearer token (needed when a read
/// token is configured, except on [`OPEN_PATH`]) and may answer 401; writes may answer 403
/// when they are not provably local.
pub fn document(doc: &mut OpenApi) {
    let problem = || {
        ContentBuilder::new()
            .schema(Some(Ref::from_schema_name(
                <Problem as utoipa::ToSchema>::name(),
            )))
            .build()
    };
    let unauthorized = ResponseBuilder::new()
        .description(
            "A read token is configured and the request carries neither it nor the write token",
        )
        .content(PROBLEM_JSON, problem())
        .build();
    let forbidden = ResponseBuilder::new()
        .description(
            "No token is configured and the request is not provably local (Host, Origin or \
             Sec-Fetch-Site), or the read token was sent for a write",
        )
        .content(PROBLEM_JSON, problem())
        .build();
    let optional_bearer = || {
        vec![
            SecurityRequirement::default(),
            SecurityRequirement::new("bearer", Vec::<String>::new()),
        ]
    };
    for (path, item) in doc.paths.paths.iter_mut() {
        for (read, op) in operations(item) {
            if read {
                if path == OPEN_PATH {
                    continue;
                }
                op.security.get_or_insert_with(optional_bearer);
                op.responses
                    .responses
                    .entry("401".into())
                    .or_insert_with(|| unauthorized.clone().into());
            } else {
                op.responses
                    .responses
                    .entry("403".into())
                    .or_insert_with(|| forbidden.clone().into());
            }
        }
    }
}

/// Each operation of `item`, with whether it only reads.
fn operations(item: &mut PathItem) -> impl Iterator<Item = (bool, &mut Operation)> {
    [
        (true, item.get.as_mut()),
        (true, item.head.as_mut()),
        (true, item.options.as_mut()),
        (false, item.post.as_mut()),
        (false, item.put.as_mut()),
        (false, item.patch.as_mut()),
        (false, item.delete.as_mut()),
        (false, item.trace.as_mut()),
    ]
    .into_iter()
    .filter_map(|(read, op)| op.map(|op| (read, op)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).expect("value"));
        }
        h
    }

    fn check(pairs: &[(&'static str, &str)]) -> Result<(), String> {
        local(
            &headers(pairs),
            &Uri::from_static("/api/devices"),
            Some("127.0.0.1:8080".parse().expect("addr")),
        )
    }

    #[test]
    fn local_means_a_loopback_host_at_the_bound_port_and_its_own_origin() {
        for host in [
            "127.0.0.1:8080",
            "LOCALHOST:8080",
            "[::1]:8080",
            "127.8.9.10:8080",
        ] {
            assert_eq!(check(&[("host", host)]), Ok(()), "{host}");
        }
        for (host, origin) in [
            ("127.0.0.1:8080", "http://127.0.0.1:8080"),
            ("localhost:8080", "https://localhost:8080"),
            ("[::1]:8080", "http://[::1]:8080"),
        ] {
            assert_eq!(
                check(&[("host", host), ("origin", origin)]),
                Ok(()),
                "{origin}"
            );
        }
        assert_eq!(
            check(&[
                ("host", "127.0.0.1:8080"),
                ("sec-fetch-site", "same-origin")
            ]),
            Ok(())
        );
    }

    #[test]
    fn anything_else_is_refused_with_the_reason() {
        let refused = |pairs: &[(&'static str, &str)], why: &str| {
            let e = check(pairs).expect_err("refused");
            assert!(e.contains(why), "{pairs:?}: {e}");
        };
        refused(&[], "names no Host");
        refused(&[("host", "rebind.evil.example:8080")], "not a loopback");
        refused(&[("host", "localhost.:8080")], "not a loopback");
        refused(&[("host", "127.1:8080")], "not a loopback");
        refused(&[("host", "[::ffff:127.0.0.1]:8080")], "not a loopback");
        refused(&[("host", "0.0.0.0:8080")], "not a loopback");
        refused(&[("host", "127.0.0.1:8081")], "not the API's port 8080");
        refused(&[("host", "127.0.0.1")], "names no port");
        refused(&[("host", "user@127.0.0.1:8080")], "user information");
        refused(
            &[("host", "127.0.0.1:8080"), ("host", "127.0.0.1:8080")],
            "more than one Host",
        );
        let host = ("host", "127.0.0.1:8080");
        refused(&[host, ("origin", "null")], "opaque origin");
        refused(&[host, ("origin", "http://evil.example")], "another site");
        refused(&[host, ("origin", "http://127.0.0.1:3000")], "another site");
        refused(&[host, ("origin", "http://localhost:8080")], "another site");
        refused(&[host, ("origin", "file://")], "not an http(s) origin");
        refused(
            &[host, ("origin", "http://127.0.0.1:8080/x")],
            "scheme, host",
        );
        refused(&[host, ("sec-fetch-site", "cross-site")], "another site");
        let e = local(
            &headers(&[host]),
            &Uri::from_static("http://evil.example:8080/api/devices"),
            Some("127.0.0.1:8080".parse().expect("addr")),
        )
        .expect_err("refused");
        assert!(e.contains("differs from the Host header"), "{e}");
        let e = local(&headers(&[host]), &Uri::from_static("/"), None).expect_err("refused");
        assert!(e.contains("does not know the address"), "{e}");
    }

    #[test]
    fn a_missing_port_is_the_default_one() {
        let bound = Some("127.0.0.1:80".parse().expect("addr"));
        let h = headers(&[("host", "localhost"), ("origin", "http://localhost")]);
        assert_eq!(local(&h, &Uri::from_static("/"), bound), Ok(()));
    }
}
