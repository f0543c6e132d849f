//! See `clusterdns_fuzzing::api_object`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| clusterdns_fuzzing::api_object(data));
