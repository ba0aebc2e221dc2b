//! The configuration file: arbitrary text.
//! The properties are in `historian_fuzz_checks::config`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| historian_fuzz_checks::config::check(data));
