//! `provisioner_drift_findings{account,kind}`: the last drift sweep's findings, read
//! from its report at scrape time (issue 13 point 3).

use ::metrics::{describe_gauge, gauge};
use provisioner_shared::drift::{DriftReport, FindingKind};

/// One gauge per swept account and kind (0 included, so an alert can see a finding
/// go away), and the time of the sweep.
pub(super) fn record(report: &DriftReport) {
    describe_gauge!(
        "provisioner_drift_findings",
        "Findings of the last drift sweep by account and kind (untracked, gone, unpaid); never acted on."
    );
    for account in &report.accounts {
        for kind in FindingKind::ALL {
            gauge!(
                "provisioner_drift_findings",
                "account" => account.account.clone(),
                "kind" => kind.as_str()
            )
            .set(report.count(&account.account, kind) as f64);
        }
    }
    describe_gauge!(
        "provisioner_drift_swept_at_seconds",
        "When the last drift sweep finished (Unix time)."
    );
    gauge!("provisioner_drift_swept_at_seconds").set(report.swept_at.0 as f64 / 1000.0);
}
