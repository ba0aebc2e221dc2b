//! Wiring: open the store, build the registry, start the batcher, the pollers and the API,
//! and take them down in the order that loses nothing.

use crate::api::server::{self, TlsFileError};
use crate::api::{AppState, app};
use crate::cluster::Cluster;
use crate::config::{Config, exposure_problem};
use crate::ingest::mqtt::MqttSetupError;
use crate::ingest::redis::{RedisLatest, RedisSetupError};
use crate::ingest::{IngestParts, PollSink, run_ingest};
use crate::latest::LatestCache;
use crate::registry::Registry;
use crate::spool::{Spool, SpoolError};
use crate::stats::{Losses, Stats};
use crate::supervisor::{DeviceSource, Supervisor, configs_from_records};
use crate::telemetry::events::{Event, SpoolDamageSetAside};
use historian_model::DeviceSpec;
use historian_store::postgres::NodeInfo;
use historian_store::{StorageUrl, Store, StoreError};
use std::net::SocketAddr;
use std::sync::Arc;
use thiserror::Error;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Why the historian could not start.
#[derive(Debug, Error)]
pub enum StartError {
    /// The store could not be opened or prepared.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The API would be reachable from the network without a token.
    #[error("refusing to start: {0}")]
    Exposed(String),
    /// The spool folder could not be opened or scanned.
    #[error("cannot open the spool: {0}")]
    Spool(#[from] SpoolError),
    /// The Redis URL could not be used.
    #[error(transparent)]
    Redis(#[from] RedisSetupError),
    /// The MQTT link could not be set up.
    #[error(transparent)]
    Mqtt(#[from] MqttSetupError),
    /// The API's certificate or key cannot be used.
    #[error("cannot serve HTTPS: {0}")]
    Tls(#[from] TlsFileError),
    /// The TLS settings were refused by the TLS library.
    #[error("cannot serve HTTPS: {0}")]
    TlsSetup(#[from] rustls::Error),
    /// The API address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
}

/// A running historian.
#[derive(Debug)]
pub struct Historian {
    /// Where the API listens.
    pub api_addr: SocketAddr,
    /// `https://` and the address when the API serves TLS, else `http://`.
    pub api_url: String,
    /// Counters.
    pub stats: Arc<Stats>,
    /// Devices and their status.
    pub registry: Arc<Registry>,
    /// The store in use.
    pub store: Arc<dyn Store>,
    stop_polling: CancellationToken,
    stop_api: CancellationToken,
    pollers: JoinHandle<()>,
    maintenance: JoinHandle<()>,
    warming: JoinHandle<()>,
    batcher: JoinHandle<()>,
    redis: Option<JoinHandle<()>>,
    mqtt: Option<JoinHandle<()>>,
    api: JoinHandle<()>,
    /// In cluster mode: this node and its heartbeat task.
    cluster: Option<(Arc<Cluster>, JoinHandle<()>)>,
}

/// Exit code of a run that lost readings (see [`Losses`]); 1 stays "could not run".
pub const EXIT_LOST: u8 = 3;

/// Totals reported at shutdown.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    /// Readings polled since start.
    pub polled: u64,
    /// Readings written (new rows).
    pub stored: u64,
    /// Readings that will never reach the store: the sum of `losses`.
    pub lost: u64,
    /// `lost` by cause.
    pub losses: Losses,
}

/// Readings were lost during the run (dropped, set aside or not stored at shutdown).
#[derive(Debug, Error)]
#[error("{} readings lost: {}", .0.total(), .0)]
pub struct LostReadings(pub Losses);

impl Summary {
    /// The closing line: `stopped: N readings polled, N stored, N lost`, followed by the
    /// causes when anything was lost.
    pub fn closing_line(&self) -> String {
        let mut line = format!(
            "stopped: {} readings polled, {} stored, {} lost",
            self.polled, self.stored, self.lost
        );
        if self.lost > 0 {
            line.push_str(&format!(" ({})", self.losses));
        }
        line
    }

    /// Prints the closing line and fails when any reading was lost.
    pub fn report(&self) -> Result<(), LostReadings> {
        println!("{}", self.closing_line());
        if self.lost > 0 {
            return Err(LostReadings(self.losses));
        }
        Ok(())
    }
}

impl Historian {
    /// Starts everything `config` describes.
    pub async fn start(config: &Config) -> Result<Historian, StartError> {
        if let Some(why) = exposure_problem(config.api_bind, config.api.token.as_deref()) {
            return Err(StartError::Exposed(why));
        }
        // First, so that a certificate that cannot be used stops the start before anything
        // is opened.
        let tls = match &config.api.tls {
            Some(files) => {
                let cert = server::tls::ReloadingCert::new(files.clone())?;
                let tls = server::tls::server_config(cert)?;
                Some(tokio_rustls::TlsAcceptor::from(Arc::new(tls)))
            }
            None => None,
        };
        // Before any poller exists: pollers make their metric handles once, and a handle
        // made before the recorder is installed records nothing, ever.
        if let Err(e) = crate::telemetry::handle() {
            tracing::warn!(error = e, "metrics are off");
        }
        // Before the spool opens, so that the damage it sets aside is counted.
        let stats = Arc::new(Stats::default());
        let spool_cfg = config.spool.clone();
        let (spool, found) = tokio::task::spawn_blocking(move || Spool::open(spool_cfg))
            .await
            .map_err(|e| SpoolError::Io {
                path: config.spool.dir.clone(),
                source: std::io::Error::other(e.to_string()),
            })??;
        for aside in &found.set_aside {
            SpoolDamageSetAside(aside).emit(&stats);
        }
        if found.batches > 0 || !found.set_aside.is_empty() {
            tracing::warn!(
                dir = %config.spool.dir.display(),
                batches = found.batches,
                readings = found.readings,
                torn_bytes = found.torn_bytes,
                repaired = found.repaired,
                set_aside = found.set_aside.len(),
                "spool holds readings from an earlier run; replaying them"
            );
        }
        if let Some(note) = config.relative_paths_note() {
            tracing::info!("{note}");
        }
        let store = historian_store::open(&config.storage, &config.storage_options).await?;
        tracing::info!(backend = store.backend(), url = %config.storage, "store ready");
        let (records, devices, source) = if config.devices.is_empty() {
            // No devices in the file: the database is the source (production set-ups
            // manage devices there).
            let records = store.list_devices().await?;
            let devices = configs_from_records(&records, config.default_timeout);
            tracing::info!(devices = devices.len(), "devices loaded from the store");
            for d in devices.iter().filter(|d| d.spec.registers.is_empty()) {
                tracing::warn!(
                    device = d.spec.name,
                    "device has no registers: nothing to poll (import a map with `devices import`)"
                );
            }
            let source = DeviceSource::Store {
                timeout: config.default_timeout,
            };
            (records, devices, source)
        } else {
            let mut devices = config.devices.clone();
            let adopted = crate::stored_maps::needs_stored_maps(&devices);
            if adopted {
                crate::stored_maps::adopt_stored_maps(&mut devices, &store.list_devices().await?);
            }
            let specs: Vec<DeviceSpec> = devices.iter().map(|d| d.spec.clone()).collect();
            let source = match &config.file {
                Some(path) => DeviceSource::File(path.clone()),
                None => DeviceSource::Fixed,
            };
            // Recorded when the file's devices differ from those stored (the file was
            // edited while the historian was stopped, or this is the first start).
            let sync = crate::audit::config_sync(crate::audit::action::CONFIG_LOAD, &config.source);
            let audit: historian_store::DeviceAudit = Box::new(move |before, after| {
                if !adopted {
                    crate::stored_maps::warn_replaced_maps(before, after);
                }
                sync(before, after)
            });
            let written = store.write_devices_audited(&specs, true, audit).await?;
            if let Some(e) = &written.entry {
                crate::audit::log(e);
            }
            (written.value, devices, source)
        };
        let registry = Arc::new(Registry::build(&devices, &records));
        let latest = Arc::new(LatestCache::default());
        tracing::info!(devices = registry.devices().len(), "registry loaded");

        let listener = server::listen(config.api_bind).map_err(|source| StartError::Bind {
            addr: config.api_bind,
            source,
        })?;
        let api_addr = listener.local_addr().map_err(|source| StartError::Bind {
            addr: config.api_bind,
            source,
        })?;
        let stop_api = CancellationToken::new();
        let cluster = match (&config.cluster, &config.storage) {
            (Some(cfg), StorageUrl::Postgres(url)) => {
                let node = NodeInfo {
                    name: cfg
                        .node
                        .clone()
                        .unwrap_or_else(|| default_node_name(api_addr)),
                    api_address: api_addr.to_string(),
                    version: env!("CARGO_PKG_VERSION").to_string(),
                };
                tracing::info!(node = %node.name, lease_ttl = ?cfg.lease_ttl, heartbeat = ?cfg.heartbeat, "cluster mode: polling the devices whose lease this node holds");
                Some(Cluster::new(cfg.clone(), node, url)?)
            }
            _ => None,
        };
        let devices_managed_by = match &source {
            DeviceSource::Store { .. } => None,
            DeviceSource::File(path) => Some(format!("the config file {}", path.display())),
            DeviceSource::Fixed => Some(format!(
                "this run's built-in configuration ({})",
                config.source
            )),
        };
        // Before the API state, which shows the link; polls reach it once the batcher runs.
        let mqtt = match &config.mqtt {
            Some(cfg) => {
                let (sink, task, info) =
                    crate::ingest::mqtt::start(cfg, Arc::clone(&registry), Arc::clone(&stats))?;
                tracing::info!(broker = %info.broker, format = info.format, client_id = %cfg.client_id, "publishing readings to mqtt");
                Some((sink, task, info))
            }
            None => None,
        };
        let state = AppState {
            shutdown: stop_api.clone(),
            mqtt: mqtt.as_ref().map(|(_, _, info)| info.clone()),
            settings: Arc::new(config.api.clone()),
            api_addr: Some(api_addr),
            default_interval: config.default_interval,
            devices_managed_by,
            cluster: cluster.clone(),
            ..AppState::new(
                Arc::clone(&registry),
                Arc::clone(&store),
                Arc::clone(&latest),
                Arc::clone(&stats),
            )
        };
        let api_url = format!(
            "{}://{api_addr}",
            if tls.is_some() { "https" } else { "http" }
        );
        let api_token = stop_api.clone();
        let settings = Arc::clone(&state.settings);
        let api = tokio::spawn(async move {
            server::serve(listener, app(state), &settings, tls, api_token).await;
        });

        let (tx, rx) = mpsc::channel(config.ingest.channel_capacity);
        let warm_cache = Arc::clone(&latest);
        let mut sinks: Vec<Arc<dyn PollSink>> = vec![latest];
        let redis_task = match &config.redis {
            Some(cfg) => {
                let (r, task) = RedisLatest::spawn(cfg.clone(), Arc::clone(&stats))?;
                tracing::info!(url = %historian_store::masked_url(&cfg.url), prefix = %cfg.key_prefix, "writing latest values through to redis");
                sinks.push(Arc::new(r));
                Some(task)
            }
            None => None,
        };
        let mqtt_task = mqtt.map(|(sink, task, _)| {
            sinks.push(Arc::new(sink));
            task
        });
        let stop_polling = CancellationToken::new();
        let batcher = tokio::spawn(run_ingest(
            rx,
            IngestParts {
                store: Arc::clone(&store),
                sinks,
                cfg: config.ingest,
                spool,
                stats: Arc::clone(&stats),
                closing: stop_polling.clone(),
            },
        ));
        let supervisor = Supervisor::start(
            Arc::clone(&registry),
            Arc::clone(&store),
            tx, // the batcher ends when the supervisor and its pollers drop their senders
            Arc::clone(&stats),
            cluster.clone(),
        );
        let cluster = cluster.map(|c| {
            let keeper = tokio::spawn(crate::cluster::run(Arc::clone(&c), Arc::clone(&registry)));
            (c, keeper)
        });
        tracing::info!(pollers = supervisor.len(), api = %api_url, ?source, "historian running");
        let pollers = tokio::spawn(supervisor.run(source, stop_polling.clone()));
        let maintenance = tokio::spawn(maintain(Arc::clone(&store), stop_polling.clone()));
        let warming = tokio::spawn(warm_latest(
            Arc::clone(&registry),
            Arc::clone(&store),
            Arc::clone(&warm_cache),
            stop_polling.clone(),
        ));
        Ok(Historian {
            api_addr,
            api_url,
            stats,
            registry,
            store,
            stop_polling,
            stop_api,
            pollers,
            maintenance,
            warming,
            batcher,
            redis: redis_task,
            mqtt: mqtt_task,
            api,
            cluster,
        })
    }

    /// Stops polling, writes every reading already polled, then stops the API.
    pub async fn shutdown(mut self) -> Summary {
        if let Some((cluster, mut keeper)) = self.cluster.take() {
            // Hands the devices over at their poll boundaries before the pollers stop, so
            // that the other nodes miss no slot.
            cluster.start_leaving();
            let bound = cluster.config.lease_ttl + cluster.config.handover_lead() * 2;
            if tokio::time::timeout(bound, &mut keeper).await.is_err() {
                tracing::warn!(
                    "cluster: handover not finished within {bound:?}; the leases expire by themselves"
                );
                keeper.abort();
            }
        }
        self.stop_polling.cancel();
        if let Err(e) = (&mut self.pollers).await {
            tracing::error!(error = %e, "poller supervisor failed");
        }
        if let Err(e) = (&mut self.maintenance).await {
            tracing::error!(error = %e, "maintenance task failed");
        }
        if let Err(e) = (&mut self.warming).await {
            tracing::error!(error = %e, "latest-value warm-up failed");
        }
        if let Err(e) = (&mut self.batcher).await {
            tracing::error!(error = %e, "batcher task failed");
        }
        if let Some(mut task) = self.redis.take() {
            // Its queue is short and each write times out quickly; abort if it still lags.
            if tokio::time::timeout(std::time::Duration::from_secs(2), &mut task)
                .await
                .is_err()
            {
                task.abort();
            }
        }
        if let Some(mut task) = self.mqtt.take() {
            // Ingest has ended, which closed the link's queue: it publishes what is queued
            // and says goodbye, unless the broker is too slow for the shutdown.
            if tokio::time::timeout(MQTT_SHUTDOWN, &mut task)
                .await
                .is_err()
            {
                tracing::warn!(
                    "mqtt: queued readings not published within {MQTT_SHUTDOWN:?} of shutdown; dropped"
                );
                task.abort();
            }
        }
        self.stop_api.cancel();
        if let Err(e) = (&mut self.api).await {
            tracing::error!(error = %e, "API task failed");
        }
        let losses = self.stats.losses();
        Summary {
            polled: Stats::get(&self.stats.readings_polled),
            stored: Stats::get(&self.stats.readings_stored),
            lost: losses.total(),
            losses,
        }
    }
}

/// The node name when `cluster.node` is not set: the host name and the API's port.
fn default_node_name(api: SocketAddr) -> String {
    let host = nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_else(|| "historian".into());
    format!("{host}:{}", api.port())
}

/// At shutdown, how long the MQTT link may take to publish what is queued and disconnect.
const MQTT_SHUTDOWN: std::time::Duration = std::time::Duration::from_secs(10);

/// How often the store's upkeep runs (partitions ahead, retention).
const MAINTENANCE_EVERY: std::time::Duration = std::time::Duration::from_secs(3600);

/// Runs the store's upkeep at once and then every [`MAINTENANCE_EVERY`], beside polling:
/// on a large fleet a run takes a while (SQLite compacts each register's closed hours), and
/// polling waits for none of it. A run stops where it is when the historian stops; each
/// of its steps is a transaction of its own.
async fn maintain(store: Arc<dyn Store>, stop: CancellationToken) {
    let mut first = true;
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            result = store.run_maintenance(chrono::Utc::now()) => match result {
                Ok(report) => tracing::info!(?report, "store maintenance done"),
                Err(e) => tracing::warn!(error = %e, "store maintenance failed; retrying in an hour"),
            },
        }
        if std::mem::take(&mut first) {
            check_disk(store.as_ref()).await;
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(MAINTENANCE_EVERY) => {}
        }
    }
}

/// At start-up (after the first maintenance has measured the compacted history): warns
/// when the configured fleet and retention will need more disk than the data folder has.
async fn check_disk(store: &dyn Store) {
    let projection = match store.storage_figures().await {
        Ok(f) => f.projection,
        Err(e) => {
            tracing::debug!(error = %e, "no storage figures for the disk projection");
            None
        }
    };
    let Some(p) = projection else { return };
    let fields = (
        p.readings_per_second,
        p.retention_secs / 86_400,
        p.bytes_per_reading,
        p.projected_bytes,
        p.free_bytes,
    );
    if p.exceeds_free_space() {
        tracing::warn!(
            readings_per_second = fields.0, retention_days = fields.1,
            bytes_per_reading = fields.2, projected_bytes = fields.3, free_bytes = ?fields.4,
            "the configured fleet and retention will need more disk than the data folder has free"
        );
    } else {
        tracing::info!(
            readings_per_second = fields.0, retention_days = fields.1,
            bytes_per_reading = fields.2, projected_bytes = fields.3, free_bytes = ?fields.4,
            "disk projection for the configured fleet and retention"
        );
    }
}

/// Loads the stored latest value of every device's registers into `cache`, beside polling:
/// a large fleet's load (one query per device) takes seconds, and polling need not wait
/// for values it replaces at its first poll anyway. Until it is done, the API's latest values
/// of a device not yet polled may be missing.
async fn warm_latest(
    registry: Arc<Registry>,
    store: Arc<dyn Store>,
    cache: Arc<LatestCache>,
    stop: CancellationToken,
) {
    let ids: Vec<i64> = registry.devices().iter().map(|d| d.id).collect();
    tokio::select! {
        () = stop.cancelled() => {}
        result = cache.warm(&*store, &ids) => match result {
            Ok(n) => tracing::info!(devices = ids.len(), latest_values = n, "latest values loaded"),
            Err(e) => tracing::warn!(error = %e, "could not load the stored latest values; the API shows values as they are polled"),
        },
    }
}

/// Resolves when the process gets Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::warn!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
