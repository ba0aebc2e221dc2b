//! The process's Prometheus recorder, installed once, with histogram buckets and upkeep.

use super::catalog::BATCH_ROWS;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use std::time::Duration;

/// Bucket bounds, in seconds, of the latency histograms.
const SECONDS_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// Bucket bounds of the batch size histogram.
const ROWS_BUCKETS: &[f64] = &[
    1.0, 10.0, 100.0, 500.0, 1_000.0, 2_500.0, 5_000.0, 10_000.0, 25_000.0, 50_000.0,
];
/// How often histogram samples are folded into their buckets between scrapes.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

static HANDLE: OnceLock<Result<PrometheusHandle, String>> = OnceLock::new();

/// The process's recorder, installed on first use. Fails only when another recorder was
/// installed first (the global recorder can be set once per process).
pub fn handle() -> Result<&'static PrometheusHandle, &'static str> {
    HANDLE.get_or_init(install).as_ref().map_err(String::as_str)
}

fn install() -> Result<PrometheusHandle, String> {
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), SECONDS_BUCKETS)
        .and_then(|b| b.set_buckets_for_metric(Matcher::Full(BATCH_ROWS.into()), ROWS_BUCKETS))
        .and_then(PrometheusBuilder::install_recorder)
        .map_err(|e| format!("cannot install the metrics recorder: {e}"))?;
    describe();
    let upkeep = handle.clone();
    // A plain thread: upkeep must go on whichever runtime (if any) is running.
    let spawned = std::thread::Builder::new()
        .name("metrics-upkeep".into())
        .spawn(move || {
            loop {
                std::thread::sleep(UPKEEP_EVERY);
                upkeep.run_upkeep();
            }
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "no metrics upkeep thread; histograms fold in at scrape time only");
    }
    Ok(handle)
}

fn describe() {
    super::catalog::describe_labelled();
    crate::stats::Stats::describe();
}
