//! Collects every problem of a configuration with where it was written.

use super::Problem;
use std::time::Duration;

/// Collects problems while walking the file.
pub(super) struct Checker<'a> {
    pub(super) source: &'a str,
    pub(super) text: &'a str,
    pub(super) problems: Vec<Problem>,
}

impl Checker<'_> {
    pub(super) fn at(
        &mut self,
        span: Option<&std::ops::Range<usize>>,
        path: String,
        message: String,
    ) {
        let location = match span {
            Some(span) => {
                let line = self.text[..span.start.min(self.text.len())]
                    .bytes()
                    .filter(|&b| b == b'\n')
                    .count()
                    + 1;
                format!("{}:{line}", self.source)
            }
            None => self.source.to_string(),
        };
        self.problems.push(Problem {
            location,
            path,
            message,
        });
    }

    pub(super) fn env(&mut self, var: &str, message: String) {
        self.problems.push(Problem {
            location: format!("environment {var}"),
            path: String::new(),
            message,
        });
    }
}

/// A positive duration written in words (`"5s"`), with a message that shows how.
pub(super) fn duration(text: &str) -> Result<Duration, String> {
    historian_model::input::parse_duration(text)
}

/// The dotted path (`devices[1].registers[0].foo`) of a field serde ignored.
pub(crate) fn path_of(p: &serde_ignored::Path<'_>) -> String {
    use serde_ignored::Path as P;
    match p {
        P::Root => String::new(),
        P::Seq { parent, index } => format!("{}[{index}]", path_of(parent)),
        // toml's Spanned wrapper shows up as a map key; it is not part of the user's path.
        P::Map { parent, key } if key.starts_with("$__serde_spanned_private") => path_of(parent),
        P::Map { parent, key } => {
            let head = path_of(parent);
            if head.is_empty() {
                key.clone()
            } else {
                format!("{head}.{key}")
            }
        }
        P::Some { parent } | P::NewtypeStruct { parent } | P::NewtypeVariant { parent } => {
            path_of(parent)
        }
    }
}
