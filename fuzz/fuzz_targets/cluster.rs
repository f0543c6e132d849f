//! See `clusterdns_fuzzing::cluster`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| clusterdns_fuzzing::cluster(data));
