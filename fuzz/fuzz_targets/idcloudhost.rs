//! Fuzzes every reader of IDCloudHost's answers, 2xx and error: `provisioner_worker::fuzzing::idcloudhost`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| provisioner_worker::fuzzing::idcloudhost(data));
