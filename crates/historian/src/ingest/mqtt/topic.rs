//! Topic templates of the JSON format: `{prefix}/{device}/{register}` and the like, parsed
//! once at start-up so that a poll only fills in names.

use std::fmt::Write;

/// The placeholders a template may use, as written in the config.
pub const PLACEHOLDERS: &str = "{prefix} {device} {device_id} {register} {address}";

/// One piece of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Device,
    DeviceId,
    Register,
    Address,
}

/// A parsed topic template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pieces: Vec<Piece>,
}

/// What a template names: a device, and perhaps one register of it.
#[derive(Debug, Clone, Copy)]
pub struct Names<'a> {
    /// The device's name.
    pub device: &'a str,
    /// The device's database id.
    pub device_id: i64,
    /// The register's name (empty for a per-device topic).
    pub register: &'a str,
    /// The register's six-digit reference (0 for a per-device topic).
    pub address: u32,
}

impl Template {
    /// Parses `text`, with `{prefix}` replaced by `prefix` at once.
    pub fn parse(text: &str, prefix: &str) -> Result<Template, String> {
        let mut pieces = Vec::new();
        let mut literal = String::new();
        let mut rest = text;
        while let Some(open) = rest.find(['{', '}']) {
            literal.push_str(&rest[..open]);
            if rest[open..].starts_with('}') {
                return Err(format!("{text:?}: a '}}' without its '{{'"));
            }
            let Some(close) = rest[open..].find('}') else {
                return Err(format!("{text:?}: a '{{' without its '}}'"));
            };
            let name = &rest[open + 1..open + close];
            let piece = match name {
                "prefix" => {
                    literal.push_str(prefix);
                    None
                }
                "device" => Some(Piece::Device),
                "device_id" => Some(Piece::DeviceId),
                "register" => Some(Piece::Register),
                "address" => Some(Piece::Address),
                other => {
                    return Err(format!(
                        "{text:?}: unknown placeholder {{{other}}}; use {PLACEHOLDERS}"
                    ));
                }
            };
            if let Some(p) = piece {
                if !literal.is_empty() {
                    pieces.push(Piece::Text(std::mem::take(&mut literal)));
                }
                pieces.push(p);
            }
            rest = &rest[open + close + 1..];
        }
        literal.push_str(rest);
        if !literal.is_empty() {
            pieces.push(Piece::Text(literal));
        }
        let t = Template { pieces };
        let fixed: String = t
            .pieces
            .iter()
            .filter_map(|p| match p {
                Piece::Text(s) => Some(s.as_str()),
                _ => None,
            })
            .collect();
        if let Some(bad) = fixed.chars().find(|c| matches!(c, '+' | '#' | '\0')) {
            return Err(format!(
                "{text:?}: {bad:?} is a wildcard (or NUL), which a published topic cannot hold"
            ));
        }
        if t.pieces.is_empty() {
            return Err("is empty".into());
        }
        if matches!(t.pieces.first(), Some(Piece::Text(s)) if s.starts_with('$')) {
            return Err(format!(
                "{text:?}: topics starting with '$' are the broker's own"
            ));
        }
        Ok(t)
    }

    /// True when the template names the device (by name or id).
    pub fn names_device(&self) -> bool {
        self.pieces
            .iter()
            .any(|p| matches!(p, Piece::Device | Piece::DeviceId))
    }

    /// True when the template names the register (by name or address).
    pub fn names_register(&self) -> bool {
        self.pieces
            .iter()
            .any(|p| matches!(p, Piece::Register | Piece::Address))
    }

    /// The topic for `n`. Names are written with `/`, `+` and `#` replaced by `_`, so that
    /// a name is always one topic level and never a wildcard.
    pub fn render(&self, n: Names<'_>) -> String {
        let mut out = String::with_capacity(64);
        let name = |out: &mut String, s: &str| {
            out.extend(s.chars().map(|c| match c {
                '/' | '+' | '#' | '\0' => '_',
                c => c,
            }));
        };
        for p in &self.pieces {
            match p {
                Piece::Text(s) => out.push_str(s),
                Piece::Device => name(&mut out, n.device),
                Piece::DeviceId => {
                    let _ = write!(out, "{}", n.device_id);
                }
                Piece::Register => name(&mut out, n.register),
                Piece::Address => {
                    let _ = write!(out, "{}", n.address);
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Names<'static> {
        Names {
            device: "boiler/1",
            device_id: 7,
            register: "temp+",
            address: 400_001,
        }
    }

    #[test]
    fn fills_in_every_placeholder_and_keeps_names_one_level() {
        let t = Template::parse("{prefix}/{device}/{device_id}/{register}/{address}", "p/q")
            .expect("parse");
        assert_eq!(t.render(names()), "p/q/boiler_1/7/temp_/400001");
        assert!(t.names_device() && t.names_register());
    }

    #[test]
    fn refuses_unknown_placeholders_braces_wildcards_and_dollar_topics() {
        for (text, says) in [
            ("{prefix}/{dev}", "unknown placeholder {dev}"),
            ("{prefix}/{device", "without its '}'"),
            ("a}/b", "without its '{'"),
            ("a/+/{device}", "wildcard"),
            ("a/#", "wildcard"),
            ("$SYS/{device}", "broker's own"),
            ("", "is empty"),
        ] {
            let e = Template::parse(text, "p").expect_err(text);
            assert!(e.contains(says), "{text}: {e}");
        }
    }

    #[test]
    fn a_device_topic_names_no_register() {
        let t = Template::parse("{prefix}/{device}", "p").expect("parse");
        assert!(t.names_device());
        assert!(!t.names_register());
    }
}
