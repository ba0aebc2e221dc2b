//! The host of a Modbus TCP device: an IP address, or a host name the resolver can look up.
//!
//! A host name is ASCII labels of letters, digits, `-` and `_` (container and service names
//! use `_`) joined by dots, each label 1-63 characters not starting or ending with `-`, at
//! most 253 characters in all, with an optional final dot; at least one label holds more
//! than digits, so that `10.0.0.256` or `1.2.3` is refused instead of being resolved as
//! whatever the C library makes of it. An IPv6 address is written without brackets.

use super::pattern::decimal_range;
use super::text::{check_text, describe};
use std::net::IpAddr;

/// The longest host name, in characters.
pub const MAX_HOST_LENGTH: usize = 253;
const MAX_LABEL_LENGTH: usize = 63;

/// Checks a host as written; `Err` says what is wrong.
pub fn check_host(host: &str) -> Result<(), String> {
    if host.is_empty() {
        return Err("is empty".into());
    }
    check_text(host)?;
    if host.parse::<IpAddr>().is_ok() {
        return Ok(());
    }
    if host.starts_with('[') {
        return Err(format!(
            "{host:?}: write an IPv6 address without brackets, e.g. \"::1\""
        ));
    }
    if host.contains(':') {
        return Err(format!("{host:?} is not an IPv6 address"));
    }
    if host.chars().count() > MAX_HOST_LENGTH {
        return Err(format!(
            "is longer than {MAX_HOST_LENGTH} characters, the most a host name may have"
        ));
    }
    if let Some((i, c)) = host.chars().enumerate().find(|&(_, c)| !c.is_ascii()) {
        return Err(format!(
            "contains {} at position {}; write an internationalised name in its \
             ASCII (xn--) form",
            describe(c),
            i + 1
        ));
    }
    let name = host.strip_suffix('.').unwrap_or(host);
    for label in name.split('.') {
        if label.is_empty() {
            return Err(format!(
                "{host:?} has an empty label (a leading dot or two dots in a row)"
            ));
        }
        if let Some(c) = label
            .chars()
            .find(|&c| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
        {
            return Err(format!(
                "{host:?} contains {c:?}; a host name holds letters, digits, '-', '_' and dots"
            ));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(format!(
                "{host:?}: the label {label:?} starts or ends with '-'"
            ));
        }
        if label.len() > MAX_LABEL_LENGTH {
            return Err(format!(
                "{host:?}: the label {label:?} is longer than {MAX_LABEL_LENGTH} characters"
            ));
        }
    }
    if name
        .split('.')
        .all(|l| l.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(format!(
            "{host:?} is neither an IPv4 address (four numbers 0-255, no leading zeros) \
             nor a host name"
        ));
    }
    Ok(())
}

/// An IPv4 address as `Ipv4Addr` parses it.
pub fn ipv4_pattern() -> String {
    let octet = decimal_range(0, 255);
    format!("^(?:{octet}\\.){{3}}{octet}$")
}

/// An IPv6 address as `Ipv6Addr` parses it: eight groups, or fewer around one `::`
/// standing for at least one group, the last two groups optionally an IPv4 address.
pub fn ipv6_pattern() -> String {
    let h = "[0-9A-Fa-f]{1,4}";
    let octet = decimal_range(0, 255);
    let v4 = format!("(?:{octet}\\.){{3}}{octet}");
    let mut alternatives = vec![format!("(?:{h}:){{7}}{h}"), format!("(?:{h}:){{6}}{v4}")];
    for head in 0..=7usize {
        let mut a = match head {
            0 => String::new(),
            1 => h.to_string(),
            n => format!("(?:{h}:){{{}}}{h}", n - 1),
        };
        a.push_str("::");
        let mut tails = Vec::new();
        if head <= 6 {
            tails.push(format!("(?:{h}:){{0,{}}}{h}", 6 - head));
        }
        if head <= 5 {
            tails.push(format!("(?:{h}:){{0,{}}}{v4}", 5 - head));
        }
        if !tails.is_empty() {
            a.push_str(&format!("(?:{})?", tails.join("|")));
        }
        alternatives.push(a);
    }
    format!("^(?:{})$", alternatives.join("|"))
}

/// A host name's characters and labels (with [`label_lengths_pattern`] and at most
/// [`MAX_HOST_LENGTH`] characters, exactly the host names [`check_host`] accepts).
pub fn host_name_pattern() -> String {
    let label = "[A-Za-z0-9_]+(?:-+[A-Za-z0-9_]+)*";
    // The first label holding more than digits, after any all-digit ones.
    let named = "(?:[0-9]*[A-Za-z_][A-Za-z0-9_]*(?:-+[A-Za-z0-9_]+)*|[0-9]+(?:-+[A-Za-z0-9_]+)+)";
    format!("^(?:[0-9]+\\.)*{named}(?:\\.{label})*\\.?$")
}

/// Every label of a host name at most 63 characters long.
pub fn label_lengths_pattern() -> String {
    format!("^(?:[^.]{{1,{MAX_LABEL_LENGTH}}}\\.)*[^.]{{1,{MAX_LABEL_LENGTH}}}\\.?$")
}

#[cfg(test)]
mod tests {
    use super::*;
    use regex::Regex;

    /// The schema's three alternatives for a host, compiled once.
    struct Schema([Regex; 4]);

    impl Schema {
        fn new() -> Self {
            let re = |p: String| Regex::new(&p).expect("regex");
            Schema([
                re(ipv4_pattern()),
                re(ipv6_pattern()),
                re(host_name_pattern()),
                re(label_lengths_pattern()),
            ])
        }

        /// What the schema says of `s`.
        fn accepts(&self, s: &str) -> bool {
            let [v4, v6, name, labels] = &self.0;
            v4.is_match(s)
                || v6.is_match(s)
                || (name.is_match(s) && labels.is_match(s) && s.chars().count() <= MAX_HOST_LENGTH)
        }
    }

    #[test]
    fn hosts_are_addresses_or_names() {
        let schema = Schema::new();
        for good in [
            "10.0.0.5",
            "0.0.0.0",
            "::1",
            "::",
            "fe80::1",
            "::ffff:192.0.2.1",
            "2001:db8::8a2e:370:7334",
            "localhost",
            "plc-7.site.example",
            "plc_sim",
            "example.com.",
            "1a.2.3",
            "10.0.0.x",
            "4-20ma",
            &format!("{}.b", "a".repeat(63)),
        ] {
            assert_eq!(check_host(good), Ok(()), "{good}");
            assert!(schema.accepts(good), "{good}");
        }
        for (bad, says) in [
            ("", "is empty"),
            (" plc", "starts with U+0020 SPACE"),
            ("plc\n", "contains U+000A LINE FEED at position 4"),
            (
                "pl\u{202E}c",
                "contains U+202E RIGHT-TO-LEFT OVERRIDE at position 3",
            ),
            ("[::1]", "without brackets"),
            ("1:2", "is not an IPv6 address"),
            ("10.0.0.256", "is neither an IPv4 address"),
            ("1.2.3", "is neither"),
            ("01.2.3.4", "is neither"),
            ("2130706433", "is neither"),
            (
                "zähler.local",
                "contains U+00E4 at position 2; write an internationalised",
            ),
            ("a..b", "empty label"),
            (".a", "empty label"),
            ("a b", "contains ' '"),
            ("a/b", "contains '/'"),
            ("-a.b", "starts or ends with '-'"),
            ("a-.b", "starts or ends with '-'"),
            (&"a".repeat(64), "longer than 63"),
            (&"a.".repeat(127), "longer than 253"),
        ] {
            let e = check_host(bad).expect_err(bad);
            assert!(e.contains(says), "{bad:?}: {e}");
            assert!(!schema.accepts(bad), "{bad:?}");
        }
    }

    #[test]
    fn the_schema_accepts_exactly_the_hosts_the_check_accepts() {
        let schema = Schema::new();
        let mut rng = fastrand::Rng::with_seed(16);
        let alphabets = [
            "0123456789abcdefABCDEF:.",
            "0123456789.",
            "ab1_-.",
            "a1:.-_ [",
        ];
        for _ in 0..60_000 {
            let alphabet: Vec<char> = alphabets[rng.usize(..alphabets.len())].chars().collect();
            let len = rng.usize(0..24);
            let s: String = (0..len)
                .map(|_| alphabet[rng.usize(..alphabet.len())])
                .collect();
            assert_eq!(check_host(&s).is_ok(), schema.accepts(&s), "{s:?}");
        }
        for _ in 0..20_000 {
            // Structured candidates reach the long and compressed forms.
            let groups = rng.usize(0..9);
            let mut s: Vec<String> = (0..groups)
                .map(|_| format!("{:x}", rng.u32(0..=0x1ffff) >> rng.u32(0..17)))
                .collect();
            if rng.bool() && !s.is_empty() {
                let at = rng.usize(..s.len());
                s[at] = String::new();
            }
            let mut text = s.join(":");
            if rng.bool() {
                text.push_str(&format!(
                    ":{}.{}.{}.{}",
                    rng.u8(..),
                    rng.u8(..),
                    rng.u8(..),
                    rng.u16(..300)
                ));
            }
            assert_eq!(check_host(&text).is_ok(), schema.accepts(&text), "{text:?}");
        }
    }
}
