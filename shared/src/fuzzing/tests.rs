//! The committed fuzz corpus, replayed without a fuzzer: every file of
//! `fuzz/corpus/<target>/` through the function its fuzz target calls.

use super::*;

#[test]
fn the_job_request_corpus_parses_within_its_invariants() {
    assert!(replay("job_request", job_request) > 1);
}

#[test]
fn the_webhook_corpus_verifies_within_its_invariants() {
    assert!(replay("webhook", webhook) > 1);
}
