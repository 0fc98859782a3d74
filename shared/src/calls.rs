//! One provider call as a job's audit trail keeps it (issue 13): written by the
//! worker after the step that made it, read by `GET /v1/jobs/{id}/calls`.
//!
//! Bodies are kept only as the worker's one redaction left them (secret-looking
//! values and every secret the call or the job carried masked), cut to
//! `[audit] body_bytes`; the path never has a query string.

use serde::{Deserialize, Serialize};

/// One request a step sent to its provider, and what came back.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProviderCall {
    /// When the request left, RFC 3339 (Redis time at the step's start plus the
    /// worker's elapsed time).
    pub at: String,
    pub provider: String,
    pub account: String,
    /// The step that made the call, and its attempt (1 = first).
    pub step: String,
    pub attempt: u32,
    pub method: String,
    /// The URL's path, without query string.
    pub path: String,
    /// The provider's action, for APIs that name it in the body (HOSTKEY, Inferno,
    /// Klikk).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// The HTTP status; none when no answer came (`error` says why).
    #[serde(default)]
    pub status: Option<u16>,
    /// How long the call took, from sending to the end of the answer's body.
    pub latency_ms: u64,
    /// The request's body (or its query), redacted.
    #[serde(default)]
    pub request: Option<String>,
    /// The answer's body, redacted.
    #[serde(default)]
    pub response: Option<String>,
    /// Why no usable answer came (transport errors), redacted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}
