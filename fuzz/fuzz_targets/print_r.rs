//! Fuzzes Inferno's `print_r` reader: `provisioner_worker::fuzzing::print_r`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| provisioner_worker::fuzzing::print_r(data));
