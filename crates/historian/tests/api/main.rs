//! Handler tests with `oneshot`: every endpoint, its answers and its error cases.

mod fixture;
mod history;
mod openapi;
mod query;
mod readings;
mod scrape;
mod security;
mod stream;
