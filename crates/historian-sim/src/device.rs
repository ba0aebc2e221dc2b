//! One simulated device: the map it serves, answering reads from the pure functions of
//! [`crate::values`] and the faults switched on in its [`SimFaults`].

use crate::faults::SimFaults;
use crate::realistic::Signal;
use crate::space::{AddressSpace, SimIdentity};
use crate::values::{Signals, step_at, unmapped_word};
use historian_modbus::client::ReadData;
use historian_modbus::decode::{encode_string, encode_words};
use historian_model::{DataType, RegisterPoint, Table};
use std::collections::HashMap;
use std::sync::Arc;
use tokio_modbus::ExceptionCode;

/// What one address of a simulated device holds.
#[derive(Debug, Clone)]
enum Slot {
    /// Word `k` of point `i`.
    Word(usize, u16),
    /// Bits of a register, one point each (the other bits read 0).
    Bits(Vec<usize>),
}

/// One simulated device: its index (the `device` of [`Signals::raw_value`]), the map it
/// serves and which signals.
#[derive(Debug)]
pub struct SimDevice {
    index: u32,
    points: Vec<RegisterPoint>,
    signals: Signals,
    /// Each point's realistic signal, worked out once (empty for the worst-case signals).
    realistic: Vec<Signal>,
    by_address: HashMap<(Table, u16), Slot>,
    step_ms: u64,
    faults: Arc<SimFaults>,
    space: Option<AddressSpace>,
    identity: Option<SimIdentity>,
    fixed: HashMap<(Table, u16), u16>,
    computed: HashMap<(Table, u16), WordFn>,
}

/// A word that is a pure function of its address and the time step.
pub type WordFn = fn(u16, i64) -> u16;

impl SimDevice {
    /// A device serving `points` with the realistic signals; values change every `step_ms`
    /// milliseconds.
    pub fn new(index: u32, points: Vec<RegisterPoint>, step_ms: u64) -> Self {
        let mut by_address = HashMap::new();
        for (i, p) in points.iter().enumerate() {
            let key = (p.register.table, p.register.address);
            if p.register.bit.is_some() && !p.register.table.is_bit() {
                match by_address
                    .entry(key)
                    .or_insert_with(|| Slot::Bits(Vec::new()))
                {
                    Slot::Bits(v) => v.push(i),
                    Slot::Word(..) => {}
                }
                continue;
            }
            for k in 0..p.width() {
                let Some(address) = p.register.address.checked_add(k) else {
                    break;
                };
                by_address.insert((p.register.table, address), Slot::Word(i, k));
            }
        }
        let realistic = points.iter().map(|p| Signal::new(index, p)).collect();
        Self {
            index,
            points,
            signals: Signals::Realistic,
            realistic,
            by_address,
            step_ms,
            faults: Arc::default(),
            space: None,
            identity: None,
            fixed: HashMap::new(),
            computed: HashMap::new(),
        }
    }

    /// Serves `signals` instead of the realistic ones.
    pub fn with_signals(mut self, signals: Signals) -> Self {
        self.signals = signals;
        self.realistic = match signals {
            Signals::Realistic => self
                .points
                .iter()
                .map(|p| Signal::new(self.index, p))
                .collect(),
            Signals::WorstCase => Vec::new(),
        };
        self
    }

    /// The signals this device serves.
    pub fn signals(&self) -> Signals {
        self.signals
    }

    /// The raw value of point `i` at `step`.
    fn raw(&self, i: usize, step: i64) -> f64 {
        match self.realistic.get(i) {
            Some(signal) => signal.raw(step),
            None => self.signals.raw_value(self.index, &self.points[i], step),
        }
    }

    /// Serves these words at these addresses, whatever the map says (headers and markers
    /// that never change, such as SunSpec's).
    pub fn with_fixed(mut self, words: impl IntoIterator<Item = ((Table, u16), u16)>) -> Self {
        self.fixed.extend(words);
        self
    }

    /// Serves `word(address, step)` at these addresses, whatever the map says (SunSpec's
    /// scale factors, which change over time within a range the map cannot state).
    pub fn with_computed(
        mut self,
        addresses: impl IntoIterator<Item = (Table, u16)>,
        word: WordFn,
    ) -> Self {
        self.computed
            .extend(addresses.into_iter().map(|a| (a, word)));
        self
    }

    /// Answers only the addresses of `space`, the others exception 02 (by default every
    /// address answers, unmapped ones with [`unmapped_word`]).
    pub fn with_space(mut self, space: AddressSpace) -> Self {
        self.space = Some(space);
        self
    }

    /// Answers Read Device Identification (FC 43/14) with `identity` (by default the
    /// function is refused with exception 01).
    pub fn with_identity(mut self, identity: SimIdentity) -> Self {
        self.identity = Some(identity);
        self
    }

    /// The identification this device reports, if any.
    pub(crate) fn identity(&self) -> Option<&SimIdentity> {
        self.identity.as_ref()
    }

    /// The switchboard of this device's faults.
    pub fn faults(&self) -> Arc<SimFaults> {
        Arc::clone(&self.faults)
    }

    /// How long this device's answers are held back.
    pub(crate) fn latency(&self) -> std::time::Duration {
        self.faults.latency()
    }

    /// Answers a read of `count` values of `table` from `start`, as of `unix_ms`.
    pub fn read(
        &self,
        table: Table,
        start: u16,
        count: u16,
        unix_ms: i64,
    ) -> Result<ReadData, ExceptionCode> {
        self.faults.count_request();
        if self.faults.gateway_target_failed() {
            return Err(ExceptionCode::GatewayTargetDevice);
        }
        if let Some(code) = self.faults.exception() {
            return Err(code);
        }
        let limit = if table.is_bit() { 2000 } else { 125 };
        if count == 0 || count > limit {
            return Err(ExceptionCode::IllegalDataValue);
        }
        if u32::from(start) + u32::from(count) > 65_536
            || self.faults.refuses(table, start, count)
            || self
                .space
                .as_ref()
                .is_some_and(|s| !s.covers(table, start, count))
        {
            return Err(ExceptionCode::IllegalDataAddress);
        }
        let step = step_at(unix_ms, self.step_ms);
        let mut words = Vec::with_capacity(usize::from(count));
        let mut scratch = Vec::new();
        for address in start..=start + (count - 1) {
            if !self.fixed.is_empty()
                && let Some(&w) = self.fixed.get(&(table, address))
            {
                words.push(w);
                continue;
            }
            if !self.computed.is_empty()
                && let Some(word) = self.computed.get(&(table, address))
            {
                words.push(word(address, step));
                continue;
            }
            let word = match self.by_address.get(&(table, address)) {
                Some(&Slot::Word(i, k)) => {
                    let p = &self.points[i];
                    scratch.clear();
                    scratch.resize(usize::from(p.width()), 0);
                    if p.data_type == DataType::String {
                        // Even addresses pad with NUL, odd ones with spaces: both are served.
                        let pad = if p.register.address.is_multiple_of(2) {
                            0
                        } else {
                            b' '
                        };
                        let text = self.signals.text_value(self.index, p, step);
                        encode_string(&text, p.word_order, pad, &mut scratch);
                    } else {
                        let raw = self.raw(i, step);
                        encode_words(raw, p.data_type, p.word_order, &mut scratch);
                    }
                    scratch[usize::from(k)]
                }
                Some(Slot::Bits(users)) => users.iter().fold(0u16, |word, &i| {
                    let p = &self.points[i];
                    let on = self.raw(i, step) != 0.0;
                    word | (u16::from(on) << p.register.bit.unwrap_or(0))
                }),
                None => unmapped_word(self.index, table, address, step),
            };
            words.push(word);
        }
        Ok(if table.is_bit() {
            ReadData::Bits(words.into_iter().map(|w| w & 1 == 1).collect())
        } else {
            ReadData::Registers(words)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::reference_map;
    use crate::values::DEFAULT_STEP_MS;
    use historian_modbus::ReadPlan;
    use historian_modbus::poll::decode_point;
    use historian_model::PlanOptions;

    #[test]
    fn served_words_decode_to_the_pure_function() {
        let map = reference_map(100);
        let plan = ReadPlan::new(&map, PlanOptions::default());
        for signals in [Signals::Realistic, Signals::WorstCase] {
            let dev = SimDevice::new(7, map.clone(), DEFAULT_STEP_MS).with_signals(signals);
            assert_eq!(dev.signals(), signals);
            let at = 1_790_000_123_456;
            for req in &plan.requests {
                let data = dev
                    .read(req.table(), req.start(), req.count(), at)
                    .expect("in range");
                for &(i, off) in req.points() {
                    let s = decode_point(&map[i], &data, usize::from(off));
                    assert_eq!(
                        s.value,
                        Some(signals.expected_value(7, &map[i], at, DEFAULT_STEP_MS)),
                        "{signals} {}",
                        map[i].name
                    );
                }
            }
        }
    }

    #[test]
    fn out_of_range_reads_are_exceptions() {
        let dev = SimDevice::new(0, Vec::new(), DEFAULT_STEP_MS);
        assert_eq!(
            dev.read(Table::HoldingRegister, 65_530, 10, 0),
            Err(ExceptionCode::IllegalDataAddress)
        );
        assert_eq!(
            dev.read(Table::InputRegister, 0, 126, 0),
            Err(ExceptionCode::IllegalDataValue)
        );
    }
}
