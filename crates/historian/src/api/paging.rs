//! One page of readings from several registers (of one or more devices) in time order,
//! built from the store's per-register range query.
//!
//! Order is `(timestamp, device id, register reference)`. Each register is read for at
//! most `limit / registers` rows (at least one), so a page holds about `limit` rows in
//! memory, or one per register when they outnumber `limit`. The store reads all of a
//! page's registers together, in one round trip where it can. A register that filled its
//! share may have more rows after its last one, so the page only keeps rows up to the
//! earliest such "horizon": below it every register's rows are complete. The cursor is the
//! position already scanned; a page filtered down to few (even zero) rows still moves it on.

use chrono::{DateTime, Duration as ChronoDuration, Utc};
use historian_model::Reading;
use historian_model::RegisterRef;
use historian_store::{SeriesKey, Store, StoreError, TimeRange};

/// The most registers (over all devices) one query may span: each page probes every one
/// of them (for at least one reading), so this bounds a page's work as `limit` bounds its
/// rows.
pub const MAX_SERIES: usize = 100_000;

/// One register of one device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Series {
    /// Device id.
    pub device_id: i64,
    /// The register.
    pub register: RegisterRef,
}

/// A position in `(timestamp, device, register)` order: everything up to and including it
/// has been returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Cursor {
    /// Microseconds since the Unix epoch.
    pub micros: i64,
    /// Device id.
    pub device_id: i64,
    /// Six-digit register reference.
    pub reference: u32,
}

impl Cursor {
    /// Past every register at `micros`.
    fn end_of(micros: i64) -> Self {
        Cursor {
            micros,
            device_id: i64::MAX,
            reference: u32::MAX,
        }
    }

    fn at(r: &Reading) -> Self {
        Cursor {
            micros: r.timestamp.timestamp_micros(),
            device_id: r.device_id,
            reference: r.register_address.reference(),
        }
    }

    /// The text form, `MICROS_DEVICE_REFERENCE`.
    pub fn encode(&self) -> String {
        format!("{}_{}_{}", self.micros, self.device_id, self.reference)
    }

    /// Parses [`Cursor::encode`]'s form.
    pub fn parse(text: &str) -> Result<Self, String> {
        let bad = || {
            format!(
                "cursor={text:?} is not a cursor; pass the next_cursor of the previous page \
                 unchanged"
            )
        };
        let mut parts = text.split('_');
        let (Some(a), Some(b), Some(c), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad());
        };
        // Digits only (and a minus for the signed parts): what `encode` writes and the
        // schema's pattern states; `parse` alone would also take a plus sign.
        let plain = |t: &str, signed: bool| {
            let digits = if signed {
                t.strip_prefix('-').unwrap_or(t)
            } else {
                t
            };
            !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
        };
        if !(plain(a, true) && plain(b, true) && plain(c, false)) {
            return Err(bad());
        }
        Ok(Cursor {
            micros: a.parse().map_err(|_| bad())?,
            device_id: b.parse().map_err(|_| bad())?,
            reference: c.parse().map_err(|_| bad())?,
        })
    }
}

/// One page of readings.
#[derive(Debug, Default)]
pub struct Page {
    /// In `(timestamp, device, register)` order.
    pub rows: Vec<Reading>,
    /// Where the next page starts; `None` when the range is exhausted.
    pub next: Option<Cursor>,
}

/// Reads the page of `series` in `[start, end)` after `cursor`, keeping at most `limit`
/// rows that pass `keep`.
pub async fn read_page(
    store: &dyn Store,
    series: &[Series],
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    cursor: Option<Cursor>,
    limit: usize,
    keep: impl Fn(&Reading) -> bool,
) -> Result<Page, StoreError> {
    if series.is_empty() || limit == 0 {
        return Ok(Page::default());
    }
    let share = limit.div_ceil(series.len());
    let mut wanted = Vec::with_capacity(series.len());
    for s in series {
        let from = match cursor {
            Some(c) => {
                let here = (s.device_id, s.register.reference());
                let at = micros_to_time(c.micros);
                // A register after the cursor's at the cursor's instant is not read yet.
                let first = if here > (c.device_id, c.reference) {
                    at
                } else {
                    at.checked_add_signed(ChronoDuration::microseconds(1))
                        .unwrap_or(at)
                };
                first.max(start)
            }
            None => start,
        };
        if from < end {
            wanted.push((
                SeriesKey::new(s.device_id, s.register),
                TimeRange::new(from, end),
            ));
        }
    }
    let per_series = store.get_readings_time_ranges(&wanted, share).await?;
    let horizon = per_series
        .iter()
        .filter(|rows| rows.len() >= share)
        .filter_map(|rows| rows.last().map(|r| r.timestamp))
        .min();
    let mut rows: Vec<Reading> = per_series
        .into_iter()
        .flatten()
        .filter(|r| horizon.is_none_or(|h| r.timestamp <= h))
        .filter(|r| keep(r))
        .collect();
    rows.sort_by_key(Cursor::at);
    let next = if rows.len() > limit {
        rows.truncate(limit);
        rows.last().map(Cursor::at)
    } else {
        horizon.map(|h| Cursor::end_of(h.timestamp_micros()))
    };
    Ok(Page { rows, next })
}

fn micros_to_time(micros: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(micros).unwrap_or(if micros > 0 {
        DateTime::<Utc>::MAX_UTC
    } else {
        DateTime::<Utc>::MIN_UTC
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips_and_rejects_junk() {
        let c = Cursor {
            micros: 1_764_000_000_123_456,
            device_id: 7,
            reference: 400_001,
        };
        assert_eq!(Cursor::parse(&c.encode()), Ok(c));
        for junk in [
            "", "x", "1_2", "1_2_3_4", "a_2_3", "1_b_3", "1_2_-3", "+1_2_3", "1_+2_3", "1_2_+3",
            "-_1_2",
        ] {
            assert!(Cursor::parse(junk).is_err(), "{junk:?}");
        }
    }
}
