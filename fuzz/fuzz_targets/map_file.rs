//! CSV and TOML register maps: arbitrary text in each addressing.
//! The properties are in `historian_fuzz_checks::map_file`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| historian_fuzz_checks::map_file::check(data));
