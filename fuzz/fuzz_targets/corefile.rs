//! See `clusterdns_fuzzing::corefile`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| clusterdns_fuzzing::corefile(data));
