//! Collects every problem of a configuration with where it was written.

use std::fmt;
use thiserror::Error;

/// One thing wrong with a configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// `FILE:LINE`, `FILE`, or `environment VAR`.
    pub location: String,
    /// Field path such as `devices[1].registers[0].data_type` (empty for the whole file).
    pub path: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}: {}", self.location, self.message)
        } else {
            write!(f, "{}: {}: {}", self.location, self.path, self.message)
        }
    }
}

/// Why a configuration could not be loaded.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {reason}")]
    Read {
        /// The path given.
        path: String,
        /// The cause.
        reason: String,
    },
    /// The file is not valid TOML, or a value has the wrong TOML type.
    #[error("{0}")]
    Syntax(Problem),
    /// The file parsed but holds mistakes; all of them are listed.
    #[error("{}", render(.0))]
    Invalid(Vec<Problem>),
}

fn render(problems: &[Problem]) -> String {
    let mut out = format!(
        "invalid configuration ({} problem{}):",
        problems.len(),
        if problems.len() == 1 { "" } else { "s" }
    );
    for p in problems {
        out.push_str("\n  ");
        out.push_str(&p.to_string());
    }
    out
}

/// Collects problems while walking the file.
pub(super) struct Checker<'a> {
    pub(super) source: &'a str,
    pub(super) text: &'a str,
    pub(super) problems: Vec<Problem>,
    /// Map files already read without problems, by path and addressing: devices that
    /// name the same file share one read and parse.
    pub(super) maps: MapCache,
}

/// Parsed register map files of one config load.
pub(super) type MapCache = std::collections::HashMap<
    std::path::PathBuf,
    Vec<(
        historian_model::Addressing,
        Vec<historian_model::RegisterPoint>,
    )>,
>;

impl Checker<'_> {
    pub(super) fn at(
        &mut self,
        span: Option<&std::ops::Range<usize>>,
        path: String,
        message: String,
    ) {
        // A value read without a span of its own is found again by its path.
        let found = match span {
            Some(_) => None,
            None => span_of(self.text, &path),
        };
        let location = match span.or(found.as_ref()) {
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

/// Where the value at `path` (`ingest.batch_size`, `devices[0].registers[2].type`) was
/// written in `text`; `None` when it was not (a default, or the environment).
fn span_of(text: &str, path: &str) -> Option<std::ops::Range<usize>> {
    use toml::de::{DeTable, DeValue};
    if path.is_empty() {
        return None;
    }
    let doc = DeTable::parse(text).ok()?;
    let mut table = doc.get_ref();
    let mut segments = path.split('.').peekable();
    while let Some(segment) = segments.next() {
        let mut parts = segment.split('[');
        let key = parts.next()?;
        let (_, mut value) = table.iter().find(|(k, _)| k.get_ref().as_ref() == key)?;
        for index in parts {
            let i: usize = index.strip_suffix(']')?.parse().ok()?;
            match value.get_ref() {
                DeValue::Array(items) => value = items.get(i)?,
                _ => return None,
            }
        }
        if segments.peek().is_none() {
            return Some(value.span());
        }
        match value.get_ref() {
            DeValue::Table(t) => table = t,
            _ => return Some(value.span()),
        }
    }
    None
}

/// A positive duration written in words (`"5s"`): the model's parser, so the config and
/// the device input word their messages alike.
pub(super) use historian_model::input::parse_duration as duration;

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
