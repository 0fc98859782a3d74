//! IDCloudHost's dry run: the location through `GET config/locations`, the OS name
//! and version through `GET config/vm_images`, and, with a billing account, what it
//! owes (`payment/billing_account/unpaid_amount`). The seed states no VM price.

use super::Idcloudhost;
use provisioner_shared::dry_run::{DryRunReport, PlannedStep, Problem};
use provisioner_shared::request::{IdcloudhostWork, JobRequest, Work};

fn planned(step: &str, calls: &[&str]) -> PlannedStep {
    PlannedStep {
        step: step.to_owned(),
        calls: calls.iter().map(|c| (*c).to_owned()).collect(),
    }
}

pub(super) async fn check(idc: &Idcloudhost, request: &JobRequest) -> DryRunReport {
    let mut report = DryRunReport {
        plan: vec![
            planned("create_vm", &["POST user-resource/vm"]),
            planned(
                "pay",
                &[
                    "GET payment/invoice/list",
                    "POST payment/apply_for_invoice_payment",
                ],
            ),
            planned("await_running", &["GET user-resource/vm"]),
            planned("reinstall", &["POST user-resource/vm/reinstall"]),
            planned("await_reinstall", &["GET user-resource/vm"]),
            planned("delete_vm", &["DELETE user-resource/vm"]),
        ],
        ..DryRunReport::default()
    };
    let (os, location, billing) = match &request.work {
        Work::Idcloudhost(IdcloudhostWork::Provision { order, .. }) => (
            Some(("order", &order.os_name, &order.os_version)),
            order.location.clone().or_else(|| idc.location.clone()),
            order.billing_account_id.or(idc.billing_account_id),
        ),
        Work::Idcloudhost(IdcloudhostWork::Reinstall {
            os_name,
            os_version,
            ..
        }) => (
            Some(("reinstall", os_name, os_version)),
            None,
            idc.billing_account_id,
        ),
        _ => (None, None, idc.billing_account_id),
    };
    if let Some(slug) = location {
        match idc.api.locations().await {
            Ok(known) if !known.iter().any(|l| l.slug == slug) => {
                let slugs: Vec<&str> = known.iter().map(|l| l.slug.as_str()).collect();
                report.problems.push(Problem::new(
                    "order.location",
                    format!(
                        "IDCloudHost's config/locations has no location `{slug}` (it has: {})",
                        slugs.join(", ")
                    ),
                ));
            }
            Ok(_) => {}
            Err(e) => report.problems.push(Problem::new("account", e.to_string())),
        }
    }
    if let Some((part, name, version)) = os {
        match idc.api.vm_images().await {
            Ok(images) => match images.iter().find(|(n, _)| n == name) {
                None => report.problems.push(Problem::new(
                    format!("{part}.os_name"),
                    format!("IDCloudHost's config/vm_images has no OS `{name}`"),
                )),
                Some((_, versions)) if !versions.contains(version) => {
                    report.problems.push(Problem::new(
                        format!("{part}.os_version"),
                        format!(
                            "IDCloudHost's config/vm_images has no version `{version}` of {name} (it has: {})",
                            versions.join(", ")
                        ),
                    ))
                }
                Some(_) => {}
            },
            Err(e) => report.problems.push(Problem::new("account", e.to_string())),
        }
    }
    if let Some(id) = billing {
        match idc.api.unpaid_amount(id).await {
            Ok(unpaid) => {
                report.balance =
                    Some(serde_json::json!({"billing_account_id": id, "unpaid": unpaid}))
            }
            Err(e) => report
                .problems
                .push(Problem::new("order.billing_account_id", e.to_string())),
        }
    }
    report
}
