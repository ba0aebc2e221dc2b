//! A historian as a child process, run the way an operator runs it: [`ProcessConfig`]
//! writes its config file (a PostgreSQL URL, the API on port 0, a spool folder, simulated
//! devices with the reference map, any other sections), [`historian_command`] is `run` on
//! that file, and [`HistorianChild::start`] waits for the start-up line and hands back the
//! API's address.

use historian_sim::fleet::reference_map;
use std::io::BufRead;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

/// The start of the line `run` prints once its API listens.
const RUNNING: &str = "modbus-historian running: API on ";

/// What goes into a config file: see the module's documentation.
pub struct ProcessConfig {
    db_url: String,
    spool: PathBuf,
    spool_options: String,
    sections: String,
    fleet: Vec<SocketAddr>,
    registers: usize,
    interval: Duration,
}

impl ProcessConfig {
    /// Stores into `db_url` and spools into `spool`; no devices (so it polls those of its
    /// database) until [`fleet`](Self::fleet).
    pub fn new(db_url: &str, spool: &Path) -> Self {
        ProcessConfig {
            db_url: db_url.into(),
            spool: spool.into(),
            spool_options: String::new(),
            sections: String::new(),
            fleet: Vec::new(),
            registers: 0,
            interval: Duration::from_secs(1),
        }
    }

    /// Polls each device of `sim` (named `sim-000`, ...) every `interval` for the
    /// reference map of `registers` registers.
    pub fn fleet(mut self, sim: &[SocketAddr], registers: usize, interval: Duration) -> Self {
        self.fleet = sim.to_vec();
        self.registers = registers;
        self.interval = interval;
        self
    }

    /// Adds `line` (`key = value`) to the `[spool]` section.
    pub fn spool_option(mut self, line: &str) -> Self {
        self.spool_options.push_str(line);
        self.spool_options.push('\n');
        self
    }

    /// Adds `toml` (whole sections) before the devices.
    pub fn section(mut self, toml: &str) -> Self {
        self.sections.push_str(toml);
        self.sections.push('\n');
        self
    }

    /// The config file's text.
    pub fn text(&self) -> String {
        let mut text = format!(
            "[storage]\nurl = \"{}\"\n\n[api]\nbind = \"127.0.0.1:0\"\n\n[spool]\ndir = \"{}\"\n{}\n{}",
            self.db_url,
            self.spool.display(),
            self.spool_options,
            self.sections
        );
        let map = reference_map(self.registers);
        for (i, addr) in self.fleet.iter().enumerate() {
            text.push_str(&format!(
                "\n[[devices]]\nname = \"sim-{i:03}\"\nhost = \"127.0.0.1\"\nport = {}\ninterval = \"{}ms\"\n",
                addr.port(),
                self.interval.as_millis()
            ));
            for p in &map {
                text.push_str(&format!(
                    "[[devices.registers]]\nname = \"{}\"\ntable = \"{}\"\naddress = {}\ndata_type = \"{}\"\nbyte_order = \"{}\"\nscale = {:?}\noffset = {:?}\nunit = \"{}\"\n",
                    p.name,
                    p.register.table,
                    p.register.address,
                    p.data_type,
                    p.word_order,
                    p.scale,
                    p.offset,
                    p.unit
                ));
            }
        }
        text
    }

    /// Writes the file to `path` and returns `path`.
    pub fn write(&self, path: &Path) -> PathBuf {
        std::fs::write(path, self.text()).expect("write config");
        path.to_path_buf()
    }
}

/// `modbus-historian run --config <config>`, logging warnings, with none of the
/// environment's overrides, stdout and stderr piped.
pub fn historian_command(config: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_modbus-historian"));
    cmd.args(["run", "--config"])
        .arg(config)
        .env("HISTORIAN_LOG", "warn")
        .env_remove("HISTORIAN_DATABASE_URL")
        .env_remove("HISTORIAN_API_BIND")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// The stdout of a child, read in the background: its first line (the start-up line, or
/// nothing when it exits first) as soon as it comes, the rest once it exits (a child
/// whose stdout nobody reads could block on its closing line).
pub struct Stdout {
    first: std::sync::mpsc::Receiver<String>,
    rest: std::thread::JoinHandle<String>,
}

impl Stdout {
    /// Takes `child`'s piped stdout.
    pub fn of(child: &mut Child) -> Self {
        let out = child.stdout.take().expect("piped stdout");
        let (tx, first) = std::sync::mpsc::channel();
        let rest = std::thread::spawn(move || {
            let mut lines = std::io::BufReader::new(out).lines();
            let _ = tx.send(lines.next().and_then(Result::ok).unwrap_or_default());
            lines
                .map_while(Result::ok)
                .fold(String::new(), |mut all, l| {
                    all.push_str(&l);
                    all.push('\n');
                    all
                })
        });
        Stdout { first, rest }
    }

    /// The first line (empty when the child closed stdout without one).
    pub fn first_line(&self) -> String {
        self.first.recv().unwrap_or_default()
    }

    /// Every line after the first, once the child has closed stdout.
    pub fn rest(self) -> String {
        self.rest.join().expect("stdout reader")
    }
}

/// A started `run` process and its API.
pub struct HistorianChild {
    /// The process.
    pub child: Child,
    /// `http://` and the API's address.
    pub api: String,
    stdout: Stdout,
}

/// How a [`HistorianChild`] ended.
pub struct Ended {
    /// Its exit status.
    pub status: ExitStatus,
    /// What it printed after the start-up line (the closing line among it).
    pub stdout: String,
    /// Its stderr, when piped.
    pub stderr: String,
}

impl HistorianChild {
    /// Spawns `cmd` and waits for its start-up line; panics with its stderr if it ends
    /// without one.
    pub fn start(mut cmd: Command) -> Self {
        let child = cmd.spawn().expect("start the historian");
        Self::started(child)
    }

    /// Waits for the start-up line of `child`, spawned already.
    pub fn started(mut child: Child) -> Self {
        let stdout = Stdout::of(&mut child);
        let line = stdout.first_line();
        let Some(api) = line.strip_prefix(RUNNING) else {
            let out = child.wait_with_output().expect("exited");
            panic!(
                "the historian did not start: {line:?}\n{}",
                String::from_utf8_lossy(&out.stderr)
            )
        };
        HistorianChild {
            api: api.trim().to_string(),
            child,
            stdout,
        }
    }

    /// Sends SIGTERM and waits for the end.
    pub fn stop(self) -> Ended {
        terminate(&self.child);
        self.wait()
    }

    /// Waits for the end.
    pub fn wait(self) -> Ended {
        let out = self
            .child
            .wait_with_output()
            .expect("wait for the historian");
        Ended {
            status: out.status,
            stdout: self.stdout.rest(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

/// Sends SIGTERM to `child`.
pub fn terminate(child: &Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill -TERM");
    assert!(status.success(), "kill -TERM {}", child.id());
}
