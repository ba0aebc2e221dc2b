//! What a poll produces: one value of one register at one instant, with its quality.

use crate::number::Number;
use crate::types::{DataType, Quality, RegisterRef};
use chrono::{DateTime, Utc};
use std::sync::Arc;

/// One reading of one register at one instant.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    /// When the poll that produced it began (UTC, microsecond precision).
    pub timestamp: DateTime<Utc>,
    /// The device's database id.
    pub device_id: i64,
    /// The six-digit register reference (e.g. 400001).
    pub register_address: RegisterRef,
    /// Engineering value; null when the read failed, and for strings. A 64-bit integer
    /// beyond 2^53 is rounded here; `text` then holds it exactly.
    pub value: Option<f64>,
    /// The text of a string register (`value_text` column), or the exact decimal of an
    /// unscaled `int64`/`uint64` reading the double would round ([`crate::exact_text`]);
    /// `None` otherwise.
    pub text: Option<Arc<str>>,
    /// good, bad or uncertain.
    pub quality: Quality,
    /// Name from the register map at the time of the reading.
    pub register_name: Arc<str>,
    /// Data type from the register map.
    pub data_type: DataType,
    /// Unit from the register map.
    pub unit: Arc<str>,
}

impl Reading {
    /// The value as exactly as it was read (an exact integer for 64-bit integer registers);
    /// `None` when there is none.
    pub fn number(&self) -> Option<Number> {
        Number::of(self.data_type, self.value, self.text.as_deref())
    }

    /// The text of a string register; `None` for every other type.
    pub fn string_text(&self) -> Option<&str> {
        match self.data_type {
            DataType::String => self.text.as_deref(),
            _ => None,
        }
    }
}
