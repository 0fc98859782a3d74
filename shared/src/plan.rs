//! Step plans: which steps a job runs, per provider and kind (DESIGN.md, "Provider plans").
//!
//! The plan is data: the API stores the list of step names in the job record at
//! enqueue, and the worker looks each name up here and in its provider module. Steps
//! are named, never numbered, so a deploy that adds a step never sends jobs in flight
//! to the wrong one.

use crate::provider::ProviderKind;
use crate::request::{HostkeyWork, JobKind, JobRequest, NoopWork, Work};
use serde::{Deserialize, Serialize};
use std::fmt;

/// The `[deadlines]` span a waiting step belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Span {
    /// Order placed → server delivered.
    Delivery,
    /// PXE armed → install reports OK.
    Install,
    /// Waiting for an invoice to be paid outside.
    Payment,
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Span::Delivery => "delivery",
            Span::Install => "install",
            Span::Payment => "payment",
        })
    }
}

/// How the engine treats a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// An ordinary provider call or poll; safe to repeat.
    Action,
    /// Moves money or creates a billable thing: intent before the call, reconcile
    /// before any retry, `needs_attention` when the outcome cannot be known.
    Money,
    /// An action that must not be repeated blindly (a reboot into the installer):
    /// handled like money, with an intent before the call and a lookup after.
    Once,
    /// Runs even after a failure or a cancel, once PXE is armed (boot disk, clear PXE).
    Finalizer,
    /// Runs only when a job is cancelled after it created something (cancel the order).
    Compensation,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StepDef {
    pub name: &'static str,
    pub role: Role,
    pub span: Option<Span>,
    /// Sending this step's call may leave the server booting into the installer, so
    /// the finalizers must run from here on, whatever happens.
    pub arms_pxe: bool,
}

const fn step(name: &'static str, role: Role, span: Option<Span>) -> StepDef {
    StepDef {
        name,
        role,
        span,
        arms_pxe: false,
    }
}

const fn arming(name: &'static str, span: Span) -> StepDef {
    StepDef {
        name,
        role: Role::Action,
        span: Some(span),
        arms_pxe: true,
    }
}

use Role::{Action, Compensation, Finalizer, Money, Once};
use Span::{Delivery, Install, Payment};

/// HOSTKEY invapi (seed 002).
const HOSTKEY: &[StepDef] = &[
    step("order", Money, Some(Delivery)),
    step("pay", Money, Some(Payment)),
    step("await_delivery", Action, Some(Delivery)),
    step("reinstall_key", Action, Some(Install)),
    arming("create_pxe", Install),
    arming("boot_pxe", Install),
    step("reboot", Once, Some(Install)),
    step("await_install", Action, Some(Install)),
    step("boot_disk", Finalizer, Some(Install)),
    step("clear_pxe", Finalizer, Some(Install)),
    step("collect", Action, Some(Delivery)),
    step("cancel_service", Action, None),
    step("compensate_cancel", Compensation, None),
];

/// Klikk (seeds 000, 001). The order opens the payment span, not delivery: an order
/// may wait days for an invoice paid outside (`deadlines.payment`), and the delivery
/// deadline must count from the payment, or a late payment would fail the job at once.
const KLIKK: &[StepDef] = &[
    step("order", Money, Some(Payment)),
    step("await_payment", Action, Some(Payment)),
    step("await_delivery", Action, Some(Delivery)),
    step("collect", Action, Some(Delivery)),
    step("cancel_order", Action, None),
    step("compensate_cancel", Compensation, None),
    step("cancel_unpaid", Compensation, None),
];

/// Inferno (seed 003).
const INFERNO: &[StepDef] = &[
    step("ssh_keys", Action, None),
    step("order", Money, Some(Delivery)),
    step("await_payment", Action, Some(Payment)),
    step("check_install", Action, Some(Install)),
    // Once: a second `install` after one that finished would reinstall the new VPS;
    // reconciled through `getinfo` (and 904 covers an install still under way).
    step("install", Once, Some(Install)),
    step("await_active", Action, Some(Install)),
    step("cancel_order", Action, None),
    step("compensate_cancel", Compensation, None),
    step("cancel_unpaid", Compensation, None),
];

/// IDCloudHost (seed 004).
const IDCLOUDHOST: &[StepDef] = &[
    step("create_vm", Money, Some(Delivery)),
    step("pay", Money, Some(Payment)),
    step("await_running", Action, Some(Delivery)),
    step("reinstall", Action, Some(Install)),
    step("await_reinstall", Action, Some(Install)),
    step("delete_vm", Action, None),
    step("compensate_cancel", Compensation, None),
];

const NOOP_STEP: StepDef = step("noop", Action, Some(Delivery));

fn table(provider: ProviderKind) -> &'static [StepDef] {
    match provider {
        ProviderKind::Hostkey => HOSTKEY,
        ProviderKind::Klikk => KLIKK,
        ProviderKind::Inferno => INFERNO,
        ProviderKind::Idcloudhost => IDCLOUDHOST,
        ProviderKind::Noop => std::slice::from_ref(&NOOP_STEP),
    }
}

/// Every step a provider's plans may name (a noop plan's `noop_<n>` are all `noop`).
pub fn steps(provider: ProviderKind) -> &'static [StepDef] {
    table(provider)
}

/// The definition of a named step of a provider.
pub fn step_def(provider: ProviderKind, name: &str) -> Option<&'static StepDef> {
    if provider == ProviderKind::Noop {
        return name.starts_with("noop").then_some(&NOOP_STEP);
    }
    table(provider).iter().find(|d| d.name == name)
}

/// The step names a job runs, in order.
pub fn plan(req: &JobRequest) -> Vec<String> {
    let pxe_after_delivery = matches!(
        req.work,
        Work::Hostkey(HostkeyWork::Provision {
            reinstall_os: Some(_),
            ..
        })
    );
    let names: Vec<&str> = match (req.provider(), req.kind()) {
        (ProviderKind::Hostkey, JobKind::Provision) if pxe_after_delivery => vec![
            "order",
            "pay",
            "await_delivery",
            "reinstall_key",
            "create_pxe",
            "boot_pxe",
            "reboot",
            "await_install",
            "boot_disk",
            "clear_pxe",
            "collect",
        ],
        (ProviderKind::Hostkey, JobKind::Provision) => {
            vec!["order", "pay", "await_delivery", "collect"]
        }
        (ProviderKind::Hostkey, JobKind::Reinstall) => vec![
            "reinstall_key",
            "create_pxe",
            "boot_pxe",
            "reboot",
            "await_install",
            "boot_disk",
            "clear_pxe",
            "collect",
        ],
        (ProviderKind::Hostkey, JobKind::Deprovision) => vec!["cancel_service"],
        (ProviderKind::Klikk, JobKind::Provision) => {
            vec!["order", "await_payment", "await_delivery", "collect"]
        }
        (ProviderKind::Klikk, JobKind::Reinstall) => vec![],
        (ProviderKind::Klikk, JobKind::Deprovision) => vec!["cancel_order"],
        (ProviderKind::Inferno, JobKind::Provision) => vec![
            "ssh_keys",
            "order",
            "await_payment",
            "check_install",
            "install",
            "await_active",
        ],
        (ProviderKind::Inferno, JobKind::Reinstall) => {
            vec!["ssh_keys", "check_install", "install", "await_active"]
        }
        (ProviderKind::Inferno, JobKind::Deprovision) => vec!["cancel_order"],
        (ProviderKind::Idcloudhost, JobKind::Provision) => {
            vec!["create_vm", "pay", "await_running"]
        }
        (ProviderKind::Idcloudhost, JobKind::Reinstall) => vec!["reinstall", "await_reinstall"],
        (ProviderKind::Idcloudhost, JobKind::Deprovision) => vec!["delete_vm"],
        (ProviderKind::Noop, _) => {
            let n = match &req.work {
                Work::Noop(NoopWork::Provision { order, .. }) => order.steps,
                _ => 1,
            };
            return (1..=n).map(|i| format!("noop_{i}")).collect();
        }
    };
    names.into_iter().map(str::to_owned).collect()
}

/// Steps appended when a job is cancelled after it created something upstream.
pub fn compensation(req: &JobRequest) -> Vec<String> {
    match (req.provider(), req.kind()) {
        (ProviderKind::Noop, _) | (_, JobKind::Reinstall) | (_, JobKind::Deprovision) => vec![],
        (_, JobKind::Provision) => vec!["compensate_cancel".to_owned()],
    }
}

/// Steps appended when the payment deadline fails a provision whose order is
/// unpaid upstream (`[deadlines] on_payment_timeout = "cancel"`): the providers that
/// wait for a payment made outside (Klikk, Inferno) cancel the order if it is still
/// unpaid. HOSTKEY and IDCloudHost pay from the account's credit: none.
pub fn payment_timeout_cleanup(provider: ProviderKind) -> Vec<String> {
    match provider {
        ProviderKind::Klikk | ProviderKind::Inferno => vec!["cancel_unpaid".to_owned()],
        _ => vec![],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A request of `kind` at `provider` (with a PXE reinstall where one is
    /// offered), if the API accepts one.
    fn any_request(provider: ProviderKind, kind: JobKind, reinstall: bool) -> Option<JobRequest> {
        let order = match provider {
            ProviderKind::Hostkey => json!({"provider": "hostkey", "preset": "p", "location": "NL",
                "os_id": 1, "traffic_plan": "1", "deploy_period": "monthly"}),
            ProviderKind::Klikk => json!({"provider": "klikk", "product": "VPS", "ram_gb": 1.0,
                "cpu": 1, "storage_gb": 1, "os": 1, "ip_allow": "x"}),
            ProviderKind::Inferno => {
                json!({"provider": "inferno", "product_id": 1, "os_template": "t"})
            }
            ProviderKind::Idcloudhost => json!({"provider": "idcloudhost", "os_name": "n",
                "os_version": "v", "vcpu": 1, "ram_mb": 1, "disk_gb": 1}),
            ProviderKind::Noop => json!({"provider": "noop", "steps": 2}),
        };
        let os = match provider {
            ProviderKind::Hostkey => json!({"provider": "hostkey", "os_id": 1}),
            ProviderKind::Inferno => json!({"provider": "inferno", "os_template": "t"}),
            _ => json!({"provider": "idcloudhost", "os_name": "n", "os_version": "v"}),
        };
        let mut v = json!({"kind": kind, "account": "a", "provider": provider, "hostname": "h"});
        match kind {
            JobKind::Provision => v["order"] = order,
            _ => v["server_id"] = json!("1"),
        }
        if kind == JobKind::Reinstall || (reinstall && kind == JobKind::Provision) {
            v["reinstall"] = os;
        }
        serde_json::from_value(v).ok()
    }

    #[test]
    fn every_planned_step_is_defined() {
        let mut built = 0;
        for provider in [
            ProviderKind::Hostkey,
            ProviderKind::Klikk,
            ProviderKind::Inferno,
            ProviderKind::Idcloudhost,
        ] {
            for kind in [JobKind::Provision, JobKind::Reinstall, JobKind::Deprovision] {
                for reinstall in [false, true] {
                    let Some(req) = any_request(provider, kind, reinstall) else {
                        continue;
                    };
                    built += 1;
                    let cleanup = payment_timeout_cleanup(provider);
                    for name in plan(&req)
                        .iter()
                        .chain(compensation(&req).iter())
                        .chain(cleanup.iter())
                    {
                        assert!(step_def(provider, name).is_some(), "{provider} {name}");
                    }
                }
            }
        }
        // HOSTKEY 6 (with and without PXE), Klikk 3 (no reinstall), Inferno and
        // IDCloudHost 5 each (a PXE reinstall after delivery is HOSTKEY's only).
        assert_eq!(built, 19, "every accepted kind was planned");
    }

    #[test]
    fn pxe_plans_put_the_finalizers_after_the_arming_steps() {
        let pos = |n: &str| HOSTKEY.iter().position(|d| d.name == n).unwrap();
        assert!(pos("create_pxe") < pos("boot_disk"));
        assert!(HOSTKEY.iter().filter(|d| d.role == Finalizer).count() == 2);
    }
}
