//! The in-memory registry of devices, their read plans and their live status: built once
//! from the config and the store's ids, so no reading ever needs a database lookup.

use crate::config::DeviceConfig;
use crate::slots::SlotCursor;
use historian_modbus::schedule::ScheduledPlan;
use historian_store::DeviceRecord;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

/// Live status of one device, updated by its poller.
#[derive(Debug, Default)]
pub struct DeviceStatus {
    /// True after a poll that reached the device, false after one that did not.
    pub up: AtomicBool,
    /// Start of the last poll, microseconds since the Unix epoch (0 = never).
    pub last_poll_us: AtomicI64,
    /// Polls that read everything.
    pub polls_ok: AtomicU64,
    /// Polls with a failed request.
    pub polls_failed: AtomicU64,
    /// Grid slots that passed while the poller was still busy with an earlier poll.
    pub polls_missed: AtomicU64,
    /// Where the poller is on its grid, for counting missed slots as they pass.
    pub slots: SlotCursor,
}

/// A device ready to poll: its id, config and status (its poller owns the adaptive plan).
#[derive(Debug)]
pub struct DeviceRuntime {
    /// Database id.
    pub id: i64,
    /// As configured.
    pub config: DeviceConfig,
    /// Register names, shared by every reading of the device.
    pub names: Vec<Arc<str>>,
    /// Units, shared by every reading of the device.
    pub units: Vec<Arc<str>>,
    /// Live status.
    pub status: DeviceStatus,
}

impl DeviceRuntime {
    /// The device's name.
    pub fn name(&self) -> &str {
        &self.config.spec.name
    }

    /// True once a poll has run.
    pub fn polled(&self) -> bool {
        self.status.last_poll_us.load(Ordering::Relaxed) != 0
    }
}

/// Every configured device, by id and by name. Swapped whole on reload, so readers always
/// see one consistent set.
#[derive(Debug, Default)]
pub struct Registry {
    current: RwLock<Arc<Snapshot>>,
    /// Counts replacements, so that publishers learn of a reload at once.
    generation: tokio::sync::watch::Sender<u64>,
}

#[derive(Debug, Default)]
struct Snapshot {
    devices: Vec<Arc<DeviceRuntime>>,
    by_id: HashMap<i64, usize>,
    by_name: HashMap<String, usize>,
    /// Every stored device as of this load, disabled ones and removed registers included:
    /// what history is asked by, without reading the whole catalogue per request.
    records: Arc<Vec<DeviceRecord>>,
}

impl Snapshot {
    /// Joins configured devices with their stored records (matched by name), reusing the
    /// runtime (status, and with it the running poller) of every device that is unchanged.
    fn build(configs: &[DeviceConfig], records: &[DeviceRecord], old: &Snapshot) -> Self {
        let ids: HashMap<&str, i64> = records
            .iter()
            .map(|r| (r.spec.name.as_str(), r.id))
            .collect();
        let mut snap = Snapshot {
            records: Arc::new(records.to_vec()),
            ..Snapshot::default()
        };
        for c in configs {
            let Some(&id) = ids.get(c.spec.name.as_str()) else {
                continue;
            };
            let runtime = match old.by_id.get(&id).map(|&i| &old.devices[i]) {
                Some(prev) if prev.config == *c => Arc::clone(prev),
                _ => {
                    let points = &c.spec.registers;
                    Arc::new(DeviceRuntime {
                        id,
                        names: points.iter().map(|p| Arc::from(p.name.as_str())).collect(),
                        units: points.iter().map(|p| Arc::from(p.unit.as_str())).collect(),
                        config: c.clone(),
                        status: DeviceStatus::default(),
                    })
                }
            };
            snap.by_id.insert(id, snap.devices.len());
            snap.by_name.insert(c.spec.name.clone(), snap.devices.len());
            snap.devices.push(runtime);
        }
        snap
    }
}

impl Registry {
    /// Joins configured devices with their stored records (matched by name).
    /// Devices without a record are left out (the store assigns every configured device one).
    pub fn build(configs: &[DeviceConfig], records: &[DeviceRecord]) -> Self {
        Registry {
            current: RwLock::new(Arc::new(Snapshot::build(
                configs,
                records,
                &Snapshot::default(),
            ))),
            generation: tokio::sync::watch::Sender::default(),
        }
    }

    /// Replaces the device set. A device whose id and config are unchanged keeps its
    /// runtime; everything else is new. Pollers compare runtimes to know what to restart.
    pub fn replace(&self, configs: &[DeviceConfig], records: &[DeviceRecord]) {
        let old = self.snapshot();
        let next = Arc::new(Snapshot::build(configs, records, &old));
        if let Ok(mut cur) = self.current.write() {
            *cur = next;
        }
        self.generation.send_modify(|g| *g += 1);
    }

    /// Changes each time the device set is replaced (a reload).
    pub fn changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.generation.subscribe()
    }

    fn snapshot(&self) -> Arc<Snapshot> {
        match self.current.read() {
            Ok(s) => Arc::clone(&s),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// All devices, in config order.
    pub fn devices(&self) -> Vec<Arc<DeviceRuntime>> {
        self.snapshot().devices.clone()
    }

    /// A device by database id.
    pub fn get(&self, id: i64) -> Option<Arc<DeviceRuntime>> {
        let s = self.snapshot();
        s.by_id.get(&id).map(|&i| Arc::clone(&s.devices[i]))
    }

    /// A device by name.
    pub fn by_name(&self, name: &str) -> Option<Arc<DeviceRuntime>> {
        let s = self.snapshot();
        s.by_name.get(name).map(|&i| Arc::clone(&s.devices[i]))
    }

    /// Every stored device as of the last load or reload (disabled ones included, with
    /// their maps and removed registers).
    pub fn stored(&self) -> Arc<Vec<DeviceRecord>> {
        Arc::clone(&self.snapshot().records)
    }

    /// Devices whose last poll reached them.
    pub fn up_count(&self) -> usize {
        self.snapshot()
            .devices
            .iter()
            .filter(|d| d.status.up.load(Ordering::Relaxed))
            .count()
    }
}

/// A human-readable listing of the requests one poll of `device` sends (registers with a
/// slower interval listed under their own cadence).
pub fn describe_plan(device: &DeviceConfig) -> String {
    use std::fmt::Write;
    let spec = &device.spec;
    let interval = std::time::Duration::from_millis(spec.poll_interval_ms);
    let schedule = ScheduledPlan::new(
        &spec.registers,
        interval,
        spec.access.plan,
        spec.access.pause,
    );
    let plans: Vec<_> = schedule.plans().collect();
    let (first_requests, first_count) = plans
        .first()
        .map_or((0, 0), |(_, p)| (p.requests.len(), p.total_count()));
    let mut out = format!(
        "{} ({} unit {}): {} request{} per poll, {} registers or bits, every {} ms\n",
        spec.name,
        device.transport().endpoint(),
        spec.unit_id,
        first_requests,
        if first_requests == 1 { "" } else { "s" },
        first_count,
        spec.poll_interval_ms,
    );
    for (every, plan) in plans {
        if every > 1 {
            let _ = writeln!(
                out,
                "  and every {every} polls ({} ms): {} more request{}",
                spec.poll_interval_ms.saturating_mul(every),
                plan.requests.len(),
                if plan.requests.len() == 1 { "" } else { "s" },
            );
        }
        for r in &plan.requests {
            let first = historian_model::RegisterRef::new(r.table(), r.start());
            let last = historian_model::RegisterRef::new(r.table(), r.start() + (r.count() - 1));
            let names: Vec<&str> = r
                .points()
                .iter()
                .map(|&(i, _)| spec.registers[i].name.as_str())
                .collect();
            let _ = writeln!(
                out,
                "  FC{} {:<16} wire {:>5} count {:>4}  ({first}-{last})  {}",
                r.table().read_function_code(),
                r.table().as_str(),
                r.start(),
                r.count(),
                names.join(", ")
            );
        }
    }
    out
}
