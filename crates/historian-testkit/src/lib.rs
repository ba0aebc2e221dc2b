//! Test support: each integration test gets a PostgreSQL database and a Redis key prefix of
//! its own, so runs never collide; MQTT tests share a broker and keep apart by topic.
//!
//! Where a service comes from, in order: `DATABASE_URL` / `REDIS_URL` if set; else the local
//! service on its default port (127.0.0.1:5432, 127.0.0.1:6379); else a throwaway instance
//! started from the installed `initdb`/`postgres` and `redis-server` binaries, shared by
//! the tests of one process and stopped when that process exits. With `CI=true`, a service
//! that cannot be had fails the test loudly instead of skipping it.

mod clock;
mod mosquitto;
mod postgres;
mod procs;
mod redis_prefix;
mod tls;

pub use clock::{now_ms, with_room_in_step};
pub use mosquitto::{ThrowawayMosquitto, mqtt_answers, mqtt_broker};
pub use postgres::{PgTestDb, ThrowawayPostgres, refresh_continuous_aggregate};
pub use procs::{free_port, free_port_run, spawn_announced};
pub use redis_prefix::{RedisPrefix, ThrowawayRedis};
pub use tls::TestPki;

use thiserror::Error;

/// Why a test service could not be had.
#[derive(Debug, Error)]
pub enum TestkitError {
    /// No running service and no binaries to start one.
    #[error("{0}")]
    Unavailable(String),
    /// A command or query failed.
    #[error("{0}")]
    Failed(String),
}

/// True when running under CI (`CI=true`), where a missing service is an error.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// Handles a service that could not be had: panics under CI, otherwise reports the test
/// as skipped (see [`report_skip`]) and returns `None`.
pub fn require<T>(test: &str, got: Result<T, TestkitError>) -> Option<T> {
    match got {
        Ok(v) => Some(v),
        Err(e) if in_ci() => panic!("{test}: needed service missing under CI=true: {e}"),
        Err(e) => {
            report_skip(test, &e.to_string());
            None
        }
    }
}

/// Reports a skipped test by name: on stderr (shown with `--nocapture`) and appended to the
/// file named by `HISTORIAN_SKIP_LOG`, which `scripts/test` prints after the run, since
/// the test harness hides the output of tests that pass.
pub fn report_skip(test: &str, reason: &str) {
    let line = format!("SKIPPED {test}: {reason}");
    eprintln!("{line}");
    if let Some(path) = std::env::var_os("HISTORIAN_SKIP_LOG") {
        use std::io::Write;
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            let _ = writeln!(f, "{line}");
        }
    }
}

/// A name unique to this process and call: `{stem}_{pid}_{n}_{nanos}`.
pub fn unique_name(stem: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{stem}_{}_{}_{nanos}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// How long a test waits for something that should happen within a second or two on an idle
/// machine: generous, because CI shares two cores with a cargo build's leftovers, a database
/// and the other tests of the run.
pub const PATIENCE: std::time::Duration = std::time::Duration::from_secs(20);

/// Calls `check` every 100 ms until it returns `Ok`, and panics with its last `Err` (and
/// `what`) if that has not happened `within`: a test waits for a condition instead of
/// sleeping a fixed time that a loaded machine may overrun. An async closure may borrow
/// the test's state mutably (a client it polls with, say).
pub async fn eventually<F>(what: &str, within: std::time::Duration, mut check: F)
where
    F: AsyncFnMut() -> Result<(), String>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match check().await {
            Ok(()) => return,
            Err(why) if tokio::time::Instant::now() >= deadline => {
                panic!("{what}: not within {within:?}: {why}")
            }
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(100)).await,
        }
    }
}
