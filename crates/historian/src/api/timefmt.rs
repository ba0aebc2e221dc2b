//! RFC 3339 timestamps written straight into a stack buffer for the series answers. A
//! profile of 24 h of one register (2,880 points) through the API found chrono's
//! `Display`-based serializer, which the JSON writer escapes character by character,
//! among the largest costs of the request. Output is identical to chrono's serde format:
//! `YYYY-MM-DDTHH:MM:SS[.fff|.ffffff|.fffffffff]Z`, fraction only when not zero.

use chrono::{DateTime, Datelike, Timelike, Utc};
use serde::Serializer;

/// Serializes `t` as chrono's serde format does (`serialize_with`).
pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    let mut buf = [0u8; 32];
    let n = write(t, &mut buf);
    // Only ASCII digits and separators were written.
    s.serialize_str(std::str::from_utf8(&buf[..n]).unwrap_or_default())
}

/// Writes `t` into `buf` and returns the length written.
fn write(t: &DateTime<Utc>, buf: &mut [u8; 32]) -> usize {
    // Each accessor of a `DateTime` converts it to local (here UTC) time anew: convert once.
    let utc = t.naive_utc();
    let year = utc.year();
    if !(0..=9999).contains(&year) {
        // Outside four-digit years chrono adds a sign; leave those to chrono.
        let text = t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true);
        let n = text.len().min(buf.len());
        buf[..n].copy_from_slice(&text.as_bytes()[..n]);
        return n;
    }
    let mut at = put(buf, 0, year as u32, 4);
    for (sep, value) in [
        (b'-', utc.month()),
        (b'-', utc.day()),
        (b'T', utc.hour()),
        (b':', utc.minute()),
    ] {
        buf[at] = sep;
        at = put(buf, at + 1, value, 2);
    }
    // A leap second is kept in the nanoseconds (>= 1e9) and printed as second 60.
    let (second, nanos) = match utc.nanosecond() {
        n if n >= 1_000_000_000 => (utc.second() + 1, n - 1_000_000_000),
        n => (utc.second(), n),
    };
    buf[at] = b':';
    at = put(buf, at + 1, second, 2);
    if nanos != 0 {
        buf[at] = b'.';
        at = if nanos % 1_000_000 == 0 {
            put(buf, at + 1, nanos / 1_000_000, 3)
        } else if nanos % 1_000 == 0 {
            put(buf, at + 1, nanos / 1_000, 6)
        } else {
            put(buf, at + 1, nanos, 9)
        };
    }
    buf[at] = b'Z';
    at + 1
}

/// Writes `value` as `width` decimal digits at `from`; returns the index after them.
fn put(buf: &mut [u8; 32], from: usize, value: u32, width: usize) -> usize {
    let mut v = value;
    for i in (0..width).rev() {
        buf[from + i] = b'0' + (v % 10) as u8;
        v /= 10;
    }
    from + width
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn ours(t: &DateTime<Utc>) -> String {
        let mut buf = [0u8; 32];
        let n = write(t, &mut buf);
        String::from_utf8(buf[..n].to_vec()).expect("ascii")
    }

    #[test]
    fn matches_chrono_serde_format() {
        let base = Utc
            .with_ymd_and_hms(2026, 11, 30, 5, 7, 9)
            .single()
            .expect("valid");
        let mut cases = vec![
            base,
            Utc.with_ymd_and_hms(1970, 1, 1, 0, 0, 0)
                .single()
                .expect("epoch"),
            Utc.with_ymd_and_hms(9999, 12, 31, 23, 59, 59)
                .single()
                .expect("end"),
            Utc.with_ymd_and_hms(0, 1, 1, 0, 0, 0)
                .single()
                .expect("year 0"),
            Utc.with_ymd_and_hms(-1, 1, 1, 0, 0, 0)
                .single()
                .expect("year -1"),
            Utc.with_ymd_and_hms(10000, 1, 1, 0, 0, 0)
                .single()
                .expect("year 10000"),
        ];
        for nanos in [
            1,
            7,
            1_000,
            123_000,
            999_999,
            1_000_000,
            120_000_000,
            999_999_999,
        ] {
            cases.push(base + chrono::Duration::nanoseconds(nanos));
        }
        for step in 0..2_000i64 {
            cases.push(base + chrono::Duration::microseconds(step * 7_919_113));
        }
        for t in cases {
            let chrono = serde_json::to_string(&t).expect("chrono serde");
            assert_eq!(format!("\"{}\"", ours(&t)), chrono, "{t:?}");
        }
    }
}
