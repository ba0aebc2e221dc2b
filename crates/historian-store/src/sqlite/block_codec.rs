//! The byte format of a block of readings: one register's readings of one closed interval,
//! column by column. Timestamps (microseconds) and the non-null values go through `pco`,
//! which finds deltas and common bit patterns itself and is lossless on the bits of every
//! `f64`; which values are null is kept as runs; quality, text and the register's labels
//! (name, data type, unit at the time of the reading) as runs over a small dictionary,
//! since they rarely change within an interval.
//!
//! Layout (integers are LEB128 varints): format byte, reading count, timestamps
//! (length-prefixed `pco`), null runs (count, then alternating present/null run lengths
//! starting with present), values (length-prefixed `pco`), dictionary (count, then entries),
//! attribute runs (count, then (length, dictionary index) pairs), then the newest reading's
//! value as the 8 little-endian bytes of its bits when it is not null, so that the newest
//! reading is read without decoding the numbers (format 1 ends before it).

use std::collections::HashMap;
use std::sync::Arc;

/// Format byte of the layout above.
const FORMAT: u8 = 2;
/// The layout without the newest value at the end; still read.
const FORMAT_WITHOUT_NEWEST: u8 = 1;

/// What is kept of a reading besides its time and value; runs of equal ones are stored once.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Attrs {
    /// Quality as stored (`good`, `bad`, `uncertain`).
    pub quality: Arc<str>,
    /// Text of a string register.
    pub text: Option<Arc<str>>,
    /// Register name at the time of the reading.
    pub name: Arc<str>,
    /// Data type at the time of the reading.
    pub data_type: Arc<str>,
    /// Unit at the time of the reading.
    pub unit: Arc<str>,
}

/// The readings of a block, column by column, oldest first, one per timestamp.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Columns {
    /// Microseconds since the Unix epoch, strictly increasing.
    pub times: Vec<i64>,
    /// Values; `None` where the read failed or the register holds text.
    pub values: Vec<Option<f64>>,
    /// Quality, text and labels of each reading.
    pub attrs: Vec<Attrs>,
}

/// Count, min, max, sum, first and last of a block's non-null values (every quality
/// counts, as in the aggregates of raw readings).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Summary {
    /// Non-null values.
    pub count: i64,
    /// Smallest value.
    pub min: Option<f64>,
    /// Largest value.
    pub max: Option<f64>,
    /// Sum of the values.
    pub sum: Option<f64>,
    /// Oldest value.
    pub first: Option<f64>,
    /// Newest value.
    pub last: Option<f64>,
}

/// Why a block's bytes could not be read back.
#[derive(Debug, thiserror::Error)]
pub enum BlockError {
    /// The bytes end before the layout does, or hold an impossible length.
    #[error("block truncated or malformed at byte {0}")]
    Malformed(usize),
    /// A format byte this build does not know.
    #[error("block format {0} is unknown")]
    UnknownFormat(u8),
    /// The numeric codec refused its part.
    #[error("block numbers: {0}")]
    Numbers(String),
    /// The columns disagree in length or hold something the layout cannot.
    #[error("block columns: {0}")]
    Columns(String),
}

impl Columns {
    /// Number of readings.
    pub fn len(&self) -> usize {
        self.times.len()
    }

    /// Whether there is no reading.
    pub fn is_empty(&self) -> bool {
        self.times.is_empty()
    }

    /// Appends one reading (callers keep times increasing).
    pub fn push(&mut self, time: i64, value: Option<f64>, attrs: Attrs) {
        self.times.push(time);
        self.values.push(value);
        self.attrs.push(attrs);
    }

    /// The summary of the non-null values.
    pub fn summary(&self) -> Summary {
        let mut s = Summary::default();
        for v in self.values.iter().flatten().copied() {
            s.count += 1;
            s.min = Some(s.min.map_or(v, |m| m.min(v)));
            s.max = Some(s.max.map_or(v, |m| m.max(v)));
            s.sum = Some(s.sum.map_or(v, |m| m + v));
            s.first = s.first.or(Some(v));
            s.last = Some(v);
        }
        s
    }

    /// Merges `other` in, ordered by time; where both hold a time, `self`'s reading stays
    /// (a reading is written once: a replay of a stored one changes nothing).
    pub fn merge(self, other: Columns) -> Columns {
        let mut out = Columns::default();
        let (mut a, mut b) = (self.into_iter().peekable(), other.into_iter().peekable());
        loop {
            let take_a = match (a.peek().map(|r| r.0), b.peek().map(|r| r.0)) {
                (None, None) => break,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (Some(x), Some(y)) => {
                    if x == y {
                        b.next();
                    }
                    x <= y
                }
            };
            let next = if take_a { a.next() } else { b.next() };
            if let Some((t, v, at)) = next {
                out.push(t, v, at);
            }
        }
        out
    }

    fn into_iter(self) -> impl Iterator<Item = (i64, Option<f64>, Attrs)> {
        self.times
            .into_iter()
            .zip(self.values)
            .zip(self.attrs)
            .map(|((t, v), a)| (t, v, a))
    }
}

/// The block's bytes.
pub fn encode(cols: &Columns) -> Result<Vec<u8>, BlockError> {
    let n = cols.len();
    if cols.values.len() != n || cols.attrs.len() != n {
        return Err(BlockError::Columns(format!(
            "{n} times, {} values, {} attributes",
            cols.values.len(),
            cols.attrs.len()
        )));
    }
    let mut out = vec![FORMAT];
    put_varint(&mut out, n as u64);
    put_bytes(&mut out, &compress(&cols.times)?);
    // Null runs, alternating present / null, starting with present.
    let mut runs = Vec::new();
    let mut present = true;
    let mut run = 0u64;
    for v in &cols.values {
        if v.is_some() == present {
            run += 1;
        } else {
            runs.push(run);
            present = !present;
            run = 1;
        }
    }
    runs.push(run);
    put_varint(&mut out, runs.len() as u64);
    for r in runs {
        put_varint(&mut out, r);
    }
    let values: Vec<f64> = cols.values.iter().flatten().copied().collect();
    put_bytes(&mut out, &compress(&values)?);
    // Attribute dictionary and runs.
    let mut dict: Vec<&Attrs> = Vec::new();
    let mut index: HashMap<&Attrs, u64> = HashMap::new();
    let mut attr_runs: Vec<(u64, u64)> = Vec::new();
    for a in &cols.attrs {
        let i = *index.entry(a).or_insert_with(|| {
            dict.push(a);
            dict.len() as u64 - 1
        });
        match attr_runs.last_mut() {
            Some((len, last)) if *last == i => *len += 1,
            _ => attr_runs.push((1, i)),
        }
    }
    put_varint(&mut out, dict.len() as u64);
    for a in dict {
        put_str(&mut out, &a.quality);
        match &a.text {
            None => out.push(0),
            Some(t) => {
                out.push(1);
                put_str(&mut out, t);
            }
        }
        put_str(&mut out, &a.name);
        put_str(&mut out, &a.data_type);
        put_str(&mut out, &a.unit);
    }
    put_varint(&mut out, attr_runs.len() as u64);
    for (len, i) in attr_runs {
        put_varint(&mut out, len);
        put_varint(&mut out, i);
    }
    if let Some(Some(v)) = cols.values.last() {
        out.extend_from_slice(&v.to_bits().to_le_bytes());
    }
    Ok(out)
}

/// The readings of a block's bytes.
pub fn decode(bytes: &[u8]) -> Result<Columns, BlockError> {
    let mut r = Reader { bytes, at: 0 };
    let (format, n) = r.header()?;
    let times: Vec<i64> = decompress(r.bytes()?)?;
    if times.len() != n {
        return Err(BlockError::Columns(format!(
            "{} times for {n}",
            times.len()
        )));
    }
    let runs = r.len()?;
    let mut present_mask = Vec::with_capacity(n);
    let mut present = true;
    for _ in 0..runs {
        let len = r.len()?;
        if present_mask.len() + len > n {
            return Err(BlockError::Malformed(r.at));
        }
        present_mask.extend(std::iter::repeat_n(present, len));
        present = !present;
    }
    if present_mask.len() != n {
        return Err(BlockError::Malformed(r.at));
    }
    let raw: Vec<f64> = decompress(r.bytes()?)?;
    let mut raw = raw.into_iter();
    let mut values = Vec::with_capacity(n);
    for p in present_mask {
        values.push(if p {
            Some(raw.next().ok_or(BlockError::Malformed(r.at))?)
        } else {
            None
        });
    }
    if raw.next().is_some() {
        return Err(BlockError::Columns("more values than present slots".into()));
    }
    let dict = r.dictionary(n)?;
    let runs = r.len()?;
    let mut attrs = Vec::with_capacity(n);
    for _ in 0..runs {
        let len = r.len()?;
        let entry = dict.get(r.len()?).ok_or(BlockError::Malformed(r.at))?;
        if attrs.len() + len > n {
            return Err(BlockError::Malformed(r.at));
        }
        attrs.extend(std::iter::repeat_n(entry.clone(), len));
    }
    if attrs.len() != n {
        return Err(BlockError::Malformed(r.at));
    }
    if format == FORMAT
        && let Some(Some(v)) = values.last()
        && r.f64_bits()? != v.to_bits()
    {
        return Err(BlockError::Columns(
            "newest value differs from the values".into(),
        ));
    }
    if r.at != bytes.len() {
        return Err(BlockError::Malformed(r.at));
    }
    Ok(Columns {
        times,
        values,
        attrs,
    })
}

/// The newest reading's value and attributes, read without decoding the numbers; `None`
/// for an empty block or one of the format that does not keep the newest value apart.
pub fn decode_newest(bytes: &[u8]) -> Result<Option<(Option<f64>, Attrs)>, BlockError> {
    let mut r = Reader { bytes, at: 0 };
    let (format, n) = r.header()?;
    if format != FORMAT || n == 0 {
        return Ok(None);
    }
    r.bytes()?; // timestamps
    let runs = r.len()?;
    let mut seen = 0usize;
    for _ in 0..runs {
        seen = seen.saturating_add(r.len()?);
    }
    if seen != n {
        return Err(BlockError::Malformed(r.at));
    }
    // Runs alternate present / null starting with present: an odd count ends present.
    let newest_present = runs % 2 == 1;
    r.bytes()?; // values
    let dict = r.dictionary(n)?;
    let runs = r.len()?;
    let mut newest = None;
    for _ in 0..runs {
        r.len()?;
        newest = Some(dict.get(r.len()?).ok_or(BlockError::Malformed(r.at))?);
    }
    let value = if newest_present {
        Some(f64::from_bits(r.f64_bits()?))
    } else {
        None
    };
    match newest {
        Some(a) if r.at == bytes.len() => Ok(Some((value, a.clone()))),
        _ => Err(BlockError::Malformed(r.at)),
    }
}

/// Only the timestamps of a block's bytes (to tell whether a reading is already stored).
pub fn decode_times(bytes: &[u8]) -> Result<Vec<i64>, BlockError> {
    let mut r = Reader { bytes, at: 0 };
    let (_, n) = r.header()?;
    let times: Vec<i64> = decompress(r.bytes()?)?;
    if times.len() != n {
        return Err(BlockError::Columns(format!(
            "{} times for {n}",
            times.len()
        )));
    }
    Ok(times)
}

fn compress<T: pco::data_types::Number>(nums: &[T]) -> Result<Vec<u8>, BlockError> {
    if nums.is_empty() {
        return Ok(Vec::new());
    }
    pco::standalone::simple_compress(nums, &pco::ChunkConfig::default())
        .map_err(|e| BlockError::Numbers(e.to_string()))
}

fn decompress<T: pco::data_types::Number>(bytes: &[u8]) -> Result<Vec<T>, BlockError> {
    if bytes.is_empty() {
        return Ok(Vec::new());
    }
    pco::standalone::simple_decompress(bytes).map_err(|e| BlockError::Numbers(e.to_string()))
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_bytes(out, s.as_bytes());
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    /// The format byte and the reading count.
    fn header(&mut self) -> Result<(u8, usize), BlockError> {
        match self.byte()? {
            f @ (FORMAT | FORMAT_WITHOUT_NEWEST) => Ok((f, self.len()?)),
            other => Err(BlockError::UnknownFormat(other)),
        }
    }

    /// The attribute dictionary of a block of `n` readings.
    fn dictionary(&mut self, n: usize) -> Result<Vec<Attrs>, BlockError> {
        let entries = self.len()?;
        let mut dict = Vec::with_capacity(entries.min(n));
        for _ in 0..entries {
            let quality = self.str()?;
            let text = match self.byte()? {
                0 => None,
                1 => Some(self.str()?),
                _ => return Err(BlockError::Malformed(self.at)),
            };
            dict.push(Attrs {
                quality,
                text,
                name: self.str()?,
                data_type: self.str()?,
                unit: self.str()?,
            });
        }
        Ok(dict)
    }

    fn f64_bits(&mut self) -> Result<u64, BlockError> {
        let end = self
            .at
            .checked_add(8)
            .filter(|&e| e <= self.bytes.len())
            .ok_or(BlockError::Malformed(self.at))?;
        let mut le = [0u8; 8];
        le.copy_from_slice(&self.bytes[self.at..end]);
        self.at = end;
        Ok(u64::from_le_bytes(le))
    }

    fn byte(&mut self) -> Result<u8, BlockError> {
        let b = *self
            .bytes
            .get(self.at)
            .ok_or(BlockError::Malformed(self.at))?;
        self.at += 1;
        Ok(b)
    }

    fn varint(&mut self) -> Result<u64, BlockError> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(BlockError::Malformed(self.at))
    }

    /// A length or count, which can never exceed the bytes left times a small factor;
    /// checked against the whole block so a corrupt length cannot allocate wildly.
    fn len(&mut self) -> Result<usize, BlockError> {
        let v = self.varint()?;
        usize::try_from(v)
            .ok()
            .filter(|&v| v <= self.bytes.len().saturating_mul(64).max(1 << 24))
            .ok_or(BlockError::Malformed(self.at))
    }

    fn bytes(&mut self) -> Result<&'a [u8], BlockError> {
        let len = self.len()?;
        let end = self
            .at
            .checked_add(len)
            .filter(|&e| e <= self.bytes.len())
            .ok_or(BlockError::Malformed(self.at))?;
        let out = &self.bytes[self.at..end];
        self.at = end;
        Ok(out)
    }

    fn str(&mut self) -> Result<Arc<str>, BlockError> {
        let at = self.at;
        std::str::from_utf8(self.bytes()?)
            .map(Arc::from)
            .map_err(|_| BlockError::Malformed(at))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn attrs(quality: &str, text: Option<&str>) -> Attrs {
        Attrs {
            quality: quality.into(),
            text: text.map(Arc::from),
            name: "voltage_l1".into(),
            data_type: "float32".into(),
            unit: "V".into(),
        }
    }

    fn value() -> impl Strategy<Value = Option<f64>> {
        prop_oneof![
            Just(None),
            any::<f64>().prop_map(Some),
            Just(Some(f64::NAN)),
            Just(Some(f64::INFINITY)),
            Just(Some(f64::NEG_INFINITY)),
            Just(Some(-0.0)),
            (0i32..400).prop_map(|k| Some(230.0 + f64::from(k) * 0.1)),
        ]
    }

    fn attr() -> impl Strategy<Value = Attrs> {
        let text = prop_oneof![
            Just(None),
            Just(Some(String::new())),
            ".{0,12}".prop_map(Some),
            "[a-z]{300,2000}".prop_map(Some),
        ];
        (
            prop_oneof![Just("good"), Just("bad"), Just("uncertain")],
            text,
        )
            .prop_map(|(q, t)| attrs(q, t.as_deref()))
    }

    fn columns() -> impl Strategy<Value = Columns> {
        let time = prop_oneof![any::<i64>(), -5_000_000i64..5_000_000];
        proptest::collection::vec((time, value(), attr()), 0..300).prop_map(|mut rows| {
            rows.sort_by_key(|r| r.0);
            rows.dedup_by_key(|r| r.0);
            let mut c = Columns::default();
            for (t, v, a) in rows {
                c.push(t, v, a);
            }
            c
        })
    }

    /// Values compared by their bits, so NaN payloads and the sign of zero count too.
    fn bits(c: &Columns) -> Vec<Option<u64>> {
        c.values.iter().map(|v| v.map(f64::to_bits)).collect()
    }

    proptest! {
        #[test]
        fn blocks_round_trip_bit_exactly(cols in columns()) {
            let bytes = encode(&cols).expect("encode");
            let back = decode(&bytes).expect("decode");
            prop_assert_eq!(&back.times, &cols.times);
            prop_assert_eq!(bits(&back), bits(&cols));
            prop_assert_eq!(&back.attrs, &cols.attrs);
            prop_assert_eq!(decode_times(&bytes).expect("times"), cols.times.clone());
            let newest = decode_newest(&bytes).expect("newest");
            let wanted = cols.values.last().zip(cols.attrs.last());
            prop_assert_eq!(
                newest.as_ref().map(|(v, a)| (v.map(f64::to_bits), a)),
                wanted.map(|(v, a)| (v.map(f64::to_bits), a))
            );
        }

        #[test]
        fn blocks_without_the_newest_value_are_still_read(cols in columns()) {
            let mut bytes = encode(&cols).expect("encode");
            if let Some(Some(_)) = cols.values.last() {
                bytes.truncate(bytes.len() - 8);
            }
            bytes[0] = FORMAT_WITHOUT_NEWEST;
            let back = decode(&bytes).expect("decode");
            prop_assert_eq!(&back.times, &cols.times);
            prop_assert_eq!(bits(&back), bits(&cols));
            prop_assert_eq!(&back.attrs, &cols.attrs);
            prop_assert!(decode_newest(&bytes).expect("newest").is_none());
        }

        #[test]
        fn truncated_blocks_are_refused_not_misread(cols in columns(), cut in 0usize..64) {
            let bytes = encode(&cols).expect("encode");
            let cut = bytes.len().saturating_sub(cut + 1);
            prop_assert!(decode(&bytes[..cut]).is_err());
            prop_assert!(cols.is_empty() || decode_newest(&bytes[..cut]).is_err());
        }
    }

    #[test]
    fn extreme_timestamps_and_values_round_trip() {
        let mut c = Columns::default();
        c.push(i64::MIN, Some(f64::MIN), attrs("good", None));
        c.push(
            -1,
            Some(f64::from_bits(0x7ff8_0000_dead_beef)),
            attrs("bad", None),
        );
        c.push(0, None, attrs("uncertain", Some("")));
        c.push(
            i64::MAX,
            Some(f64::MAX),
            attrs("good", Some("SEL-751 ümlaut")),
        );
        let back = decode(&encode(&c).expect("encode")).expect("decode");
        assert_eq!(back.times, c.times);
        assert_eq!(bits(&back), bits(&c));
        assert_eq!(back.attrs, c.attrs);
    }

    #[test]
    fn summaries_skip_nulls_and_keep_order() {
        let mut c = Columns::default();
        for (t, v) in [
            (1, None),
            (2, Some(3.0)),
            (3, Some(-1.0)),
            (4, Some(5.0)),
            (5, None),
        ] {
            c.push(t, v, attrs("good", None));
        }
        assert_eq!(
            c.summary(),
            Summary {
                count: 3,
                min: Some(-1.0),
                max: Some(5.0),
                sum: Some(7.0),
                first: Some(3.0),
                last: Some(5.0),
            }
        );
        assert_eq!(Columns::default().summary(), Summary::default());
    }

    #[test]
    fn merging_keeps_the_stored_reading_of_a_time() {
        let mut stored = Columns::default();
        stored.push(10, Some(1.0), attrs("good", None));
        stored.push(30, Some(3.0), attrs("good", None));
        let mut late = Columns::default();
        late.push(10, Some(99.0), attrs("bad", None));
        late.push(20, Some(2.0), attrs("good", None));
        late.push(40, None, attrs("bad", None));
        let m = stored.merge(late);
        assert_eq!(m.times, vec![10, 20, 30, 40]);
        assert_eq!(m.values, vec![Some(1.0), Some(2.0), Some(3.0), None]);
        assert_eq!(&*m.attrs[0].quality, "good");
    }

    /// A steady signal sampled every 5 s for an hour: a few hundred bytes, not kilobytes.
    #[test]
    fn a_steady_hour_is_small() {
        let mut c = Columns::default();
        for k in 0..720i64 {
            let v = (230.0 + ((k as f64) / 50.0).sin() * 2.0) as f32;
            c.push(
                1_700_000_000_000_000 + k * 5_000_000,
                Some(f64::from(v)),
                attrs("good", None),
            );
        }
        let bytes = encode(&c).expect("encode");
        assert!(bytes.len() < 720 * 4, "{} bytes", bytes.len());
    }
}
