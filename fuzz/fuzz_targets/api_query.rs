//! The API's read endpoints with arbitrary path parameters and query strings.
//! The properties are in `historian_fuzz_checks::api_query`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| historian_fuzz_checks::api_query::check(data));
