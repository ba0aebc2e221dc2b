//! Register decoding: arbitrary words, type, word order, scale, offset and limits.
//! The properties are in `historian_fuzz_checks::decode`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| historian_fuzz_checks::decode::check(data));
