//! The drift report (issue 13 point 3): what a sweep found at the providers that the
//! jobs do not account for. Written by one worker per interval, read by the api's
//! `GET /v1/drift` and `/metrics`; nothing acts on it.

use crate::time::Millis;
use serde::{Deserialize, Serialize};

/// One sweep's findings over every account.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct DriftReport {
    /// When the sweep finished (Redis time, ms since the epoch).
    pub swept_at: Millis,
    /// Every configured account, in config order.
    pub accounts: Vec<AccountDrift>,
    pub findings: Vec<Finding>,
}

/// How one account's listing went.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AccountDrift {
    pub account: String,
    pub provider: String,
    /// `ok`, `error` (the listing failed: `error` quotes the provider) or
    /// `unsupported` (this provider has no listing).
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Servers and orders the provider listed.
    pub listed: usize,
}

/// What a finding is about.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    /// A server or order at the provider that no job (live or finished) made.
    Untracked,
    /// A succeeded job's server the provider no longer lists.
    Gone,
    /// An unpaid order older than `deadlines.payment`.
    Unpaid,
}

impl FindingKind {
    pub const ALL: [FindingKind; 3] = [
        FindingKind::Untracked,
        FindingKind::Gone,
        FindingKind::Unpaid,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FindingKind::Untracked => "untracked",
            FindingKind::Gone => "gone",
            FindingKind::Unpaid => "unpaid",
        }
    }
}

/// One thing an operator should look at.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Finding {
    pub account: String,
    pub kind: FindingKind,
    /// The provider's id of the server or order.
    pub server_id: String,
    /// The job it concerns, when one is known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_id: Option<String>,
    /// What the provider shows (its name, status), in its own words.
    pub detail: String,
}

impl DriftReport {
    /// Findings of one kind on one account.
    pub fn count(&self, account: &str, kind: FindingKind) -> usize {
        self.findings
            .iter()
            .filter(|f| f.account == account && f.kind == kind)
            .count()
    }
}
