//! How an HTTP answer or a transport failure becomes a [`CallError`] (the type is
//! the step contract's, in `crate::step`), and how a body is quoted in one.

use std::time::Duration;

use super::redact::redact;
pub use crate::step::CallError;
use provisioner_shared::error_chain;

impl CallError {
    /// Classifies a transport error from reqwest.
    pub fn from_transport(provider: &'static str, e: &reqwest::Error) -> CallError {
        // A connect error means no byte of the request was sent.
        if e.is_connect() {
            return CallError::NotSent {
                provider,
                message: error_chain(e),
            };
        }
        let message = if e.is_timeout() {
            "no answer before the timeout".to_owned()
        } else {
            error_chain(e)
        };
        CallError::Unknown { provider, message }
    }

    /// Classifies a non-success HTTP status when the body held no provider error.
    pub fn from_status(
        provider: &'static str,
        status: u16,
        retry_after: Option<Duration>,
        body: &str,
    ) -> CallError {
        let body = quote(body);
        match status {
            429 => CallError::RateLimited {
                provider,
                retry_after,
            },
            503 if retry_after.is_some() => CallError::RateLimited {
                provider,
                retry_after,
            },
            401 | 403 => CallError::Unauthorized {
                provider,
                message: if body.is_empty() {
                    format!("HTTP {status}")
                } else {
                    body
                },
            },
            500..=599 => CallError::Unknown {
                provider,
                message: if body.is_empty() {
                    format!("HTTP {status}")
                } else {
                    format!("HTTP {status}: {body}")
                },
            },
            _ => CallError::Rejected {
                provider,
                message: if body.is_empty() {
                    format!("HTTP {status}")
                } else {
                    body
                },
                status: Some(status),
            },
        }
    }
}

/// How many bytes of a body, or of a provider's own message, an error keeps; the
/// rest is cut off and counted.
pub const MAX_QUOTE: usize = 2000;

/// A response body as we quote it in errors: secrets masked ([`redact`]), trimmed
/// and bounded. Every quote of a provider's answer goes through here.
pub fn quote(body: &str) -> String {
    bounded(&redact(body.trim()))
}

/// A provider's own message (an error envelope's text) as an error keeps it: trimmed
/// and bounded like a quote, since errors travel into logs, the job JSON and signed
/// callbacks, and a provider may write a whole page where one line is expected.
pub fn bounded(text: &str) -> String {
    let t = text.trim();
    if t.len() <= MAX_QUOTE {
        return t.to_owned();
    }
    let mut end = MAX_QUOTE;
    while !t.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes)", &t[..end], t.len())
}

/// `Retry-After` in seconds (the HTTP-date form is rare from APIs; treated as absent).
pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(|s| Duration::from_secs_f64(s.min(3600.0)))
}
