//! See `clusterdns_fuzzing::manifest`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| clusterdns_fuzzing::manifest(data));
