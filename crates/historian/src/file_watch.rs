//! Change notifications for the config file and the register map files it names, so that
//! an idle historian reads none of them until one changes (re-reading and re-parsing a
//! large config every half second cost a large part of a core at thousands of devices).
//!
//! Folders are watched, not files: editors save by writing a new file and renaming it
//! over the old one, which a watch on the old file would miss. Events of other files in
//! those folders (a SQLite database beside the config, say) are ignored.

use notify::event::{AccessKind, AccessMode, EventKind};
use notify::{RecommendedWatcher, RecursiveMode, Watcher};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use tokio::sync::mpsc;

/// A live watch: `changed` yields once (coalesced) after any event of a watched file.
pub struct FileWatch {
    /// Dropping the watcher ends the watch.
    _watcher: RecommendedWatcher,
    changed: mpsc::Receiver<()>,
    files: HashSet<PathBuf>,
}

impl std::fmt::Debug for FileWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileWatch")
            .field("files", &self.files)
            .finish_non_exhaustive()
    }
}

/// `path` made absolute against the working folder, as events name it.
fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// Whether an event of this kind can mean new content: reads (the historian's own among
/// them) and metadata-only events cannot.
fn may_change_content(kind: &EventKind) -> bool {
    match kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) => false,
        EventKind::Modify(notify::event::ModifyKind::Metadata(_)) => false,
        _ => true,
    }
}

impl FileWatch {
    /// Watches `files` (through their folders).
    pub fn new<'a>(files: impl IntoIterator<Item = &'a Path>) -> notify::Result<FileWatch> {
        let files: HashSet<PathBuf> = files.into_iter().map(absolute).collect();
        let (tx, changed) = mpsc::channel(1);
        let wanted = files.clone();
        let mut watcher =
            notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
                let relevant = match &res {
                    Ok(event) => {
                        may_change_content(&event.kind)
                            && event.paths.iter().any(|p| wanted.contains(p))
                    }
                    // A lost event (queue overflow) may have been one of ours: look.
                    Err(_) => true,
                };
                if relevant {
                    // Full means a check is pending already; it will see this change too.
                    let _ = tx.try_send(());
                }
            })?;
        let folders: HashSet<&Path> = files
            .iter()
            .map(|f| f.parent().unwrap_or(Path::new("/")))
            .collect();
        for folder in folders {
            watcher.watch(folder, RecursiveMode::NonRecursive)?;
        }
        Ok(FileWatch {
            _watcher: watcher,
            changed,
            files,
        })
    }

    /// Waits for the next change of a watched file; `None` if the watcher stopped.
    pub async fn changed(&mut self) -> Option<()> {
        self.changed.recv().await
    }

    /// Whether this watch covers exactly `files`.
    pub fn covers<'a>(&self, files: impl IntoIterator<Item = &'a Path>) -> bool {
        let other: HashSet<PathBuf> = files.into_iter().map(absolute).collect();
        other == self.files
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// Generous: notifications arrive in milliseconds, but a loaded machine may be slow.
    const PATIENCE: Duration = Duration::from_secs(20);

    async fn next_change(w: &mut FileWatch) {
        tokio::time::timeout(PATIENCE, w.changed())
            .await
            .expect("a change notification")
            .expect("the watch is alive");
    }

    #[tokio::test]
    async fn writes_and_saves_by_rename_of_watched_files_are_seen() {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = dir.path().join("historian.toml");
        let map = dir.path().join("maps").join("meter.csv");
        std::fs::create_dir(dir.path().join("maps")).expect("maps folder");
        std::fs::write(&config, "a").expect("config");
        std::fs::write(&map, "a").expect("map");
        let mut w = FileWatch::new([config.as_path(), map.as_path()]).expect("watch");
        assert!(w.covers([map.as_path(), config.as_path()]));
        assert!(!w.covers([config.as_path()]));

        std::fs::write(&config, "b").expect("edit");
        next_change(&mut w).await;

        // An editor's save: a new file renamed over the map.
        let tmp = dir.path().join("maps").join(".meter.csv.swp");
        std::fs::write(&tmp, "c").expect("temp copy");
        while w.changed.try_recv().is_ok() {}
        std::fs::rename(&tmp, &map).expect("rename over");
        next_change(&mut w).await;
    }
}
