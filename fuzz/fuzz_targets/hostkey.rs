//! Fuzzes every reader of HOSTKEY's answers, 2xx and error: `provisioner_worker::fuzzing::hostkey`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| provisioner_worker::fuzzing::hostkey(data));
