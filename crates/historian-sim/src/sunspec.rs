//! A SunSpec mode for the simulator: the `SunS` marker at a base address, then common
//! model 1 (manufacturer and model as text), an inverter (model 103) and a three-phase
//! meter (model 203), and the end marker. The headers and the common model's text are
//! fixed words; the models' other registers serve the simulator's usual changing words.

use crate::device::SimDevice;
use crate::space::AddressSpace;
use historian_model::Table;

/// The models served, as (id, registers after the two-register header).
pub const SUNSPEC_MODELS: [(u16, u16); 3] = [(1, 66), (103, 50), (203, 105)];

/// Manufacturer (`Mn`) the common model reports.
pub const SUNSPEC_MANUFACTURER: &str = "Historian Sim";

/// Model (`Md`) the common model reports.
pub const SUNSPEC_MODEL: &str = "SIM-PV-3";

/// Packs `text` into `n` registers, two characters each, NUL padded.
fn text_words(text: &str, n: usize) -> Vec<u16> {
    let mut bytes = text.bytes().chain(std::iter::repeat(0));
    (0..n)
        .map(|_| u16::from_be_bytes([bytes.next().unwrap_or(0), bytes.next().unwrap_or(0)]))
        .collect()
}

/// The fixed words of a SunSpec layout at `base`: marker, model headers, the common
/// model's manufacturer and model, end marker; and the last address it uses.
pub fn sunspec_words(base: u16) -> (Vec<(u16, u16)>, u16) {
    let mut words = vec![(base, 0x5375), (base.saturating_add(1), 0x6E53)];
    let mut at = u32::from(base) + 2;
    for (id, len) in SUNSPEC_MODELS {
        let header = u16::try_from(at).unwrap_or(u16::MAX);
        words.push((header, id));
        words.push((header.saturating_add(1), len));
        if id == 1 {
            let body = at + 2;
            for (k, w) in text_words(SUNSPEC_MANUFACTURER, 16)
                .into_iter()
                .chain(text_words(SUNSPEC_MODEL, 16))
                .enumerate()
            {
                words.push((u16::try_from(body + k as u32).unwrap_or(u16::MAX), w));
            }
        }
        at += 2 + u32::from(len);
    }
    let end = u16::try_from(at).unwrap_or(u16::MAX);
    words.push((end, 0xFFFF));
    words.push((end.saturating_add(1), 0));
    (words, end.saturating_add(1))
}

/// A simulated SunSpec device with index `index` whose marker sits at `base`; only the
/// SunSpec block's holding registers answer.
pub fn sunspec_device(index: u32, base: u16, step_ms: u64) -> SimDevice {
    let (words, last) = sunspec_words(base);
    SimDevice::new(index, Vec::new(), step_ms)
        .with_space(AddressSpace::default().with_range(Table::HoldingRegister, base, last))
        .with_fixed(
            words
                .into_iter()
                .map(|(a, w)| ((Table::HoldingRegister, a), w)),
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chain_ends_after_the_last_model() {
        let (words, last) = sunspec_words(40_000);
        // 2 marker + (2 + 66) + (2 + 50) + (2 + 105) = 229 registers, then 2 of end marker
        assert_eq!(last, 40_000 + 229 + 1);
        assert!(words.contains(&(40_002, 1)));
        assert!(words.contains(&(40_070, 103)));
        assert!(words.contains(&(40_122, 203)));
        assert!(words.contains(&(40_229, 0xFFFF)));
    }
}
