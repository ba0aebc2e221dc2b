//! A Redis key prefix of a test's own.

use crate::procs::{find_binary, free_port, watchdog};
use crate::{TestkitError, unique_name};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

const LOCAL_URL: &str = "redis://127.0.0.1:6379/";

/// A Redis server started for this test process from the installed `redis-server`.
#[derive(Debug)]
pub struct ThrowawayRedis {
    /// Its port on 127.0.0.1.
    pub port: u16,
    pid: u32,
    /// The CA certificate (PEM) a client must trust, when the server speaks TLS only.
    tls_ca: Option<Vec<u8>>,
}

impl ThrowawayRedis {
    /// Kills the server (SIGKILL), for tests of what happens when Redis dies.
    pub fn kill(&self) -> Result<(), TestkitError> {
        let status = Command::new("kill")
            .args(["-KILL", &self.pid.to_string()])
            .status()
            .map_err(|e| TestkitError::Failed(format!("kill redis-server: {e}")))?;
        if !status.success() {
            return Err(TestkitError::Failed(format!(
                "kill redis-server {} failed",
                self.pid
            )));
        }
        Ok(())
    }

    /// Starts `redis-server` on a free port, keeping nothing on disk.
    pub fn start() -> Result<Self, TestkitError> {
        Self::start_with(None)
    }

    /// Starts `redis-server` speaking TLS only (no plain port), with the certificate and
    /// key `cert` and `key` (PEM) signed by `ca`; clients need no certificate of their own.
    pub fn start_tls(cert: &Path, key: &Path, ca: &Path) -> Result<Self, TestkitError> {
        Self::start_with(Some((cert, key, ca)))
    }

    fn start_with(tls: Option<(&Path, &Path, &Path)>) -> Result<Self, TestkitError> {
        let Some(bin) = find_binary("redis-server", &[]) else {
            return Err(TestkitError::Unavailable(
                "no redis-server binary on PATH".into(),
            ));
        };
        let port = free_port()?;
        let mut cmd = Command::new(bin);
        cmd.args(["--bind", "127.0.0.1"]);
        let tls_ca = match tls {
            None => {
                cmd.args(["--port", &port.to_string()]);
                None
            }
            Some((cert, key, ca)) => {
                cmd.args(["--port", "0", "--tls-port", &port.to_string()])
                    .arg("--tls-cert-file")
                    .arg(cert)
                    .arg("--tls-key-file")
                    .arg(key)
                    .arg("--tls-ca-cert-file")
                    .arg(ca)
                    .args(["--tls-auth-clients", "no"]);
                Some(std::fs::read(ca).map_err(|e| {
                    TestkitError::Failed(format!("cannot read {}: {e}", ca.display()))
                })?)
            }
        };
        let child = cmd
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| TestkitError::Failed(format!("cannot start redis-server: {e}")))?;
        watchdog(&format!("kill {}", child.id()))?;
        let server = Self {
            port,
            pid: child.id(),
            tls_ca,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match server.client().and_then(|c| ping_with(&c, &server.url())) {
                Ok(()) => break,
                Err(e) if Instant::now() > deadline => {
                    return Err(TestkitError::Failed(format!(
                        "throwaway redis-server did not answer within 10 s: {e}"
                    )));
                }
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        }
        Ok(server)
    }

    /// Its connection URL: `rediss://localhost:PORT/` when it speaks TLS (the name its
    /// certificate is expected to carry), `redis://127.0.0.1:PORT/` otherwise.
    pub fn url(&self) -> String {
        match self.tls_ca {
            Some(_) => format!("rediss://localhost:{}/", self.port),
            None => format!("redis://127.0.0.1:{}/", self.port),
        }
    }

    /// A client for [`url`](Self::url), trusting the server's CA when it speaks TLS.
    pub fn client(&self) -> Result<redis::Client, TestkitError> {
        let failed = |e: redis::RedisError| TestkitError::Failed(e.to_string());
        match &self.tls_ca {
            None => redis::Client::open(self.url()).map_err(failed),
            Some(ca) => redis::Client::build_with_tls(
                self.url(),
                redis::TlsCertificates {
                    client_tls: None,
                    root_cert: Some(ca.clone()),
                },
            )
            .map_err(failed),
        }
    }
}

fn ping(url: &str) -> Result<(), TestkitError> {
    let client = redis::Client::open(url).map_err(|e| TestkitError::Failed(e.to_string()))?;
    ping_with(&client, url)
}

fn ping_with(client: &redis::Client, url: &str) -> Result<(), TestkitError> {
    let mut conn = client
        .get_connection_with_timeout(Duration::from_millis(500))
        .map_err(|e| TestkitError::Unavailable(format!("no Redis at {url}: {e}")))?;
    redis::cmd("PING")
        .query::<String>(&mut conn)
        .map(|_| ())
        .map_err(|e| TestkitError::Unavailable(format!("Redis at {url} does not answer: {e}")))
}

static THROWAWAY: OnceLock<Result<ThrowawayRedis, String>> = OnceLock::new();

fn server_url() -> Result<String, TestkitError> {
    if let Ok(url) = std::env::var("REDIS_URL") {
        return Ok(url);
    }
    if ping(LOCAL_URL).is_ok() {
        return Ok(LOCAL_URL.to_string());
    }
    match THROWAWAY.get_or_init(|| ThrowawayRedis::start().map_err(|e| e.to_string())) {
        Ok(s) => Ok(s.url()),
        Err(e) => Err(TestkitError::Unavailable(format!(
            "no Redis: REDIS_URL is unset, nothing answers on 127.0.0.1:6379, and a \
             throwaway server could not start: {e}"
        ))),
    }
}

/// A key prefix for one test; its keys are deleted when the value is dropped.
#[derive(Debug)]
pub struct RedisPrefix {
    /// Connection URL.
    pub url: String,
    /// Prefix every key of the test must start with (ends with `:`).
    pub prefix: String,
}

impl RedisPrefix {
    /// A fresh prefix on the first server found (see the crate docs).
    pub fn create() -> Result<Self, TestkitError> {
        let url = server_url()?;
        ping(&url)?;
        Ok(Self {
            url,
            prefix: format!("{}:", unique_name("historian_test")),
        })
    }

    /// `prefix` + `key`.
    pub fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }
}

impl Drop for RedisPrefix {
    fn drop(&mut self) {
        let Ok(client) = redis::Client::open(self.url.as_str()) else {
            return;
        };
        let Ok(mut conn) = client.get_connection_with_timeout(Duration::from_secs(2)) else {
            return;
        };
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{}*", self.prefix))
            .query(&mut conn)
            .unwrap_or_default();
        if !keys.is_empty() {
            let _ = redis::cmd("DEL").arg(keys).query::<i64>(&mut conn);
        }
    }
}
