//! CSV and TOML register maps: any text in any addressing. Nothing panics; every error
//! names a line; a map that parses writes out to text that parses back to the same map.

use historian_modbus::mapfile::{self, MapFormat};
use historian_model::Addressing;

/// Layout: format and addressing in the first byte, the text after it.
pub fn check(data: &[u8]) {
    let Some((&head, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let format = if head & 1 == 0 {
        MapFormat::Csv
    } else {
        MapFormat::Toml
    };
    let addressing = match (head >> 1) % 3 {
        0 => Addressing::Wire,
        1 => Addressing::OneBased,
        _ => Addressing::Modicon,
    };
    match mapfile::parse(text, format, addressing) {
        Ok(points) => {
            let written = mapfile::write(&points, format);
            // Written maps carry wire addresses with their table.
            let again = mapfile::parse(&written, format, Addressing::Wire).unwrap_or_else(|e| {
                panic!("{format:?} written map does not parse: {e:?}\n{written}")
            });
            assert_eq!(again, points, "{format:?} round trip\n{written}");
        }
        Err(errors) => {
            assert!(!errors.is_empty(), "a failure without an error");
            for e in errors {
                assert!(!e.to_string().is_empty());
            }
        }
    }
}
