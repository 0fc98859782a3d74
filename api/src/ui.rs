//! `GET /ui`: the dashboard, one static page (`api/ui/index.html`, inline CSS and
//! JS, nothing fetched from elsewhere) built into the binary. No token is needed to
//! load it: the page signs in through `/ui/session` (`session`: an HttpOnly cookie
//! and a CSRF token) and calls the `/v1` API on that session; it never keeps the
//! token. `/ui#token=<token>` signs in at once and strips the fragment.
//!
//! The page's Content-Security-Policy allows exactly its own inline script and style
//! (by their SHA-256, computed once from the page as built) and requests to this
//! origin, and nothing else: an injected `<script>` or `onclick` would not run, and
//! the page cannot be framed. The page itself renders API data as text only.

use axum::http::{HeaderMap, HeaderName, HeaderValue, header};
use axum::response::IntoResponse;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256};
use std::sync::LazyLock;

const PAGE: &str = include_str!("../ui/index.html");

static CSP: LazyLock<HeaderValue> = LazyLock::new(|| {
    let policy = policy(PAGE);
    HeaderValue::from_str(&policy).expect("a CSP of hashes is a valid header value")
});

pub(crate) async fn page() -> impl IntoResponse {
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(header::CONTENT_SECURITY_POLICY, CSP.clone());
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(
        HeaderName::from_static("cross-origin-opener-policy"),
        HeaderValue::from_static("same-origin"),
    );
    (headers, PAGE)
}

/// The policy for `page`: its inline `<script>` and `<style>` by hash.
fn policy(page: &str) -> String {
    let script = inline_hashes(page, "script");
    let style = inline_hashes(page, "style");
    format!(
        "default-src 'none'; script-src {script}; style-src {style}; connect-src 'self'; \
         img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )
}

/// `'sha256-…'` of the content of every `<tag>…</tag>` in `page`, space-separated.
fn inline_hashes(page: &str, tag: &str) -> String {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let mut hashes = Vec::new();
    let mut rest = page;
    while let Some(start) = rest.find(&open) {
        let body = &rest[start + open.len()..];
        let Some(end) = body.find(&close) else { break };
        let digest = Sha256::digest(&body.as_bytes()[..end]);
        hashes.push(format!("'sha256-{}'", STANDARD.encode(digest)));
        rest = &body[end + close.len()..];
    }
    if hashes.is_empty() {
        "'none'".to_owned()
    } else {
        hashes.join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_names_the_pages_own_script_and_style_only() {
        let csp = policy(PAGE);
        assert_eq!(csp.matches("'sha256-").count(), 2, "{csp}");
        assert!(!csp.contains("unsafe"), "{csp}");
        assert!(csp.contains("default-src 'none'"), "{csp}");
        assert!(csp.contains("connect-src 'self'"), "{csp}");
        let script = &PAGE[PAGE.find("<script>").unwrap() + 8..PAGE.find("</script>").unwrap()];
        let expected = STANDARD.encode(Sha256::digest(script.as_bytes()));
        assert!(
            csp.contains(&format!("script-src 'sha256-{expected}'")),
            "{csp}"
        );
    }

    #[test]
    fn the_page_loads_nothing_from_elsewhere_and_never_renders_data_as_html() {
        // One inline script and one inline style: the policy only covers those.
        assert_eq!(PAGE.matches("<script").count(), 1);
        assert_eq!(PAGE.matches("<style").count(), 1);
        for banned in [
            "http://",
            "https://",
            "src=",
            "innerHTML",
            "outerHTML",
            "insertAdjacentHTML",
            "document.write",
            "eval(",
            "new Function",
            "localStorage",
            " onclick=",
            " onload=",
            "style=\"",
            // The token goes to `ui/session` once and is kept nowhere.
            "sessionStorage",
            "document.cookie",
            "Authorization",
        ] {
            assert!(!PAGE.contains(banned), "the page contains {banned:?}");
        }
        for needed in ["ui/session", "X-CSRF-Token", "history.replaceState"] {
            assert!(PAGE.contains(needed), "the page lacks {needed:?}");
        }
    }

    #[test]
    fn hashes_cover_every_block_of_a_tag() {
        let page = "<style>a{}</style><p>x</p><style>b{}</style>";
        assert_eq!(inline_hashes(page, "style").matches("'sha256-").count(), 2);
        assert_eq!(inline_hashes(page, "script"), "'none'");
    }
}
