//! A PostgreSQL database of a test's own.

use crate::procs::{command_as, find_binary, free_port, is_root, watchdog};
use crate::{TestkitError, unique_name};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::OnceLock;
use std::time::{Duration, Instant};
use tokio_postgres::NoTls;

const LOCAL_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// A PostgreSQL server started for this test process from the installed binaries.
#[derive(Debug)]
pub struct ThrowawayPostgres {
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// Its folder (data directory and socket), removed when the process exits.
    pub dir: PathBuf,
    postgres: PathBuf,
    pg_ctl: PathBuf,
    user: Option<&'static str>,
    /// Server certificate and key, inside `dir`, when the server speaks TLS.
    tls: Option<(PathBuf, PathBuf)>,
}

fn pg_bin_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|rd| rd.flatten().map(|e| e.path().join("bin")).collect())
        .unwrap_or_default();
    dirs.sort();
    dirs.reverse(); // newest major version first
    dirs
}

fn run(cmd: &mut std::process::Command, what: &str) -> Result<(), TestkitError> {
    let out = cmd
        .output()
        .map_err(|e| TestkitError::Failed(format!("{what}: {e}")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(TestkitError::Failed(format!(
            "{what} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

impl ThrowawayPostgres {
    /// Runs `initdb` and starts `postgres` on a free port (as the `postgres` user when root).
    pub fn start() -> Result<Self, TestkitError> {
        Self::start_with(None)
    }

    /// Like [`start`](Self::start), but the server speaks TLS with `cert` and `key` (PEM)
    /// and accepts TCP sessions over TLS only (`hostssl` in `pg_hba.conf`); its Unix
    /// socket stays open to plain sessions, for set-up through [`socket_url`].
    ///
    /// [`socket_url`]: Self::socket_url
    pub fn start_tls(cert: &Path, key: &Path) -> Result<Self, TestkitError> {
        Self::start_with(Some((cert, key)))
    }

    /// [`start_tls`](Self::start_tls), then waits until it answers.
    pub async fn start_tls_ready(cert: &Path, key: &Path) -> Result<Self, TestkitError> {
        let server = Self::start_tls(cert, key)?;
        connect(&server.socket_url("postgres"), Duration::from_secs(30)).await?;
        Ok(server)
    }

    fn start_with(tls: Option<(&Path, &Path)>) -> Result<Self, TestkitError> {
        let extra = pg_bin_dirs();
        let (Some(initdb), Some(postgres), Some(pg_ctl)) = (
            find_binary("initdb", &extra),
            find_binary("postgres", &extra),
            find_binary("pg_ctl", &extra),
        ) else {
            return Err(TestkitError::Unavailable(
                "no PostgreSQL server binaries (initdb, postgres, pg_ctl) found on PATH or \
                 under /usr/lib/postgresql/*/bin"
                    .into(),
            ));
        };
        let user = is_root().then_some("postgres");
        let dir = tempfile::Builder::new()
            .prefix("historian-pg-")
            .tempdir()
            .map_err(|e| TestkitError::Failed(format!("cannot create a temp dir: {e}")))?
            .keep();
        if let Some(u) = user {
            run(
                std::process::Command::new("chown").arg(u).arg(&dir),
                "chown of the throwaway PostgreSQL folder",
            )?;
        }
        let data = dir.join("data");
        run(
            command_as(user, &initdb).arg("-D").arg(&data).args([
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
            ]),
            "initdb",
        )?;
        let tls = match tls {
            Some((cert, key)) => Some(install_tls(&dir, &data, cert, key, user)?),
            None => None,
        };
        let port = free_port()?;
        let server = Self {
            port,
            dir: dir.clone(),
            postgres,
            pg_ctl: pg_ctl.clone(),
            user,
            tls,
        };
        server.spawn()?;
        let stop = match user {
            Some(u) => format!(
                "runuser -u {u} -- {} -D {} -m immediate stop",
                pg_ctl.display(),
                data.display()
            ),
            None => format!(
                "{} -D {} -m immediate stop",
                pg_ctl.display(),
                data.display()
            ),
        };
        watchdog(&format!("{stop}; rm -rf {}", dir.display()))?;
        Ok(server)
    }

    fn spawn(&self) -> Result<(), TestkitError> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("server.log"))
            .map_err(|e| TestkitError::Failed(format!("cannot open the server log: {e}")))?;
        let mut cmd = command_as(self.user, &self.postgres);
        cmd.arg("-D")
            .arg(self.dir.join("data"))
            .arg("-p")
            .arg(self.port.to_string())
            .arg("-k")
            .arg(&self.dir)
            .args(["-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"]);
        if let Some((cert, key)) = &self.tls {
            cmd.args(["-c", "ssl=on", "-c"])
                .arg(format!("ssl_cert_file={}", cert.display()))
                .arg("-c")
                .arg(format!("ssl_key_file={}", key.display()));
        }
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .map_err(|e| TestkitError::Failed(format!("cannot start postgres: {e}")))?;
        Ok(())
    }

    /// Stops the server (fast shutdown: open sessions are cut, as in a crash of the link),
    /// waiting until it is down. For tests of what happens while the database is away.
    pub fn stop(&self) -> Result<(), TestkitError> {
        run(
            command_as(self.user, &self.pg_ctl)
                .arg("-D")
                .arg(self.dir.join("data"))
                .args(["-m", "fast", "-w", "stop"]),
            "pg_ctl stop",
        )
    }

    /// Starts the server again on the same port and data, and waits until it answers.
    pub async fn restart(&self) -> Result<(), TestkitError> {
        self.spawn()?;
        connect(&self.url("postgres"), Duration::from_secs(30)).await?;
        Ok(())
    }

    /// Starts a server of this test's own (never the machine's shared one, which tests
    /// must not stop) and waits until it answers.
    pub async fn start_ready() -> Result<Self, TestkitError> {
        let server = Self::start()?;
        connect(&server.url("postgres"), Duration::from_secs(30)).await?;
        Ok(server)
    }

    /// A streaming replica of `primary` (`pg_basebackup -R` over loopback replication,
    /// which initdb's trust configuration allows), started on a free port and answering.
    pub async fn replica_of(primary: &ThrowawayPostgres) -> Result<Self, TestkitError> {
        let extra = pg_bin_dirs();
        let Some(basebackup) = find_binary("pg_basebackup", &extra) else {
            return Err(TestkitError::Unavailable(
                "no pg_basebackup found on PATH or under /usr/lib/postgresql/*/bin".into(),
            ));
        };
        let dir = tempfile::Builder::new()
            .prefix("historian-pg-replica-")
            .tempdir()
            .map_err(|e| TestkitError::Failed(format!("cannot create a temp dir: {e}")))?
            .keep();
        if let Some(u) = primary.user {
            run(
                std::process::Command::new("chown").arg(u).arg(&dir),
                "chown of the replica folder",
            )?;
        }
        let data = dir.join("data");
        run(
            command_as(primary.user, &basebackup)
                .arg("-D")
                .arg(&data)
                .args(["-R", "-X", "stream", "-c", "fast", "-U", "postgres", "-h"])
                .arg("127.0.0.1")
                .arg("-p")
                .arg(primary.port.to_string()),
            "pg_basebackup",
        )?;
        let server = Self {
            port: free_port()?,
            dir: dir.clone(),
            postgres: primary.postgres.clone(),
            pg_ctl: primary.pg_ctl.clone(),
            user: primary.user,
            tls: None,
        };
        server.spawn()?;
        let stop = format!(
            "{} {} -D {} -m immediate stop; rm -rf {}",
            primary
                .user
                .map(|u| format!("runuser -u {u} --"))
                .unwrap_or_default(),
            server.pg_ctl.display(),
            data.display(),
            dir.display()
        );
        watchdog(&stop)?;
        connect(&server.url("postgres"), Duration::from_secs(30)).await?;
        Ok(server)
    }

    /// The connection URL of database `db` on this server.
    pub fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    /// The URL of database `db` through the server's Unix socket (never TLS).
    pub fn socket_url(&self, db: &str) -> String {
        let dir = self.dir.display().to_string().replace('/', "%2F");
        format!("postgres://postgres@{dir}:{}/{db}", self.port)
    }
}

/// Copies the certificate and key next to the data folder, owned by the server's user with
/// the key at 0600 (PostgreSQL refuses a key others can read), and lets TCP sessions in
/// over TLS only.
fn install_tls(
    dir: &Path,
    data: &Path,
    cert: &Path,
    key: &Path,
    user: Option<&str>,
) -> Result<(PathBuf, PathBuf), TestkitError> {
    use std::os::unix::fs::PermissionsExt;
    let io = |what: String| move |e: std::io::Error| TestkitError::Failed(format!("{what}: {e}"));
    let (cert_to, key_to) = (dir.join("server.crt"), dir.join("server.key"));
    std::fs::copy(cert, &cert_to).map_err(io(format!("copy {}", cert.display())))?;
    std::fs::copy(key, &key_to).map_err(io(format!("copy {}", key.display())))?;
    std::fs::set_permissions(&key_to, std::fs::Permissions::from_mode(0o600))
        .map_err(io(format!("chmod {}", key_to.display())))?;
    if let Some(u) = user {
        run(
            std::process::Command::new("chown")
                .arg(u)
                .arg(&cert_to)
                .arg(&key_to),
            "chown of the throwaway PostgreSQL certificate",
        )?;
    }
    // Rewritten in place, so it keeps the owner initdb gave it.
    let hba = data.join("pg_hba.conf");
    std::fs::write(
        &hba,
        "local all all trust\nhostssl all all 127.0.0.1/32 trust\n",
    )
    .map_err(io(format!("write {}", hba.display())))?;
    Ok((cert_to, key_to))
}

/// Replaces the database name of a `postgres://` URL.
fn with_database(url: &str, db: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let host_start = base.find("://").map_or(0, |i| i + 3);
    let base = match base[host_start..].find('/') {
        Some(slash) => &base[..host_start + slash],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{db}?{q}"),
        None => format!("{base}/{db}"),
    }
}

async fn connect(url: &str, wait: Duration) -> Result<tokio_postgres::Client, TestkitError> {
    let deadline = Instant::now() + wait;
    loop {
        match tokio_postgres::connect(url, NoTls).await {
            Ok((client, conn)) => {
                tokio::spawn(async move {
                    let _ = conn.await;
                });
                return Ok(client);
            }
            Err(e) if Instant::now() >= deadline => {
                return Err(TestkitError::Unavailable(format!(
                    "cannot connect to PostgreSQL at {url}: {e}"
                )));
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

static THROWAWAY: OnceLock<Result<ThrowawayPostgres, String>> = OnceLock::new();

/// The admin URL of a server to create test databases on.
async fn admin_url() -> Result<String, TestkitError> {
    if let Ok(url) = std::env::var("DATABASE_URL") {
        return Ok(url);
    }
    if connect(LOCAL_ADMIN_URL, Duration::ZERO).await.is_ok() {
        return Ok(LOCAL_ADMIN_URL.to_string());
    }
    let server = THROWAWAY.get_or_init(|| ThrowawayPostgres::start().map_err(|e| e.to_string()));
    match server {
        Ok(s) => Ok(s.url("postgres")),
        Err(e) => Err(TestkitError::Unavailable(format!(
            "no PostgreSQL: DATABASE_URL is unset, nothing answers on 127.0.0.1:5432, and a \
             throwaway server could not start: {e}"
        ))),
    }
}

/// A database created for one test and dropped when the value is dropped.
#[derive(Debug)]
pub struct PgTestDb {
    /// Connection URL of the test's database.
    pub url: String,
    /// Its name.
    pub name: String,
    admin_url: String,
}

impl PgTestDb {
    /// Creates a fresh, empty database on the first server found (see the crate docs).
    pub async fn create() -> Result<Self, TestkitError> {
        let admin = admin_url().await?;
        Self::create_on(&admin).await
    }

    /// Creates a fresh, empty database on the server `admin_url` points to.
    pub async fn create_on(admin_url: &str) -> Result<Self, TestkitError> {
        let client = connect(admin_url, Duration::from_secs(30)).await?;
        let name = unique_name("historian_test");
        client
            .batch_execute(&format!("CREATE DATABASE \"{name}\""))
            .await
            .map_err(|e| TestkitError::Failed(format!("CREATE DATABASE {name}: {e}")))?;
        Ok(Self {
            url: with_database(admin_url, &name),
            name,
            admin_url: admin_url.to_string(),
        })
    }

    /// A connected client for the test's database.
    pub async fn client(&self) -> Result<tokio_postgres::Client, TestkitError> {
        connect(&self.url, Duration::from_secs(10)).await
    }
}

/// Refreshes a TimescaleDB continuous aggregate over all time, waiting (at most `within`)
/// while its policy's own refresh runs: the policy's first run starts when it is made,
/// and a manual refresh beside it fails with "due to a concurrent refresh"
/// (`LOCK_NOT_AVAILABLE`).
pub async fn refresh_continuous_aggregate(
    client: &tokio_postgres::Client,
    view: &str,
    within: std::time::Duration,
) -> Result<(), tokio_postgres::Error> {
    let deadline = std::time::Instant::now() + within;
    loop {
        match client
            .batch_execute(&format!(
                "CALL refresh_continuous_aggregate('{view}', NULL, NULL)"
            ))
            .await
        {
            Err(e)
                if e.code() == Some(&tokio_postgres::error::SqlState::LOCK_NOT_AVAILABLE)
                    && std::time::Instant::now() < deadline =>
            {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            done => return done,
        }
    }
}

impl Drop for PgTestDb {
    fn drop(&mut self) {
        let admin = self.admin_url.clone();
        let name = self.name.clone();
        // Drop may run inside or outside a runtime: use a thread with a runtime of its own.
        let done = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async {
                if let Ok(c) = connect(&admin, Duration::from_secs(5)).await {
                    let _ = c
                        .batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                        .await;
                }
            });
        });
        let _ = done.join();
    }
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn database_name_is_replaced() {
        assert_eq!(
            with_database("postgres://u@h:5432/postgres", "t1"),
            "postgres://u@h:5432/t1"
        );
        assert_eq!(with_database("postgres://u@h", "t1"), "postgres://u@h/t1");
        assert_eq!(
            with_database("postgresql://u:p@h/db?sslmode=disable", "t1"),
            "postgresql://u:p@h/t1?sslmode=disable"
        );
    }
}
