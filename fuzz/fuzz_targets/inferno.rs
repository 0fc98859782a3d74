//! Fuzzes every reader of Inferno's answers (JSON and `print_r`), 2xx and error: `provisioner_worker::fuzzing::inferno`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| provisioner_worker::fuzzing::inferno(data));
