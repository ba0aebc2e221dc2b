//! An MQTT broker for tests: the local one on 127.0.0.1:1883 when it answers, else a
//! throwaway `mosquitto` of this process; and throwaway brokers of a test's own (plain or
//! TLS) that the test may stop and start again, for outages. The machine's broker is never
//! stopped.

use crate::procs::{find_binary, free_port, is_root, watchdog};
use crate::{TestPki, TestkitError};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

const LOCAL: &str = "127.0.0.1:1883";

/// A CONNECT of MQTT 3.1.1 with a clean session, keep-alive 10 s, client id "probe".
const CONNECT: [u8; 19] = [
    0x10, 17, 0, 4, b'M', b'Q', b'T', b'T', 4, 0x02, 0, 10, 0, 5, b'p', b'r', b'o', b'b', b'e',
];
/// CONNACK: no session present, connection accepted.
const CONNACK_OK: [u8; 4] = [0x20, 2, 0, 0];
const DISCONNECT: [u8; 2] = [0xe0, 0];

/// True when a plain MQTT broker at `addr` accepts a connection: a real CONNECT answered
/// by a CONNACK, not just an open port.
pub fn mqtt_answers(addr: &str) -> Result<(), TestkitError> {
    let unavailable =
        |e: String| TestkitError::Unavailable(format!("no MQTT broker at {addr}: {e}"));
    let sock: SocketAddr = addr.parse().map_err(|e| unavailable(format!("{e}")))?;
    let mut s = TcpStream::connect_timeout(&sock, Duration::from_millis(500))
        .map_err(|e| unavailable(e.to_string()))?;
    s.set_read_timeout(Some(Duration::from_secs(2)))
        .map_err(|e| unavailable(e.to_string()))?;
    s.write_all(&CONNECT)
        .map_err(|e| unavailable(e.to_string()))?;
    let mut ack = [0u8; 4];
    s.read_exact(&mut ack)
        .map_err(|e| unavailable(e.to_string()))?;
    let _ = s.write_all(&DISCONNECT);
    if ack == CONNACK_OK {
        Ok(())
    } else {
        Err(unavailable(format!("refused the connection: {ack:?}")))
    }
}

/// A `mosquitto` started by this test process from the installed binary, with a
/// generated configuration, on a free port of 127.0.0.1. Stopped when dropped.
#[derive(Debug)]
pub struct ThrowawayMosquitto {
    /// Its port on 127.0.0.1.
    pub port: u16,
    dir: tempfile::TempDir,
    child: Mutex<Option<Child>>,
    tls: bool,
}

impl ThrowawayMosquitto {
    /// Starts a plain broker that lets anyone in.
    pub fn start() -> Result<Self, TestkitError> {
        Self::start_with(None, false)
    }

    /// Starts a broker that speaks TLS only, with `pki`'s server certificate; with
    /// `require_client_cert`, clients must present a certificate signed by `pki`'s CA.
    pub fn start_tls(pki: &TestPki, require_client_cert: bool) -> Result<Self, TestkitError> {
        Self::start_with(Some(pki), require_client_cert)
    }

    fn start_with(pki: Option<&TestPki>, require_client_cert: bool) -> Result<Self, TestkitError> {
        let failed = |what: &str, e: std::io::Error| TestkitError::Failed(format!("{what}: {e}"));
        let port = free_port()?;
        let dir = tempfile::tempdir().map_err(|e| failed("broker folder", e))?;
        let mut conf = format!(
            "listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n\
             log_dest file {}\n",
            dir.path().join("mosquitto.log").display()
        );
        // Started as root, mosquitto would switch to its own user, which cannot read the
        // test's files.
        if is_root() {
            conf.push_str("user root\n");
        }
        if let Some(pki) = pki {
            conf.push_str(&format!(
                "cafile {}\ncertfile {}\nkeyfile {}\nrequire_certificate {}\n",
                pki.ca_path().display(),
                pki.cert_path().display(),
                pki.key_path().display(),
                require_client_cert
            ));
        }
        let conf_path = dir.path().join("mosquitto.conf");
        std::fs::write(&conf_path, conf).map_err(|e| failed("broker config", e))?;
        let broker = Self {
            port,
            dir,
            child: Mutex::new(None),
            tls: pki.is_some(),
        };
        broker.launch()?;
        // Reads the pid file, not a fixed pid: a restarted broker has a new one, and a
        // stopped broker's pid may belong to someone else by then.
        let pid_file = broker.dir.path().join("pid");
        watchdog(&format!(
            "kill $(cat '{}' 2>/dev/null) 2>/dev/null",
            pid_file.display()
        ))?;
        Ok(broker)
    }

    fn launch(&self) -> Result<(), TestkitError> {
        let Some(bin) = find_binary("mosquitto", &[PathBuf::from("/usr/sbin")]) else {
            return Err(TestkitError::Unavailable(
                "no mosquitto binary on PATH or in /usr/sbin".into(),
            ));
        };
        let child = Command::new(bin)
            .arg("-c")
            .arg(self.dir.path().join("mosquitto.conf"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| TestkitError::Failed(format!("cannot start mosquitto: {e}")))?;
        let pid_file = self.dir.path().join("pid");
        std::fs::write(&pid_file, child.id().to_string())
            .map_err(|e| TestkitError::Failed(format!("{}: {e}", pid_file.display())))?;
        *self.child.lock().unwrap_or_else(|e| e.into_inner()) = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let up = if self.tls {
                TcpStream::connect_timeout(&self.addr(), Duration::from_millis(500))
                    .map(|_| ())
                    .map_err(|e| TestkitError::Unavailable(e.to_string()))
            } else {
                mqtt_answers(&self.addr().to_string())
            };
            match up {
                Ok(()) => return Ok(()),
                Err(e) if Instant::now() > deadline => {
                    let log = std::fs::read_to_string(self.dir.path().join("mosquitto.log"))
                        .unwrap_or_default();
                    return Err(TestkitError::Failed(format!(
                        "throwaway mosquitto did not answer within 10 s: {e}\n{log}"
                    )));
                }
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        }
    }

    /// Its address.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// `mqtts://localhost:PORT` (the name its certificate carries) when it speaks TLS,
    /// `mqtt://127.0.0.1:PORT` otherwise.
    pub fn url(&self) -> String {
        if self.tls {
            format!("mqtts://localhost:{}", self.port)
        } else {
            format!("mqtt://127.0.0.1:{}", self.port)
        }
    }

    /// Stops the broker (SIGKILL: no goodbye to its clients) and waits until it is gone.
    pub fn stop(&self) -> Result<(), TestkitError> {
        let taken = self.child.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(mut child) = taken {
            child
                .kill()
                .map_err(|e| TestkitError::Failed(format!("kill mosquitto: {e}")))?;
            child
                .wait()
                .map_err(|e| TestkitError::Failed(format!("wait for mosquitto: {e}")))?;
            let _ = std::fs::write(self.dir.path().join("pid"), "");
        }
        Ok(())
    }

    /// Starts the stopped broker again, on the same port with the same configuration.
    pub fn restart(&self) -> Result<(), TestkitError> {
        self.stop()?;
        self.launch()
    }
}

impl Drop for ThrowawayMosquitto {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

static SHARED: OnceLock<Result<ThrowawayMosquitto, String>> = OnceLock::new();

/// The address (`HOST:PORT`) of a plain MQTT broker to test against: `MQTT_ADDR` if set;
/// else the local broker on 127.0.0.1:1883 when it answers; else a throwaway `mosquitto`
/// shared by the tests of this process. Tests keep apart by topic prefix.
pub fn mqtt_broker() -> Result<String, TestkitError> {
    if let Ok(addr) = std::env::var("MQTT_ADDR") {
        return Ok(addr);
    }
    if mqtt_answers(LOCAL).is_ok() {
        return Ok(LOCAL.to_string());
    }
    match SHARED.get_or_init(|| ThrowawayMosquitto::start().map_err(|e| e.to_string())) {
        Ok(b) => Ok(b.addr().to_string()),
        Err(e) => Err(TestkitError::Unavailable(format!(
            "no MQTT broker: MQTT_ADDR is unset, nothing answers on {LOCAL}, and a throwaway \
             mosquitto could not start: {e}"
        ))),
    }
}
