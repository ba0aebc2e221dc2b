//! A SunSpec mode for the simulator: the `SunS` marker at a base address, then common
//! model 1 (manufacturer and model as text), an inverter (model 103), a three-phase
//! meter (model 203) and an MPPT extension (model 160) with [`SUNSPEC_MPPT_MODULES`]
//! repeating modules, and the end marker. The headers and the common model's text are
//! fixed words; every scale-factor register (`*_SF`) holds [`sunspec_scale_factor`], which
//! changes every time step; the models' other registers serve the simulator's usual
//! changing words ([`crate::unmapped_word`]).

use crate::device::SimDevice;
use crate::space::AddressSpace;
use historian_modbus::discover::sunspec::{SunSpecMap, SunSpecModel};
use historian_modbus::discover::sunspec_map::sunspec_points;
use historian_model::Table;
use std::collections::HashSet;

/// The modules of the MPPT model (160), a repeating group of 20 registers each.
pub const SUNSPEC_MPPT_MODULES: u16 = 2;

/// The models served, as (id, registers after the two-register header); model 160 holds 8
/// registers of its own, then its modules.
pub const SUNSPEC_MODELS: [(u16, u16); 4] = [
    (1, 66),
    (103, 50),
    (203, 105),
    (160, 8 + 20 * SUNSPEC_MPPT_MODULES),
];

/// Where model 160 keeps its module count `N`, after its header: four scale factors and a
/// 32-bit event field.
const MPPT_COUNT_OFFSET: u32 = 2 + 4 + 2;

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
        if id == 160 {
            words.push((
                u16::try_from(at + MPPT_COUNT_OFFSET).unwrap_or(u16::MAX),
                SUNSPEC_MPPT_MODULES,
            ));
        }
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

/// The exponent scale-factor register `address` of a simulated SunSpec device holds
/// during `step`: -2 to 2, a different one every step (offset by the address, so that the
/// factors of one model differ from each other).
pub fn sunspec_scale_factor(address: u16, step: i64) -> i16 {
    // Always within -2..=2, so the cast cannot truncate.
    ((step + i64::from(address)).rem_euclid(5) - 2) as i16
}

/// The layout [`sunspec_words`] serves at `base`, as discovery reads it.
pub fn sunspec_layout(base: u16) -> SunSpecMap {
    let mut models = Vec::new();
    let mut at = u32::from(base) + 2;
    for (id, len) in SUNSPEC_MODELS {
        models.push(SunSpecModel {
            id,
            address: u16::try_from(at).unwrap_or(u16::MAX),
            len,
        });
        at += 2 + u32::from(len);
    }
    SunSpecMap {
        base,
        models,
        complete: true,
    }
}

/// The addresses of the scale-factor registers of the layout at `base`: every point the
/// official model definitions name as another point's scale factor.
pub fn sunspec_factor_addresses(base: u16) -> Vec<u16> {
    let points: Vec<_> = sunspec_points(&sunspec_layout(base))
        .into_iter()
        .map(|(p, _)| p)
        .collect();
    let factors: HashSet<&str> = points
        .iter()
        .filter_map(|p| p.scale_factor.as_deref())
        .collect();
    let mut out: Vec<u16> = points
        .iter()
        .filter(|p| factors.contains(p.name.as_str()))
        .map(|p| p.register.address)
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

fn factor_word(address: u16, step: i64) -> u16 {
    // The register holds the exponent as a two's-complement int16.
    sunspec_scale_factor(address, step) as u16
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
        .with_computed(
            sunspec_factor_addresses(base)
                .into_iter()
                .map(|a| (Table::HoldingRegister, a)),
            factor_word,
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chain_ends_after_the_last_model() {
        let (words, last) = sunspec_words(40_000);
        // 2 marker + (2 + 66) + (2 + 50) + (2 + 105) + (2 + 48) = 279 registers, then 2
        // of end marker
        assert_eq!(last, 40_000 + 279 + 1);
        assert!(words.contains(&(40_002, 1)));
        assert!(words.contains(&(40_070, 103)));
        assert!(words.contains(&(40_122, 203)));
        assert!(words.contains(&(40_229, 160)));
        assert!(words.contains(&(40_237, 2)), "module count N");
        assert!(words.contains(&(40_279, 0xFFFF)));
    }

    #[test]
    fn scale_factors_change_every_step_within_their_range() {
        let factors = sunspec_factor_addresses(40_000);
        // Models 103 and 203 each have their own factors (A_SF, V_SF, W_SF, ...).
        assert!(factors.len() >= 10, "{factors:?}");
        assert!(factors.iter().all(|&a| a > 40_070), "{factors:?}");
        let device = sunspec_device(0, 40_000, 1000);
        for &a in &factors {
            let words: Vec<i16> = (0..5)
                .map(
                    |step| match device.read(Table::HoldingRegister, a, 1, step * 1000) {
                        Ok(historian_modbus::client::ReadData::Registers(w)) => w[0] as i16,
                        other => panic!("{a}: {other:?}"),
                    },
                )
                .collect();
            let want: Vec<i16> = (0..5).map(|step| sunspec_scale_factor(a, step)).collect();
            assert_eq!(words, want, "{a}");
            assert!(
                words
                    .windows(2)
                    .all(|w| w[0] != w[1] && (-2..=2).contains(&w[1]))
            );
        }
    }
}
