//! What one poll yields: one decoded sample per point.

use crate::client::{ReadData, ReadError};
use crate::decode::{decode_integer, decode_string, decode_words, raw_bits, register_bit, scale};
use crate::plan::ReadRequest;
use historian_model::RegisterPoint;
use historian_model::{DataType, Quality, Table, exact_text};
use std::sync::Arc;

/// The decoded outcome for one point of one poll.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Engineering value; `None` when the read failed, and for strings.
    pub value: Option<f64>,
    /// The text of a string point; `None` for every other type.
    pub text: Option<Arc<str>>,
    /// Quality flag.
    pub quality: Quality,
}

impl Sample {
    /// The sample stored for a point whose read failed.
    pub const BAD: Sample = Sample {
        value: None,
        text: None,
        quality: Quality::Bad,
    };

    /// A numeric sample.
    pub const fn number(value: f64, quality: Quality) -> Sample {
        Sample {
            value: Some(value),
            text: None,
            quality,
        }
    }
}

/// What one poll of a device produced.
#[derive(Debug)]
pub struct PollOutcome {
    /// One sample per point, in map order.
    pub samples: Vec<Sample>,
    /// Requests that failed, with why (empty for a clean poll).
    pub errors: Vec<FailedRead>,
}

/// A read request that produced no data: which addresses it asked for, and why it failed.
#[derive(Debug)]
pub struct FailedRead {
    /// The table read.
    pub table: Table,
    /// First wire (0-based) address asked for.
    pub start: u16,
    /// Registers or bits asked for.
    pub count: u16,
    /// Why it failed.
    pub error: ReadError,
}

impl FailedRead {
    /// `req` failed with `error`.
    pub fn new(req: &ReadRequest, error: ReadError) -> Self {
        Self {
            table: req.table(),
            start: req.start(),
            count: req.count(),
            error,
        }
    }

    /// True when the connection itself failed (see [`ReadError::is_link_failure`]).
    pub fn is_link_failure(&self) -> bool {
        self.error.is_link_failure()
    }
}

impl std::fmt::Display for FailedRead {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let last = u32::from(self.start) + u32::from(self.count.max(1)) - 1;
        write!(f, "{} ", self.table)?;
        if self.count > 1 {
            write!(f, "{}..={last}", self.start)?;
        } else {
            write!(f, "{}", self.start)?;
        }
        write!(f, " (wire address): {}", self.error)
    }
}

/// The power-of-ten exponent a point's scale-factor register held in the same poll.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Exponent {
    /// The point has no scale-factor register (same as a power of 0).
    None,
    /// The exponent read.
    Power(i32),
    /// The factor's read failed, or it held its "not available" marker: the point is `bad`.
    Unread,
    /// The factor is not a whole number in -10..10: the point is `uncertain`, value null.
    Implausible(f64),
}

/// Decodes one point without a scale-factor register; see [`decode_scaled`].
pub fn decode_point(point: &RegisterPoint, data: &ReadData, offset: usize) -> Sample {
    decode_scaled(point, data, offset, Exponent::None)
}

/// Decodes one point from a request's reply, `offset` words (or bits) into it, and flags
/// its quality: `bad` (null) for the device's "not available" marker, `uncertain` (null)
/// for NaN or infinity (also after scaling), `uncertain` (value kept) outside the expected
/// range.
///
/// A string is `good` with its text (value null), or `uncertain` when its bytes are not
/// UTF-8. A `bool` taken from a register bit is 0.0 or 1.0 like a coil.
///
/// With a scale factor the engineering value is raw × 10^exponent × scale + offset, and the
/// limits apply to it; a factor that could not be read makes the point `bad`, an implausible
/// one `uncertain` (both without a value).
pub fn decode_scaled(
    point: &RegisterPoint,
    data: &ReadData,
    offset: usize,
    exponent: Exponent,
) -> Sample {
    let (raw, bits, exact) = match data {
        ReadData::Bits(bits) => (
            bits.get(offset).map(|&b| f64::from(u8::from(b))),
            None,
            None,
        ),
        ReadData::Registers(words) => {
            let width = usize::from(point.width());
            match (words.get(offset..offset + width), point.register.bit) {
                (None, _) => (None, None, None),
                (Some(w), _) if point.data_type == DataType::String => {
                    let (text, clean) = decode_string(w, point.word_order);
                    return Sample {
                        value: None,
                        text: Some(Arc::from(text)),
                        quality: if clean {
                            Quality::Good
                        } else {
                            Quality::Uncertain
                        },
                    };
                }
                (Some(w), Some(bit)) => (
                    Some(f64::from(u8::from(register_bit(w[0], bit)))),
                    None,
                    None,
                ),
                (Some(w), None) => (
                    decode_words(w, point.data_type, point.word_order),
                    raw_bits(w, point.word_order),
                    decode_integer(w, point.data_type, point.word_order),
                ),
            }
        }
    };
    let limits = &point.limits;
    if bits.is_some() && bits == limits.not_available {
        return Sample::BAD;
    }
    // Dividing by 10^n keeps decimal results exact where multiplying by 10^-n would not.
    let power = |raw: f64| match exponent {
        Exponent::Power(e) if e < 0 => Some(raw / 10f64.powi(-e)),
        Exponent::Power(e) => Some(raw * 10f64.powi(e)),
        _ => Some(raw),
    };
    // An unscaled 64-bit integer keeps its exact decimal where the double rounds it; a
    // scaled one is a float by nature.
    let unscaled = point.scale == 1.0
        && point.offset == 0.0
        && matches!(exponent, Exponent::None | Exponent::Power(0));
    let text = exact.filter(|_| unscaled).and_then(exact_text);
    match exponent {
        Exponent::None | Exponent::Power(_) => {}
        Exponent::Unread => return Sample::BAD,
        Exponent::Implausible(_) => {
            return Sample {
                value: None,
                text: None,
                quality: Quality::Uncertain,
            };
        }
    };
    match raw
        .and_then(power)
        .map(|raw| scale(raw, point.scale, point.offset))
    {
        // A finite raw value can still scale past the largest f64 (a float64 register near
        // its limit times a scale above 1): like NaN, no value to store.
        Some(value) if value.is_finite() => {
            let out_of_range =
                limits.min.is_some_and(|m| value < m) || limits.max.is_some_and(|m| value > m);
            let quality = if out_of_range {
                Quality::Uncertain
            } else {
                Quality::Good
            };
            Sample {
                value: Some(value),
                text,
                quality,
            }
        }
        Some(_) => Sample {
            value: None,
            text: None,
            quality: Quality::Uncertain,
        },
        None => Sample::BAD,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use historian_model::ValueLimits;
    use historian_model::{DataType, RegisterRef, Table, WordOrder};

    fn point(data_type: DataType, limits: ValueLimits) -> RegisterPoint {
        RegisterPoint {
            name: "p".into(),
            register: RegisterRef::new(Table::HoldingRegister, 0),
            data_type,
            word_order: WordOrder::Abcd,
            scale: 0.1,
            limits,
            ..RegisterPoint::default()
        }
    }

    #[test]
    fn sixty_four_bit_integers_keep_their_exact_decimal_where_a_double_rounds() {
        use crate::decode::encode_integer;
        let two_53 = 1i128 << 53;
        for (data_type, n, text) in [
            (
                DataType::Uint64,
                i128::from(u64::MAX),
                Some(u64::MAX.to_string()),
            ),
            (DataType::Int64, two_53 + 1, Some((two_53 + 1).to_string())),
            (
                DataType::Int64,
                i128::from(i64::MAX),
                Some(i64::MAX.to_string()),
            ),
            (DataType::Int64, i128::from(i64::MIN), None),
            (DataType::Int64, -7, None),
        ] {
            for order in [WordOrder::Abcd, WordOrder::Cdab] {
                let mut p = point(data_type, ValueLimits::default());
                p.scale = 1.0;
                p.word_order = order;
                let words = encode_integer(n, data_type, order).expect("fits").to_vec();
                let s = decode_point(&p, &ReadData::Registers(words.clone()), 0);
                assert_eq!(s.value, Some(n as f64), "{data_type} {n} {order}");
                assert_eq!(
                    s.text.as_deref(),
                    text.as_deref(),
                    "{data_type} {n} {order}"
                );
                // Scaled, it is a float: no exact text.
                p.scale = 0.5;
                let s = decode_point(&p, &ReadData::Registers(words), 0);
                assert_eq!(s.text, None);
            }
        }
    }

    #[test]
    fn a_value_scaled_past_the_largest_f64_is_uncertain_without_a_value() {
        let mut p = point(DataType::Float64, ValueLimits::default());
        p.scale = 10.0;
        // f64::MAX, big-endian words.
        let words = vec![0x7FEF, 0xFFFF, 0xFFFF, 0xFFFF];
        let s = decode_point(&p, &ReadData::Registers(words), 0);
        assert_eq!((s.value, s.quality), (None, Quality::Uncertain));
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
        assert_eq!(at(500), Sample::number(50.0, Quality::Good));
        assert_eq!(at(1001).quality, Quality::Uncertain);
        assert_eq!(at(1001).value, Some(100.1));
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
                text: None,
                quality: Quality::Uncertain
            }
        );
        let short = decode_point(&f, &ReadData::Registers(vec![0x7FC0]), 0);
        assert_eq!(short, Sample::BAD);
    }

    #[test]
    fn strings_and_register_bits_decode_in_place() {
        // Reply of 4 registers: [0x1234, 'O''K', NUL NUL, 0b0000_0000_0010_0100]
        let reply = ReadData::Registers(vec![0x1234, 0x4F4B, 0x0000, 0x0024]);
        let text = RegisterPoint {
            data_type: DataType::String,
            length: Some(2),
            ..RegisterPoint::default()
        };
        let s = decode_point(&text, &reply, 1);
        assert_eq!(s.text.as_deref(), Some("OK"));
        assert_eq!((s.value, s.quality), (None, Quality::Good));
        let bit = |b| RegisterPoint {
            data_type: DataType::Bool,
            register: RegisterRef::new(Table::HoldingRegister, 0).with_bit(b),
            ..RegisterPoint::default()
        };
        // 0x0024 has bits 2 and 5 set
        assert_eq!(decode_point(&bit(2), &reply, 3).value, Some(1.0));
        assert_eq!(decode_point(&bit(5), &reply, 3).value, Some(1.0));
        assert_eq!(decode_point(&bit(3), &reply, 3).value, Some(0.0));
        // a string running past the reply is bad, like any short read
        assert_eq!(decode_point(&text, &reply, 3), Sample::BAD);
    }
}
