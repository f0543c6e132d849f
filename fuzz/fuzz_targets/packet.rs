//! See `clusterdns_fuzzing::packet`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| clusterdns_fuzzing::packet(data));
