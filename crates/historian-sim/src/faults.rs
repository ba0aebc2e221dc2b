//! Faults a simulated device can be told to show: refused addresses, latency, a gateway
//! answering 0A or 0B, a busy device (05, 06), dropped connections and garbage frames. Dropped connections and garbage
//! act below the Modbus layer, on the bytes of each answer ([`crate::wire::FaultyStream`]).

use historian_model::Table;
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, RwLock};
use std::time::Duration;
use tokio_modbus::ExceptionCode;

/// How often a fault strikes an answer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FaultRate {
    /// Every `n`th answer of the device (counted across its connections).
    Every(u64),
    /// Each answer with this probability, drawn from a generator seeded with `seed`, so a
    /// run can be repeated exactly.
    Random {
        /// Chance per answer, 0 to 1.
        probability: f64,
        /// Seed of the generator.
        seed: u64,
    },
}

/// A fault's rate and where it is in its sequence.
#[derive(Debug)]
struct FaultState {
    rate: FaultRate,
    answers: u64,
    rng: u64,
}

impl FaultState {
    fn new(rate: FaultRate) -> Self {
        let rng = match rate {
            FaultRate::Random { seed, .. } => seed,
            FaultRate::Every(_) => 0,
        };
        Self {
            rate,
            answers: 0,
            rng,
        }
    }

    /// Whether the next answer is struck.
    fn strikes(&mut self) -> bool {
        self.answers += 1;
        match self.rate {
            FaultRate::Every(n) => n > 0 && self.answers.is_multiple_of(n),
            FaultRate::Random { probability, .. } => {
                // splitmix64: a well-mixed sequence from a plain counter state.
                self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
                let mut z = self.rng;
                z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
                z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
                z ^= z >> 31;
                ((z >> 11) as f64 / (1u64 << 53) as f64) < probability
            }
        }
    }
}

/// What happens to one answer on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AnswerFault {
    /// The connection is closed instead of answering.
    Drop,
    /// The answer's bytes are replaced by bytes that are not a valid frame.
    Garbage,
}

/// Faults a test can switch on and off while the simulator runs.
#[derive(Debug, Default)]
pub struct SimFaults {
    illegal: RwLock<HashSet<(Table, u16)>>,
    latency_ms: AtomicU64,
    gateway_target_failed: AtomicBool,
    requests: AtomicU64,
    connections: AtomicU64,
    exceptions: Mutex<Option<(ExceptionCode, FaultState)>>,
    drops: Mutex<Option<FaultState>>,
    garbage: Mutex<Option<FaultState>>,
    dropped: AtomicU64,
    garbled: AtomicU64,
}

impl SimFaults {
    /// From now on, any read that includes this address answers exception 02.
    pub fn refuse(&self, table: Table, address: u16) {
        if let Ok(mut set) = self.illegal.write() {
            set.insert((table, address));
        }
    }

    /// Answers reads of this address normally again.
    pub fn allow(&self, table: Table, address: u16) {
        if let Ok(mut set) = self.illegal.write() {
            set.remove(&(table, address));
        }
    }

    /// While on, every request is answered 0B (gateway target device failed to respond).
    pub fn set_gateway_target_failed(&self, on: bool) {
        self.gateway_target_failed.store(on, Ordering::Relaxed);
    }

    /// Answers reads with exception `code` at `rate` instead of their values (`None`: never):
    /// 05/06 for a busy device, 0A/0B for a gateway that cannot reach the unit.
    pub fn set_exceptions(&self, exceptions: Option<(ExceptionCode, FaultRate)>) {
        if let Ok(mut e) = self.exceptions.lock() {
            *e = exceptions.map(|(code, rate)| (code, FaultState::new(rate)));
        }
    }

    /// Delays every answer by `latency` (zero: answer at once).
    pub fn set_latency(&self, latency: Duration) {
        let ms = u64::try_from(latency.as_millis()).unwrap_or(u64::MAX);
        self.latency_ms.store(ms, Ordering::Relaxed);
    }

    /// Closes the connection instead of answering, at `rate` (`None`: never).
    pub fn set_drops(&self, rate: Option<FaultRate>) {
        if let Ok(mut d) = self.drops.lock() {
            *d = rate.map(FaultState::new);
        }
    }

    /// Answers with bytes that are not a valid Modbus frame, at `rate` (`None`: never).
    pub fn set_garbage(&self, rate: Option<FaultRate>) {
        if let Ok(mut g) = self.garbage.lock() {
            *g = rate.map(FaultState::new);
        }
    }

    /// Requests this device has received.
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// Connections this device has accepted.
    pub fn connections(&self) -> u64 {
        self.connections.load(Ordering::Relaxed)
    }

    /// Connections closed by the drop fault.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Answers replaced by garbage.
    pub fn garbled(&self) -> u64 {
        self.garbled.load(Ordering::Relaxed)
    }

    pub(crate) fn count_request(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn count_connection(&self) {
        self.connections.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn gateway_target_failed(&self) -> bool {
        self.gateway_target_failed.load(Ordering::Relaxed)
    }

    /// The exception the next read answers instead of its values, if one strikes.
    pub(crate) fn exception(&self) -> Option<ExceptionCode> {
        let mut e = self.exceptions.lock().ok()?;
        let (code, state) = e.as_mut()?;
        state.strikes().then_some(*code)
    }

    pub(crate) fn latency(&self) -> Duration {
        Duration::from_millis(self.latency_ms.load(Ordering::Relaxed))
    }

    pub(crate) fn refuses(&self, table: Table, start: u16, count: u16) -> bool {
        self.illegal.read().is_ok_and(|set| {
            set.iter().any(|&(t, a)| {
                t == table && a >= start && u32::from(a) < u32::from(start) + u32::from(count)
            })
        })
    }

    /// Decides the fate of the next answer; a drop wins over garbage.
    pub(crate) fn answer_fault(&self) -> Option<AnswerFault> {
        let strikes = |m: &Mutex<Option<FaultState>>| {
            m.lock()
                .ok()
                .and_then(|mut s| s.as_mut().map(FaultState::strikes))
                .unwrap_or(false)
        };
        if strikes(&self.drops) {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            Some(AnswerFault::Drop)
        } else if strikes(&self.garbage) {
            self.garbled.fetch_add(1, Ordering::Relaxed);
            Some(AnswerFault::Garbage)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_n_strikes_on_the_nth_answer() {
        let mut s = FaultState::new(FaultRate::Every(3));
        let hits: Vec<bool> = (0..7).map(|_| s.strikes()).collect();
        assert_eq!(hits, [false, false, true, false, false, true, false]);
    }

    #[test]
    fn random_faults_repeat_with_their_seed() {
        let rate = FaultRate::Random {
            probability: 0.25,
            seed: 42,
        };
        let run = || {
            let mut s = FaultState::new(rate);
            (0..1000).map(|_| s.strikes()).collect::<Vec<_>>()
        };
        let (a, b) = (run(), run());
        assert_eq!(a, b);
        let hits = a.iter().filter(|&&h| h).count();
        assert!((180..320).contains(&hits), "{hits} of 1000 at p = 0.25");
        let mut other = FaultState::new(FaultRate::Random {
            probability: 0.25,
            seed: 43,
        });
        assert_ne!(a, (0..1000).map(|_| other.strikes()).collect::<Vec<_>>());
    }
}
