//! The on-disk form of one spooled batch: a framed, checksummed record.
//!
//! ```text
//! record  = magic u32 | payload_len u32 | crc32(payload) u32 | payload
//! payload = version u8 | count u32 | reading*
//! reading = timestamp_us i64 | device_id i64 | reference u32 | quality u8 |
//!           has_value u8 | [value f64] | has_text u8 | [text str16] |
//!           name str16 | data_type str8 | unit str16
//! ```
//! Little-endian throughout. The length and checksum let start-up tell a torn last write
//! (the process died mid-append) from a complete record, and the magic lets a scan find
//! the next record after a damaged one (see [`super::scan`]): records need no index or
//! segment header to be found again, so the format has one version for old and new files.

use chrono::DateTime;
use historian_model::Reading;
use historian_model::RegisterRef;
use std::sync::Arc;
use thiserror::Error;

/// Marks the start of every record ("HSP1").
pub const MAGIC: u32 = 0x3150_5348;
/// Bytes before the payload.
pub const HEADER_LEN: usize = 12;
/// The payload layout this build writes and reads.
pub const VERSION: u8 = 1;
/// Refuses absurd lengths from a corrupt header before allocating for them.
pub const MAX_PAYLOAD: u32 = 256 * 1024 * 1024;
/// The fewest bytes one encoded reading takes (no value, no text, empty name and unit,
/// the shortest data type name), which bounds a plausible count for a payload's length.
pub const MIN_READING_BYTES: usize = 32;

/// A payload that cannot be turned back into readings.
#[derive(Debug, Error, PartialEq)]
#[error("spooled batch is corrupt: {0}")]
pub struct CorruptBatch(pub String);

/// A parsed record header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Payload bytes that follow the header.
    pub payload_len: u32,
    /// CRC-32 of the payload.
    pub crc: u32,
}

impl Header {
    /// Parses a header; `None` when the magic or the length is wrong.
    pub fn parse(bytes: &[u8; HEADER_LEN]) -> Option<Header> {
        let word =
            |i: usize| u32::from_le_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
        if word(0) != MAGIC || word(4) > MAX_PAYLOAD {
            return None;
        }
        Some(Header {
            payload_len: word(4),
            crc: word(8),
        })
    }
}

/// The header of a record whose payload is `payload_len` bytes with checksum `crc`.
pub fn header(payload_len: u32, crc: u32) -> [u8; HEADER_LEN] {
    let mut h = [0; HEADER_LEN];
    h[0..4].copy_from_slice(&MAGIC.to_le_bytes());
    h[4..8].copy_from_slice(&payload_len.to_le_bytes());
    h[8..12].copy_from_slice(&crc.to_le_bytes());
    h
}

/// Encodes a batch as one complete record (header and payload).
pub fn encode_record(batch: &[Reading]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + 5 + batch.len() * 56);
    out.extend_from_slice(&[0; HEADER_LEN]);
    out.push(VERSION);
    out.extend_from_slice(&(batch.len() as u32).to_le_bytes());
    for r in batch {
        out.extend_from_slice(&r.timestamp.timestamp_micros().to_le_bytes());
        out.extend_from_slice(&r.device_id.to_le_bytes());
        out.extend_from_slice(&r.register_address.reference().to_le_bytes());
        out.push(quality_code(r.quality));
        match r.value {
            Some(v) => {
                out.push(1);
                out.extend_from_slice(&v.to_le_bytes());
            }
            None => out.push(0),
        }
        match &r.text {
            Some(t) => {
                out.push(1);
                put_str(&mut out, t, u16::MAX as usize);
            }
            None => out.push(0),
        }
        put_str(&mut out, &r.register_name, u16::MAX as usize);
        put_str(&mut out, r.data_type.as_str(), u8::MAX as usize);
        put_str(&mut out, &r.unit, u16::MAX as usize);
    }
    let payload_len = (out.len() - HEADER_LEN) as u32;
    let crc = crc32fast::hash(&out[HEADER_LEN..]);
    out[..HEADER_LEN].copy_from_slice(&header(payload_len, crc));
    out
}

/// Decodes a payload whose checksum was already verified.
pub fn decode_payload(payload: &[u8]) -> Result<Vec<Reading>, CorruptBatch> {
    let mut cur = Cursor {
        buf: payload,
        pos: 0,
    };
    let version = cur.u8()?;
    if version != VERSION {
        return Err(CorruptBatch(format!("unknown record version {version}")));
    }
    let count = cur.u32()? as usize;
    // A count beyond what the payload could hold is corrupt, not huge.
    if count > payload.len() / MIN_READING_BYTES + 1 {
        return Err(CorruptBatch(format!("count {count} exceeds the payload")));
    }
    let mut readings = Vec::with_capacity(count);
    for _ in 0..count {
        let micros = cur.i64()?;
        let timestamp = DateTime::from_timestamp_micros(micros)
            .ok_or_else(|| CorruptBatch(format!("timestamp {micros} out of range")))?;
        let device_id = cur.i64()?;
        let register_address = RegisterRef::from_reference(cur.u32()?).map_err(CorruptBatch)?;
        let quality = quality_from(cur.u8()?)?;
        let value = match cur.u8()? {
            0 => None,
            1 => Some(cur.f64()?),
            other => return Err(CorruptBatch(format!("value flag {other}"))),
        };
        let text: Option<Arc<str>> = match cur.u8()? {
            0 => None,
            1 => Some(cur.str(2)?.into()),
            other => return Err(CorruptBatch(format!("text flag {other}"))),
        };
        let register_name: Arc<str> = cur.str(2)?.into();
        let data_type = cur.str(1)?.parse().map_err(CorruptBatch)?;
        let unit: Arc<str> = cur.str(2)?.into();
        readings.push(Reading {
            timestamp,
            device_id,
            register_address,
            value,
            text,
            quality,
            register_name,
            data_type,
            unit,
        });
    }
    if cur.pos != payload.len() {
        return Err(CorruptBatch(format!(
            "{} bytes after the last reading",
            payload.len() - cur.pos
        )));
    }
    Ok(readings)
}

fn quality_code(q: historian_model::Quality) -> u8 {
    match q {
        historian_model::Quality::Good => 0,
        historian_model::Quality::Bad => 1,
        historian_model::Quality::Uncertain => 2,
    }
}

fn quality_from(code: u8) -> Result<historian_model::Quality, CorruptBatch> {
    Ok(match code {
        0 => historian_model::Quality::Good,
        1 => historian_model::Quality::Bad,
        2 => historian_model::Quality::Uncertain,
        _ => return Err(CorruptBatch(format!("quality code {code}"))),
    })
}

/// Writes a length-prefixed string; names longer than the prefix allows are cut at a
/// character boundary (map validation keeps real names far shorter).
fn put_str(out: &mut Vec<u8>, s: &str, max: usize) {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    let bytes = &s.as_bytes()[..end];
    if max > u8::MAX as usize {
        out.extend_from_slice(&(bytes.len() as u16).to_le_bytes());
    } else {
        out.push(bytes.len() as u8);
    }
    out.extend_from_slice(bytes);
}

struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], CorruptBatch> {
        let end = self.pos + n;
        let bytes = self
            .buf
            .get(self.pos..end)
            .ok_or_else(|| CorruptBatch(format!("truncated at byte {}", self.pos)))?;
        self.pos = end;
        Ok(bytes)
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N], CorruptBatch> {
        let mut a = [0; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }
    fn u8(&mut self) -> Result<u8, CorruptBatch> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> Result<u32, CorruptBatch> {
        Ok(u32::from_le_bytes(self.array()?))
    }
    fn i64(&mut self) -> Result<i64, CorruptBatch> {
        Ok(i64::from_le_bytes(self.array()?))
    }
    fn f64(&mut self) -> Result<f64, CorruptBatch> {
        Ok(f64::from_le_bytes(self.array()?))
    }
    fn str(&mut self, prefix: usize) -> Result<&'a str, CorruptBatch> {
        let len = if prefix == 1 {
            self.u8()? as usize
        } else {
            u16::from_le_bytes(self.array()?) as usize
        };
        std::str::from_utf8(self.take(len)?).map_err(|e| CorruptBatch(format!("text: {e}")))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use historian_model::{DataType, Quality, Table};

    pub(crate) fn reading(i: i64) -> Reading {
        Reading {
            timestamp: DateTime::from_timestamp_micros(1_700_000_000_000_000 + i * 1_000)
                .expect("in range"),
            device_id: 7,
            register_address: RegisterRef::new(Table::HoldingRegister, (i % 100) as u16),
            value: if i % 3 == 0 {
                None
            } else {
                Some(i as f64 * 0.5)
            },
            text: (i % 5 == 0).then(|| Arc::from(format!("SEL-751 #{i}").as_str())),
            quality: if i % 3 == 0 {
                Quality::Bad
            } else {
                Quality::Good
            },
            register_name: format!("reg_{i}").into(),
            data_type: DataType::Float32,
            unit: "kW".into(),
        }
    }

    #[test]
    fn a_batch_round_trips() {
        let batch: Vec<Reading> = (0..50).map(reading).collect();
        let record = encode_record(&batch);
        let header =
            Header::parse(record[..HEADER_LEN].try_into().expect("12 bytes")).expect("valid");
        assert_eq!(header.payload_len as usize, record.len() - HEADER_LEN);
        assert_eq!(header.crc, crc32fast::hash(&record[HEADER_LEN..]));
        assert_eq!(
            decode_payload(&record[HEADER_LEN..]).expect("decodes"),
            batch
        );
    }

    #[test]
    fn a_64_bit_counter_keeps_every_digit_through_the_spool() {
        let n = i128::from(u64::MAX);
        let counter = Reading {
            value: Some(n as f64),
            text: historian_model::exact_text(n),
            quality: Quality::Good,
            data_type: DataType::Uint64,
            ..reading(1)
        };
        let record = encode_record(std::slice::from_ref(&counter));
        let back = decode_payload(&record[HEADER_LEN..]).expect("decodes");
        assert_eq!(back, [counter]);
        assert_eq!(back[0].number(), Some(historian_model::Number::Integer(n)));
    }

    #[test]
    fn a_wrong_magic_is_no_header() {
        let mut record = encode_record(&[reading(1)]);
        record[0] ^= 0xFF;
        assert_eq!(
            Header::parse(record[..HEADER_LEN].try_into().expect("12 bytes")),
            None
        );
    }

    #[test]
    fn a_truncated_payload_is_corrupt_not_a_panic() {
        let record = encode_record(&[reading(1), reading(2)]);
        for cut in HEADER_LEN..record.len() - 1 {
            assert!(
                decode_payload(&record[HEADER_LEN..cut]).is_err(),
                "cut at {cut}"
            );
        }
    }
}
