//! The committed fuzz corpus, replayed without a fuzzer: every file of
//! `fuzz/corpus/<target>/` through the function its fuzz target calls.

use super::*;

#[test]
fn the_print_r_corpus_reads_within_its_invariants() {
    assert!(replay("print_r", print_r) > 1);
}

#[test]
fn the_lenient_json_corpus_reads_within_its_invariants() {
    assert!(replay("lenient_json", lenient_json) > 1);
}

#[test]
fn the_redact_corpus_masks_within_its_invariants() {
    assert!(replay("redact", redact) > 1);
}

#[test]
fn the_hostkey_corpus_reads_within_its_invariants() {
    assert!(replay("hostkey", hostkey) > 1);
}

#[test]
fn the_klikk_corpus_reads_within_its_invariants() {
    assert!(replay("klikk", klikk) > 1);
}

#[test]
fn the_inferno_corpus_reads_within_its_invariants() {
    assert!(replay("inferno", inferno) > 1);
}

#[test]
fn the_idcloudhost_corpus_reads_within_its_invariants() {
    assert!(replay("idcloudhost", idcloudhost) > 1);
}

/// The invariants themselves: an error whose text grew with the body is caught.
#[test]
#[should_panic(expected = "an error's text is")]
fn an_unbounded_error_text_is_caught() {
    check_error(&CallError::Rejected {
        provider: "hostkey",
        message: "x".repeat(MAX_ERROR_TEXT + 1),
        status: None,
    });
}
