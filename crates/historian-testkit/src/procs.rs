//! Helpers for throwaway server processes: free ports, the user to run them as, and a
//! watchdog that stops them when the test process exits (statics are never dropped).

use crate::TestkitError;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A port that was free a moment ago on 127.0.0.1.
pub fn free_port() -> Result<u16, TestkitError> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| TestkitError::Failed(format!("cannot find a free port: {e}")))
}

/// The first of `n` consecutive ports that are free now on 127.0.0.1: for a server that
/// listens on base, base+1, ...
pub fn free_port_run(n: u16) -> Result<u16, TestkitError> {
    for _ in 0..50 {
        let base = free_port()?;
        let Some(last) = base.checked_add(n.saturating_sub(1)) else {
            continue;
        };
        if (base..=last).all(|p| TcpListener::bind(("127.0.0.1", p)).is_ok()) {
            return Ok(base);
        }
    }
    Err(TestkitError::Failed(format!(
        "no run of {n} free ports found"
    )))
}

/// Spawns `cmd` with its stdout piped and returns it with the first line it printed (empty
/// if it exited first): for servers that announce on stdout that they listen.
pub fn spawn_announced(cmd: &mut Command) -> Result<(std::process::Child, String), TestkitError> {
    use std::io::BufRead;
    let program = cmd.get_program().to_string_lossy().into_owned();
    let failed = |e: std::io::Error| TestkitError::Failed(format!("{program}: {e}"));
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .spawn()
        .map_err(failed)?;
    let mut first = String::new();
    if let Some(out) = child.stdout.take() {
        std::io::BufReader::new(out)
            .read_line(&mut first)
            .map_err(failed)?;
    }
    Ok((child, first))
}

/// True when this process runs as root (PostgreSQL refuses to).
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(2) == Some("0"))
        })
        .unwrap_or(false)
}

/// Finds an executable on PATH or in the given extra folders (globs are not expanded).
pub fn find_binary(name: &str, extra: &[PathBuf]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(extra.iter().cloned())
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// Builds a command that runs `program` as `user` when we are root, directly otherwise.
pub fn command_as(user: Option<&str>, program: &Path) -> Command {
    match user {
        Some(u) => {
            let mut c = Command::new("runuser");
            c.arg("-u").arg(u).arg("--").arg(program);
            c
        }
        None => Command::new(program),
    }
}

/// Starts a shell that waits for this process to exit, then runs `cleanup`.
pub fn watchdog(cleanup: &str) -> Result<(), TestkitError> {
    let script = format!(
        "while kill -0 {pid} 2>/dev/null; do sleep 1; done; {cleanup}",
        pid = std::process::id()
    );
    Command::new("sh")
        .arg("-c")
        .arg(script)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map(|_| ())
        .map_err(|e| TestkitError::Failed(format!("cannot start the cleanup watchdog: {e}")))
}
