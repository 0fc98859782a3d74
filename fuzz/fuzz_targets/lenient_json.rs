//! Fuzzes the seeds' JSON repair: `provisioner_worker::fuzzing::lenient_json`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| provisioner_worker::fuzzing::lenient_json(data));
