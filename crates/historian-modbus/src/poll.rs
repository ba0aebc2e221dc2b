//! What one poll yields: one decoded sample per point.

use crate::client::{ReadData, ReadError};
use crate::decode::{decode_words, scale};
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

/// Decodes one point from a request's reply, `offset` words (or bits) into it.
pub fn decode_point(point: &RegisterPoint, data: &ReadData, offset: usize) -> Sample {
    let raw = match data {
        ReadData::Bits(bits) => bits.get(offset).map(|&b| f64::from(u8::from(b))),
        ReadData::Registers(words) => {
            let width = usize::from(point.data_type.width());
            words
                .get(offset..offset + width)
                .and_then(|w| decode_words(w, point.data_type, point.word_order))
        }
    };
    match raw {
        Some(raw) if raw.is_finite() => Sample {
            value: Some(scale(raw, point.scale, point.offset)),
            quality: Quality::Good,
        },
        // NaN and infinities cannot be trusted as measurements but are kept for inspection.
        Some(_) => Sample {
            value: None,
            quality: Quality::Uncertain,
        },
        None => Sample::BAD,
    }
}
