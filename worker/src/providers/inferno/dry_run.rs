//! Inferno's dry run: a provision's tariff and template through `list` (the tariff's
//! price as Inferno states it); a reinstall's through `install` with `run=0`, which
//! the seed offers to "only check incoming parameters". The seed shows no balance.

use super::Inferno;
use super::api::InstallRequest;
use provisioner_shared::dry_run::{DryRunReport, PlannedStep, Price, Problem};
use provisioner_shared::request::{InfernoWork, JobRequest, Work};

fn planned(step: &str, calls: &[&str]) -> PlannedStep {
    PlannedStep {
        step: step.to_owned(),
        calls: calls.iter().map(|c| (*c).to_owned()).collect(),
    }
}

pub(super) async fn check(inferno: &Inferno, request: &JobRequest) -> DryRunReport {
    let mut report = DryRunReport {
        plan: vec![
            planned("ssh_keys", &["sshkey.list", "sshkey.add"]),
            planned("order", &["create"]),
            planned("await_payment", &["orders"]),
            planned("check_install", &["getinfo"]),
            planned("install", &["install run=1"]),
            planned("await_active", &["getinfo"]),
            planned("cancel_order", &["cancel"]),
        ],
        ..DryRunReport::default()
    };
    match &request.work {
        Work::Inferno(InfernoWork::Provision { order, .. }) => {
            match inferno.api.products().await {
                Ok(products) => {
                    let pid = order.product_id.to_string();
                    match products.iter().find(|p| p.id == pid) {
                        Some(p) => {
                            report.price = p.price.clone().map(|amount| Price {
                                amount,
                                currency: None,
                            })
                        }
                        None => report.problems.push(Problem::new(
                            "order.product_id",
                            format!("Inferno's list of tariffs has no product {pid}"),
                        )),
                    }
                }
                Err(e) => report.problems.push(Problem::new("account", e.to_string())),
            }
            match inferno.api.templates().await {
                Ok(templates) if !templates.contains(&order.os_template) => {
                    report.problems.push(Problem::new(
                        "order.os_template",
                        format!(
                            "Inferno's list of templates has no `{}` (it has: {})",
                            order.os_template,
                            templates.join(", ")
                        ),
                    ))
                }
                Ok(_) => {}
                Err(e) => report.problems.push(Problem::new("account", e.to_string())),
            }
        }
        Work::Inferno(InfernoWork::Reinstall {
            server_id,
            os_template,
            ..
        }) => {
            let install = InstallRequest {
                order_id: server_id.as_str(),
                template: os_template,
                ssh_key_ids: &[],
                run: false,
            };
            if let Err(e) = inferno.api.install(&install).await {
                let message = e.to_string();
                // 901 no such order, 902 not Active, 904 an install under way (seed
                // §6, GAPS): about the server; the rest about the template or keys.
                let field = if ["901", "902", "904"]
                    .iter()
                    .any(|code| message.contains(&format!("error_code {code}")))
                {
                    "server_id"
                } else {
                    "reinstall.os_template"
                };
                report.problems.push(Problem::new(field, message));
            }
        }
        _ => {}
    }
    report
}
