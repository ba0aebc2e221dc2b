//! What one poll yields: one decoded sample per point.

use crate::client::{ReadData, ReadError};
use crate::decode::{decode_words, raw_bits, scale};
use crate::map::RegisterPoint;
use crate::types::Quality;

/// The decoded outcome for one point of one poll.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// Engineering value; `None` when the read failed.
    pub value: Option<f64>,
    /// Quality flag.
    pub quality: Quality,
}

impl Sample {
    /// The sample stored for a point whose read failed.
    pub const BAD: Sample = Sample {
        value: None,
        quality: Quality::Bad,
    };
}

/// What one poll of a device produced.
#[derive(Debug)]
pub struct PollOutcome {
    /// One sample per point, in map order.
    pub samples: Vec<Sample>,
    /// Requests that failed, with why (empty for a clean poll).
    pub errors: Vec<ReadError>,
}

/// Decodes one point from a request's reply, `offset` words (or bits) into it, and flags
/// its quality: `bad` (null) for the device's "not available" marker, `uncertain` (null)
/// for NaN or infinity, `uncertain` (value kept) outside the expected range.
pub fn decode_point(point: &RegisterPoint, data: &ReadData, offset: usize) -> Sample {
    let (raw, bits) = match data {
        ReadData::Bits(bits) => (bits.get(offset).map(|&b| f64::from(u8::from(b))), None),
        ReadData::Registers(words) => {
            let width = usize::from(point.data_type.width());
            match words.get(offset..offset + width) {
                Some(w) => (
                    decode_words(w, point.data_type, point.word_order),
                    raw_bits(w, point.word_order),
                ),
                None => (None, None),
            }
        }
    };
    let limits = &point.limits;
    if bits.is_some() && bits == limits.not_available {
        return Sample::BAD;
    }
    match raw {
        Some(raw) if raw.is_finite() => {
            let value = scale(raw, point.scale, point.offset);
            let out_of_range =
                limits.min.is_some_and(|m| value < m) || limits.max.is_some_and(|m| value > m);
            Sample {
                value: Some(value),
                quality: if out_of_range {
                    Quality::Uncertain
                } else {
                    Quality::Good
                },
            }
        }
        Some(_) => Sample {
            value: None,
            quality: Quality::Uncertain,
        },
        None => Sample::BAD,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::map::ValueLimits;
    use crate::types::{DataType, RegisterRef, Table, WordOrder};

    fn point(data_type: DataType, limits: ValueLimits) -> RegisterPoint {
        RegisterPoint {
            name: "p".into(),
            register: RegisterRef::new(Table::HoldingRegister, 0),
            data_type,
            word_order: WordOrder::Abcd,
            scale: 0.1,
            offset: 0.0,
            unit: String::new(),
            limits,
        }
    }

    #[test]
    fn quality_follows_limits_markers_and_nan() {
        let limits = ValueLimits {
            min: Some(0.0),
            max: Some(100.0),
            not_available: Some(0xFFFF),
        };
        let p = point(DataType::Uint16, limits);
        let at = |w: u16| decode_point(&p, &ReadData::Registers(vec![w]), 0);
        assert_eq!(
            at(500),
            Sample {
                value: Some(50.0),
                quality: Quality::Good
            }
        );
        assert_eq!(at(1001).quality, Quality::Uncertain);
        assert_eq!(at(1001).value, Some(1001.0 * 0.1));
        assert_eq!(at(0xFFFF), Sample::BAD);
        let i = point(
            DataType::Int16,
            ValueLimits {
                not_available: Some(0x8000),
                ..limits
            },
        );
        assert_eq!(
            decode_point(&i, &ReadData::Registers(vec![0x8000]), 0),
            Sample::BAD
        );
        let f = point(DataType::Float32, ValueLimits::default());
        let nan = decode_point(&f, &ReadData::Registers(vec![0x7FC0, 0x0000]), 0);
        assert_eq!(
            nan,
            Sample {
                value: None,
                quality: Quality::Uncertain
            }
        );
        let short = decode_point(&f, &ReadData::Registers(vec![0x7FC0]), 0);
        assert_eq!(short, Sample::BAD);
    }
}
