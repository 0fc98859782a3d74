//! The steps of Inferno's plans (DESIGN.md, "Provider plans"; seed 003), on top of
//! [`api`](super::api).
//!
//! Provision: ssh_keys → order (money) → await_payment → check_install (`run=0`) →
//! install (`run=1`, once) → await_active. Reinstall: ssh_keys → check_install →
//! install → await_active. Deprovision: cancel_order. A provision cancelled after its
//! order runs compensate_cancel, one failed by its payment deadline cancel_unpaid
//! (the same: a Pending order is cancelled, a paid one kept). An Inferno server is named by its order id: that is
//! the job's `server.id`, and what a reinstall or deprovision takes as `server_id`.
//!
//! The money and once steps (`order`, `install`) are in [`super::money`].

use super::api::{InfernoApi, InstallAnswer, InstallRequest, OrderStatus, Vps, same_ssh_key};
use crate::providers::Gate;
use crate::providers::orders::OrderRegistry;
use crate::step::{
    CallError, Outcome, Prepared, Provider, Reconciled, StepCx, StepError, Upstream, step_names,
};
use provisioner_shared::config::Account;
use provisioner_shared::credentials;
use provisioner_shared::dry_run::DryRunReport;
use provisioner_shared::request::JobRequest;
use provisioner_shared::request::{InfernoOrder, InfernoWork};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use std::time::Duration;

pub(super) const PROVIDER: &str = "inferno";

pub struct Inferno {
    pub(super) api: InfernoApi,
    pub(super) orders: OrderRegistry,
}

impl Inferno {
    pub fn new(
        account: &Account,
        http: reqwest::Client,
        gate: Gate,
        timeout: Duration,
        orders: OrderRegistry,
    ) -> Self {
        let key = account
            .api_key
            .as_ref()
            .map(|s| s.expose().to_owned())
            .unwrap_or_default();
        Inferno {
            api: InfernoApi::new(
                http,
                account.base_url.clone(),
                account.client_id.unwrap_or_default(),
                SecretString::from(key),
                timeout,
            )
            .with_gate(gate),
            orders,
        }
    }
}

/// Unwraps a `Result<T, Outcome>` inside a step.
macro_rules! tri {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(outcome) => return outcome,
        }
    };
}

/// The order this job works on: the one it placed (or adopted), or the `server_id` it
/// was given (an Inferno server is its order).
pub(super) fn order_id(cx: &StepCx<'_>) -> Result<String, Outcome> {
    cx.outputs
        .order_id
        .clone()
        .or_else(|| cx.outputs.server_id.clone())
        .or_else(|| cx.request.server_id().map(ToString::to_string))
        .ok_or_else(|| Outcome::fail("no Inferno order yet: the order step has not recorded one"))
}

/// The template to install: the order's for a provision, `reinstall`'s otherwise.
pub(super) fn template<'a>(cx: &StepCx<'a>) -> Result<&'a str, Outcome> {
    match cx.work::<InfernoWork>()? {
        InfernoWork::Provision { order, .. } => Ok(&order.os_template),
        InfernoWork::Reinstall { os_template, .. } => Ok(os_template),
        InfernoWork::Deprovision(_) => Err(Outcome::fail("a deprovision installs nothing")),
    }
}

/// A provision's order.
pub(super) fn order<'a>(cx: &StepCx<'a>) -> Result<&'a InfernoOrder, Outcome> {
    match cx.work::<InfernoWork>()? {
        InfernoWork::Provision { order, .. } => Ok(order),
        _ => Err(Outcome::fail("only a provision orders a server")),
    }
}

/// The key ids the ssh_keys step recorded, for `install`'s `sshkey_ids`.
pub(super) fn ssh_key_ids(cx: &StepCx<'_>) -> Vec<String> {
    cx.outputs
        .extra
        .get("sshkey_ids")
        .and_then(Value::as_array)
        .map(|ids| {
            ids.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

impl Inferno {
    /// Makes sure the request's public keys exist at Inferno (adding the missing ones)
    /// and keeps their ids for `install`. Listing first makes a re-run add nothing twice.
    async fn ssh_keys(&self, cx: &mut StepCx<'_>) -> Outcome {
        let wanted = cx.request.ssh_keys.clone();
        if wanted.is_empty() {
            cx.set_extra("sshkey_ids", json!([]));
            cx.detail("no SSH keys requested");
            return Outcome::Next;
        }
        let listed = match self.api.sshkey_list().await {
            Ok(l) => l,
            Err(e) => return e.into(),
        };
        let (mut ids, mut added) = (Vec::<String>::new(), 0usize);
        for key in &wanted {
            let id = match listed.iter().find(|k| same_ssh_key(&k.key, key)) {
                Some(k) => k.id.clone(),
                None => match self.api.sshkey_add(key).await {
                    Ok(id) => {
                        added += 1;
                        id
                    }
                    // Another job may have added the same key since we listed, and
                    // Inferno may refuse a duplicate: look again before failing.
                    Err(refused @ CallError::Rejected { .. }) => {
                        match self.api.sshkey_list().await {
                            Ok(now) => match now.iter().find(|k| same_ssh_key(&k.key, key)) {
                                Some(k) => k.id.clone(),
                                None => return refused.into(),
                            },
                            Err(e) => return e.into(),
                        }
                    }
                    Err(e) => return e.into(),
                },
            };
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        cx.detail(format!("SSH keys {} ready ({added} added)", ids.join(",")));
        cx.set_extra("sshkey_ids", json!(ids));
        Outcome::Next
    }

    /// Claims an order this job uses but may not have claimed (an operator's adopt).
    async fn ensure_claimed(&self, cx: &StepCx<'_>, id: &str) {
        match self.orders.claim(id, cx.job_id).await {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!(order_id = id, "this job's order is claimed by another job")
            }
            Err(e) => tracing::warn!(order_id = id, error = %e, "cannot claim the order"),
        }
    }

    /// Waits while the order is Pending: customers pay Inferno outside the API (GAPS),
    /// so only an `invoice.paid` webhook, an operator's retry or the next poll (which
    /// grows like every wait, to `polling.payment` when set) moves on.
    async fn await_payment(&self, cx: &mut StepCx<'_>) -> Outcome {
        let id = tri!(order_id(cx));
        self.ensure_claimed(cx, &id).await;
        let orders = match self.api.orders().await {
            Ok(o) => o,
            Err(e) => return e.into(),
        };
        let Some(order) = orders.iter().find(|o| o.id == id) else {
            return Outcome::fail(format!(
                "order {id} is not in Inferno's order list, which shows active and Pending \
                 orders: it may have been cancelled"
            ));
        };
        self.orders.record_status(&id, order.status.as_str()).await;
        if cx.outputs.invoice_id.is_none() {
            cx.outputs.invoice_id = order.invoice_id.clone();
        }
        match &order.status {
            OrderStatus::Pending => Outcome::wait(format!(
                "awaiting payment: order {id} is Pending{} (paid outside the API)",
                order
                    .invoice_id
                    .as_deref()
                    .map(|i| format!(", invoice {i}"))
                    .unwrap_or_default()
            )),
            s if s.is_dead() => Outcome::fail(format!(
                "order {id} is {} at Inferno: nothing can be installed on it",
                s.as_str()
            )),
            s => {
                cx.detail(format!("order {id} is paid ({})", s.as_str()));
                Outcome::Next
            }
        }
    }

    /// `install` with `run=0`: Inferno checks the parameters (GAPS: "parameters are
    /// valid"). A 904 means an install is already under way: `install` adopts it.
    async fn check_install(&self, cx: &mut StepCx<'_>) -> Outcome {
        let id = tri!(order_id(cx));
        let template = tri!(template(cx));
        let keys = ssh_key_ids(cx);
        let request = InstallRequest {
            order_id: &id,
            template,
            ssh_key_ids: &keys,
            run: false,
        };
        match self.api.install(&request).await {
            Ok(InstallAnswer::Accepted { message }) => {
                cx.detail(format!(
                    "install of {template} on order {id} checked: {message}"
                ));
                Outcome::Next
            }
            Ok(InstallAnswer::AlreadyInstalling { message }) => {
                cx.detail(format!(
                    "an install is already under way on order {id} (Inferno: {message})"
                ));
                Outcome::Next
            }
            Err(e) => e.into(),
        }
    }

    /// `getinfo` until the order is Active and its VPS is up with an address; the VPS
    /// password Inferno returns is sealed into the job's secrets.
    async fn await_active(&self, cx: &mut StepCx<'_>) -> Outcome {
        let id = tri!(order_id(cx));
        let info = match self.api.getinfo(&id).await {
            Ok(i) => i,
            Err(e) => return e.into(),
        };
        self.orders
            .record_status(&id, info.order_status.as_str())
            .await;
        if let Some(vps) = info.ready_vps() {
            let ip = vps.ip.clone().or_else(|| info.dedicated_ip.clone());
            match ip.as_deref().map(|ip| ip.parse::<std::net::IpAddr>()) {
                Some(Ok(std::net::IpAddr::V4(v4))) => cx.outputs.ipv4 = Some(v4.to_string()),
                Some(Ok(std::net::IpAddr::V6(v6))) => cx.outputs.ipv6 = Some(v6.to_string()),
                _ => {}
            }
            if let Some(pw) = &vps.password {
                let sealed = cx.seal(pw.expose_secret());
                cx.outputs
                    .secrets
                    .insert(credentials::PROVIDER_PASSWORD.into(), sealed);
            }
            if let Some(main_id) = &vps.main_id {
                cx.set_extra("vps_main_id", main_id.clone());
            }
            if let Some(name) = &vps.name {
                cx.set_extra("vps_name", name.clone());
            }
            cx.outputs.server_id = Some(id.clone());
            cx.outputs.order_id = Some(id.clone());
            cx.detail(format!(
                "order {id} is active{}",
                ip.map(|ip| format!(" at {ip}")).unwrap_or_default()
            ));
            return Outcome::Next;
        }
        let status = &info.order_status;
        if status.is_dead() {
            return Outcome::fail(format!(
                "order {id} is {} at Inferno: its VPS will not come up",
                status.as_str()
            ));
        }
        Outcome::wait(match &info.vps {
            _ if *status == OrderStatus::Pending => {
                format!("order {id} is Pending: it must be paid before its VPS can come up")
            }
            Vps::Absent { message } if message.is_empty() => {
                format!("order {id}: no VPS yet")
            }
            Vps::Absent { message } => format!("order {id}: no VPS yet (Inferno: {message})"),
            Vps::Present(v) => format!(
                "order {id}: VPS {} is being installed{}",
                v.name.as_deref().unwrap_or("(unnamed)"),
                v.state
                    .as_deref()
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(|s| format!(" ({s})"))
                    .unwrap_or_default()
            ),
        })
    }

    /// Deprovision: `cancel`, which Inferno allows only for Pending orders (seed §5).
    /// The api refuses a deprovision of an order known to be paid; for one it knows
    /// nothing of, Inferno's own refusal is what the job shows.
    async fn cancel_order(&self, cx: &mut StepCx<'_>) -> Outcome {
        let id = tri!(order_id(cx));
        match self.api.cancel(&id).await {
            Ok(()) => {
                self.orders.record_status(&id, "Cancelled").await;
                cx.detail(format!("order {id} cancelled"));
                Outcome::Next
            }
            Err(CallError::Rejected { message, .. }) => {
                // An earlier attempt whose answer was lost may have cancelled it already.
                if let Ok(orders) = self.api.orders().await
                    && let Some(o) = orders.iter().find(|o| o.id == id)
                {
                    self.orders.record_status(&id, o.status.as_str()).await;
                    if o.status == OrderStatus::Cancelled {
                        cx.detail(format!("order {id} is cancelled"));
                        return Outcome::Next;
                    }
                }
                Outcome::Fail(StepError {
                    message: format!(
                        "Inferno refused to cancel order {id}: {message}. Inferno's API cancels \
                         only unpaid (Pending) orders; a paid server is cancelled in Inferno's \
                         control panel or through its support"
                    ),
                    provider_message: Some(message),
                })
            }
            Err(e) => e.into(),
        }
    }

    /// A cancelled provision: cancel our order if it is still Pending. A paid order
    /// cannot be cancelled through the API; the step says so instead of failing.
    async fn compensate_cancel(&self, cx: &mut StepCx<'_>) -> Outcome {
        let Ok(id) = order_id(cx) else {
            cx.detail("nothing to cancel: no order was placed");
            return Outcome::Next;
        };
        let orders = match self.api.orders().await {
            Ok(o) => o,
            Err(e) => return e.into(),
        };
        let Some(order) = orders.iter().find(|o| o.id == id) else {
            cx.detail(format!(
                "order {id} is not listed at Inferno: nothing to cancel"
            ));
            return Outcome::Next;
        };
        match &order.status {
            OrderStatus::Pending => match self.api.cancel(&id).await {
                Ok(()) => {
                    self.orders.record_status(&id, "Cancelled").await;
                    cx.detail(format!("order {id} cancelled (it was still Pending)"));
                    Outcome::Next
                }
                Err(e) => e.into(),
            },
            OrderStatus::Cancelled => {
                self.orders.record_status(&id, "Cancelled").await;
                cx.detail(format!("order {id} is already cancelled"));
                Outcome::Next
            }
            other => {
                self.orders.record_status(&id, other.as_str()).await;
                tracing::warn!(order_id = %id, status = other.as_str(), "cancelled job leaves a paid Inferno order");
                cx.detail(format!(
                    "order {id} is {} (paid): Inferno's API cancels only Pending orders, so it \
                     stays; cancel it in Inferno's control panel",
                    other.as_str()
                ));
                Outcome::Next
            }
        }
    }
}

step_names! {
    /// Inferno's action and compensation steps.
    pub enum Action {
        SshKeys = "ssh_keys",
        AwaitPayment = "await_payment",
        CheckInstall = "check_install",
        AwaitActive = "await_active",
        CancelOrder = "cancel_order",
        CompensateCancel = "compensate_cancel",
        CancelUnpaid = "cancel_unpaid",
    }
}

step_names! {
    /// Inferno's money step and its install (once).
    pub enum Money {
        Order = "order",
        Install = "install",
    }
}

impl Provider for Inferno {
    type Action = Action;
    type Money = Money;

    async fn dry_run(&self, request: &JobRequest) -> DryRunReport {
        super::dry_run::check(self, request).await
    }

    async fn run(&self, step: Action, cx: &mut StepCx<'_>) -> Outcome {
        match step {
            Action::SshKeys => self.ssh_keys(cx).await,
            Action::AwaitPayment => self.await_payment(cx).await,
            Action::CheckInstall => self.check_install(cx).await,
            Action::AwaitActive => self.await_active(cx).await,
            Action::CancelOrder => self.cancel_order(cx).await,
            // Both cancel only a Pending (unpaid) order: the API can do no more.
            Action::CompensateCancel | Action::CancelUnpaid => self.compensate_cancel(cx).await,
        }
    }

    async fn prepare(&self, step: Money, cx: &mut StepCx<'_>) -> Prepared {
        match step {
            Money::Order => self.order_prepare(cx).await,
            Money::Install => self.install_prepare(cx).await,
        }
    }

    async fn call(&self, step: Money, cx: &mut StepCx<'_>) -> Result<(), CallError> {
        match step {
            Money::Order => self.order_call(cx).await,
            Money::Install => self.install_call(cx).await,
        }
    }

    async fn reconcile(&self, step: Money, cx: &mut StepCx<'_>) -> Reconciled {
        match step {
            Money::Order => self.order_reconcile(cx).await,
            Money::Install => self.install_reconcile(cx).await,
        }
    }

    /// `orders` (active and Pending orders): an order id is a job's server id; Inferno
    /// keeps no reference of ours, so an order no job names is untracked.
    async fn inventory(&self) -> Result<Option<Vec<Upstream>>, CallError> {
        let orders = self.api.orders().await?;
        Ok(Some(
            orders
                .into_iter()
                .map(|o| Upstream {
                    detail: format!(
                        "order {} ({}{})",
                        o.number.as_deref().unwrap_or(&o.id),
                        o.status.as_str(),
                        o.amount
                            .as_deref()
                            .map(|a| format!(", {a}"))
                            .unwrap_or_default()
                    ),
                    unpaid: o.status == OrderStatus::Pending,
                    created_ms: None,
                    reference: None,
                    id: o.id,
                })
                .collect(),
        ))
    }
}
