//! Entry points of the fuzz targets in `fuzz/` (cargo-fuzz) and of the replay of
//! their committed corpus as ordinary tests: each takes a provider's answer as raw
//! bytes, reads it as the client does (bytes → text as reqwest decodes them), feeds it
//! to every reader of that provider, 2xx and error alike, and panics when a reader
//! panics or breaks an invariant written beside it. Not an API: hidden from the docs,
//! and nothing but the fuzz targets and the tests calls it.

use secrecy::SecretString;
use serde_json::Value;

use crate::providers::error::MAX_QUOTE;
use crate::providers::fields::{Decimals, money_to_cents};
use crate::providers::inferno::api::print_r::{MAX_DEPTH, PhpArray, PhpValue};
use crate::providers::{hostkey, idcloudhost, inferno, klikk};
use crate::step::{CallError, KnownSecrets};

/// The modules under test, by names the entry points below do not shadow.
use crate::providers::inferno::api::print_r as php;
use crate::providers::lenient_json as seed_json;
use crate::providers::redact as redaction;

pub use provisioner_shared::fuzzing::{corpus, replay};

/// The statuses every body is also read under as an error answer, with the
/// Retry-After it comes with: client errors, credentials, rate limits, server errors.
const ERROR_STATUSES: [(u16, Option<std::time::Duration>); 7] = [
    (400, None),
    (401, None),
    (404, None),
    (429, Some(std::time::Duration::from_secs(7))),
    (500, None),
    (503, None),
    (503, Some(std::time::Duration::from_secs(7))),
];

/// Room for the words around a quote in an error's text ("hostkey answered in an
/// unknown shape: ", "HTTP 503: ").
const ERROR_FRAME: usize = 96;

/// The longest an error's text may be, whatever the body: errors travel into logs,
/// the job JSON and signed callbacks, so a body's size must not carry over.
pub const MAX_ERROR_TEXT: usize = MAX_QUOTE + ERROR_FRAME;

/// How a client reads a body: reqwest's `text()` replaces bytes that are not UTF-8.
fn text_of(data: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(data)
}

/// An error's texts stay bounded however long the body was.
fn check_error(e: &CallError) {
    let shown = e.to_string();
    assert!(
        shown.len() <= MAX_ERROR_TEXT,
        "an error's text is {} bytes (at most {MAX_ERROR_TEXT}): {}…",
        shown.len(),
        shown.chars().take(160).collect::<String>()
    );
    if let Some(said) = e.provider_message() {
        assert!(
            said.len() <= MAX_ERROR_TEXT,
            "a provider message is {} bytes",
            said.len()
        );
    }
}

/// Reads a parser's result: an answer is printed (its `Debug` must not panic), an
/// error is checked.
fn check<T: std::fmt::Debug>(result: Result<T, CallError>) -> Option<T> {
    match result {
        Ok(answer) => {
            let _ = format!("{answer:?}");
            Some(answer)
        }
        Err(e) => {
            check_error(&e);
            None
        }
    }
}

/// The body as an error answer under every status of [`ERROR_STATUSES`]: a 429 is a
/// rate limit whatever the body says.
fn check_http_errors(
    http_error: fn(u16, Option<std::time::Duration>, &str) -> CallError,
    body: &str,
) {
    for (status, retry_after) in ERROR_STATUSES {
        let e = http_error(status, retry_after, body);
        if status == 429 {
            assert!(
                matches!(e, CallError::RateLimited { .. }),
                "a 429 is not a rate limit: {e:?}"
            );
        }
        check_error(&e);
    }
}

/// Inferno's `print_r` reader. Invariants: no tree deeper than [`MAX_DEPTH`], and
/// line breaks do not matter: LF, CRLF and CR read alike.
pub fn print_r(data: &[u8]) {
    let text = text_of(data);
    let read = php::parse(&text);
    if let Ok(tree) = &read {
        assert!(depth(tree) <= MAX_DEPTH + 1, "a tree deeper than the cap");
    }
    let crlf = text.replace('\r', "").replace('\n', "\r\n");
    let lf = text.replace('\r', "");
    assert_eq!(
        php::parse(&lf).ok(),
        php::parse(&crlf).ok(),
        "LF and CRLF read differently"
    );
}

fn depth(tree: &PhpArray) -> usize {
    // The reader caps nesting, so this recursion is bounded too.
    1 + tree
        .0
        .iter()
        .map(|(_, v)| match v {
            PhpValue::Array(inner) => depth(inner),
            PhpValue::Text(_) => 0,
        })
        .max()
        .unwrap_or(0)
}

/// The seeds' JSON repair. Invariants: valid JSON reads exactly as a strict parser
/// reads it; the repair grows a text by a bounded factor only.
pub fn lenient_json(data: &[u8]) {
    let text = text_of(data);
    let lenient = seed_json::parse(&text);
    if let Ok(strict) = serde_json::from_str::<Value>(&text) {
        assert_eq!(lenient.as_ref(), Some(&strict), "valid JSON was rewritten");
    }
    let repaired = seed_json::repair(&text);
    assert!(
        repaired.len() <= 8 * text.len() + 2,
        "the repair grew {} bytes into {}",
        text.len(),
        repaired.len()
    );
}

/// A secret planted after the fuzzed text, on a line of its own.
const CANARY: &str = "canary-Zq8x-secret-1f4b";

/// The one redaction of quoted bodies. Invariants: a secret-looking `key=value` line
/// after any text is masked, and so is a secret the client sent, wherever it is.
pub fn redact(data: &[u8]) {
    let text = text_of(data);
    let _ = redaction::redact(&text);
    // A canary the text already holds is no secret of the line below (the fuzzer
    // learns the canary from the comparison and writes it into the text).
    if !text.contains(CANARY) {
        let planted = format!("{text}\npassword={CANARY}\n");
        assert!(
            !redaction::redact(&planted).contains(CANARY),
            "a password line after the text is not masked"
        );
    }
    let known = KnownSecrets::new().with(&SecretString::from(CANARY));
    let planted = format!("{text}{CANARY}{text}");
    assert!(
        !known.scrub(&planted).contains(CANARY),
        "a secret we sent is not masked"
    );
}

/// HOSTKEY's readers, and money in its invoices (at most two decimals).
pub fn hostkey(data: &[u8]) {
    use hostkey::api::*;
    let body = text_of(data);
    let body = body.as_ref();
    check(parse_login(body));
    check(parse_async(body));
    check(parse_server_list(body));
    check(parse_list(body));
    check(parse_show(body));
    for invoice in check(parse_invoices(body))
        .into_iter()
        .flatten()
        .chain(check(parse_invoice(body)))
    {
        for amount in [&invoice.total, &invoice.balance, &invoice.credit]
            .into_iter()
            .flatten()
        {
            let _ = money_to_cents(amount, Decimals::AtMostTwo);
        }
        let _ = invoice.amount_due();
    }
    if let Some(credit) = check(parse_client_credit(body)) {
        let _ = money_to_cents(&credit, Decimals::AtMostTwo);
    }
    for moved in check(parse_credit_log(body)).into_iter().flatten() {
        let _ = moved.names_invoice("10116");
    }
    check(parse_payment(body));
    check(parse_check(body));
    check(parse_done(body));
    check_http_errors(hostkey::api::http_error, body);
}

/// Klikk's readers.
pub fn klikk(data: &[u8]) {
    use klikk::api::*;
    let body = text_of(data);
    let body = body.as_ref();
    if let Some(order) = check(parse_order(body)) {
        let _ = order.status();
    }
    check(parse_order_status(body));
    check(parse_orders(body));
    check(parse_servers(body));
    check(parse_cancelled(body));
    check_http_errors(klikk::api::http_error, body);
}

/// Inferno's readers (JSON, and `install`'s `print_r` text).
pub fn inferno(data: &[u8]) {
    use inferno::api::*;
    let body = text_of(data);
    let body = body.as_ref();
    check(parse_create(body));
    check(parse_products(body));
    check(parse_orders(body));
    check(parse_done(body));
    check(parse_getinfo(body));
    check(parse_sshkey_add(body));
    check(parse_sshkey_list(body));
    check(parse_install(body));
    check_http_errors(inferno::api::http_error, body);
}

/// IDCloudHost's readers, and money in its invoices (a float's decimals).
pub fn idcloudhost(data: &[u8]) {
    use idcloudhost::api::*;
    let body = text_of(data);
    let body = body.as_ref();
    check(parse_vm(body));
    check(parse_vm_list(body));
    check(parse_invoices(body));
    check(parse_invoice(body));
    if let Some(amount) = check(parse_unpaid_amount(body)) {
        let _ = money_to_cents(&amount, Decimals::Rounded);
    }
    check(parse_payment(body));
    check(parse_done(body));
    check(parse_floating_ips(body));
    check(parse_locations(body));
    check_http_errors(idcloudhost::api::http_error, body);
}

#[cfg(test)]
mod tests;
