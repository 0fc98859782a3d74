//! Fuzzes the redaction of quoted provider bodies: `provisioner_worker::fuzzing::redact`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| provisioner_worker::fuzzing::redact(data));
