//! Klikk's dry run. Neither Klikk text (seeds 000, 001) shows a catalogue, an OS
//! list, prices or the credit, and `order_create` has no check-only mode: the one
//! read-only call is `order_list`, which proves the account's credentials and
//! reaches the endpoint (a refusal is shown in Klikk's words). The order's own
//! fields were checked when the request was parsed.

use super::Klikk;
use provisioner_shared::dry_run::{DryRunReport, PlannedStep, Problem};
use provisioner_shared::request::JobRequest;

fn planned(step: &str, calls: &[&str]) -> PlannedStep {
    PlannedStep {
        step: step.to_owned(),
        calls: calls.iter().map(|c| (*c).to_owned()).collect(),
    }
}

pub(super) async fn check(klikk: &Klikk, _request: &JobRequest) -> DryRunReport {
    let mut report = DryRunReport {
        plan: vec![
            planned("order", &["order_create"]),
            planned("await_payment", &["order_status"]),
            planned("await_delivery", &["order_status", "server_list"]),
            planned("collect", &["server_list"]),
            planned("cancel_order", &["order_cancel"]),
        ],
        ..DryRunReport::default()
    };
    if let Err(e) = klikk.api.order_list().await {
        report.problems.push(Problem::new("account", e.to_string()));
    }
    report
}
