//! Fuzzes the Standard Webhooks verifier: `provisioner_shared::fuzzing::webhook`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| provisioner_shared::fuzzing::webhook(data));
