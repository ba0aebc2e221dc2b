//! Type inference over samples of a readable run of registers: for each address, the type
//! and word order that make its values plausible (finite, not denormal, of sensible
//! magnitude, smooth from sample to sample), or text, a bit field, a counter, a constant.
//! Each proposal carries a confidence and the evidence; a register nothing explains
//! better stays a uint16, marked uncertain.

use crate::decode::{decode_string, decode_words};
use historian_model::{DataType, WordOrder};

/// Below this confidence a proposal is a guess: map files mark it so.
pub const CERTAIN: f32 = 0.6;

/// Several samples of one run of registers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Samples {
    /// Wire address of the first register.
    pub start: u16,
    /// One entry per sample, each holding the run's words in address order.
    pub words: Vec<Vec<u16>>,
}

impl Samples {
    fn len(&self) -> usize {
        self.words.iter().map(Vec::len).min().unwrap_or(0)
    }

    /// The words at `at..at + n` of every sample.
    fn window(&self, at: usize, n: usize) -> Vec<&[u16]> {
        self.words.iter().map(|s| &s[at..at + n]).collect()
    }
}

/// What a proposal says a register holds, beyond its type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A measured value.
    Value,
    /// A value that only grew.
    Counter,
    /// The same in every sample.
    Constant,
    /// One flag of a register whose values differed only in a few bits.
    Flag,
    /// ASCII text.
    Text,
    /// Nothing fits better than a plain uint16.
    Unknown,
}

/// One proposed register.
#[derive(Debug, Clone, PartialEq)]
pub struct Proposal {
    /// Wire address of the first register.
    pub address: u16,
    /// Proposed type.
    pub data_type: DataType,
    /// Proposed word order.
    pub word_order: WordOrder,
    /// Registers of a string.
    pub length: Option<u16>,
    /// The bit of a flag inside its register.
    pub bit: Option<u8>,
    /// What it seems to hold.
    pub kind: Kind,
    /// 0 to 1; below [`CERTAIN`] a guess.
    pub confidence: f32,
    /// Why: raw words and the decoded candidates.
    pub evidence: String,
}

impl Proposal {
    /// Registers the proposal covers.
    pub fn width(&self) -> usize {
        match self.data_type {
            DataType::String => usize::from(self.length.unwrap_or(1)),
            t => usize::from(t.width()),
        }
    }

    /// True when it is a guess.
    pub fn is_uncertain(&self) -> bool {
        self.confidence < CERTAIN
    }
}

fn hex(words: &[&[u16]]) -> String {
    words
        .iter()
        .map(|s| {
            s.iter()
                .map(|w| format!("{w:04X}"))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect::<Vec<_>>()
        .join(" | ")
}

/// Proposes types for every register of `samples`, left to right, each register covered
/// once.
pub fn infer_run(samples: &Samples) -> Vec<Proposal> {
    let n = samples.len();
    let mut out = Vec::new();
    let mut at = 0;
    while at < n {
        let address = samples
            .start
            .saturating_add(u16::try_from(at).unwrap_or(u16::MAX));
        let found = text(samples, at, n)
            .or_else(|| {
                wide(samples, at, n, 4).filter(|p| !two_floats(samples, at, n, p.word_order))
            })
            .or_else(|| wide(samples, at, n, 2))
            .map(|p| vec![p])
            .unwrap_or_else(|| single(samples, at));
        let width = found.first().map_or(1, Proposal::width).max(1);
        out.extend(found.into_iter().map(|mut p| {
            p.address = address;
            p
        }));
        at += width;
    }
    out
}

/// Whether the four registers at `at`, proposed as a float64 in `order`, rather hold two
/// float32 values. Neighbouring float32 values of similar size share their upper words and can
/// pass for one smooth float64 when their upper bytes change together. A float64 whose lower
/// half changes reads there as the end of its mantissa, which is almost never a plausible
/// float32 in every sample; float32 is also far more common in devices. A lower half that holds
/// still (a float64 stepping by binary fractions) keeps the float64.
fn two_floats(samples: &Samples, at: usize, n: usize, order: WordOrder) -> bool {
    let low = if order.swaps_words() { at } else { at + 2 };
    let window = samples.window(low, 2);
    let low_changes = window.windows(2).any(|p| p[0] != p[1]);
    let float32 = |at| wide(samples, at, n, 2).is_some_and(|p| p.data_type == DataType::Float32);
    low_changes && float32(at) && float32(at + 2)
}

fn printable(b: u8) -> bool {
    (0x20..=0x7E).contains(&b)
}

/// A string starting at `at`: registers of printable ASCII, then NUL or space padding up to
/// the next register that is not padding; at least two registers and two letters.
fn text(samples: &Samples, at: usize, n: usize) -> Option<Proposal> {
    let word_ok = |w: u16| w.to_be_bytes().iter().all(|&b| b == 0 || printable(b));
    let zero = |k: usize| samples.words.iter().all(|s| s[k] == 0);
    if zero(at) {
        return None;
    }
    let mut end = at;
    let mut padding = false;
    while end < n && samples.words.iter().all(|s| word_ok(s[end])) {
        if zero(end) {
            padding = true;
        } else if padding {
            break;
        }
        end += 1;
    }
    let len = end - at;
    // A counter whose bytes happen to be printable counts up between samples; text holds
    // still.
    if len < 2 || counter32(&samples.window(at, 2)).is_some() {
        return None;
    }
    let window = samples.window(at, len);
    let mut readings = Vec::new();
    for order in [WordOrder::Abcd, WordOrder::Badc] {
        let decoded: Vec<(String, bool)> = window.iter().map(|w| decode_string(w, order)).collect();
        let clean = decoded
            .iter()
            .all(|(t, ok)| *ok && !t.contains('\0') && t.bytes().all(printable));
        let letters = decoded
            .iter()
            .map(|(t, _)| t.chars().filter(char::is_ascii_alphabetic).count())
            .max()
            .unwrap_or(0);
        if clean && letters >= 2 {
            let shown: Vec<String> = decoded.iter().map(|(t, _)| format!("{t:?}")).collect();
            readings.push((order, shown.join(", ")));
        }
    }
    let (order, shown) = readings.first()?.clone();
    // Only padding inside a register tells the byte order; without it both read as text.
    let both = readings.len() > 1;
    let confidence = if len >= 3 && !both { 0.85 } else { 0.55 };
    let also = readings
        .get(1)
        .map(|(o, t)| format!("; as {o} also text: {t}"))
        .unwrap_or_default();
    Some(Proposal {
        address: 0,
        data_type: DataType::String,
        word_order: order,
        length: u16::try_from(len).ok(),
        bit: None,
        kind: Kind::Text,
        confidence,
        evidence: format!("ASCII {shown} in {len} registers{also}"),
    })
}

/// A float is plausible when finite, zero or normal, and between 1e-3 and 1e7 in size.
fn plausible(v: f64, data_type: DataType) -> bool {
    if v == 0.0 {
        return true;
    }
    let normal = match data_type {
        DataType::Float32 => (v as f32).is_normal(),
        _ => v.is_normal(),
    };
    normal && (1e-3..=1e7).contains(&v.abs())
}

/// How much a series jumps: the mean of |log2(b/a)| over consecutive samples, a sign
/// change counting as a doubling.
fn roughness(values: &[f64]) -> f64 {
    if values.len() < 2 {
        return 0.0;
    }
    let jumps: f64 = values
        .windows(2)
        .map(|p| {
            let (a, b) = (p[0], p[1]);
            if a == b {
                0.0
            } else if a == 0.0 || b == 0.0 || a.signum() != b.signum() {
                1.0 + (a.abs().max(b.abs()) + 1.0).log2().abs() / 32.0
            } else {
                (b.abs() / a.abs()).log2().abs()
            }
        })
        .sum();
    jumps / (values.len() - 1) as f64
}

/// Trailing zero bits of the mantissa: round numbers such as 230.5 have many.
fn roundness(v: f64, data_type: DataType) -> u32 {
    match data_type {
        DataType::Float32 => ((v as f32).to_bits() & 0x007F_FFFF | 0x0080_0000).trailing_zeros(),
        _ => (v.to_bits() & 0x000F_FFFF_FFFF_FFFF | 0x0010_0000_0000_0000).trailing_zeros(),
    }
}

/// The word carrying the least significant bits of a value in `order`, and of the most.
fn low_high(words: &[u16], order: WordOrder) -> (u16, u16) {
    let n = words.len();
    if order.swaps_words() {
        (words[0], words[n - 1])
    } else {
        (words[n - 1], words[0])
    }
}

/// Two or four registers read as one value: a float in the order that makes it plausible and
/// smoothest, or a 32-bit counter.
fn wide(samples: &Samples, at: usize, n: usize, width: usize) -> Option<Proposal> {
    if at + width > n {
        return None;
    }
    let window = samples.window(at, width);
    // All-zero or 16-bit-looking pairs (upper word 0 or FFFF) are not floats.
    let float_type = if width == 4 {
        DataType::Float64
    } else {
        DataType::Float32
    };
    // Counters step their low word by a little; a changing float's low word (the end of
    // its mantissa) jumps by thousands.
    let small_steps = |order: WordOrder| {
        let lows = |p: &[&[u16]]| (low_high(p[0], order).0, low_high(p[1], order).0);
        window.windows(2).all(|p| {
            let (l0, l1) = lows(p);
            l0.abs_diff(l1) <= 64
        }) && window.windows(2).any(|p| {
            let (l0, l1) = lows(p);
            l0 != l1
        })
    };
    let mut candidates: Vec<(WordOrder, f64, u32, Vec<f64>)> = Vec::new();
    for order in [
        WordOrder::Abcd,
        WordOrder::Cdab,
        WordOrder::Badc,
        WordOrder::Dcba,
    ] {
        let values: Vec<f64> = window
            .iter()
            .filter_map(|w| decode_words(w, float_type, order))
            .collect();
        let (_, high) = low_high(window[0], order);
        let high = if order.swaps_bytes() {
            high.swap_bytes()
        } else {
            high
        };
        let round = values
            .iter()
            .map(|&v| roundness(v, float_type))
            .min()
            .unwrap_or(0);
        // The upper word stepping by a little under a still, ragged lower word is a
        // counter read across its neighbour, not a float (whose changes reach the end of
        // its mantissa unless the values are round).
        let upper_steps = window.windows(2).all(|p| {
            let (l0, h0) = low_high(p[0], order);
            let (l1, h1) = low_high(p[1], order);
            l0 == l1 && h0.abs_diff(h1) <= 64
        }) && window
            .windows(2)
            .any(|p| low_high(p[0], order).1 != low_high(p[1], order).1);
        if values.len() != window.len()
            || (upper_steps && round < 8)
            || values.iter().all(|&v| v == 0.0)
            || !values.iter().all(|&v| plausible(v, float_type))
            || high == 0
            || high == 0xFFFF
            || (window.len() > 1 && small_steps(order))
        {
            continue;
        }
        candidates.push((order, roughness(&values), round, values));
    }
    candidates.sort_by(|a, b| a.1.total_cmp(&b.1).then(b.2.cmp(&a.2)));
    if let Some((order, rough, _, values)) = candidates.first() {
        let clear = match candidates.get(1) {
            None => true,
            Some((_, r2, _, _)) => *r2 > rough * 2.0 + 0.05,
        };
        let others: Vec<String> = candidates[1..]
            .iter()
            .map(|(o, r, _, v)| format!("{o} {:?} (roughness {r:.3})", v.first().unwrap_or(&0.0)))
            .collect();
        return Some(Proposal {
            address: 0,
            data_type: float_type,
            word_order: *order,
            length: None,
            bit: None,
            kind: Kind::Value,
            confidence: if clear { 0.8 } else { 0.5 },
            evidence: format!(
                "words {}: {float_type} {order} {values:?} (roughness {rough:.3}){}",
                hex(&window),
                if others.is_empty() {
                    String::new()
                } else {
                    format!("; also plausible: {}", others.join(", "))
                }
            ),
        });
    }
    if width == 2 {
        return counter32(&window);
    }
    None
}

/// A 32-bit counter: as one number it only grows while its upper word holds still (or
/// steps by exactly the carry when the lower word wraps), in ABCD, or in CDAB when a carry
/// was seen.
fn counter32(window: &[&[u16]]) -> Option<Proposal> {
    if window.len() < 2 {
        return None;
    }
    for order in [WordOrder::Abcd, WordOrder::Cdab] {
        let values: Vec<f64> = window
            .iter()
            .filter_map(|w| decode_words(w, DataType::Uint32, order))
            .collect();
        let grows =
            values.windows(2).all(|p| p[1] >= p[0]) && values.windows(2).any(|p| p[1] > p[0]);
        let mut carried = false;
        let steady = window.windows(2).all(|p| {
            let (l0, h0) = low_high(p[0], order);
            let (l1, h1) = low_high(p[1], order);
            if h0 == h1 {
                true
            } else {
                // A carry wraps the lower word from near its top to near zero; a lower
                // word that only dropped a little is a neighbour that moved, not a carry.
                let carry = h1 == h0.wrapping_add(1) && l1 < l0 && l0 - l1 >= 0x8000;
                carried |= carry;
                carry
            }
        });
        let (_, high) = low_high(window[0], order);
        // Without a carry, a still upper word is as likely a neighbouring register that
        // did not change: only the Modbus default order is proposed then.
        if grows && steady && high != 0 && (carried || order == WordOrder::Abcd) {
            let confidence = if carried { 0.9 } else { 0.6 };
            return Some(Proposal {
                address: 0,
                data_type: DataType::Uint32,
                word_order: order,
                length: None,
                bit: None,
                kind: Kind::Counter,
                confidence,
                evidence: format!(
                    "words {}: uint32 {order} {values:?} only grows{}",
                    hex(window),
                    if carried {
                        ", the upper word taking the carry"
                    } else {
                        " with its upper word still"
                    }
                ),
            });
        }
    }
    None
}

/// One register on its own: a constant, a bit field, a counter, a signed or an unsigned value.
fn single(samples: &Samples, at: usize) -> Vec<Proposal> {
    let values: Vec<u16> = samples.words.iter().map(|s| s[at]).collect();
    let shown = values
        .iter()
        .map(|w| format!("{w:04X}"))
        .collect::<Vec<_>>()
        .join(" | ");
    let base = |data_type, kind, confidence, evidence: String| Proposal {
        address: 0,
        data_type,
        word_order: WordOrder::Abcd,
        length: None,
        bit: None,
        kind,
        confidence,
        evidence,
    };
    let first = values.first().copied().unwrap_or(0);
    if values.len() >= 2 && values.iter().all(|&v| v == first) {
        return vec![base(
            DataType::Uint16,
            Kind::Constant,
            0.5,
            format!("word {shown}: the same in all {} samples", values.len()),
        )];
    }
    let changed = values.iter().fold(0u16, |acc, &v| acc | (v ^ first));
    let set = values.iter().fold(0u16, |acc, &v| acc | v);
    if changed.count_ones() <= 3 && set.count_ones() <= 4 && (changed & !set) == 0 {
        let mut flags = Vec::new();
        for bit in 0..16u8 {
            if set & (1 << bit) != 0 {
                let mut p = base(
                    DataType::Bool,
                    Kind::Flag,
                    0.7,
                    format!("word {shown}: only bits {set:#06X} are ever set; this is bit {bit}"),
                );
                p.bit = Some(bit);
                flags.push(p);
            }
        }
        return flags;
    }
    let signed: Vec<i16> = values.iter().map(|&v| v as i16).collect();
    let grows = values.windows(2).all(|p| p[1] >= p[0]);
    let signed_grows = signed.windows(2).all(|p| p[1] >= p[0]);
    let negative_small = signed.iter().any(|&v| v < 0) && signed.iter().all(|&v| v > -0x4000);
    if negative_small {
        let kind = if signed_grows {
            Kind::Counter
        } else {
            Kind::Value
        };
        return vec![base(
            DataType::Int16,
            kind,
            0.7,
            format!("word {shown}: as int16 {signed:?}, small on both sides of zero"),
        )];
    }
    if grows {
        return vec![base(
            DataType::Uint16,
            Kind::Counter,
            0.6,
            format!("word {shown}: only grows ({values:?})"),
        )];
    }
    // A measured value in tenths or hundredths (230.4 V as 2304, 45.6 °C as 4560) moves by
    // a little around its level; noise and packed words jump across the range.
    let (lo, hi) = (
        values.iter().copied().min().unwrap_or(0),
        values.iter().copied().max().unwrap_or(0),
    );
    if lo > 0 && u32::from(hi - lo) * 50 <= u32::from(lo) {
        return vec![base(
            DataType::Uint16,
            Kind::Value,
            0.6,
            format!("word {shown}: a value moving by 2 % or less ({values:?})"),
        )];
    }
    vec![base(
        DataType::Uint16,
        Kind::Unknown,
        0.4,
        format!("word {shown}: no type fits better than uint16 ({values:?})"),
    )]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::{encode_string, encode_words};

    fn words(value: f64, data_type: DataType, order: WordOrder) -> Vec<u16> {
        let mut w = vec![0; usize::from(data_type.width())];
        encode_words(value, data_type, order, &mut w);
        w
    }

    /// Samples of a run made of `parts`, each a function of the sample index.
    fn run(samples: usize, parts: &[&dyn Fn(usize) -> Vec<u16>]) -> Samples {
        Samples {
            start: 100,
            words: (0..samples)
                .map(|s| parts.iter().flat_map(|f| f(s)).collect())
                .collect(),
        }
    }

    fn shape(p: &[Proposal]) -> Vec<(u16, DataType, WordOrder)> {
        p.iter()
            .map(|p| (p.address, p.data_type, p.word_order))
            .collect()
    }

    #[test]
    fn float32_is_found_in_each_word_order() {
        for order in [
            WordOrder::Abcd,
            WordOrder::Cdab,
            WordOrder::Badc,
            WordOrder::Dcba,
        ] {
            let volts = |s: usize| words(229.7 + s as f64 * 0.37, DataType::Float32, order);
            let hz = |s: usize| words(49.98 + s as f64 * 0.011, DataType::Float32, order);
            let found = infer_run(&run(4, &[&volts, &hz]));
            assert_eq!(
                shape(&found),
                vec![
                    (100, DataType::Float32, order),
                    (102, DataType::Float32, order)
                ],
                "{order}: {found:#?}"
            );
            assert!(!found[0].is_uncertain(), "{:?}", found[0]);
        }
    }

    #[test]
    fn float64_is_found_in_each_word_order() {
        for order in [WordOrder::Abcd, WordOrder::Dcba, WordOrder::Cdab] {
            let energy = |s: usize| words(123_456.789 + s as f64 * 1.5, DataType::Float64, order);
            let found = infer_run(&run(3, &[&energy]));
            assert_eq!(
                shape(&found),
                vec![(100, DataType::Float64, order)],
                "{order}: {found:#?}"
            );
        }
    }

    #[test]
    fn neighbouring_float32_values_are_not_read_as_one_float64() {
        // Seen on the simulator: a BADC float32 near 772 and a DCBA one near 196 whose
        // upper bytes changed together read as a smooth float64 near 2.6e6.
        let samples = Samples {
            start: 14,
            words: vec![
                vec![0x4144, 0x0621, 0x139A, 0x4443],
                vec![0x4144, 0xFBDD, 0x3560, 0x4343],
                vec![0x4144, 0x9962, 0x4770, 0x4343],
                vec![0x4144, 0x7411, 0x393C, 0x4443],
            ],
        };
        let found = infer_run(&samples);
        assert_eq!(
            found
                .iter()
                .map(|p| (p.address, p.data_type))
                .collect::<Vec<_>>(),
            vec![(14, DataType::Float32), (16, DataType::Float32)],
            "{found:#?}"
        );
    }

    #[test]
    fn a_counter_whose_bytes_are_printable_is_not_text() {
        // Seen on the simulator: an energy counter near 0x2A214732 reads "*!G2", "*!GR".
        let samples = Samples {
            start: 4,
            words: vec![
                vec![0x2A21, 0x4732, 0x0000],
                vec![0x2A21, 0x4752, 0x0000],
                vec![0x2A21, 0x4768, 0x0000],
            ],
        };
        let found = infer_run(&samples);
        assert_eq!(
            (found[0].address, found[0].data_type, found[0].kind),
            (4, DataType::Uint32, Kind::Counter),
            "{found:#?}"
        );
    }

    #[test]
    fn strings_in_either_byte_order() {
        for order in [WordOrder::Abcd, WordOrder::Badc] {
            let name = |_: usize| {
                let mut w = vec![0; 6];
                encode_string("PM5560A", order, 0, &mut w[..4]);
                w
            };
            let found = infer_run(&run(3, &[&name, &|_| vec![7]]));
            assert_eq!(found[0].data_type, DataType::String, "{found:#?}");
            assert_eq!(found[0].word_order, order);
            assert_eq!(
                found[0].length,
                Some(6),
                "NUL padding belongs to the string"
            );
            assert!(
                !found[0].is_uncertain(),
                "the odd padding byte tells the order"
            );
            assert_eq!(found[1].address, 106);
        }
        let even = |_: usize| {
            let mut w = vec![0; 3];
            encode_string("PM5560", WordOrder::Abcd, 0, &mut w);
            w
        };
        let found = infer_run(&run(3, &[&even]));
        assert_eq!(
            shape(&found),
            vec![(100, DataType::String, WordOrder::Abcd)]
        );
        assert!(found[0].is_uncertain(), "{found:#?}");
    }

    #[test]
    fn counters_constants_flags_and_signed_values() {
        let energy = |s: usize| {
            // 0x0001_FFF0 + 10 s: the lower word wraps between samples 1 and 2
            words(
                131_056.0 + 10.0 * s as f64,
                DataType::Uint32,
                WordOrder::Abcd,
            )
        };
        let constant = |_: usize| vec![0x1234];
        let status = |s: usize| vec![if s.is_multiple_of(2) { 0b0101 } else { 0b0100 }];
        let temp = |s: usize| vec![(-25i16 + s as i16 * 20) as u16];
        let found = infer_run(&run(4, &[&energy, &constant, &status, &temp]));
        let kinds: Vec<(u16, DataType, Kind, Option<u8>)> = found
            .iter()
            .map(|p| (p.address, p.data_type, p.kind, p.bit))
            .collect();
        assert_eq!(
            kinds,
            vec![
                (100, DataType::Uint32, Kind::Counter, None),
                (102, DataType::Uint16, Kind::Constant, None),
                (103, DataType::Bool, Kind::Flag, Some(0)),
                (103, DataType::Bool, Kind::Flag, Some(2)),
                (104, DataType::Int16, Kind::Counter, None),
            ],
            "{found:#?}"
        );
        assert!(found[0].confidence >= 0.9, "the carry is strong evidence");
        assert!(found[1].is_uncertain());
    }

    #[test]
    fn a_counter_next_to_a_still_word_is_not_read_word_swapped() {
        // uint16 counter, then a uint32 whose upper word holds still: the pair (counter,
        // upper word) must not pass for a word-swapped uint32.
        let counter = |s: usize| vec![500 + s as u16];
        let energy = |s: usize| {
            words(
                0x0042_0100 as f64 + 7.0 * s as f64,
                DataType::Uint32,
                WordOrder::Abcd,
            )
        };
        let found = infer_run(&run(3, &[&counter, &energy]));
        assert_eq!(
            shape(&found),
            vec![
                (100, DataType::Uint16, WordOrder::Abcd),
                (101, DataType::Uint32, WordOrder::Abcd)
            ],
            "{found:#?}"
        );
    }

    #[test]
    fn a_counter_is_not_read_as_a_word_swapped_float() {
        // A uint32 whose lower word counts while its upper word holds a ragged value: in
        // CDAB the pair is a float whose upper half steps, which no float does.
        let energy = |s: usize| vec![0x4351, 0x1234 + 7 * s as u16];
        let found = infer_run(&run(3, &[&energy]));
        assert_eq!(
            shape(&found),
            vec![(100, DataType::Uint32, WordOrder::Abcd)],
            "{found:#?}"
        );
        // Round floats step their upper word alone: still floats.
        let round = |s: usize| words(230.5 + 0.5 * s as f64, DataType::Float32, WordOrder::Cdab);
        let found = infer_run(&run(3, &[&round]));
        assert_eq!(
            shape(&found),
            vec![(100, DataType::Float32, WordOrder::Cdab)],
            "{found:#?}"
        );
    }

    #[test]
    fn a_value_and_its_neighbour_moving_are_not_a_carry() {
        // A temperature dropping by a little while the voltage after it steps up by one
        // reads, word-swapped, like a counter taking a carry; a carry wraps the lower word.
        let pair = |s: usize| vec![[4340, 4331, 4322][s], [2300, 2301, 2302][s]];
        let found = infer_run(&run(3, &[&pair]));
        assert!(
            found.iter().all(|p| p.data_type != DataType::Uint32),
            "{found:#?}"
        );
    }

    #[test]
    fn a_value_moving_a_little_is_a_measured_uint16() {
        let volts = |s: usize| vec![[2323, 2321, 2325, 2322][s % 4]];
        let found = infer_run(&run(4, &[&volts]));
        assert_eq!(
            (found[0].data_type, found[0].kind),
            (DataType::Uint16, Kind::Value)
        );
        assert!(!found[0].is_uncertain(), "{:?}", found[0]);
    }

    #[test]
    fn noise_stays_uint16_and_is_marked_uncertain() {
        let noise = |s: usize| vec![[0x9A31, 0x0417, 0xE2C0, 0x5B07][s % 4]];
        let found = infer_run(&run(4, &[&noise]));
        assert_eq!(
            shape(&found),
            vec![(100, DataType::Uint16, WordOrder::Abcd)]
        );
        assert!(found[0].is_uncertain());
        assert!(found[0].evidence.contains("9A31"), "{}", found[0].evidence);
    }
}
