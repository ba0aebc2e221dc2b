//! Turning raw Modbus words into typed values, and typed values back into words (the
//! simulator's direction).

use historian_model::{DataType, WordOrder};

/// Puts the bytes of `words` (as they came off the wire) into most-significant-first order.
fn to_be_bytes(words: &[u16], order: WordOrder, out: &mut [u8; 8]) -> usize {
    let n = words.len();
    for (i, w) in words.iter().enumerate() {
        let slot = if order.swaps_words() { n - 1 - i } else { i };
        let [hi, lo] = w.to_be_bytes();
        let (a, b) = if order.swaps_bytes() {
            (lo, hi)
        } else {
            (hi, lo)
        };
        out[slot * 2] = a;
        out[slot * 2 + 1] = b;
    }
    n * 2
}

/// Inverse of [`to_be_bytes`]: most-significant-first bytes into wire-order words.
fn from_be_bytes(bytes: &[u8], order: WordOrder, out: &mut [u16]) {
    let n = bytes.len() / 2;
    for (slot, chunk) in bytes.chunks_exact(2).enumerate() {
        let (hi, lo) = if order.swaps_bytes() {
            (chunk[1], chunk[0])
        } else {
            (chunk[0], chunk[1])
        };
        let i = if order.swaps_words() {
            n - 1 - slot
        } else {
            slot
        };
        out[i] = u16::from_be_bytes([hi, lo]);
    }
}

/// Decodes the raw (unscaled) value of `data_type` from exactly `data_type.width()` words.
///
/// 16-bit types honour only the byte swap of `order` (BADC and DCBA swap the two bytes).
/// Returns `None` if `words` has the wrong length. `Bool` reads any non-zero word as true.
pub fn decode_words(words: &[u16], data_type: DataType, order: WordOrder) -> Option<f64> {
    if words.len() != usize::from(data_type.width()) {
        return None;
    }
    let mut buf = [0u8; 8];
    let n = to_be_bytes(words, order, &mut buf);
    let b = &buf[..n];
    Some(match data_type {
        DataType::Bool => f64::from(u8::from(words[0] != 0)),
        DataType::Int16 => f64::from(i16::from_be_bytes([b[0], b[1]])),
        DataType::Uint16 => f64::from(u16::from_be_bytes([b[0], b[1]])),
        DataType::Int32 => f64::from(i32::from_be_bytes([b[0], b[1], b[2], b[3]])),
        DataType::Uint32 => f64::from(u32::from_be_bytes([b[0], b[1], b[2], b[3]])),
        DataType::Float32 => f64::from(f32::from_be_bytes([b[0], b[1], b[2], b[3]])),
        // 64-bit integers above 2^53 round here; `decode_integer` gives them exactly.
        DataType::Int64 => i64::from_be_bytes(buf) as f64,
        DataType::Uint64 => u64::from_be_bytes(buf) as f64,
        DataType::Float64 => f64::from_be_bytes(buf),
        DataType::String => return None,
    })
}

/// The exact value of a 64-bit integer register from its four words; `None` for other
/// types or the wrong number of words.
pub fn decode_integer(words: &[u16], data_type: DataType, order: WordOrder) -> Option<i128> {
    if words.len() != 4 {
        return None;
    }
    let mut buf = [0u8; 8];
    to_be_bytes(words, order, &mut buf);
    match data_type {
        DataType::Int64 => Some(i128::from(i64::from_be_bytes(buf))),
        DataType::Uint64 => Some(i128::from(u64::from_be_bytes(buf))),
        _ => None,
    }
}

/// Inverse of [`decode_integer`]: a 64-bit integer into wire-order words (the
/// simulator's direction); `None` when `n` does not fit `data_type`.
pub fn encode_integer(n: i128, data_type: DataType, order: WordOrder) -> Option<[u16; 4]> {
    let bytes = match data_type {
        DataType::Int64 => i64::try_from(n).ok()?.to_be_bytes(),
        DataType::Uint64 => u64::try_from(n).ok()?.to_be_bytes(),
        _ => return None,
    };
    let mut out = [0u16; 4];
    from_be_bytes(&bytes, order, &mut out);
    Some(out)
}

/// Bit `bit` (0 = least significant) of a register as it came off the wire.
pub fn register_bit(word: u16, bit: u8) -> bool {
    bit < 16 && (word >> bit) & 1 == 1
}

/// The text of a string spanning `words`, two characters a register: the first character
/// in the high byte (ABCD) or, for orders that swap bytes (BADC), in the low byte.
/// Trailing NUL and space padding is trimmed. Bytes that are not UTF-8 (most devices send
/// ASCII) become U+FFFD and the second value is `false`.
pub fn decode_string(words: &[u16], order: WordOrder) -> (String, bool) {
    let mut bytes = Vec::with_capacity(words.len() * 2);
    for w in words {
        let [hi, lo] = w.to_be_bytes();
        if order.swaps_bytes() {
            bytes.extend([lo, hi]);
        } else {
            bytes.extend([hi, lo]);
        }
    }
    let end = bytes
        .iter()
        .rposition(|&b| b != 0 && b != b' ')
        .map_or(0, |i| i + 1);
    bytes.truncate(end);
    match String::from_utf8(bytes) {
        Ok(text) => (text, true),
        Err(e) => (String::from_utf8_lossy(e.as_bytes()).into_owned(), false),
    }
}

/// Packs `text` into `out` the way [`decode_string`] reads it, padded with `pad` (NUL or
/// space); text longer than `out` holds is cut (used by the simulator).
pub fn encode_string(text: &str, order: WordOrder, pad: u8, out: &mut [u16]) {
    let mut bytes = text.bytes().chain(std::iter::repeat(pad));
    for w in out.iter_mut() {
        let (a, b) = (bytes.next().unwrap_or(pad), bytes.next().unwrap_or(pad));
        *w = if order.swaps_bytes() {
            u16::from_be_bytes([b, a])
        } else {
            u16::from_be_bytes([a, b])
        };
    }
}

/// The value's bits as an unsigned integer, most significant first (after the word and
/// byte order are undone): what a "not available" marker such as 0xFFFF is compared with.
pub fn raw_bits(words: &[u16], order: WordOrder) -> Option<u64> {
    if words.is_empty() || words.len() > 4 {
        return None;
    }
    let mut buf = [0u8; 8];
    let n = to_be_bytes(words, order, &mut buf);
    Some(
        buf[..n]
            .iter()
            .fold(0u64, |acc, &b| (acc << 8) | u64::from(b)),
    )
}

/// Applies scale and offset: engineering value = raw * scale + offset.
///
/// Scales and offsets are written as decimals (0.1, 0.01, -273.15), which binary floating
/// point holds only approximately, so `2301.0 * 0.1` is 230.10000000000002. When raw is an
/// integer and scale and offset are decimals of at most [`MAX_DECIMALS`] places, the value
/// is computed as an exact integer over a power of ten and divided once, which gives the
/// double nearest the decimal result (230.1). Other inputs take the plain formula.
pub fn scale(raw: f64, scale: f64, offset: f64) -> f64 {
    exact_decimal(raw, scale, offset).unwrap_or(raw * scale + offset)
}

/// Decimal places of a scale or offset that [`scale`] treats as exact.
pub const MAX_DECIMALS: i32 = 9;

/// Integers up to this magnitude are exact in a double.
const EXACT_INT: f64 = 9_007_199_254_740_992.0;

fn exact_decimal(raw: f64, scale: f64, offset: f64) -> Option<f64> {
    if raw.fract() != 0.0 || raw.abs() > EXACT_INT {
        return None;
    }
    let places = decimal_places(scale)?.max(decimal_places(offset)?);
    let p = 10f64.powi(places);
    let (k, o) = ((scale * p).round(), (offset * p).round());
    let n = raw * k + o;
    // Integer products and sums are exact below 2^53; only then is the one division the
    // nearest double to the decimal result.
    if (raw * k).abs() > EXACT_INT || o.abs() > EXACT_INT || n.abs() > EXACT_INT {
        return None;
    }
    Some(n / p)
}

/// The fewest decimal places that write `x` back exactly (`0.1` → 1), if at most
/// [`MAX_DECIMALS`].
fn decimal_places(x: f64) -> Option<i32> {
    (0..=MAX_DECIMALS).find(|&d| {
        let p = 10f64.powi(d);
        let k = (x * p).round();
        k.abs() <= EXACT_INT && k / p == x
    })
}

/// Encodes a raw value of `data_type` into wire-order words (used by the simulator).
///
/// Integers saturate at their type's bounds; NaN encodes as 0 for integer types.
pub fn encode_words(value: f64, data_type: DataType, order: WordOrder, out: &mut [u16]) {
    let mut buf = [0u8; 8];
    let n = match data_type {
        DataType::Bool => {
            out[0] = u16::from(value != 0.0);
            return;
        }
        DataType::Int16 => copy(&mut buf, &(value as i16).to_be_bytes()),
        DataType::Uint16 => copy(&mut buf, &(value as u16).to_be_bytes()),
        DataType::Int32 => copy(&mut buf, &(value as i32).to_be_bytes()),
        DataType::Uint32 => copy(&mut buf, &(value as u32).to_be_bytes()),
        DataType::Float32 => copy(&mut buf, &(value as f32).to_be_bytes()),
        DataType::Int64 => copy(&mut buf, &(value as i64).to_be_bytes()),
        DataType::Uint64 => copy(&mut buf, &(value as u64).to_be_bytes()),
        DataType::Float64 => copy(&mut buf, &value.to_be_bytes()),
        DataType::String => return,
    };
    from_be_bytes(&buf[..n], order, &mut out[..n / 2]);
}

fn copy(buf: &mut [u8; 8], bytes: &[u8]) -> usize {
    buf[..bytes.len()].copy_from_slice(bytes);
    bytes.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use DataType::*;
    use WordOrder::*;

    // Vectors written out by hand from the IEEE-754 / two's-complement encodings, not
    // produced by the encoder under test.
    #[test]
    fn float32_in_every_order() {
        // 123.456f32 = 0x42F6E979: A=42 B=F6 C=E9 D=79
        let cases = [
            (Abcd, [0x42F6, 0xE979]),
            (Cdab, [0xE979, 0x42F6]),
            (Badc, [0xF642, 0x79E9]),
            (Dcba, [0x79E9, 0xF642]),
        ];
        for (order, words) in cases {
            assert_eq!(
                decode_words(&words, Float32, order),
                Some(f64::from(123.456f32)),
                "{order}"
            );
        }
    }

    #[test]
    fn int32_and_uint32_in_every_order() {
        // -2 = 0xFFFFFFFE; 305419896 = 0x12345678
        assert_eq!(decode_words(&[0xFFFF, 0xFFFE], Int32, Abcd), Some(-2.0));
        assert_eq!(decode_words(&[0xFFFE, 0xFFFF], Int32, Cdab), Some(-2.0));
        assert_eq!(decode_words(&[0xFFFF, 0xFEFF], Int32, Badc), Some(-2.0));
        assert_eq!(decode_words(&[0xFEFF, 0xFFFF], Int32, Dcba), Some(-2.0));
        let v = f64::from(0x1234_5678u32);
        assert_eq!(decode_words(&[0x1234, 0x5678], Uint32, Abcd), Some(v));
        assert_eq!(decode_words(&[0x5678, 0x1234], Uint32, Cdab), Some(v));
        assert_eq!(decode_words(&[0x3412, 0x7856], Uint32, Badc), Some(v));
        assert_eq!(decode_words(&[0x7856, 0x3412], Uint32, Dcba), Some(v));
    }

    #[test]
    fn sixteen_bit_types() {
        assert_eq!(decode_words(&[0x8000], Int16, Abcd), Some(-32768.0));
        assert_eq!(decode_words(&[0xFFFF], Int16, Abcd), Some(-1.0));
        assert_eq!(decode_words(&[0xFFFF], Uint16, Abcd), Some(65535.0));
        assert_eq!(decode_words(&[0x0102], Uint16, Cdab), Some(258.0));
        assert_eq!(decode_words(&[0x0102], Uint16, Badc), Some(513.0));
        assert_eq!(decode_words(&[0x0080], Int16, Dcba), Some(-32768.0));
    }

    #[test]
    fn sixty_four_bit_types() {
        // 1.5f64 = 0x3FF8000000000000; 0x0102030405060708 as uint64
        assert_eq!(decode_words(&[0x3FF8, 0, 0, 0], Float64, Abcd), Some(1.5));
        assert_eq!(decode_words(&[0, 0, 0, 0x3FF8], Float64, Cdab), Some(1.5));
        assert_eq!(decode_words(&[0xF83F, 0, 0, 0], Float64, Badc), Some(1.5));
        assert_eq!(decode_words(&[0, 0, 0, 0xF83F], Float64, Dcba), Some(1.5));
        let v = 0x0102_0304_0506_0708u64 as f64;
        assert_eq!(
            decode_words(&[0x0102, 0x0304, 0x0506, 0x0708], Uint64, Abcd),
            Some(v)
        );
        assert_eq!(
            decode_words(&[0x0708, 0x0506, 0x0304, 0x0102], Uint64, Cdab),
            Some(v)
        );
        assert_eq!(
            decode_words(&[0x0807, 0x0605, 0x0403, 0x0201], Uint64, Dcba),
            Some(v)
        );
        assert_eq!(
            decode_words(&[0xFFFF, 0xFFFF, 0xFFFF, 0xFFFF], Int64, Abcd),
            Some(-1.0)
        );
    }

    #[test]
    fn sixty_four_bit_integers_in_every_order() {
        // 0x0102030405060708: A..H = 01 02 03 04 05 06 07 08
        let v = 0x0102_0304_0506_0708u64 as f64;
        // BADC: bytes swapped inside each register, registers in order
        assert_eq!(
            decode_words(&[0x0201, 0x0403, 0x0605, 0x0807], Uint64, Badc),
            Some(v)
        );
        // -2 = 0xFFFFFFFFFFFFFFFE: only the last byte (H) differs from 0xFF
        let minus_two = [
            (Abcd, [0xFFFF, 0xFFFF, 0xFFFF, 0xFFFE]),
            (Cdab, [0xFFFE, 0xFFFF, 0xFFFF, 0xFFFF]),
            (Badc, [0xFFFF, 0xFFFF, 0xFFFF, 0xFEFF]),
            (Dcba, [0xFEFF, 0xFFFF, 0xFFFF, 0xFFFF]),
        ];
        for (order, words) in minus_two {
            assert_eq!(decode_words(&words, Int64, order), Some(-2.0), "{order}");
        }
        // i64::MIN = 0x8000000000000000: A = 0x80
        assert_eq!(
            decode_words(&[0x0080, 0, 0, 0], Int64, Badc),
            Some(i64::MIN as f64)
        );
        assert_eq!(
            decode_words(&[0, 0, 0, 0x8000], Int64, Cdab),
            Some(i64::MIN as f64)
        );
    }

    #[test]
    fn sixteen_bit_types_in_every_order() {
        // 0xFF38 = -200 as int16, 65336 as uint16; word order does not apply to one register
        for (order, word) in [
            (Abcd, 0xFF38),
            (Cdab, 0xFF38),
            (Badc, 0x38FF),
            (Dcba, 0x38FF),
        ] {
            assert_eq!(decode_words(&[word], Int16, order), Some(-200.0), "{order}");
            assert_eq!(
                decode_words(&[word], Uint16, order),
                Some(65336.0),
                "{order}"
            );
        }
    }

    #[test]
    fn wrong_length_is_rejected() {
        assert_eq!(decode_words(&[1], Float32, Abcd), None);
        assert_eq!(decode_words(&[1, 2, 3], Uint32, Abcd), None);
    }

    #[test]
    fn encode_round_trips_every_type_and_order() {
        let values = [0.0, 1.0, -1.0, 1234.0, -32768.0, 65535.0];
        for dt in DataType::numeric() {
            for order in [Abcd, Cdab, Badc, Dcba] {
                for v in values {
                    let expect = match dt {
                        Bool => f64::from(u8::from(v != 0.0)),
                        Uint16 | Uint32 | Uint64 if v < 0.0 => 0.0,
                        Int16 if v > 32767.0 => 32767.0,
                        _ => v,
                    };
                    let mut words = [0u16; 4];
                    let n = usize::from(dt.width());
                    encode_words(v, dt, order, &mut words[..n]);
                    assert_eq!(
                        decode_words(&words[..n], dt, order),
                        Some(expect),
                        "{dt} {order} {v}"
                    );
                }
            }
        }
    }

    #[test]
    fn raw_bits_undo_the_word_order() {
        assert_eq!(raw_bits(&[0xFFFF], Abcd), Some(0xFFFF));
        assert_eq!(raw_bits(&[0x0080], Dcba), Some(0x8000));
        assert_eq!(raw_bits(&[0x0000, 0x8000], Cdab), Some(0x8000_0000));
        assert_eq!(raw_bits(&[], Abcd), None);
    }

    #[test]
    fn strings_in_both_byte_orders_with_either_padding() {
        // "SEL-751" over 5 registers, NUL-padded, first character in the high byte:
        // 'S'=0x53 'E'=0x45 | 'L'=0x4C '-'=0x2D | '7'=0x37 '5'=0x35 | '1'=0x31 NUL | NUL NUL
        let abcd = [0x5345, 0x4C2D, 0x3735, 0x3100, 0x0000];
        assert_eq!(decode_string(&abcd, Abcd), ("SEL-751".into(), true));
        // The same text with bytes swapped in each register (BADC), space-padded:
        // 'E' 'S' | '-' 'L' | '5' '7' | ' ' '1' | ' ' ' '
        let badc = [0x4553, 0x2D4C, 0x3537, 0x2031, 0x2020];
        assert_eq!(decode_string(&badc, Badc), ("SEL-751".into(), true));
        // Inner spaces stay; only the trailing pad goes: "A B" + ' ' pad
        assert_eq!(decode_string(&[0x4120, 0x4220], Abcd), ("A B".into(), true));
        // All padding: the empty string.
        assert_eq!(
            decode_string(&[0x0000, 0x2020], Abcd),
            (std::string::String::new(), true)
        );
        // 0xFF is not UTF-8: replaced, and flagged.
        assert_eq!(decode_string(&[0x41FF], Abcd), ("A\u{FFFD}".into(), false));
    }

    #[test]
    fn string_encoding_is_what_decoding_reads() {
        let mut words = [0u16; 5];
        encode_string("SEL-751", Abcd, 0, &mut words);
        assert_eq!(words, [0x5345, 0x4C2D, 0x3735, 0x3100, 0x0000]);
        encode_string("SEL-751", Badc, b' ', &mut words);
        assert_eq!(words, [0x4553, 0x2D4C, 0x3537, 0x2031, 0x2020]);
        let mut short = [0u16; 2];
        encode_string("truncated", Abcd, 0, &mut short);
        assert_eq!(decode_string(&short, Abcd).0, "trun");
    }

    #[test]
    fn register_bits_count_from_the_least_significant() {
        // 0x8001: bit 15 and bit 0 set; 0x0400: bit 10 only
        assert!(register_bit(0x8001, 0));
        assert!(register_bit(0x8001, 15));
        assert!(!register_bit(0x8001, 1));
        assert!(register_bit(0x0400, 10));
        assert!(!register_bit(0x0400, 2));
        assert!(!register_bit(0xFFFF, 16));
    }

    #[test]
    fn scale_and_offset() {
        assert_eq!(scale(1234.0, 0.1, -3.0), 120.4);
        assert_eq!(scale(2301.0, 0.1, 0.0), 230.1);
        assert_eq!(scale(2301.0, 0.1, 0.0).to_string(), "230.1");
        assert_eq!(scale(-2731.0, 0.01, -0.15).to_string(), "-27.46");
        assert_eq!(scale(1001.0, 0.001, 0.0).to_string(), "1.001");
        assert_eq!(scale(7.0, 1.0, 0.0), 7.0);
        assert_eq!(scale(65535.0, 2.0, 1.0), 131071.0);
        // Not decimal-exact: the plain formula.
        assert_eq!(scale(1.5, 0.1, 0.0), 1.5 * 0.1);
        assert_eq!(scale(3.0, 1.0 / 3.0, 0.0), 3.0 * (1.0 / 3.0));
        assert!(scale(f64::NAN, 0.1, 0.0).is_nan());
        // Beyond exact integers: the plain formula, not a wrong exact one.
        let big = 2f64.powi(60);
        assert_eq!(scale(big, 0.1, 0.0), big * 0.1);
    }
}
