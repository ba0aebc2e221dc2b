//! Scale-factor registers (SunSpec `*_SF`): a point whose engineering value needs the
//! power-of-ten exponent held in another register is decoded once the whole poll is in, with
//! the exponent read in that same poll, so a value and its factor always belong together.

use crate::client::ReadData;
use crate::decode::{decode_words, raw_bits};
use crate::poll::{Exponent, Sample, decode_scaled};
use historian_model::RegisterPoint;
use std::collections::HashMap;

/// Exponents outside this range are not a plausible scale factor (SunSpec uses -10..10).
pub const EXPONENT_RANGE: std::ops::RangeInclusive<i64> = -10..=10;

/// For each point of a map, the index of its scale-factor register.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FactorIndex {
    of: Vec<Option<usize>>,
}

impl FactorIndex {
    /// Resolves each point's `scale_factor` name within `points` (a name not in the map,
    /// which `check_map` refuses, leaves that point without a factor register).
    pub fn new(points: &[RegisterPoint]) -> Self {
        let names: HashMap<&str, usize> = points
            .iter()
            .enumerate()
            .map(|(i, p)| (p.name.as_str(), i))
            .collect();
        let of = points
            .iter()
            .map(|p| {
                p.scale_factor
                    .as_deref()
                    .and_then(|n| names.get(n).copied())
            })
            .collect();
        Self { of }
    }

    /// The scale-factor register of point `i`.
    pub fn of(&self, i: usize) -> Option<usize> {
        self.of.get(i).copied().flatten()
    }

    /// True when no point has a scale factor.
    pub fn is_empty(&self) -> bool {
        self.of.iter().all(Option::is_none)
    }

    /// True when point `j` is some point's scale-factor register.
    fn is_factor(&self, j: usize) -> bool {
        self.of.contains(&Some(j))
    }
}

/// The exponent a scale-factor register holds in `data`, `offset` words in.
pub fn read_exponent(point: &RegisterPoint, data: &ReadData, offset: usize) -> Exponent {
    let ReadData::Registers(words) = data else {
        return Exponent::Unread;
    };
    let Some(w) = words.get(offset..offset + usize::from(point.width())) else {
        return Exponent::Unread;
    };
    if point.limits.not_available.is_some()
        && raw_bits(w, point.word_order) == point.limits.not_available
    {
        return Exponent::Unread;
    }
    match decode_words(w, point.data_type, point.word_order) {
        Some(raw) if raw.fract() == 0.0 && EXPONENT_RANGE.contains(&(raw as i64)) => {
            Exponent::Power(raw as i32)
        }
        Some(raw) => Exponent::Implausible(raw),
        None => Exponent::Unread,
    }
}

/// Decodes the points of one poll, holding back those with a scale factor until every
/// exponent of the poll is known.
#[derive(Debug)]
pub(crate) struct PollDecoder<'a> {
    points: &'a [RegisterPoint],
    factors: &'a FactorIndex,
    exponents: HashMap<usize, Exponent>,
    /// Scaled points read this poll: index and their own words.
    held: Vec<(usize, Vec<u16>)>,
}

impl<'a> PollDecoder<'a> {
    /// A decoder for one poll of `points`.
    pub fn new(points: &'a [RegisterPoint], factors: &'a FactorIndex) -> Self {
        Self {
            points,
            factors,
            exponents: HashMap::new(),
            held: Vec::new(),
        }
    }

    /// Decodes point `i` from a reply, `offset` words (or bits) in, into `samples`; a
    /// scaled point waits for [`PollDecoder::finish`].
    pub fn decode(&mut self, i: usize, data: &ReadData, offset: usize, samples: &mut [Sample]) {
        let p = &self.points[i];
        if self.factors.is_factor(i) {
            self.exponents.insert(i, read_exponent(p, data, offset));
        }
        if self.factors.of(i).is_none() {
            samples[i] = crate::poll::decode_point(p, data, offset);
            return;
        }
        match data {
            ReadData::Registers(words) => {
                match words.get(offset..offset + usize::from(p.width())) {
                    Some(w) => self.held.push((i, w.to_vec())),
                    None => samples[i] = Sample::BAD,
                }
            }
            ReadData::Bits(_) => samples[i] = Sample::BAD,
        }
    }

    /// Decodes the held points with the exponents read this poll.
    pub fn finish(self, samples: &mut [Sample]) {
        for (i, words) in self.held {
            let exponent = self
                .factors
                .of(i)
                .and_then(|j| self.exponents.get(&j).copied())
                .unwrap_or(Exponent::Unread);
            samples[i] = decode_scaled(&self.points[i], &ReadData::Registers(words), 0, exponent);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adaptive::AdaptivePlan;
    use historian_model::{DataType, PlanOptions, Quality, RegisterRef, Table, ValueLimits};

    fn map() -> Vec<RegisterPoint> {
        let at = |name: &str, address, data_type, sf: Option<&str>| RegisterPoint {
            name: name.into(),
            register: RegisterRef::new(Table::HoldingRegister, address),
            data_type,
            scale_factor: sf.map(Into::into),
            ..RegisterPoint::default()
        };
        vec![
            RegisterPoint {
                scale: 2.0,
                offset: 1.0,
                limits: ValueLimits {
                    max: Some(100.0),
                    ..ValueLimits::default()
                },
                ..at("w", 0, DataType::Uint16, Some("w_sf"))
            },
            RegisterPoint {
                limits: ValueLimits {
                    not_available: Some(0x8000),
                    ..ValueLimits::default()
                },
                ..at("w_sf", 1, DataType::Int16, None)
            },
            at("plain", 200, DataType::Uint16, None),
        ]
    }

    /// Decodes `w` and `w_sf` from one reply of two registers.
    fn decode(words: [u16; 2]) -> Sample {
        let points = map();
        let factors = FactorIndex::new(&points);
        let mut samples = vec![Sample::BAD; points.len()];
        let mut d = PollDecoder::new(&points, &factors);
        let reply = ReadData::Registers(words.to_vec());
        d.decode(0, &reply, 0, &mut samples);
        d.decode(1, &reply, 1, &mut samples);
        d.finish(&mut samples);
        samples[0].clone()
    }

    #[test]
    fn the_exponent_applies_before_scale_offset_and_limits() {
        // 2345 x 10^-2 = 23.45, x 2 + 1 = 47.9
        assert_eq!(
            decode([2345, (-2i16) as u16]),
            Sample::number(47.9, Quality::Good)
        );
        // 2345 x 10^-1 x 2 + 1 = 470: above max, uncertain with its value.
        assert_eq!(
            decode([2345, (-1i16) as u16]),
            Sample::number(470.0, Quality::Uncertain)
        );
        assert_eq!(decode([7, 0]), Sample::number(15.0, Quality::Good));
    }

    #[test]
    fn a_missing_or_implausible_factor_leaves_no_value() {
        // SunSpec's "not implemented" factor: bad.
        assert_eq!(decode([2345, 0x8000]), Sample::BAD);
        // An exponent of 11 is no scale factor: uncertain, no value.
        let s = decode([2345, 11]);
        assert_eq!((s.value, s.quality), (None, Quality::Uncertain));
        // A factor not read in the poll: bad.
        let points = map();
        let factors = FactorIndex::new(&points);
        let mut samples = vec![Sample::BAD; points.len()];
        let mut d = PollDecoder::new(&points, &factors);
        d.decode(0, &ReadData::Registers(vec![2345]), 0, &mut samples);
        d.finish(&mut samples);
        assert_eq!(samples[0], Sample::BAD);
    }

    #[test]
    fn a_plan_of_scaled_points_reads_their_factors() {
        let points = map();
        let plan = AdaptivePlan::for_subset(&points, &[0], PlanOptions::default());
        let read: Vec<(u16, u16)> = plan
            .plan()
            .requests
            .iter()
            .map(|r| (r.start(), r.count()))
            .collect();
        assert_eq!(read, [(0, 2)]);
        let plain = AdaptivePlan::for_subset(&points, &[2], PlanOptions::default());
        assert_eq!(plain.plan().requests.len(), 1);
        assert_eq!(plain.plan().requests[0].start(), 200);
    }
}
