//! What every handler reads: the registry, the store, the latest values, the counters and
//! the API's settings.

use crate::config::ApiConfig;
use crate::latest::LatestCache;
use crate::registry::Registry;
use crate::stats::Stats;
use historian_store::Store;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

/// Everything the handlers read.
#[derive(Debug, Clone)]
pub struct AppState {
    /// Devices and their live status.
    pub registry: Arc<Registry>,
    /// History.
    pub store: Arc<dyn Store>,
    /// Latest values.
    pub latest: Arc<LatestCache>,
    /// Counters.
    pub stats: Arc<Stats>,
    /// When the process started.
    pub started: Instant,
    /// Cancelled when the server stops; ends open event streams.
    pub shutdown: CancellationToken,
    /// Tokens, CORS, body limit and time-out.
    pub settings: Arc<ApiConfig>,
    /// The address the API is bound to: a write without a token must name it in `Host`.
    /// `None` (a router not bound to a socket) refuses such writes.
    pub api_addr: Option<SocketAddr>,
    /// Poll interval of a device created without one (`polling.interval`).
    pub default_interval: Duration,
    /// The config file that defines the devices, when one does: device writes through the
    /// API are then refused (the file would undo them). `None`: the database is the source.
    pub devices_managed_by: Option<String>,
    /// One permit per event stream that may be open (`api.max_streams`); [`crate::api::app`]
    /// sizes it from `settings`.
    pub streams: Arc<Semaphore>,
    /// The MQTT broker link, when one is configured (its counters are in `stats`).
    pub mqtt: Option<crate::ingest::mqtt::LinkInfo>,
    /// This node's part in the cluster, in cluster mode.
    pub cluster: Option<Arc<crate::cluster::Cluster>>,
    /// The discoveries started through the API.
    pub discoveries: Arc<crate::api::discover::jobs::DiscoverJobs>,
}

impl AppState {
    /// State over these parts, started now.
    pub fn new(
        registry: Arc<Registry>,
        store: Arc<dyn Store>,
        latest: Arc<LatestCache>,
        stats: Arc<Stats>,
    ) -> Self {
        Self {
            registry,
            store,
            latest,
            stats,
            started: Instant::now(),
            shutdown: CancellationToken::new(),
            settings: Arc::new(ApiConfig::default()),
            api_addr: None,
            default_interval: historian_model::input::DEFAULT_INTERVAL,
            devices_managed_by: None,
            streams: Arc::new(Semaphore::new(crate::config::DEFAULT_MAX_STREAMS)),
            mqtt: None,
            cluster: None,
            discoveries: Arc::default(),
        }
    }
}
