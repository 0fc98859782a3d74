//! How a provider call can fail, in the terms the engine decides on.
//!
//! The distinction that matters for money is whether the request may have reached
//! the provider: `NotSent` and `Rejected` prove nothing happened; `Unknown` does not,
//! so a money step that meets it keeps its intent and reconciles before any retry.
//! (How an HTTP answer becomes one of these is the clients' business:
//! `providers::error`.)

use super::{KnownSecrets, Outcome};
use std::time::Duration;

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
    /// masked: `providers::error::quote`).
    #[error("{provider} answered in an unknown shape: {body}")]
    BadResponse {
        provider: &'static str,
        body: String,
    },
}

impl CallError {
    /// A step's own refusal, before anything was sent (a `Rejected`: nothing to
    /// reconcile), in the step's words.
    pub fn refused_before_call(provider: &'static str, outcome: &Outcome) -> CallError {
        let message = match outcome {
            Outcome::Fail(e) => e.message.clone(),
            other => format!("{other:?}"),
        };
        CallError::Rejected {
            provider,
            message,
            status: None,
        }
    }

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
}
