//! HOSTKEY's dry run: the preset and its location through `presets/list` (its price
//! there, in EUR as the seed states it), and the credit balance through
//! `whmcs/get_client`. Orders and payments are never sent.

use super::Hostkey;
use crate::step::CallError;
use provisioner_shared::dry_run::{DryRunReport, PlannedStep, Price, Problem};
use provisioner_shared::request::{HostkeyWork, JobRequest, Work};
use serde_json::Value;

fn planned(step: &str, calls: &[&str]) -> PlannedStep {
    PlannedStep {
        step: step.to_owned(),
        calls: calls.iter().map(|c| (*c).to_owned()).collect(),
    }
}

fn call_problem(field: &str, e: &CallError) -> Problem {
    Problem::new(field, e.to_string())
}

/// A preset's id or name as the list shows it.
fn names(preset: &Value) -> [Option<String>; 2] {
    let text = |v: Option<&Value>| match v {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    [text(preset.get("id")), text(preset.get("name"))]
}

pub(super) async fn check(hostkey: &Hostkey, request: &JobRequest) -> DryRunReport {
    let mut report = DryRunReport {
        plan: vec![
            planned("order", &["eq/order_instance"]),
            planned(
                "pay",
                &[
                    "whmcs/get_related_invoices",
                    "whmcs/get_client",
                    "whmcs/apply_credit",
                ],
            ),
            planned("await_delivery", &["eq/update_servers", "eq/show"]),
            planned("reinstall_key", &["eq/reinstall"]),
            planned("create_pxe", &["eq/create_pxe"]),
            planned("boot_pxe", &["eq/boot_dev"]),
            planned("reboot", &["eq/reboot"]),
            planned("await_install", &["eq_callback/check"]),
            planned("boot_disk", &["eq/boot_dev"]),
            planned("clear_pxe", &["eq/clear_pxe"]),
            planned("collect", &["eq/show"]),
            planned("cancel_service", &["whmcs/request_cancellation"]),
        ],
        ..DryRunReport::default()
    };
    match hostkey.api.client_credit().await {
        Ok(credit) => report.balance = Some(serde_json::json!({"credit": credit})),
        Err(e) => report.problems.push(call_problem("account", &e)),
    }
    let Work::Hostkey(HostkeyWork::Provision { order, .. }) = &request.work else {
        return report;
    };
    let location = order.location.to_ascii_uppercase();
    let presets = match hostkey.api.presets(&location).await {
        Ok(p) => p,
        Err(e) => {
            report.problems.push(call_problem("order.location", &e));
            return report;
        }
    };
    let found = presets.iter().find(|p| {
        names(p)
            .iter()
            .flatten()
            .any(|n| n.eq_ignore_ascii_case(&order.preset))
    });
    let Some(preset) = found else {
        report.problems.push(Problem::new(
            "order.preset",
            format!(
                "HOSTKEY's presets/list for location {location} has no preset `{}`",
                order.preset
            ),
        ));
        return report;
    };
    if preset.get("active").is_some_and(|a| a == 0 || a == "0") {
        report.problems.push(Problem::new(
            "order.preset",
            format!("HOSTKEY lists preset `{}` as not active", order.preset),
        ));
    }
    if let Some(Value::String(locations)) = preset.get("locations")
        && !locations
            .split(',')
            .any(|l| l.trim().eq_ignore_ascii_case(&location))
    {
        report.problems.push(Problem::new(
            "order.location",
            format!(
                "HOSTKEY offers preset `{}` only in {locations}",
                order.preset
            ),
        ));
    }
    let eur = preset
        .get("price")
        .and_then(|p| p.get(&location))
        .and_then(|p| p.get("EUR"))
        .or_else(|| preset.get("monthly_com"));
    report.price = eur
        .and_then(|v| match v {
            Value::Number(n) if n.as_f64().is_some_and(|f| f >= 0.0) => Some(n.to_string()),
            Value::String(s) => Some(s.clone()),
            _ => None,
        })
        .map(|amount| Price {
            amount,
            currency: Some("EUR".to_owned()),
        });
    report
}
