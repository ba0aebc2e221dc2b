//! The rule for free text that names something (device and register names, hosts, units,
//! serial ports): nothing that renders differently from what it is. Control characters
//! (which break logs and CSV lines), line separators, and the invisible characters that
//! reorder or hide text (bidirectional marks, embeddings, overrides and isolates,
//! zero-width characters) are refused anywhere; white space is refused at either end.
//!
//! The same tables give the schema's patterns, so the document and the check cannot drift.

/// Characters refused anywhere in a name, as inclusive ranges with their Unicode names
/// (`None`: name them by [`c0_name`] or as a control character).
const REFUSED: &[(char, char, Option<&str>)] = &[
    ('\u{0}', '\u{1F}', None),
    ('\u{7F}', '\u{9F}', None),
    ('\u{61C}', '\u{61C}', Some("ARABIC LETTER MARK")),
    ('\u{200B}', '\u{200B}', Some("ZERO WIDTH SPACE")),
    ('\u{200C}', '\u{200C}', Some("ZERO WIDTH NON-JOINER")),
    ('\u{200D}', '\u{200D}', Some("ZERO WIDTH JOINER")),
    ('\u{200E}', '\u{200E}', Some("LEFT-TO-RIGHT MARK")),
    ('\u{200F}', '\u{200F}', Some("RIGHT-TO-LEFT MARK")),
    ('\u{2028}', '\u{2028}', Some("LINE SEPARATOR")),
    ('\u{2029}', '\u{2029}', Some("PARAGRAPH SEPARATOR")),
    ('\u{202A}', '\u{202A}', Some("LEFT-TO-RIGHT EMBEDDING")),
    ('\u{202B}', '\u{202B}', Some("RIGHT-TO-LEFT EMBEDDING")),
    ('\u{202C}', '\u{202C}', Some("POP DIRECTIONAL FORMATTING")),
    ('\u{202D}', '\u{202D}', Some("LEFT-TO-RIGHT OVERRIDE")),
    ('\u{202E}', '\u{202E}', Some("RIGHT-TO-LEFT OVERRIDE")),
    ('\u{2060}', '\u{2060}', Some("WORD JOINER")),
    ('\u{2066}', '\u{2066}', Some("LEFT-TO-RIGHT ISOLATE")),
    ('\u{2067}', '\u{2067}', Some("RIGHT-TO-LEFT ISOLATE")),
    ('\u{2068}', '\u{2068}', Some("FIRST STRONG ISOLATE")),
    ('\u{2069}', '\u{2069}', Some("POP DIRECTIONAL ISOLATE")),
    ('\u{FEFF}', '\u{FEFF}', Some("ZERO WIDTH NO-BREAK SPACE")),
];

/// Every character for which `char::is_whitespace` holds (Unicode `White_Space`), with
/// names for those not refused anyway; `str::trim` removes exactly these.
const WHITE_SPACE: &[(char, char, Option<&str>)] = &[
    ('\u{9}', '\u{D}', None),
    (' ', ' ', Some("SPACE")),
    ('\u{85}', '\u{85}', None),
    ('\u{A0}', '\u{A0}', Some("NO-BREAK SPACE")),
    ('\u{1680}', '\u{1680}', Some("OGHAM SPACE MARK")),
    ('\u{2000}', '\u{200A}', Some("a space of typographic width")),
    ('\u{2028}', '\u{2029}', None),
    ('\u{202F}', '\u{202F}', Some("NARROW NO-BREAK SPACE")),
    ('\u{205F}', '\u{205F}', Some("MEDIUM MATHEMATICAL SPACE")),
    ('\u{3000}', '\u{3000}', Some("IDEOGRAPHIC SPACE")),
];

/// The names of the C0 control characters, by code.
const C0: [&str; 32] = [
    "NULL",
    "START OF HEADING",
    "START OF TEXT",
    "END OF TEXT",
    "END OF TRANSMISSION",
    "ENQUIRY",
    "ACKNOWLEDGE",
    "BELL",
    "BACKSPACE",
    "CHARACTER TABULATION",
    "LINE FEED",
    "LINE TABULATION",
    "FORM FEED",
    "CARRIAGE RETURN",
    "SHIFT OUT",
    "SHIFT IN",
    "DATA LINK ESCAPE",
    "DEVICE CONTROL ONE",
    "DEVICE CONTROL TWO",
    "DEVICE CONTROL THREE",
    "DEVICE CONTROL FOUR",
    "NEGATIVE ACKNOWLEDGE",
    "SYNCHRONOUS IDLE",
    "END OF TRANSMISSION BLOCK",
    "CANCEL",
    "END OF MEDIUM",
    "SUBSTITUTE",
    "ESCAPE",
    "INFORMATION SEPARATOR FOUR",
    "INFORMATION SEPARATOR THREE",
    "INFORMATION SEPARATOR TWO",
    "INFORMATION SEPARATOR ONE",
];

fn find(table: &[(char, char, Option<&'static str>)], c: char) -> Option<Option<&'static str>> {
    table
        .iter()
        .find(|(lo, hi, _)| (*lo..=*hi).contains(&c))
        .map(|(_, _, name)| *name)
}

/// `U+XXXX NAME` for a character a message points at.
pub(crate) fn describe(c: char) -> String {
    let name = match c {
        '\u{0}'..='\u{1F}' => C0[c as usize],
        '\u{7F}' => "DELETE",
        '\u{85}' => "NEXT LINE",
        '\u{80}'..='\u{9F}' => "a C1 control character",
        _ => find(REFUSED, c)
            .or_else(|| find(WHITE_SPACE, c))
            .flatten()
            .unwrap_or(""),
    };
    let code = format!("U+{:04X}", u32::from(c));
    if name.is_empty() {
        code
    } else {
        format!("{code} {name}")
    }
}

/// Whether `c` is refused anywhere in a name.
pub(crate) fn is_refused(c: char) -> bool {
    find(REFUSED, c).is_some()
}

/// Checks a name as written; `Err` says what is wrong, for the field's message. Empty text
/// passes: whether a field may be empty is the caller's rule.
pub fn check_text(text: &str) -> Result<(), String> {
    if let Some((i, c)) = text.chars().enumerate().find(|&(_, c)| is_refused(c)) {
        return Err(format!(
            "contains {} at position {} (control characters and invisible formatting \
             characters are not allowed)",
            describe(c),
            i + 1
        ));
    }
    if let Some(c) = text.chars().next().filter(|c| c.is_whitespace()) {
        return Err(format!("starts with {}; remove it", describe(c)));
    }
    if let Some(c) = text.chars().next_back().filter(|c| c.is_whitespace()) {
        return Err(format!("ends with {}; remove it", describe(c)));
    }
    Ok(())
}

/// Checks a required name: not empty, and [`check_text`].
pub fn check_name(text: &str) -> Result<(), String> {
    if text.is_empty() {
        return Err("is empty".into());
    }
    check_text(text)
}

/// A regex character class body (without brackets) holding `ranges`, written with `\u`
/// escapes that ECMA-262, Python and Rust regexes read alike.
fn class_body(ranges: &[&[(char, char, Option<&str>)]]) -> String {
    let mut out = String::new();
    for &(lo, hi, _) in ranges.iter().flat_map(|r| r.iter()) {
        out.push_str(&format!("\\u{:04X}", u32::from(lo)));
        if hi != lo {
            out.push_str(&format!("-\\u{:04X}", u32::from(hi)));
        }
    }
    out
}

/// A character class matching one white-space character (what `str::trim` removes).
pub fn white_space_class() -> String {
    format!("[{}]", class_body(&[WHITE_SPACE]))
}

/// The pattern of text that [`check_text`] accepts; `required`: not empty either.
pub fn text_pattern(required: bool) -> String {
    let inner = format!("[^{}]", class_body(&[REFUSED]));
    let edge = format!("[^{}]", class_body(&[REFUSED, WHITE_SPACE]));
    let body = format!("{edge}(?:{inner}*{edge})?");
    if required {
        format!("^{body}$")
    } else {
        format!("^(?:{body})?$")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn white_space_table_is_exactly_what_trim_removes() {
        for c in (0..=0x10FFFF).filter_map(char::from_u32) {
            assert_eq!(
                find(WHITE_SPACE, c).is_some(),
                c.is_whitespace(),
                "{}",
                describe(c)
            );
        }
    }

    #[test]
    fn refused_characters_are_named_with_their_position() {
        let cases = [
            (
                "ab\u{202E}c",
                "contains U+202E RIGHT-TO-LEFT OVERRIDE at position 3",
            ),
            ("a\u{0}", "contains U+0000 NULL at position 2"),
            ("meter\n", "contains U+000A LINE FEED at position 6"),
            (
                "\u{2066}x",
                "contains U+2066 LEFT-TO-RIGHT ISOLATE at position 1",
            ),
            (
                "x\u{2069}",
                "contains U+2069 POP DIRECTIONAL ISOLATE at position 2",
            ),
            (
                "a\u{200E}",
                "contains U+200E LEFT-TO-RIGHT MARK at position 2",
            ),
            (
                "a\u{200F}",
                "contains U+200F RIGHT-TO-LEFT MARK at position 2",
            ),
            (
                "a\u{200B}b",
                "contains U+200B ZERO WIDTH SPACE at position 2",
            ),
            (
                "a\u{200C}b",
                "contains U+200C ZERO WIDTH NON-JOINER at position 2",
            ),
            (
                "a\u{200D}b",
                "contains U+200D ZERO WIDTH JOINER at position 2",
            ),
            (
                "\u{FEFF}a",
                "contains U+FEFF ZERO WIDTH NO-BREAK SPACE at position 1",
            ),
            (
                "a\u{202A}",
                "contains U+202A LEFT-TO-RIGHT EMBEDDING at position 2",
            ),
            (
                "a\u{202B}",
                "contains U+202B RIGHT-TO-LEFT EMBEDDING at position 2",
            ),
            (
                "a\u{202C}",
                "contains U+202C POP DIRECTIONAL FORMATTING at position 2",
            ),
            (
                "a\u{202D}",
                "contains U+202D LEFT-TO-RIGHT OVERRIDE at position 2",
            ),
            (
                "a\u{2067}",
                "contains U+2067 RIGHT-TO-LEFT ISOLATE at position 2",
            ),
            (
                "a\u{2068}",
                "contains U+2068 FIRST STRONG ISOLATE at position 2",
            ),
            (
                "é\u{9b}",
                "contains U+009B a C1 control character at position 2",
            ),
            ("a\u{7F}", "contains U+007F DELETE at position 2"),
            ("a\tb", "contains U+0009 CHARACTER TABULATION at position 2"),
        ];
        for (text, says) in cases {
            let e = check_text(text).expect_err(text);
            assert!(e.starts_with(says), "{text:?}: {e}");
        }
    }

    #[test]
    fn surrounding_white_space_is_refused_and_inner_space_kept() {
        assert_eq!(
            check_name(" meter").expect_err("refused"),
            "starts with U+0020 SPACE; remove it"
        );
        assert_eq!(
            check_name("meter\u{A0}").expect_err("refused"),
            "ends with U+00A0 NO-BREAK SPACE; remove it"
        );
        assert_eq!(
            check_name("meter\u{3000}").expect_err("refused"),
            "ends with U+3000 IDEOGRAPHIC SPACE; remove it"
        );
        assert_eq!(check_name("").expect_err("refused"), "is empty");
        for good in [
            "main meter",
            "Zähler 3",
            "электросчётчик",
            "m³/h",
            "°C",
            "x",
        ] {
            assert_eq!(check_name(good), Ok(()), "{good}");
        }
        assert_eq!(check_text(""), Ok(()));
    }
}
