//! What the PostgreSQL server spent on a run: CPU of every process of the server (read
//! from `/proc`, so the server must run on this machine, for this run alone), WAL written
//! and the growth of the run's database.

use anyhow::Context;
use serde::Serialize;
use std::path::Path;

/// The server's counters at one instant.
#[derive(Debug, Clone, Copy)]
pub struct ServerSample {
    cpu_seconds: f64,
    wal_lsn_bytes: f64,
    database_bytes: f64,
}

/// The server's share of a run.
#[derive(Debug, Serialize)]
pub struct ServerFigures {
    /// CPU seconds of every server process (user + system, exited backends included).
    pub cpu_seconds: f64,
    /// `cpu_seconds` per million readings stored.
    pub cpu_seconds_per_million_readings: f64,
    /// WAL bytes written per reading stored (the whole server's WAL).
    pub wal_bytes_per_reading: f64,
    /// Growth of the run's database per reading stored (heap, indexes, labels).
    pub database_bytes_per_reading: f64,
}

/// Samples the server whose `postmaster.pid` is `pid_file`, through `client`, for the
/// database `db`.
pub async fn sample(
    pid_file: &Path,
    client: &tokio_postgres::Client,
    db: &str,
) -> anyhow::Result<ServerSample> {
    let row = client
        .query_one(
            "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::float8, \
                    pg_database_size($1)::float8",
            &[&db],
        )
        .await
        .context("reading the server's WAL position and database size")?;
    let pid_file = pid_file.to_path_buf();
    let cpu_seconds = tokio::task::spawn_blocking(move || server_cpu(&pid_file)).await??;
    Ok(ServerSample {
        cpu_seconds,
        wal_lsn_bytes: row.try_get(0)?,
        database_bytes: row.try_get(1)?,
    })
}

impl ServerSample {
    /// What the server spent from `self` to `end` on `readings` stored readings.
    pub fn until(&self, end: &ServerSample, readings: u64) -> ServerFigures {
        let per = |x: f64| {
            if readings > 0 {
                x / readings as f64
            } else {
                0.0
            }
        };
        let cpu = end.cpu_seconds - self.cpu_seconds;
        ServerFigures {
            cpu_seconds: cpu,
            cpu_seconds_per_million_readings: per(cpu) * 1e6,
            wal_bytes_per_reading: per(end.wal_lsn_bytes - self.wal_lsn_bytes),
            database_bytes_per_reading: per(end.database_bytes - self.database_bytes),
        }
    }
}

/// CPU seconds of the postmaster (with its reaped children) and of its live children.
fn server_cpu(pid_file: &Path) -> anyhow::Result<f64> {
    let text = std::fs::read_to_string(pid_file)
        .with_context(|| format!("reading {}", pid_file.display()))?;
    let postmaster: u32 = text
        .lines()
        .next()
        .and_then(|l| l.trim().parse().ok())
        .with_context(|| format!("{}: no process id on its first line", pid_file.display()))?;
    let main = stat(postmaster)
        .with_context(|| format!("reading /proc/{postmaster}/stat: is the server running here?"))?;
    let mut ticks = main.utime + main.stime + main.cutime + main.cstime;
    for entry in std::fs::read_dir("/proc").context("listing /proc")? {
        let Some(pid) = entry
            .ok()
            .and_then(|e| e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()))
        else {
            continue;
        };
        // A process may end between the listing and the read: it is then in the
        // postmaster's reaped figures instead.
        if let Some(s) = stat(pid).filter(|s| s.ppid == postmaster) {
            ticks += s.utime + s.stime;
        }
    }
    Ok(ticks as f64 / USER_HZ)
}

/// Clock ticks per second of `/proc/PID/stat`: Linux reports them in USER_HZ, which is 100
/// on every architecture it supports.
const USER_HZ: f64 = 100.0;

/// The fields of `/proc/PID/stat` used here, in clock ticks.
struct Stat {
    ppid: u32,
    utime: u64,
    stime: u64,
    cutime: u64,
    cstime: u64,
}

fn stat(pid: u32) -> Option<Stat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses: fields start after the last ')'.
    let fields: Vec<&str> = text.rsplit_once(')')?.1.split_whitespace().collect();
    let num = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok());
    Some(Stat {
        ppid: u32::try_from(num(1)?).ok()?,
        utime: num(11)?,
        stime: num(12)?,
        cutime: num(13)?,
        cstime: num(14)?,
    })
}
