//! Durations of a device and its registers as written: whole milliseconds, or one whole
//! number and one unit (`500ms`, `5s`, `1m`, `2h`, `1d`), within bounds per field. One
//! number and one unit is a grammar the schema can state exactly; the bounds keep every
//! figure far from what a clock or a database column could not hold.

use super::pattern::decimal_range;
use std::time::Duration;

/// The units a duration may be written in, with their length in milliseconds.
const UNITS: [(&str, u64); 5] = [
    ("ms", 1),
    ("s", 1_000),
    ("m", 60_000),
    ("h", 3_600_000),
    ("d", 86_400_000),
];

/// The bounds of one duration field, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    /// Shortest allowed (0: zero allowed).
    pub min_ms: u64,
    /// Longest allowed.
    pub max_ms: u64,
}

/// A device's poll interval, and a register's own: 1 ms to 7 days.
pub const INTERVAL: Bounds = Bounds {
    min_ms: 1,
    max_ms: 7 * 86_400_000,
};
/// A device's per-request time-out: 1 ms to 1 hour.
pub const TIMEOUT: Bounds = Bounds {
    min_ms: 1,
    max_ms: 3_600_000,
};
/// The wait between two requests of one poll: 0 to 1 minute.
pub const PAUSE: Bounds = Bounds {
    min_ms: 0,
    max_ms: 60_000,
};

impl Bounds {
    /// Checks whole milliseconds.
    pub fn millis(&self, n: i64) -> Result<Duration, String> {
        let ms =
            u64::try_from(n).map_err(|_| format!("{n} is negative; give a positive duration"))?;
        self.within(ms, &n.to_string())
    }

    /// Checks a duration in words.
    pub fn text(&self, text: &str) -> Result<Duration, String> {
        let bad = || {
            format!(
                "{text:?} is not a duration; write a whole number and one unit (ms, s, m, h \
                 or d), e.g. \"500ms\", \"5s\" or \"1m\""
            )
        };
        let split = text.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
        let (number, unit) = text.split_at(split);
        let plain = !number.is_empty() && (number == "0" || !number.starts_with('0'));
        let factor = UNITS
            .iter()
            .find(|(u, _)| *u == unit)
            .map(|(_, f)| *f)
            .filter(|_| plain)
            .ok_or_else(bad)?;
        let ms = number
            .parse::<u64>()
            .ok()
            .and_then(|n| n.checked_mul(factor))
            .unwrap_or(u64::MAX);
        self.within(ms, &format!("{text:?}"))
    }

    fn within(&self, ms: u64, written: &str) -> Result<Duration, String> {
        if ms == 0 && self.min_ms > 0 {
            return Err(format!("{written} is zero; give a positive duration"));
        }
        if ms > self.max_ms {
            return Err(format!(
                "{written} is longer than {}, the most allowed here",
                format_millis(self.max_ms)
            ));
        }
        Ok(Duration::from_millis(ms))
    }

    /// The pattern of the text forms within these bounds.
    pub fn text_pattern(&self) -> String {
        let forms: Vec<String> = UNITS
            .iter()
            .filter_map(|&(unit, factor)| {
                let lo = self.min_ms.div_ceil(factor);
                let hi = self.max_ms / factor;
                (lo <= hi).then(|| format!("{}{unit}", decimal_range(lo, hi)))
            })
            .collect();
        format!("^(?:{})$", forms.join("|"))
    }
}

/// `ms` written with the largest unit that holds it whole, e.g. `"90s"`, `"5m"`, `"250ms"`.
pub fn format_millis(ms: u64) -> String {
    let (unit, factor) = UNITS
        .iter()
        .rev()
        .find(|(_, f)| ms > 0 && ms.is_multiple_of(*f))
        .copied()
        .unwrap_or(("ms", 1));
    format!("{}{unit}", ms / factor)
}

#[cfg(test)]
mod tests {
    use super::*;
    use regex::Regex;

    #[test]
    fn one_number_and_one_unit_within_bounds() {
        assert_eq!(INTERVAL.text("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(INTERVAL.text("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(INTERVAL.text("7d"), Ok(Duration::from_secs(7 * 86_400)));
        assert_eq!(PAUSE.text("0ms"), Ok(Duration::ZERO));
        assert_eq!(PAUSE.millis(0), Ok(Duration::ZERO));
        assert_eq!(INTERVAL.millis(250), Ok(Duration::from_millis(250)));
        for (bad, says) in [
            ("0s", "is zero"),
            ("8d", "is longer than 7d"),
            ("99999999999999999999s", "is longer than 7d"),
            ("1m 30s", "is not a duration"),
            ("1.5s", "is not a duration"),
            ("05s", "is not a duration"),
            ("5 s", "is not a duration"),
            ("5", "is not a duration"),
            ("s", "is not a duration"),
            ("5sec", "is not a duration"),
            ("", "is not a duration"),
        ] {
            let e = INTERVAL.text(bad).expect_err(bad);
            assert!(e.contains(says), "{bad:?}: {e}");
        }
        assert!(INTERVAL.millis(0).expect_err("zero").contains("is zero"));
        assert!(
            INTERVAL
                .millis(-5)
                .expect_err("negative")
                .contains("negative")
        );
        assert!(
            TIMEOUT
                .millis(3_600_001)
                .expect_err("long")
                .contains("longer than 1h")
        );
    }

    #[test]
    fn the_pattern_accepts_exactly_the_texts_the_check_accepts() {
        let mut rng = fastrand::Rng::with_seed(3);
        for bounds in [INTERVAL, TIMEOUT, PAUSE] {
            let re = Regex::new(&bounds.text_pattern()).expect("regex");
            let mut probes: Vec<String> = [
                "0ms", "0s", "1ms", "7d", "8d", "168h", "169h", "60s", "61s", "1h", "3600s",
                "3601s", "1m 1s",
            ]
            .map(String::from)
            .to_vec();
            for _ in 0..5_000 {
                let digits = rng.u32(0..12);
                let n = rng.u64(..10u64.pow(digits));
                let unit = ["ms", "s", "m", "h", "d", "", "x"][rng.usize(..7)];
                let lead = if rng.u8(..10) == 0 { "0" } else { "" };
                probes.push(format!("{lead}{n}{unit}"));
            }
            for p in probes {
                assert_eq!(
                    bounds.text(&p).is_ok(),
                    re.is_match(&p),
                    "{p:?} in {bounds:?}"
                );
            }
        }
    }

    #[test]
    fn durations_are_written_with_their_largest_whole_unit() {
        assert_eq!(format_millis(90_000), "90s");
        assert_eq!(format_millis(300_000), "5m");
        assert_eq!(format_millis(250), "250ms");
        assert_eq!(format_millis(86_400_000), "1d");
        assert_eq!(format_millis(0), "0ms");
    }
}
