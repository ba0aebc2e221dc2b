//! What the Debian package ships, checked without building it (`scripts/package-deb`
//! builds and lists it): the systemd unit passes `systemd-analyze verify` and is
//! sandboxed, the default config validates, completions and manual pages are generated,
//! and `--version` names the commit.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_modbus-historian");

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env_remove("HISTORIAN_DATABASE_URL")
        .env_remove("HISTORIAN_API_BIND")
        .env_remove("HISTORIAN_LOG")
        .output()
        .expect("run binary")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The unit as packaged, its binary path pointed at the one under test (verify checks
/// that the command exists).
fn unit_under_test(dir: &Path) -> PathBuf {
    let unit = std::fs::read_to_string(repo().join("deploy/debian/modbus-historian.service"))
        .expect("unit file");
    let path = dir.join("modbus-historian.service");
    std::fs::write(&path, unit.replace("/usr/bin/modbus-historian", BIN)).expect("write unit");
    path
}

fn systemd_analyze() -> Option<()> {
    match Command::new("systemd-analyze").arg("--version").output() {
        Ok(o) if o.status.success() => Some(()),
        _ => None,
    }
}

#[test]
fn the_systemd_unit_verifies_and_is_sandboxed() {
    let test = "the_systemd_unit_verifies_and_is_sandboxed";
    let unit = std::fs::read_to_string(repo().join("deploy/debian/modbus-historian.service"))
        .expect("unit file");
    for line in [
        "User=modbus-historian",
        "ProtectSystem=strict",
        "StateDirectory=modbus-historian",
        "NoNewPrivileges=yes",
        "ExecStart=/usr/bin/modbus-historian run --config /etc/modbus-historian/historian.toml",
    ] {
        assert!(unit.lines().any(|l| l == line), "the unit lacks {line}");
    }
    if systemd_analyze().is_none() {
        historian_testkit::report_skip(test, "systemd-analyze is not installed");
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let path = unit_under_test(dir.path());
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&path)
        .output()
        .expect("systemd-analyze verify");
    // verify exits 0 on a value it ignores, but says so: any word from it is a fault.
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stderr), "", "systemd-analyze verify complained");
    let out = Command::new("systemd-analyze")
        .args(["security", "--offline=yes", "--no-pager"])
        .arg(&path)
        .output()
        .expect("systemd-analyze security");
    let report = text(&out.stdout) + &text(&out.stderr);
    let exposure: f64 = report
        .lines()
        .find_map(|l| {
            l.split("Overall exposure level for modbus-historian.service: ")
                .nth(1)
        })
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no exposure level in: {report}"));
    assert!(
        exposure <= 2.0,
        "exposure {exposure} (0 = locked down, 10 = open):\n{report}"
    );
}

#[test]
fn the_packaged_config_validates_and_keeps_data_in_the_state_folder() {
    let config = repo().join("deploy/debian/historian.toml");
    let out = run(&["run", "--config", config.to_str().expect("utf8"), "--check"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let written = std::fs::read_to_string(&config).expect("config");
    assert!(written.contains("url = \"sqlite:///var/lib/modbus-historian/historian.db\""));
    assert!(written.contains("dir = \"/var/lib/modbus-historian/spool\""));
}

#[test]
fn completions_and_manual_pages_are_generated() {
    let bash = run(&["completions", "bash"]);
    assert!(bash.status.success(), "{}", text(&bash.stderr));
    let script = text(&bash.stdout);
    assert!(
        script.contains("complete -F _modbus__historian"),
        "{script}"
    );
    assert!(script.contains("completions") && script.contains("--log-format"));
    for shell in ["zsh", "fish", "elvish", "powershell"] {
        let out = run(&["completions", shell]);
        assert!(out.status.success() && !out.stdout.is_empty(), "{shell}");
    }
    assert_eq!(run(&["completions", "tcsh"]).status.code(), Some(2));

    let man = run(&["man"]);
    assert!(man.status.success(), "{}", text(&man.stderr));
    let page = text(&man.stdout);
    assert!(
        page.starts_with(".ie \\n(.g .ds Aq"),
        "{}",
        &page[..80.min(page.len())]
    );
    assert!(page.contains(".TH modbus-historian 1"), "{page}");
    assert!(
        page.contains("devices") && page.contains("\\-\\-log\\-format"),
        "{page}"
    );

    let dir = tempfile::tempdir().expect("temp dir");
    let out = run(&["man", "--dir", dir.path().to_str().expect("utf8")]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    for page in [
        "modbus-historian.1",
        "modbus-historian-run.1",
        "modbus-historian-devices-import.1",
        "modbus-historian-spool-salvage.1",
    ] {
        assert!(dir.path().join(page).exists(), "{page} not written");
    }
}

#[test]
fn version_names_the_commit() {
    let out = run(&["--version"]);
    assert!(out.status.success());
    let shown = text(&out.stdout);
    let pattern = regex::Regex::new(
        r"^modbus-historian \d+\.\d+\.\d+ \((commit [0-9a-f]{12}|unknown commit)\)\n$",
    )
    .expect("regex");
    assert!(pattern.is_match(&shown), "{shown:?}");
    let head = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(repo())
        .output();
    if let Ok(head) = head
        && head.status.success()
        && std::env::var_os("HISTORIAN_BUILD_COMMIT").is_none()
    {
        let head = text(&head.stdout);
        assert!(
            shown.contains(&format!("commit {}", head.trim())),
            "{shown:?} vs HEAD {head}"
        );
    }
}
