//! Several historians on one PostgreSQL database, as real processes on loopback: they start
//! together on a fresh database without racing.

mod common;

use common::fleet_simulator;
use historian_sim::fleet::reference_map;
use historian_testkit::{PATIENCE, PgTestDb, require};
use std::io::BufRead;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

const POINTS: usize = 4;

/// The config of one node: `devices` on `sim`, its own spool folder, `extra` appended.
fn write_config(dir: &Path, node: &str, db_url: &str, sim: &[SocketAddr], extra: &str) -> PathBuf {
    let spool = dir.join(format!("spool-{node}"));
    let mut text = format!(
        "[storage]\nurl = \"{db_url}\"\n\n[api]\nbind = \"127.0.0.1:0\"\n\n\
         [spool]\ndir = \"{}\"\n\n{extra}\n",
        spool.display()
    );
    let map = reference_map(POINTS);
    for (i, addr) in sim.iter().enumerate() {
        text.push_str(&format!(
            "\n[[devices]]\nname = \"sim-{i:03}\"\nhost = \"127.0.0.1\"\nport = {}\ninterval = \"1s\"\n",
            addr.port(),
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
    let path = dir.join(format!("{node}.toml"));
    std::fs::write(&path, text).expect("write config");
    path
}

fn historian_cmd(config: &Path) -> Command {
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

/// Reads the first line each child prints (the start-up announcement, or nothing when it
/// exits first), all at once; the rest of each child's output is drained in the background
/// so that its closing line finds a reader.
fn first_lines(children: &mut [Child]) -> Vec<String> {
    let firsts: Vec<_> = children
        .iter_mut()
        .map(|c| {
            let out = c.stdout.take().expect("piped stdout");
            let (tx, rx) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                let mut lines = std::io::BufReader::new(out).lines();
                let _ = tx.send(lines.next().and_then(Result::ok).unwrap_or_default());
                for _ in lines {}
            });
            rx
        })
        .collect();
    firsts
        .into_iter()
        .map(|rx| rx.recv().unwrap_or_default())
        .collect()
}

fn terminate(child: &Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill -TERM");
    assert!(status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_historians_started_together_on_a_fresh_database_all_come_up() {
    let test = "three_historians_started_together_on_a_fresh_database_all_come_up";
    let Some(db) = require(test, PgTestDb::create().await) else {
        return;
    };
    let sim = fleet_simulator(3, POINTS).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let configs: Vec<PathBuf> = (0..3)
        .map(|i| write_config(dir.path(), &format!("n{i}"), &db.url, sim.addrs(), ""))
        .collect();
    // Spawned back to back, before any of them is waited for: they migrate the same empty
    // database at the same moment.
    let mut children: Vec<Child> = configs
        .iter()
        .map(|c| historian_cmd(c).spawn().expect("start historian"))
        .collect();
    let lines = first_lines(&mut children);
    for (i, line) in lines.iter().enumerate() {
        if !line.starts_with("modbus-historian running") {
            let out = children.remove(i).wait_with_output().expect("exited");
            panic!(
                "node {i} did not come up: {line:?}\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    let client = db.client().await.expect("client");
    historian_testkit::eventually("every device polled and stored", PATIENCE, async || {
        let row = client
            .query_one(
                "SELECT count(DISTINCT device_id) FROM register_readings",
                &[],
            )
            .await
            .map_err(|e| e.to_string())?;
        match row.get::<_, i64>(0) {
            3 => Ok(()),
            n => Err(format!("{n} devices stored")),
        }
    })
    .await;
    for c in &children {
        terminate(c);
    }
    for c in children {
        let out = c.wait_with_output().expect("historian exits");
        assert!(
            out.status.success(),
            "a historian failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    sim.shutdown();
}
