//! Fuzzes every reader of Klikk's answers, 2xx and error: `provisioner_worker::fuzzing::klikk`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| provisioner_worker::fuzzing::klikk(data));
