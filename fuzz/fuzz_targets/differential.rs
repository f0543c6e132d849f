//! See `clusterdns_fuzzing::differential`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| clusterdns_fuzzing::differential(data));
