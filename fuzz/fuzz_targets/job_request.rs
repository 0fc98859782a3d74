//! Fuzzes `JobRequest::parse` on request bodies: `provisioner_shared::fuzzing::job_request`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| provisioner_shared::fuzzing::job_request(data));
