//! Settings that shape the schema and its upkeep: TimescaleDB use, compression, retention.

use std::time::Duration;

const DAY: u64 = 86_400;

/// Whether to use TimescaleDB on PostgreSQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TimescaleMode {
    /// Use it when the server can create the extension; plain PostgreSQL otherwise.
    #[default]
    Auto,
    /// Never use it (plain partitioned tables even where it is available).
    Off,
    /// Refuse to start without it.
    Required,
}

impl TimescaleMode {
    /// The value of the `historian.timescaledb` session setting the migration reads.
    pub const fn as_str(self) -> &'static str {
        match self {
            TimescaleMode::Auto => "auto",
            TimescaleMode::Off => "off",
            TimescaleMode::Required => "required",
        }
    }
}

impl std::str::FromStr for TimescaleMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" => Ok(TimescaleMode::Auto),
            "off" => Ok(TimescaleMode::Off),
            "required" => Ok(TimescaleMode::Required),
            _ => Err(format!(
                "unknown timescaledb mode {s:?} (expected auto, off or required)"
            )),
        }
    }
}

/// How the historian's own PostgreSQL sessions compress the full-page images that the first
/// change of every page after a checkpoint writes to the WAL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WalCompression {
    /// LZ4 where the server was built with it, pglz otherwise; nothing is changed when the
    /// server compresses already or the role may not set it.
    #[default]
    Auto,
    /// The server's own setting, untouched.
    Server,
    /// This method (`lz4`, `zstd` or `pglz`); the store refuses to open when the server
    /// lacks it or the role may not set it.
    Method(&'static str),
}

impl std::str::FromStr for WalCompression {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" => Ok(WalCompression::Auto),
            "server" => Ok(WalCompression::Server),
            "lz4" => Ok(WalCompression::Method("lz4")),
            "zstd" => Ok(WalCompression::Method("zstd")),
            "pglz" => Ok(WalCompression::Method("pglz")),
            _ => Err(format!(
                "unknown wal_compression {s:?} (expected auto, server, lz4, zstd or pglz)"
            )),
        }
    }
}

/// Schema and upkeep settings of a store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreOptions {
    /// TimescaleDB use (PostgreSQL only).
    pub timescaledb: TimescaleMode,
    /// Raw chunks older than this are compressed (TimescaleDB).
    pub compress_after: Duration,
    /// Raw readings older than this are dropped.
    pub retention: Duration,
    /// Hourly roll-ups older than this are dropped (kept longer than raw readings).
    pub hourly_retention: Duration,
    /// Daily roll-ups older than this are dropped; `None` keeps them forever.
    pub daily_retention: Option<Duration>,
    /// A streaming replica for history and aggregate reads (PostgreSQL only).
    pub read_replica: Option<ReadReplicaOptions>,
    /// WAL compression of the historian's sessions (PostgreSQL only).
    pub wal_compression: WalCompression,
}

/// Where history and aggregate reads go instead of the primary, and how stale they may be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadReplicaOptions {
    /// The replica's `postgres://` URL (same TLS options as the primary's).
    pub url: String,
    /// Reads go back to the primary while the replica lags more than this.
    pub max_lag: Duration,
}

impl ReadReplicaOptions {
    /// The lag bound used when none is configured.
    pub const DEFAULT_MAX_LAG: Duration = Duration::from_secs(10);
}

impl StoreOptions {
    /// Each roll-up table with the instant before which its buckets are dropped at `now`
    /// (none for a roll-up kept forever).
    pub fn rollup_cutoffs(
        &self,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Vec<(&'static str, chrono::DateTime<chrono::Utc>)> {
        [
            ("register_readings_hourly", Some(self.hourly_retention)),
            ("register_readings_daily", self.daily_retention),
        ]
        .into_iter()
        .filter_map(|(table, keep)| {
            let keep = chrono::Duration::from_std(keep?).ok()?;
            Some((table, now.checked_sub_signed(keep)?))
        })
        .collect()
    }
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            timescaledb: TimescaleMode::Auto,
            compress_after: Duration::from_secs(7 * DAY),
            retention: Duration::from_secs(365 * DAY),
            hourly_retention: Duration::from_secs(3 * 365 * DAY),
            daily_retention: None,
            read_replica: None,
            wal_compression: WalCompression::Auto,
        }
    }
}
