//! `[audit]`: how much of each job's provider calls is kept (issue 13).

use serde::Deserialize;

/// `[audit]`: the trail of provider calls kept on each job
/// (`GET /v1/jobs/{id}/calls`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuditConfig {
    /// The last this many calls of a job are kept (the oldest go first).
    pub calls_per_job: usize,
    /// A recorded request or response body is cut after this many bytes.
    pub body_bytes: usize,
}

impl Default for AuditConfig {
    fn default() -> Self {
        AuditConfig {
            calls_per_job: 200,
            body_bytes: 4096,
        }
    }
}

/// Bounds of `[audit]`: a trail of at least one call and at most this many, bodies
/// of 64 bytes to 64 KiB (the trail lives in Redis as long as its job).
pub const MAX_CALLS_PER_JOB: usize = 10_000;
pub const BODY_BYTES: std::ops::RangeInclusive<usize> = 64..=64 * 1024;

impl AuditConfig {
    pub(super) fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if !(1..=MAX_CALLS_PER_JOB).contains(&self.calls_per_job) {
            out.push((
                "audit.calls_per_job",
                format!("must be between 1 and {MAX_CALLS_PER_JOB}"),
            ));
        }
        if !BODY_BYTES.contains(&self.body_bytes) {
            out.push((
                "audit.body_bytes",
                format!(
                    "must be between {} and {}",
                    BODY_BYTES.start(),
                    BODY_BYTES.end()
                ),
            ));
        }
        out
    }
}
