//! Register decoding: any words, any type and word order, any scale, offset and limits.
//! Nothing panics; a stored value is finite; words decode back to themselves wherever the
//! type holds every bit exactly (64-bit integers through their exact path).

use historian_modbus::client::ReadData;
use historian_modbus::decode::{
    decode_integer, decode_string, decode_words, encode_integer, encode_string, encode_words,
};
use historian_modbus::poll::decode_point;
use historian_model::{
    DataType, Quality, RegisterPoint, RegisterRef, Table, ValueLimits, WordOrder,
};

const ORDERS: [WordOrder; 4] = [
    WordOrder::Abcd,
    WordOrder::Cdab,
    WordOrder::Badc,
    WordOrder::Dcba,
];

/// Reads eight bytes as an `f64` if there are that many.
fn f64_at(bytes: &[u8]) -> Option<f64> {
    bytes.get(..8)?.try_into().ok().map(f64::from_le_bytes)
}

/// Layout: type, order, flags, then 8-byte scale, offset, min, max when the flags say so,
/// then the words.
pub fn check(data: &[u8]) {
    let [ty, order, flags, rest @ ..] = data else {
        return;
    };
    let data_type = DataType::ALL[usize::from(*ty) % DataType::ALL.len()];
    let word_order = ORDERS[usize::from(*order) % ORDERS.len()];
    let mut rest = rest;
    let mut take = |on: bool| -> Option<f64> {
        if !on {
            return None;
        }
        let v = f64_at(rest)?;
        rest = &rest[8..];
        Some(v)
    };
    let scale = take(flags & 1 != 0).filter(|s| s.is_finite() && *s != 0.0);
    let offset = take(flags & 2 != 0).filter(|o| o.is_finite());
    let min = take(flags & 4 != 0).filter(|m| m.is_finite());
    let max = take(flags & 8 != 0).filter(|m| m.is_finite());
    let words: Vec<u16> = rest
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();

    round_trip(&words, data_type, word_order);

    let length = (data_type == DataType::String)
        .then(|| u16::try_from(words.len().clamp(1, 125)).unwrap_or(1));
    let point = RegisterPoint {
        name: "p".into(),
        register: RegisterRef::new(Table::HoldingRegister, 0),
        data_type,
        word_order,
        scale: scale.unwrap_or(1.0),
        offset: offset.unwrap_or(0.0),
        limits: ValueLimits {
            min,
            max,
            not_available: (flags & 16 != 0).then_some(0xFFFF),
        },
        length,
        ..RegisterPoint::default()
    };
    for offset in [0, 1] {
        let sample = decode_point(&point, &ReadData::Registers(words.clone()), offset);
        if let Some(v) = sample.value {
            assert!(v.is_finite(), "{point:?} at {offset} of {words:?}: {v}");
            assert_ne!(sample.quality, Quality::Bad, "a bad sample with a value");
        }
        // Text is a string's, or the exact decimal of a 64-bit integer the double rounds.
        if let Some(text) = &sample.text {
            match data_type {
                DataType::String => {}
                DataType::Int64 | DataType::Uint64 => {
                    let n: i128 = text.parse().unwrap_or_else(|e| panic!("{text:?}: {e}"));
                    assert_eq!(sample.value, Some(n as f64), "{point:?}: {text}");
                    assert_ne!(n as f64 as i128, n, "{text} is exact as a double");
                }
                other => panic!("{other:?} sample with text {text:?}"),
            }
        }
    }
    let bits: Vec<bool> = words.iter().map(|w| w & 1 == 1).collect();
    let _ = decode_point(&point, &ReadData::Bits(bits), 0);
}

/// Words decode to a value that encodes back to the same words, for every type that
/// holds all its bits exactly in an `f64`.
fn round_trip(words: &[u16], data_type: DataType, order: WordOrder) {
    let width = usize::from(data_type.width());
    if data_type == DataType::String {
        let (text, clean) = decode_string(words, order);
        if clean {
            let mut out = vec![0u16; words.len()];
            encode_string(&text, order, 0, &mut out);
            assert_eq!(decode_string(&out, order), (text, true), "{words:?}");
        }
        return;
    }
    let Some(w) = words.get(..width) else {
        return;
    };
    let Some(value) = decode_words(w, data_type, order) else {
        panic!("{data_type:?} from {width} words failed");
    };
    if let Some(n) = decode_integer(w, data_type, order) {
        assert_eq!(
            encode_integer(n, data_type, order).as_ref().map(|a| &a[..]),
            Some(w)
        );
    }
    let exact = match data_type {
        DataType::Bool => false,
        DataType::Float32 | DataType::Float64 => !value.is_nan(),
        DataType::Int64 | DataType::Uint64 => value.abs() < 9_007_199_254_740_992.0,
        _ => true,
    };
    if exact {
        let mut out = vec![0u16; width];
        encode_words(value, data_type, order, &mut out);
        assert_eq!(out, w, "{data_type:?} {order:?}: {value}");
    }
}
