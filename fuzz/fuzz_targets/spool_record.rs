//! Spool records and segments: arbitrary bytes as a payload, a segment and segment files.
//! The properties are in `historian_fuzz_checks::spool_record`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| historian_fuzz_checks::spool_record::check(data));
