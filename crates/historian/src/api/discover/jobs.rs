//! The discoveries the API runs in the background: a few at a time, each followed through
//! its shared [`Progress`], cancelled on request or when the server stops, and forgotten a
//! while after it ended.

use historian_modbus::discover::{DiscoverOptions, Discovery, Progress, discover};
use historian_model::input::DeviceInput;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// Discoveries running at once; each holds connections to a device, and a scan is gentle
/// only when it is alone on the device.
pub const MAX_RUNNING: usize = 2;

/// How long a finished discovery's result is kept for `GET`.
pub const KEEP_FOR: Duration = Duration::from_secs(3600);

/// Finished discoveries kept at most; the oldest are forgotten first.
const MAX_KEPT: usize = 16;

/// How a discovery ended, or that it has not.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// Still scanning.
    Running,
    /// Done; what it found.
    Finished(Arc<Discovery>),
    /// Nothing could be discovered; why.
    Failed(String),
    /// Cancelled by a `DELETE` or the server stopping.
    Cancelled,
}

/// One discovery as the API shows it.
#[derive(Debug, Clone)]
pub struct JobView {
    /// Its id.
    pub id: String,
    /// The target as given.
    pub target: String,
    /// The device the target and options describe, before any register.
    pub template: DeviceInput,
    /// When it started.
    pub started: chrono::DateTime<chrono::Utc>,
    /// How long it ran (so far).
    pub elapsed: Duration,
    /// Its counters.
    pub progress: Arc<Progress>,
    /// How it ended.
    pub outcome: Outcome,
}

#[derive(Debug)]
struct Job {
    view: JobView,
    clock: Instant,
    ended: Option<Instant>,
    cancel: CancellationToken,
}

/// Why a discovery was not started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// As many discoveries run as may; their ids.
    Busy(Vec<String>),
    /// A discovery of the same target is running; its id.
    SameTarget(String),
}

/// The discoveries of this API.
#[derive(Debug, Default)]
pub struct DiscoverJobs {
    jobs: Mutex<BTreeMap<String, Job>>,
}

impl DiscoverJobs {
    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, Job>> {
        // A panic while holding the lock leaves the map whole (every change is one insert,
        // remove or assignment), so a poisoned lock is still usable.
        self.jobs.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Forgets ended jobs older than [`KEEP_FOR`], and the oldest beyond [`MAX_KEPT`].
    fn prune(jobs: &mut BTreeMap<String, Job>) {
        jobs.retain(|_, j| j.ended.is_none_or(|e| e.elapsed() < KEEP_FOR));
        let mut ended: Vec<(Instant, String)> = jobs
            .iter()
            .filter_map(|(id, j)| j.ended.map(|e| (e, id.clone())))
            .collect();
        if ended.len() > MAX_KEPT {
            ended.sort();
            for (_, id) in ended.iter().take(ended.len() - MAX_KEPT) {
                jobs.remove(id);
            }
        }
    }

    /// Starts a discovery of `target` with `opts` in the background, stopped at the latest
    /// when `stop` is cancelled; its id, or why it was not started.
    pub fn start(
        self: &Arc<Self>,
        target: &str,
        template: DeviceInput,
        opts: DiscoverOptions,
        stop: &CancellationToken,
    ) -> Result<String, Refusal> {
        let mut jobs = self.lock();
        Self::prune(&mut jobs);
        let running: Vec<&Job> = jobs
            .values()
            .filter(|j| matches!(j.view.outcome, Outcome::Running))
            .collect();
        if let Some(same) = running.iter().find(|j| j.view.target == target) {
            return Err(Refusal::SameTarget(same.view.id.clone()));
        }
        if running.len() >= MAX_RUNNING {
            return Err(Refusal::Busy(
                running.iter().map(|j| j.view.id.clone()).collect(),
            ));
        }
        let id = loop {
            let id = format!("{:016x}", fastrand::u64(..));
            if !jobs.contains_key(&id) {
                break id;
            }
        };
        let progress = Arc::new(Progress::default());
        let cancel = stop.child_token();
        jobs.insert(
            id.clone(),
            Job {
                view: JobView {
                    id: id.clone(),
                    target: target.to_string(),
                    template,
                    started: chrono::Utc::now(),
                    elapsed: Duration::ZERO,
                    progress: Arc::clone(&progress),
                    outcome: Outcome::Running,
                },
                clock: Instant::now(),
                ended: None,
                cancel: cancel.clone(),
            },
        );
        let this = Arc::clone(self);
        let job = id.clone();
        tokio::spawn(async move {
            let outcome = tokio::select! {
                () = cancel.cancelled() => Outcome::Cancelled,
                found = discover(&opts, progress) => match found {
                    Ok(d) => Outcome::Finished(Arc::new(d)),
                    Err(e) => Outcome::Failed(e.to_string()),
                },
            };
            this.end(&job, outcome);
        });
        Ok(id)
    }

    fn end(&self, id: &str, outcome: Outcome) {
        let mut jobs = self.lock();
        if let Some(j) = jobs.get_mut(id) {
            j.view.elapsed = j.clock.elapsed();
            j.view.outcome = outcome;
            j.ended = Some(Instant::now());
        }
    }

    /// The discovery `id`, if known.
    pub fn view(&self, id: &str) -> Option<JobView> {
        let mut jobs = self.lock();
        Self::prune(&mut jobs);
        jobs.get(id).map(|j| {
            let mut v = j.view.clone();
            if j.ended.is_none() {
                v.elapsed = j.clock.elapsed();
            }
            v
        })
    }

    /// Cancels discovery `id` if it runs, and forgets it; `None` when it is not known.
    pub fn cancel(&self, id: &str) -> Option<()> {
        let job = self.lock().remove(id)?;
        job.cancel.cancel();
        Some(())
    }
}
