//! The labelled metrics (per device, per route): each name with its help, written once.

/// Declares labelled metrics: `/// help` then `NAME: KIND "metric_name"`, KIND one of
/// counter, gauge, seconds (a histogram of durations), histogram, age (a gauge in seconds).
macro_rules! catalog {
    ($( #[doc = $doc:literal] $const:ident: $kind:ident $name:literal ),* $(,)?) => {
        $( #[doc = $doc] pub const $const: &str = $name; )*

        /// Describes every labelled metric to the recorder.
        pub(super) fn describe_labelled() {
            $( describe_metric!($kind, $name, $doc.trim()); )*
        }
    };
}

/// Describes one metric to the recorder by its KIND (counter, gauge, bytes, age,
/// histogram, seconds); the totals in [`crate::stats`] use it too.
macro_rules! describe_metric {
    (counter, $name:literal, $help:expr) => {
        metrics::describe_counter!($name, $help)
    };
    (gauge, $name:literal, $help:expr) => {
        metrics::describe_gauge!($name, $help)
    };
    (age, $name:literal, $help:expr) => {
        metrics::describe_gauge!($name, metrics::Unit::Seconds, $help)
    };
    (histogram, $name:literal, $help:expr) => {
        metrics::describe_histogram!($name, $help)
    };
    (seconds, $name:literal, $help:expr) => {
        metrics::describe_histogram!($name, metrics::Unit::Seconds, $help)
    };
    (bytes, $name:literal, $help:expr) => {
        metrics::describe_gauge!($name, metrics::Unit::Bytes, $help)
    };
}

pub(crate) use describe_metric;

catalog! {
    /// Polls per device and result (ok: every request answered; failed: at least one did not).
    POLLS: counter "historian_polls_total",
    /// Duration of one poll per device.
    POLL_SECONDS: seconds "historian_poll_duration_seconds",
    /// Grid slots that passed while the device's poller was still busy with an earlier poll, per device.
    POLLS_MISSED: counter "historian_polls_missed_total",
    /// Readings polled, per device and quality.
    READINGS_POLLED: counter "historian_readings_polled_total",
    /// Duration of one live batch write to the store.
    BATCH_WRITE_SECONDS: seconds "historian_batch_write_seconds",
    /// Readings per batch written live.
    BATCH_ROWS: histogram "historian_batch_rows",
    /// Age of the oldest spooled reading (0 when the spool is empty).
    SPOOL_OLDEST_AGE: age "historian_spool_oldest_age_seconds",
    /// Devices polled.
    DEVICES: gauge "historian_devices",
    /// Tasks alive in the async runtime (pollers, sinks, connections); a climb is a leak.
    TASKS: gauge "historian_tasks",
    /// 1 when the device's last poll reached it, else 0.
    DEVICE_UP: gauge "historian_device_up",
    /// API request latency per method, route and status.
    HTTP_SECONDS: seconds "historian_http_request_duration_seconds",
    /// Bytes on disk of the whole database.
    STORE_BYTES: bytes "historian_store_database_bytes",
    /// Bytes of the readings table and its indexes.
    STORE_READINGS_BYTES: bytes "historian_store_readings_bytes",
    /// Chunks (TimescaleDB) or partitions (PostgreSQL) of the readings table.
    STORE_CHUNKS: gauge "historian_store_chunks",
    /// Compressed chunks (TimescaleDB).
    STORE_COMPRESSED_CHUNKS: gauge "historian_store_compressed_chunks",
    /// Bytes before / after compression of the compressed chunks.
    STORE_COMPRESSION_RATIO: gauge "historian_store_compression_ratio",
    /// 1 when the last scrape could read the store figures, else 0.
    STORE_UP: gauge "historian_store_figures_ok",
    /// Replay lag of the read replica at its last check (NaN while it does not answer).
    STORE_REPLICA_LAG: age "historian_store_replica_lag_seconds",
    /// 1 while history and aggregate reads go to the read replica, 0 while on the primary.
    STORE_REPLICA_READS: gauge "historian_store_replica_reads",
    /// Cluster nodes alive and not leaving, at this node's last heartbeat.
    CLUSTER_NODES_ALIVE: gauge "historian_cluster_nodes_alive",
    /// Device leases this node holds.
    CLUSTER_LEASES_HELD: gauge "historian_cluster_leases_held",
    /// Enabled devices without a valid lease owner (0 in steady state).
    CLUSTER_DEVICES_UNOWNED: gauge "historian_cluster_devices_without_owner",
    /// Planned handovers of a device, by direction (in: to this node, out: from it).
    CLUSTER_HANDOVERS: counter "historian_cluster_handovers_total",
    /// Devices this node took over because their owner stopped renewing.
    CLUSTER_FAILOVERS: counter "historian_cluster_failovers_total",
    /// Duration of one heartbeat (renew, offer, claim).
    CLUSTER_RENEW_SECONDS: seconds "historian_cluster_lease_renewal_seconds",
    /// Heartbeats that failed (database unreachable, session killed, no answer in time).
    CLUSTER_RENEW_FAILURES: counter "historian_cluster_lease_renewal_failures_total",
    /// Devices this node stopped polling because it could not renew their leases in time.
    CLUSTER_LEASES_LOST: counter "historian_cluster_leases_lost_total",
}
