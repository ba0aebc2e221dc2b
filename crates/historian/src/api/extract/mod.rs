//! The extractors that read a request's parameters and body: each answers a request it
//! cannot read with problem details, so no handler maps a rejection itself.

mod body;
mod query;

pub use body::Body;
pub use query::Query;
