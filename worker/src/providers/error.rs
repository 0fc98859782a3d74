//! How a provider call can fail, in the terms the engine decides on.
//!
//! The distinction that matters for money is whether the request may have reached
//! the provider: `NotSent` and `Rejected` prove nothing happened; `Unknown` does not,
//! so a money step that meets it keeps its intent and reconciles before any retry.

use std::time::Duration;

use super::redact::{KnownSecrets, redact};

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CallError {
    /// The provider answered and refused; `message` is its own text.
    #[error("{provider} said: {message}")]
    Rejected {
        provider: &'static str,
        message: String,
        status: Option<u16>,
    },
    /// Credentials refused (after one fresh login where the provider has sessions).
    #[error("{provider} refused our credentials: {message}")]
    Unauthorized {
        provider: &'static str,
        message: String,
    },
    /// 429 (or 503 with Retry-After): slow down; nothing was applied.
    #[error("{provider} is rate limiting us{}", .retry_after.map(|d| format!(" (retry after {}s)", d.as_secs())).unwrap_or_default())]
    RateLimited {
        provider: &'static str,
        retry_after: Option<Duration>,
    },
    /// The request may or may not have been applied: 5xx, timeout, dropped connection.
    #[error("{provider}: {message}")]
    Unknown {
        provider: &'static str,
        message: String,
    },
    /// Nothing reached the provider (connection refused, DNS): safe to send again.
    #[error("{provider} unreachable: {message}")]
    NotSent {
        provider: &'static str,
        message: String,
    },
    /// An answer in a shape we do not know; `body` is quoted as received (secrets
    /// masked: [`quote`]).
    #[error("{provider} answered in an unknown shape: {body}")]
    BadResponse {
        provider: &'static str,
        body: String,
    },
}

impl CallError {
    /// The provider's own words, when it gave any.
    pub fn provider_message(&self) -> Option<String> {
        match self {
            CallError::Rejected { message, .. } | CallError::Unauthorized { message, .. } => {
                Some(message.clone())
            }
            CallError::BadResponse { body, .. } => Some(body.clone()),
            _ => None,
        }
    }

    /// This error with every secret in `known` masked in its text (the quoted body,
    /// the provider's message): clients pass what they sent, the engine the job's own.
    pub fn scrubbed(self, known: &KnownSecrets) -> CallError {
        if known.is_empty() {
            return self;
        }
        let s = |text: String| match known.scrub(&text) {
            std::borrow::Cow::Borrowed(_) => text,
            std::borrow::Cow::Owned(masked) => masked,
        };
        match self {
            CallError::Rejected {
                provider,
                message,
                status,
            } => CallError::Rejected {
                provider,
                message: s(message),
                status,
            },
            CallError::Unauthorized { provider, message } => CallError::Unauthorized {
                provider,
                message: s(message),
            },
            CallError::Unknown { provider, message } => CallError::Unknown {
                provider,
                message: s(message),
            },
            CallError::NotSent { provider, message } => CallError::NotSent {
                provider,
                message: s(message),
            },
            CallError::BadResponse { provider, body } => CallError::BadResponse {
                provider,
                body: s(body),
            },
            limited @ CallError::RateLimited { .. } => limited,
        }
    }

    /// True when the request may have been applied by the provider.
    pub fn maybe_applied(&self) -> bool {
        matches!(
            self,
            CallError::Unknown { .. } | CallError::BadResponse { .. }
        )
    }

    /// True when trying again later can help.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            CallError::RateLimited { .. } | CallError::Unknown { .. } | CallError::NotSent { .. }
        )
    }

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

fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        let text = inner.to_string();
        if !s.contains(&text) {
            s.push_str(": ");
            s.push_str(&text);
        }
        source = inner.source();
    }
    s
}
