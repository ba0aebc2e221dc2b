//! Keeps one poller running per enabled device and applies device changes while running:
//! an edit of the config file (when the file lists the devices), or a change of the
//! device tables in the database, by the API, `devices import` or another process (when the
//! database is the source). Changed devices get a new poller within one reload check;
//! unchanged ones keep theirs, with their grid and status. A replaced poller finishes the
//! poll it is in and hands its readings on, so nothing in flight is lost.
//!
//! An edited file is read until it holds still before it is judged, longer when it looks
//! like a save caught half-way (empty, not TOML); and a file that lists no devices at all
//! stops the running ones only when it says so with `devices = []`.

use crate::cluster::Cluster;
use crate::config::{Config, DeviceConfig};
use crate::file_watch::FileWatch;
use crate::poller::poll_loop;
use crate::registry::{DeviceRuntime, Registry};
use crate::stats::Stats;
use historian_modbus::gateway::LinkPool;
use historian_model::Reading;
use historian_store::{DeviceRecord, Store, StoreError};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::{JoinHandle, JoinSet};
use tokio_util::sync::CancellationToken;

/// How often the config file (and the map files it names) is checked for edits where the
/// system gives no change notifications.
pub const FILE_CHECK_EVERY: Duration = Duration::from_millis(500);
/// How often a changed config file is read again until it holds still.
const SETTLE_STEP: Duration = Duration::from_millis(100);
/// A changed file is judged once it has read the same for this long...
const SETTLE_QUIET: Duration = Duration::from_millis(300);
/// ...or for this long when it looks cut short (unreadable, not TOML, no `devices`): an
/// editor saving in place or a `>` redirect leaves such a file for a moment.
pub const SETTLE_SUSPECT: Duration = Duration::from_millis(1500);

/// Where the device list comes from, and so what is watched for changes.
#[derive(Debug, Clone)]
pub enum DeviceSource {
    /// The devices of a config file; edits of the file are applied.
    File(PathBuf),
    /// The devices listed in the config, fixed for the run (built-in configs: demo, tests).
    Fixed,
    /// The devices stored in the database; catalogue changes are applied.
    Store {
        /// Request time-out for devices in the database that have none of their own.
        timeout: Duration,
    },
}

/// Devices stored in the database, as the pollers need them.
pub fn configs_from_records(records: &[DeviceRecord], timeout: Duration) -> Vec<DeviceConfig> {
    records
        .iter()
        .filter(|r| r.spec.enabled)
        .map(|r| DeviceConfig::new(r.spec.clone(), timeout))
        .collect()
}

struct Running {
    runtime: Arc<DeviceRuntime>,
    cancel: CancellationToken,
    task: JoinHandle<()>,
}

/// The pollers, and the reload loop that keeps them in line with the registry.
pub struct Supervisor {
    registry: Arc<Registry>,
    store: Arc<dyn Store>,
    tx: mpsc::Sender<Vec<Reading>>,
    stats: Arc<Stats>,
    running: HashMap<i64, Running>,
    /// One link per endpoint for the life of the process: units behind one gateway share
    /// it across reloads too.
    links: LinkPool,
    /// Pollers told to stop, still finishing their last poll.
    retiring: JoinSet<()>,
    /// In cluster mode: which devices this node may poll now.
    cluster: Option<Arc<Cluster>>,
}

impl std::fmt::Debug for Supervisor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Supervisor")
            .field("running", &self.running.len())
            .finish_non_exhaustive()
    }
}

impl Supervisor {
    /// Starts a poller for every enabled device of `registry`.
    pub fn start(
        registry: Arc<Registry>,
        store: Arc<dyn Store>,
        tx: mpsc::Sender<Vec<Reading>>,
        stats: Arc<Stats>,
        cluster: Option<Arc<Cluster>>,
    ) -> Self {
        let mut s = Supervisor {
            registry,
            store,
            tx,
            stats,
            running: HashMap::new(),
            links: LinkPool::default(),
            retiring: JoinSet::new(),
            cluster,
        };
        s.apply();
        s
    }

    /// Pollers running now.
    pub fn len(&self) -> usize {
        self.running.len()
    }

    /// True when no poller runs.
    pub fn is_empty(&self) -> bool {
        self.running.is_empty()
    }

    /// Brings the running pollers in line with the registry.
    fn apply(&mut self) -> (usize, usize) {
        let wanted: HashMap<i64, Arc<DeviceRuntime>> = self
            .registry
            .devices()
            .into_iter()
            .filter(|d| d.config.spec.enabled && !d.config.spec.registers.is_empty())
            .filter(|d| self.cluster.as_ref().is_none_or(|c| c.wants_poller(d.id)))
            .map(|d| (d.id, d))
            .collect();
        let mut stopped = 0;
        let ids: Vec<i64> = self.running.keys().copied().collect();
        for id in ids {
            let same = wanted.get(&id).is_some_and(|w| {
                self.running
                    .get(&id)
                    .is_some_and(|r| Arc::ptr_eq(&r.runtime, w) && !r.task.is_finished())
            });
            if !same && let Some(r) = self.running.remove(&id) {
                r.cancel.cancel();
                self.retiring.spawn(async move {
                    let _ = r.task.await;
                });
                stopped += 1;
            }
        }
        let mut started = 0;
        for (id, dev) in wanted {
            if self.running.contains_key(&id) {
                continue;
            }
            let cancel = CancellationToken::new();
            let link = self.links.unit(
                dev.config.transport(),
                dev.config.spec.unit_id,
                dev.config.timeout,
            );
            let task = tokio::spawn(poll_loop(
                Arc::clone(&dev),
                link,
                self.tx.clone(),
                Arc::clone(&self.stats),
                cancel.clone(),
                self.cluster.as_ref().and_then(|c| c.gate(id)),
            ));
            self.running.insert(
                id,
                Running {
                    runtime: dev,
                    cancel,
                    task,
                },
            );
            started += 1;
        }
        // Links of stopped pollers close once those pollers have finished; a later reload
        // prunes the ones still held by a poller finishing its last poll now.
        self.links.prune();
        (started, stopped)
    }

    /// Runs until `stop`, applying changes from `source`; then stops every poller and waits
    /// for each to hand over its last poll.
    pub async fn run(mut self, source: DeviceSource, stop: CancellationToken) {
        let mut watch = match &source {
            DeviceSource::Store { .. } => match self.store.watch_devices().await {
                Ok(rx) => Some(rx),
                Err(e) => {
                    tracing::error!(error = %e, "cannot watch the device tables; device changes need a restart");
                    None
                }
            },
            _ => None,
        };
        let slot_watch = tokio::spawn(crate::slot_watch::watch(
            Arc::clone(&self.registry),
            Arc::clone(&self.stats),
            stop.clone(),
        ));
        // The version of the file last judged, and the one whose devices run.
        let (mut file_seen, mut file_watch) = match &source {
            DeviceSource::File(path) => {
                let version = FileVersion::read(path);
                (version.hash, watch_files(path, &version.maps))
            }
            _ => (0, None),
        };
        let mut file_applied = file_seen;
        let leases = self.cluster.as_ref().map(|c| c.changes());
        let mut tick = tokio::time::interval(FILE_CHECK_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let mut check_file = false;
            tokio::select! {
                () = stop.cancelled() => break,
                Some(()) = async {
                    match watch.as_mut() {
                        Some(w) => w.recv().await,
                        None => std::future::pending().await,
                    }
                } => {
                    if let DeviceSource::Store { timeout } = &source
                        && let Err(e) = self.reload_from_store(*timeout).await
                    {
                        tracing::error!(error = %e, "device reload from the database failed; keeping the running devices");
                    }
                }
                Some(()) = async {
                    match file_watch.as_mut() {
                        Some(w) => w.changed().await,
                        None => std::future::pending().await,
                    }
                } => check_file = true,
                // Without change notifications (none on this system), the file is polled.
                _ = tick.tick(), if matches!(source, DeviceSource::File(_)) && file_watch.is_none() => {
                    check_file = true;
                }
                () = async {
                    match &leases {
                        Some(n) => n.notified().await,
                        None => std::future::pending().await,
                    }
                } => {
                    let (started, stopped) = self.apply();
                    if started + stopped > 0 {
                        tracing::info!(started, stopped, running = self.running.len(), "cluster: pollers follow the leases held");
                    }
                }
                Some(res) = self.retiring.join_next(), if !self.retiring.is_empty() => {
                    // Its link closes now, before another node's first slot on the device.
                    self.links.prune();
                    if let Err(e) = res {
                        tracing::error!(error = %e, "a stopped poller failed");
                    }
                }
            }
            if let (true, DeviceSource::File(path)) = (check_file, &source)
                && FileVersion::read(path).hash != file_seen
            {
                let Some(version) = settle(path, &stop).await else {
                    break;
                };
                file_seen = version.hash;
                if version.hash == file_applied {
                    tracing::info!(
                        file = %path.display(),
                        "config file is back to the version running; nothing to change"
                    );
                } else if self.reload_from_file(path, &version).await {
                    file_applied = version.hash;
                }
                // The file may name other map files now.
                let files = watched(path, &version.maps);
                if file_watch
                    .as_ref()
                    .is_some_and(|w| !w.covers(files.iter().map(PathBuf::as_path)))
                {
                    file_watch = watch_files(path, &version.maps);
                }
            }
        }
        for (_, r) in self.running.drain() {
            r.cancel.cancel();
            self.retiring.spawn(async move {
                let _ = r.task.await;
            });
        }
        while let Some(res) = self.retiring.join_next().await {
            if let Err(e) = res {
                tracing::error!(error = %e, "poller task failed");
            }
        }
        if let Err(e) = slot_watch.await {
            tracing::error!(error = %e, "missed-slot watcher failed");
        }
    }

    async fn reload_from_store(&mut self, timeout: Duration) -> Result<(), StoreError> {
        let records = self.store.list_devices().await?;
        let configs = configs_from_records(&records, timeout);
        self.registry.replace(&configs, &records);
        let (started, stopped) = self.apply();
        if started + stopped > 0 {
            tracing::info!(
                started,
                stopped,
                running = self.running.len(),
                "devices changed in the database; pollers updated"
            );
        }
        Ok(())
    }

    /// Applies a settled version of the config file; true when its devices now run.
    async fn reload_from_file(&mut self, path: &Path, version: &FileVersion) -> bool {
        let text = match (&version.text, &version.listed) {
            (Some(text), _) => text,
            (None, Listed::Unreadable(reason)) => {
                tracing::error!(file = %path.display(), "config edit not applied, the running devices stay as they are: cannot read the file: {reason}");
                return false;
            }
            (None, _) => return false,
        };
        let config = match Config::load_text(path, text) {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(file = %path.display(), "config edit not applied, the running devices stay as they are:\n{e}");
                return false;
            }
        };
        // Stopping the whole fleet takes words: a file that lists nothing is far more
        // often a save caught half-way (or a slip) than a wish to stop every device.
        if config.devices.is_empty()
            && version.listed != Listed::NoneOnPurpose
            && !self.running.is_empty()
        {
            let running = self.running.len();
            tracing::warn!(
                file = %path.display(),
                running,
                "config file {} now lists no devices; keeping the {running} running; write `devices = []` in it to stop them all",
                path.display()
            );
            return false;
        }
        let mut devices = config.devices.clone();
        match self.store.list_devices().await {
            Ok(stored) => crate::stored_maps::adopt_stored_maps(&mut devices, &stored),
            Err(e) => {
                tracing::error!(error = %e, "config edit not applied: the stored devices could not be read");
                return false;
            }
        }
        let specs: Vec<_> = devices.iter().map(|d| d.spec.clone()).collect();
        let audit = crate::audit::config_sync(
            crate::audit::action::CONFIG_RELOAD,
            &path.display().to_string(),
        );
        let records = match self.store.write_devices_audited(&specs, true, audit).await {
            Ok(written) => {
                if let Some(e) = &written.entry {
                    crate::audit::log(e);
                }
                written.value
            }
            Err(e) => {
                tracing::error!(error = %e, "config edit not applied: the devices could not be stored");
                return false;
            }
        };
        self.registry.replace(&devices, &records);
        let (started, stopped) = self.apply();
        tracing::info!(
            file = %path.display(),
            started,
            stopped,
            running = self.running.len(),
            "config file changed; devices reloaded (storage, API and ingest settings need a restart)"
        );
        true
    }
}

/// The config file and the map files it names.
fn watched(path: &Path, maps: &[PathBuf]) -> Vec<PathBuf> {
    std::iter::once(path.to_path_buf())
        .chain(maps.iter().cloned())
        .collect()
}

/// A change watch on the config file and its map files; `None` (the file is then polled
/// every [`FILE_CHECK_EVERY`]) when the system offers none.
fn watch_files(path: &Path, maps: &[PathBuf]) -> Option<FileWatch> {
    let files = watched(path, maps);
    match FileWatch::new(files.iter().map(PathBuf::as_path)) {
        Ok(w) => Some(w),
        Err(e) => {
            tracing::warn!(
                file = %path.display(),
                error = %e,
                "cannot watch the config file for changes; reading it every {FILE_CHECK_EVERY:?} instead"
            );
            None
        }
    }
}

/// What a version of the config file says about devices.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Listed {
    /// The file cannot be read (why).
    Unreadable(String),
    /// The file is not TOML, or not yet.
    NotToml,
    /// No `devices` key: an empty file, one cut short, or one that leaves devices out.
    Nothing,
    /// `devices = []`: no devices, on purpose.
    NoneOnPurpose,
    /// `[[devices]]` tables.
    Some,
}

/// One version of the config file as read.
#[derive(Debug)]
struct FileVersion {
    /// Identifies the content of the file and of every register map file it names
    /// (`devices[].register_map`, relative to the file), so that an edit of a map file
    /// reloads too.
    hash: u64,
    /// The file's text; `None` when it cannot be read.
    text: Option<String>,
    /// What it says about devices.
    listed: Listed,
    /// The map files it names, each once, as paths.
    maps: Vec<PathBuf>,
}

impl FileVersion {
    fn read(path: &Path) -> FileVersion {
        use std::hash::{DefaultHasher, Hash, Hasher};
        let mut h = DefaultHasher::new();
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) => {
                let reason = e.to_string();
                reason.hash(&mut h);
                return FileVersion {
                    hash: h.finish(),
                    text: None,
                    listed: Listed::Unreadable(reason),
                    maps: Vec::new(),
                };
            }
        };
        text.hash(&mut h);
        let table = text.parse::<toml::Table>().ok();
        let devices = table.as_ref().and_then(|t| t.get("devices"));
        let listed = match (&table, devices) {
            (None, _) => Listed::NotToml,
            (Some(_), None) => Listed::Nothing,
            (Some(_), Some(d)) if d.as_array().is_some_and(Vec::is_empty) => Listed::NoneOnPurpose,
            (Some(_), Some(_)) => Listed::Some,
        };
        let base = path.parent().unwrap_or(Path::new(""));
        let mut maps = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for d in devices.and_then(|d| d.as_array()).into_iter().flatten() {
            if let Some(file) = d.get("register_map").and_then(|f| f.as_str()) {
                file.hash(&mut h);
                // Thousands of devices often share a few maps: each is read once.
                if seen.insert(file) {
                    let full = base.join(file);
                    // A missing map hashes as empty: the reload then reports it properly.
                    std::fs::read(&full).unwrap_or_default().hash(&mut h);
                    maps.push(full);
                }
            }
        }
        FileVersion {
            hash: h.finish(),
            text: Some(text),
            listed,
            maps,
        }
    }

    /// False for what a save in progress looks like: no file, no TOML, no `devices`.
    fn looks_whole(&self) -> bool {
        matches!(self.listed, Listed::NoneOnPurpose | Listed::Some)
    }
}

/// Reads the changed file at `path` until it holds still: the same content for
/// [`SETTLE_QUIET`], or for [`SETTLE_SUSPECT`] while it looks cut short, so that a save
/// caught half-way is not taken for the new configuration. `None` when `stop` comes first.
async fn settle(path: &Path, stop: &CancellationToken) -> Option<FileVersion> {
    let mut last = FileVersion::read(path);
    let mut since = tokio::time::Instant::now();
    let mut told = false;
    loop {
        let hold = if last.looks_whole() {
            SETTLE_QUIET
        } else {
            if !told {
                told = true;
                tracing::info!(
                    file = %path.display(),
                    "config file looks cut short (unreadable, not TOML or no devices); reading it again for {SETTLE_SUSPECT:?} before judging it"
                );
            }
            SETTLE_SUSPECT
        };
        if since.elapsed() >= hold {
            return Some(last);
        }
        tokio::select! {
            () = stop.cancelled() => return None,
            () = tokio::time::sleep(SETTLE_STEP) => {}
        }
        let now = FileVersion::read(path);
        if now.hash != last.hash {
            last = now;
            since = tokio::time::Instant::now();
        }
    }
}
