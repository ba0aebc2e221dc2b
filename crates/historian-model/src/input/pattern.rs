//! Regular expressions for the API's schema, built from the same numbers and word lists the
//! validator uses. They are written in the subset that ECMA-262 (the schema's dialect),
//! Python (the contract test's generator) and Rust's `regex` read alike: classes, groups,
//! alternation, counted repetition and `\u` escapes, no look-around.

/// A group matching the decimal numbers `lo..=hi`, written without leading zeros.
pub fn decimal_range(lo: u64, hi: u64) -> String {
    let mut parts = Vec::new();
    let (lo_len, hi_len) = (digits(lo), digits(hi));
    for len in lo_len..=hi_len {
        let first = if len == 1 { 0 } else { 10u64.pow(len - 1) };
        let last = 10u64.checked_pow(len).map_or(u64::MAX, |p| p - 1).min(hi);
        let (a, b) = (lo.max(first), last);
        if a <= b {
            parts.extend(same_length(&a.to_string(), &b.to_string()));
        }
    }
    format!("(?:{})", parts.join("|"))
}

fn digits(n: u64) -> u32 {
    n.checked_ilog10().unwrap_or(0) + 1
}

/// Alternatives matching every digit string from `a` to `b` (same length, `a <= b`).
fn same_length(a: &str, b: &str) -> Vec<String> {
    if a == b {
        return vec![a.to_string()];
    }
    let (da, db) = (a.as_bytes()[0] - b'0', b.as_bytes()[0] - b'0');
    let (ra, rb) = (&a[1..], &b[1..]);
    if da == db {
        return same_length(ra, rb)
            .into_iter()
            .map(|s| format!("{da}{s}"))
            .collect();
    }
    let rest = ra.len();
    let any = |n: usize| match n {
        0 => String::new(),
        1 => "[0-9]".to_string(),
        n => format!("[0-9]{{{n}}}"),
    };
    let low_full = ra.bytes().all(|c| c == b'0');
    let high_full = rb.bytes().all(|c| c == b'9');
    let mut out = Vec::new();
    let mid_lo = if low_full { da } else { da + 1 };
    let mid_hi = if high_full { db } else { db - 1 };
    if !low_full {
        out.extend(
            same_length(ra, &"9".repeat(rest))
                .into_iter()
                .map(|s| format!("{da}{s}")),
        );
    }
    if mid_lo <= mid_hi {
        let class = if mid_lo == mid_hi {
            mid_lo.to_string()
        } else {
            format!("[{mid_lo}-{mid_hi}]")
        };
        out.push(format!("{class}{}", any(rest)));
    }
    if !high_full {
        out.extend(
            same_length(&"0".repeat(rest), rb)
                .into_iter()
                .map(|s| format!("{db}{s}")),
        );
    }
    out
}

/// An anchored pattern matching any of `words` as a lenient parser reads them: letter case
/// ignored, any character of `separators` standing for any other, white space around
/// (what `str::trim` removes) ignored.
pub fn keyword_pattern(words: &[&str], separators: &str) -> String {
    let sep_class = format!(
        "[{}]",
        separators
            .chars()
            .map(|c| if c == '-' {
                "\\-".into()
            } else {
                c.to_string()
            })
            .collect::<String>()
    );
    let alternatives: Vec<String> = words
        .iter()
        .map(|w| {
            w.chars()
                .map(|c| {
                    if separators.contains(c) {
                        sep_class.clone()
                    } else if c.is_ascii_alphabetic() {
                        format!("[{}{}]", c.to_ascii_uppercase(), c.to_ascii_lowercase())
                    } else {
                        c.to_string()
                    }
                })
                .collect()
        })
        .collect();
    let ws = super::text::white_space_class();
    format!("^{ws}*(?:{}){ws}*$", alternatives.join("|"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use regex::Regex;

    fn full(p: &str) -> Regex {
        Regex::new(&format!("^{p}$")).expect("regex")
    }

    #[test]
    fn decimal_ranges_match_exactly_their_numbers() {
        let mut rng = fastrand::Rng::with_seed(7);
        let mut bounds = vec![
            (0, 0),
            (0, 9),
            (1, 256),
            (1, 65_535),
            (0, 65_535),
            (1, 604_800_000),
            (30_001, 39_999),
            (0, u64::from(u32::MAX)),
            (0, i64::MAX as u64),
            (0, u64::MAX),
            (100, 100),
            (99, 1_000),
        ];
        for _ in 0..200 {
            let (da, db) = (rng.u32(1..=12), rng.u32(0..=12));
            let a = rng.u64(0..=10u64.pow(da));
            let b = rng.u64(a..=a + 10u64.pow(db));
            bounds.push((a, b));
        }
        for (lo, hi) in bounds {
            let re = full(&decimal_range(lo, hi));
            let mut probes = vec![lo, hi, lo.saturating_sub(1), hi.saturating_add(1), 0];
            probes
                .extend((0..50).map(|_| rng.u64(lo.saturating_sub(100)..=hi.saturating_add(100))));
            probes.extend((0..50).map(|_| rng.u64(..)));
            for n in probes {
                assert_eq!(
                    re.is_match(&n.to_string()),
                    (lo..=hi).contains(&n),
                    "{n} in {lo}..={hi}: {re}"
                );
            }
            if lo > 0 {
                assert!(
                    !re.is_match(&format!("0{lo}")),
                    "leading zero in {lo}..={hi}"
                );
            }
        }
    }

    #[test]
    fn keywords_match_as_the_parsers_normalise_them() {
        let re = Regex::new(&keyword_pattern(&["rtu_over_tcp", "tcp"], "_-")).expect("re");
        for ok in [
            "tcp",
            " TCP ",
            "rtu-over-tcp",
            "Rtu_Over-TCP",
            "\ttcp\u{3000}",
        ] {
            assert!(re.is_match(ok), "{ok:?}");
        }
        for bad in ["tc", "tcpx", "rtu over tcp", "t cp", ""] {
            assert!(!re.is_match(bad), "{bad:?}");
        }
    }
}
