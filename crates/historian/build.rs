//! Records the git commit the binary is built from, for `--version`. A build outside a git
//! checkout (a source tarball) takes `HISTORIAN_BUILD_COMMIT` from the environment, else
//! says `unknown commit`; it never fails.

use std::path::Path;
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).ok()?;
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_string())
}

fn main() {
    println!("cargo:rerun-if-env-changed=HISTORIAN_BUILD_COMMIT");
    let commit = std::env::var("HISTORIAN_BUILD_COMMIT")
        .ok()
        .filter(|c| !c.trim().is_empty())
        .or_else(|| git(&["rev-parse", "--short=12", "HEAD"]));
    // Rebuilt when HEAD moves: HEAD itself, the branch it points to, and packed refs.
    // Cargo reruns a build script on every build while a path it watches is missing (and
    // the crate with it), so only paths that exist are watched: packed refs when there
    // are any, and a branch packed away by its folder, where committing writes it again.
    if commit.is_some() {
        for path in ["HEAD", "packed-refs"] {
            if let Some(p) = git(&["rev-parse", "--git-path", path])
                && Path::new(&p).exists()
            {
                println!("cargo:rerun-if-changed={p}");
            }
        }
        if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"])
            && let Some(p) = git(&["rev-parse", "--git-path", &branch])
        {
            let p = Path::new(&p);
            if let Some(watched) = [Some(p), p.parent()]
                .into_iter()
                .flatten()
                .find(|p| p.exists())
            {
                println!("cargo:rerun-if-changed={}", watched.display());
            }
        }
    }
    let shown = commit.map_or_else(|| "unknown commit".to_string(), |c| format!("commit {c}"));
    println!("cargo:rustc-env=HISTORIAN_BUILD_COMMIT={shown}");
}
