//! Register maps as files: the shared checks of one register, and CSV and TOML map files
//! that are read (reporting every error with its line and column) and written.

mod point;

pub use point::{FieldError, RawPoint, build_point, raw_of};
