//! A reading's number as exactly as it was read: 64-bit integer registers hold values a
//! double cannot (above 2^53), so their exact decimal rides beside the double.

use crate::types::DataType;
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::sync::Arc;

/// A reading's number: the exact integer of a 64-bit integer register, or a double.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Number {
    /// A whole number of an `int64`/`uint64` register, exact over the whole 64-bit range.
    Integer(i128),
    /// Any other value.
    Float(f64),
}

impl Number {
    /// The number a reading of `data_type` stored as `value` and `text` stands for: the
    /// exact integer `text` holds for a 64-bit integer register (see [`exact_text`]), a
    /// whole `value` of such a register as an integer, otherwise `value` as it is.
    pub fn of(data_type: DataType, value: Option<f64>, text: Option<&str>) -> Option<Number> {
        if !matches!(data_type, DataType::Int64 | DataType::Uint64) {
            return value.map(Number::Float);
        }
        if let Some(n) = text.and_then(|t| t.parse::<i128>().ok()) {
            return Some(Number::Integer(n));
        }
        let v = value?;
        // 2^64 bounds both integer types; every whole double inside converts exactly.
        const TWO_64: f64 = 18_446_744_073_709_551_616.0;
        Some(if v.fract() == 0.0 && v.abs() < TWO_64 {
            Number::Integer(v as i128)
        } else {
            Number::Float(v)
        })
    }

    /// The nearest double (what aggregates and charts use).
    pub fn as_f64(self) -> f64 {
        match self {
            Number::Integer(n) => n as f64,
            Number::Float(v) => v,
        }
    }
}

/// The text kept beside the double of a 64-bit integer reading `n`: its exact decimal
/// when the double would round it (beyond 2^53), `None` when the double is exact.
pub fn exact_text(n: i128) -> Option<Arc<str>> {
    // `as` from f64 saturates, so a rounded 2^64 or 2^63 also compares unequal.
    ((n as f64) as i128 != n).then(|| Arc::from(n.to_string()))
}

impl Serialize for Number {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match *self {
            Number::Integer(n) => {
                if let Ok(v) = i64::try_from(n) {
                    s.serialize_i64(v)
                } else if let Ok(v) = u64::try_from(n) {
                    s.serialize_u64(v)
                } else {
                    s.serialize_f64(n as f64)
                }
            }
            Number::Float(v) => s.serialize_f64(v),
        }
    }
}

struct NumberVisitor;

impl Visitor<'_> for NumberVisitor {
    type Value = Number;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a number")
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Number, E> {
        Ok(Number::Integer(i128::from(v)))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Number, E> {
        Ok(Number::Integer(i128::from(v)))
    }

    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Number, E> {
        Ok(Number::Integer(v))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Number, E> {
        Ok(Number::Float(v))
    }
}

impl<'de> Deserialize<'de> for Number {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Number, D::Error> {
        d.deserialize_any(NumberVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_integers_a_double_would_round_get_their_text() {
        let two_53 = 1i128 << 53;
        assert_eq!(exact_text(two_53), None);
        assert_eq!(exact_text(-(1i128 << 63)), None, "a power of two is exact");
        for n in [two_53 + 1, i128::from(i64::MAX), i128::from(u64::MAX)] {
            assert_eq!(exact_text(n).as_deref(), Some(n.to_string().as_str()));
        }
    }

    #[test]
    fn sixty_four_bit_registers_read_back_as_exact_integers() {
        let max = u64::MAX.to_string();
        assert_eq!(
            Number::of(DataType::Uint64, Some(u64::MAX as f64), Some(&max)),
            Some(Number::Integer(i128::from(u64::MAX)))
        );
        assert_eq!(
            Number::of(DataType::Int64, Some(i64::MIN as f64), None),
            Some(Number::Integer(i128::from(i64::MIN)))
        );
        // A scaled 64-bit register is a float by nature.
        assert_eq!(
            Number::of(DataType::Int64, Some(0.5), None),
            Some(Number::Float(0.5))
        );
        assert_eq!(
            Number::of(DataType::Uint16, Some(7.0), None),
            Some(Number::Float(7.0))
        );
        assert_eq!(Number::of(DataType::Int64, None, None), None);
    }

    #[test]
    fn json_holds_every_digit() {
        for n in [
            i128::from(i64::MIN),
            i128::from(i64::MAX),
            i128::from(u64::MAX),
        ] {
            let json = serde_json::to_string(&Number::Integer(n)).expect("json");
            assert_eq!(json, n.to_string());
            let back: Number = serde_json::from_str(&json).expect("parse");
            assert_eq!(back, Number::Integer(n));
        }
        assert_eq!(
            serde_json::to_string(&Number::Float(1.5)).expect("json"),
            "1.5"
        );
    }
}
