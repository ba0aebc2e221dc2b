//! The properties the fuzz targets check, one module per target. Each `check` takes
//! arbitrary bytes and panics when a property fails; cargo-fuzz drives them from `fuzz/`,
//! and `tests/corpus.rs` runs them over the seed corpus and seeded mutations of it.

pub mod api_query;
pub mod config;
pub mod decode;
pub mod map_file;
pub mod spool_record;

/// A fuzz target: its name (the folder of its corpus) and its check.
pub type Target = (&'static str, fn(&[u8]));

/// Every target.
pub const TARGETS: [Target; 5] = [
    ("decode", decode::check),
    ("map_file", map_file::check),
    ("config", config::check),
    ("api_query", api_query::check),
    ("spool_record", spool_record::check),
];
