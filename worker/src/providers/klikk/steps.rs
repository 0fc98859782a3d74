//! The steps of Klikk's plans (DESIGN.md, "Provider plans"), on top of [`api`].
//!
//! Provision: order (money: `order_create` with `reference` = the job id) →
//! await_payment (`order_status` while 1xx: Klikk has no pay call, so the invoice is
//! paid outside; polled like every wait (its ceiling `polling.payment` when set), cut short by an operator retry or an
//! `invoice.paid` webhook) → await_delivery (while 2xx) → collect (`server_list` of the
//! order item). Deprovision: cancel_order (the server's order item, found through
//! `server_list` and `order_list`). A cancelled provision cancels its order; one
//! failed by its payment deadline cancels it while still unpaid (cancel_unpaid).
//!
//! Klikk takes no root password: the order's `cloud_init_url` points at the job's
//! cloud-init document, which the api serves and which sets the password and the SSH
//! keys (`provisioner_shared::credentials`), unless the request brings its own URL.
//!
//! [`api`]: super::api

use super::api::{Auth, KlikkApi, NewOrder, Order, Os, Stage};
use crate::providers::Gate;
use crate::step::{
    CallError, Outcome, Prepared, Provider, Reconciled, StepCx, StepError, Upstream, step_names,
};
use provisioner_shared::config::Account;
use provisioner_shared::credentials::CLOUD_INIT_ORDERED;
use provisioner_shared::dry_run::DryRunReport;
use provisioner_shared::request::JobRequest;
use provisioner_shared::request::{Hostname, KlikkOrder, KlikkOs, KlikkWork};
use secrecy::SecretString;
use serde_json::Value;
use std::time::Duration;

/// Where the order item id is kept in the job's outputs (`extra`).
const ITEM: &str = "order_item_id";

pub struct Klikk {
    pub(super) api: KlikkApi,
}

impl Klikk {
    pub fn new(account: &Account, http: reqwest::Client, gate: Gate, timeout: Duration) -> Self {
        let secret = |s: &provisioner_shared::secret::ConfigSecret| {
            SecretString::from(s.expose().to_owned())
        };
        // Config validation asks for a token, or else a username and a password.
        let auth = match &account.token {
            Some(token) => Auth::Token(secret(token)),
            None => Auth::Basic {
                username: account.username.clone().unwrap_or_default(),
                password: account
                    .password
                    .as_ref()
                    .map_or_else(|| SecretString::from(String::new()), secret),
            },
        };
        Klikk {
            api: KlikkApi::new(http, account.base_url.clone(), auth, timeout).with_gate(gate),
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

/// A provision's host name and order. The item is named by the host name, so the
/// server is named after its host in Klikk's portal and `server_list`. The billing
/// reference stays on our job (`reference`, listed by `GET /v1/jobs?reference=`);
/// the order's own `reference` is the job id, which reconciliation needs.
fn provision<'a>(cx: &StepCx<'a>) -> Result<(&'a Hostname, &'a KlikkOrder), Outcome> {
    match cx.work::<KlikkWork>()? {
        KlikkWork::Provision { hostname, order } => Ok((hostname, order)),
        KlikkWork::Deprovision(_) => Err(Outcome::fail("only a provision orders a server")),
    }
}

fn order_id(cx: &StepCx<'_>) -> Result<String, Outcome> {
    cx.outputs
        .order_id
        .clone()
        .ok_or_else(|| Outcome::fail("no order id yet: the order step has not recorded one"))
}

/// Whether the order carries our cloud-init URL (decided before the call).
fn cloud_init_ordered(cx: &StepCx<'_>) -> bool {
    cx.outputs
        .extra
        .get(CLOUD_INIT_ORDERED)
        .and_then(Value::as_bool)
        .unwrap_or(false)
}

/// Decides, before the order's intent is written, whether the order carries our
/// cloud-init URL: when this job sets a root password, the request brings no URL of
/// its own, and the api can be reached (`api.public_url`). Recorded in the outputs,
/// so a reconciled order knows it too.
fn plan_cloud_init(cx: &mut StepCx<'_>) -> Result<(), Outcome> {
    if provision(cx)?.1.cloud_init_url.is_some() || cx.root_password()?.is_none() {
        return Ok(());
    }
    if cx.cloud_init_url().is_some() {
        cx.set_extra(CLOUD_INIT_ORDERED, true);
    } else {
        cx.warn(
            "the root password could not be set: Klikk takes it from a cloud-init document \
             the api serves under api.public_url, which this worker's config lacks; log in \
             with the ssh_keys",
        );
    }
    Ok(())
}

/// Records the order (and its item, when the answer names one) in the outputs.
fn record_order(cx: &mut StepCx<'_>, order: &Order) {
    cx.outputs.order_id = Some(order.order_id.clone());
    let item = provision(cx)
        .ok()
        .and_then(|(hostname, _)| order.item_named(hostname.as_str()));
    if let Some(item) = item {
        let id = item.id.clone();
        cx.set_extra(ITEM, id);
    }
}

/// Klikk refused: our sentence, with its own words kept apart for the job's `error`.
fn refused(message: String, provider_message: &str) -> Outcome {
    Outcome::Fail(StepError {
        message,
        provider_message: Some(provider_message.to_owned()).filter(|m| !m.is_empty()),
    })
}

/// "status N (message)" for notes and errors.
fn said(order: &Order) -> String {
    match order.status() {
        Some(s) if order.message.is_empty() => format!("status {s}"),
        Some(s) => format!("{} (status {s})", order.message),
        None => order.message.clone(),
    }
}

impl Klikk {
    async fn order_call(&self, cx: &mut StepCx<'_>) -> Result<(), CallError> {
        let (hostname, order) =
            provision(cx).map_err(|o| CallError::refused_before_call("klikk", &o))?;
        let os = match &order.os {
            KlikkOs::Name(name) => Os::Name {
                name,
                version: order.os_version.as_deref(),
            },
            KlikkOs::Id(id) => Os::Id(*id),
        };
        let cloud_init_url = match &order.cloud_init_url {
            Some(own) => Some(own.clone()),
            None if cloud_init_ordered(cx) => cx.cloud_init_url(),
            None => None,
        };
        let answer = self
            .api
            .order_create(&NewOrder {
                reference: cx.job_id,
                name: hostname.as_str(),
                product: &order.product,
                ram_gb: order.ram_gb,
                cpu: order.cpu,
                storage_gb: order.storage_gb,
                os,
                authorized_keys: &cx.request.ssh_keys,
                ip_allow: &order.ip_allow,
                public_ports_allow: order.public_ports_allow.as_deref(),
                ipv4: order.ipv4,
                antiaffinity: order.antiaffinity.as_deref(),
                firewall_id: order.firewall_id.as_deref(),
                firewall_addme: order.firewall_addme,
                cloud_init_url: cloud_init_url.as_deref(),
            })
            .await?;
        record_order(cx, &answer);
        cx.detail(format!("order {}: {}", answer.order_id, said(&answer)));
        Ok(())
    }

    /// Our orders at Klikk: those whose `reference` is this job's id (GAPS: reconcile
    /// by `reference` through `order_list`).
    async fn order_reconcile(&self, cx: &mut StepCx<'_>) -> Reconciled {
        let orders = match self.api.order_list().await {
            Ok(orders) => orders,
            Err(e) => {
                return Reconciled::lookup_failed(e, "cannot list orders to reconcile the order");
            }
        };
        let ours: Vec<&Order> = orders
            .iter()
            .filter(|o| o.reference.as_deref() == Some(cx.job_id))
            .collect();
        // A list that shows no reference at all proves nothing about ours.
        let shows_references = orders.is_empty() || orders.iter().any(|o| o.reference.is_some());
        match ours.as_slice() {
            [] if shows_references => Reconciled::Absent,
            [] => Reconciled::Unknown(format!(
                "order_list shows {} orders but no reference on any, so whether this job's \
                 order was placed cannot be told; check at Klikk, then resolve",
                orders.len()
            )),
            [order] => {
                record_order(cx, order);
                cx.detail(format!(
                    "order {} found by reference and adopted: {}",
                    order.order_id,
                    said(order)
                ));
                Reconciled::Done
            }
            many => Reconciled::Unknown(format!(
                "{} orders carry this job's reference ({}); adopt the right one",
                many.len(),
                many.iter()
                    .map(|o| o.order_id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        }
    }

    /// The order's status now; the item id is recorded when first seen.
    async fn status(&self, cx: &mut StepCx<'_>) -> Result<(String, Order), Outcome> {
        let id = order_id(cx)?;
        let order = self.api.order_status(&id).await.map_err(Outcome::from)?;
        if cx.extra_str(ITEM).is_none() {
            record_order(cx, &order);
        }
        Ok((id, order))
    }

    async fn await_payment(&self, cx: &mut StepCx<'_>) -> Outcome {
        let (id, order) = tri!(self.status(cx).await);
        let status = order.status().map(|s| s.stage());
        match status {
            Some(Stage::AwaitingPayment) => {
                Outcome::wait(format!("awaiting payment: {} (order {id})", said(&order)))
            }
            Some(Stage::Pending | Stage::Completed) => {
                cx.detail(format!("order {id} paid: {}", said(&order)));
                Outcome::Next
            }
            _ => self.not_going_on(&id, &order),
        }
    }

    async fn await_delivery(&self, cx: &mut StepCx<'_>) -> Outcome {
        let (id, order) = tri!(self.status(cx).await);
        match order.status().map(|s| s.stage()) {
            Some(Stage::Completed) => {
                cx.detail(format!("order {id} completed: {}", said(&order)));
                Outcome::Next
            }
            Some(Stage::Pending) => Outcome::wait(format!("order {id}: {}", said(&order))),
            // Back to "payment required or processing": wait, under the delivery deadline.
            Some(Stage::AwaitingPayment) => {
                Outcome::wait(format!("awaiting payment: {} (order {id})", said(&order)))
            }
            _ => self.not_going_on(&id, &order),
        }
    }

    /// 9xx, or a code the seeds do not list: the order will not become a server.
    fn not_going_on(&self, id: &str, order: &Order) -> Outcome {
        let what = match order.status() {
            Some(s) if s.stage() == Stage::Cancelled => {
                format!("order {id} was cancelled at Klikk (status {s})")
            }
            Some(s) => {
                format!("order {id} has status {s}, which Klikk's documentation does not list")
            }
            None => format!("order {id} has no status"),
        };
        let message = if order.message.is_empty() {
            what
        } else {
            format!("{what}: {}", order.message)
        };
        refused(message, &order.message)
    }

    async fn collect(&self, cx: &mut StepCx<'_>) -> Outcome {
        if cx.extra_str(ITEM).is_none() {
            tri!(self.status(cx).await);
        }
        let Some(item) = cx.extra_str(ITEM).map(str::to_owned) else {
            let id = cx.outputs.order_id.clone().unwrap_or_default();
            return Outcome::fail(format!(
                "order {id} lists no order item, so its server cannot be found"
            ));
        };
        let servers = match self.api.server_list(Some(&item)).await {
            Ok(s) => s,
            Err(e) => return e.into(),
        };
        // "0 or blank for all servers": filter here too, should the filter be ignored.
        let Some(server) = servers
            .iter()
            .find(|s| s.order_item_id.as_deref() == Some(item.as_str()))
        else {
            return Outcome::wait(format!(
                "order item {item} is complete, but Klikk lists no server for it yet"
            ));
        };
        let wants_ipv4 = provision(cx).map_or(true, |(_, o)| o.ipv4 != Some(false));
        if wants_ipv4 && server.ipv4.is_none() {
            return Outcome::wait(format!("server {} has no IPv4 address yet", server.id));
        }
        cx.outputs.server_id = Some(server.id.clone());
        cx.outputs.ipv4 = server.ipv4.map(|ip| ip.to_string());
        cx.outputs.ipv6 = server.ipv6.map(|ip| ip.to_string());
        let at = [&cx.outputs.ipv4, &cx.outputs.ipv6]
            .into_iter()
            .flatten()
            .next()
            .map(|ip| format!(" at {ip}"))
            .unwrap_or_default();
        cx.detail(format!("server {}{at}", server.id));
        Outcome::Next
    }

    /// Deprovision: Klikk cancels orders, not servers. The server's `order_item_id`
    /// (from `server_list`) names the item, `order_list` the order holding it; only
    /// that item is cancelled, so other servers of the same order stay. Klikk ends it
    /// "after end period"; a completed order's status does not change (GAPS).
    async fn cancel_order(&self, cx: &mut StepCx<'_>) -> Outcome {
        let server_id = match tri!(cx.work::<KlikkWork>()) {
            KlikkWork::Deprovision(d) => d.server_id.to_string(),
            KlikkWork::Provision { .. } => return Outcome::fail("a provision cancels nothing"),
        };
        let servers = match self.api.server_list(None).await {
            Ok(s) => s,
            Err(e) => return e.into(),
        };
        let Some(server) = servers.iter().find(|s| s.id == server_id) else {
            return Outcome::fail(format!(
                "Klikk lists no server {server_id} on this account: nothing to cancel"
            ));
        };
        let Some(item) = server.order_item_id.clone() else {
            return Outcome::fail(format!(
                "Klikk lists server {server_id} without an order item: cancel it in the Klikk portal"
            ));
        };
        let orders = match self.api.order_list().await {
            Ok(o) => o,
            Err(e) => return e.into(),
        };
        let Some(order) = orders.iter().find(|o| o.has_item(&item)) else {
            return Outcome::fail(format!(
                "no Klikk order holds order item {item} of server {server_id}"
            ));
        };
        let order_id = order.order_id.clone();
        cx.outputs.server_id = Some(server_id.clone());
        cx.outputs.order_id = Some(order_id.clone());
        cx.set_extra(ITEM, item.clone());
        match self.api.order_cancel(&order_id, Some(&item)).await {
            Ok(()) => {
                cx.detail(format!(
                    "order item {item} (order {order_id}) of server {server_id} cancelled: \
                     Klikk does not renew it and ends it after its period"
                ));
                Outcome::Next
            }
            Err(e) => e.into(),
        }
    }

    /// The payment deadline failed the job: cancel its order if it still awaits
    /// payment (1xx). One paid meanwhile is kept: it is the customer's now.
    async fn cancel_unpaid(&self, cx: &mut StepCx<'_>) -> Outcome {
        let (id, order) = tri!(self.status(cx).await);
        match order.status().map(|s| s.stage()) {
            Some(Stage::AwaitingPayment) => match self.api.order_cancel(&id, None).await {
                Ok(()) => {
                    cx.detail(format!("order {id} cancelled at Klikk: it was never paid"));
                    Outcome::Next
                }
                Err(e) => e.into(),
            },
            Some(Stage::Cancelled) => {
                cx.detail(format!("order {id} is already cancelled at Klikk"));
                Outcome::Next
            }
            _ => {
                cx.detail(format!(
                    "order {id} no longer awaits payment ({}): kept",
                    said(&order)
                ));
                Outcome::Next
            }
        }
    }

    /// A cancelled provision: cancel the whole order we placed (it holds one item).
    async fn compensate(&self, cx: &mut StepCx<'_>) -> Outcome {
        let Some(id) = cx.outputs.order_id.clone() else {
            cx.detail("nothing to cancel: no order was placed");
            return Outcome::Next;
        };
        match self.api.order_cancel(&id, None).await {
            Ok(()) => {
                cx.detail(format!("order {id} cancelled at Klikk"));
                Outcome::Next
            }
            Err(CallError::Rejected {
                message,
                status: Some(404),
                ..
            }) => {
                cx.detail(format!(
                    "nothing to cancel: Klikk does not know order {id} ({message})"
                ));
                Outcome::Next
            }
            Err(e) => e.into(),
        }
    }
}

step_names! {
    /// Klikk's action and compensation steps.
    pub enum Action {
        AwaitPayment = "await_payment",
        AwaitDelivery = "await_delivery",
        Collect = "collect",
        CancelOrder = "cancel_order",
        CompensateCancel = "compensate_cancel",
        CancelUnpaid = "cancel_unpaid",
    }
}

step_names! {
    /// Klikk's money step.
    pub enum Money {
        Order = "order",
    }
}

impl Provider for Klikk {
    type Action = Action;
    type Money = Money;

    async fn dry_run(&self, request: &JobRequest) -> DryRunReport {
        super::dry_run::check(self, request).await
    }

    async fn run(&self, step: Action, cx: &mut StepCx<'_>) -> Outcome {
        match step {
            Action::AwaitPayment => self.await_payment(cx).await,
            Action::AwaitDelivery => self.await_delivery(cx).await,
            Action::Collect => self.collect(cx).await,
            Action::CancelOrder => self.cancel_order(cx).await,
            Action::CompensateCancel => self.compensate(cx).await,
            Action::CancelUnpaid => self.cancel_unpaid(cx).await,
        }
    }

    async fn prepare(&self, Money::Order: Money, cx: &mut StepCx<'_>) -> Prepared {
        match plan_cloud_init(cx) {
            Ok(()) => Prepared::Call {
                reference: cx.job_id.to_owned(),
                data: Value::Null,
            },
            Err(o) => Prepared::Skip(o),
        }
    }

    async fn call(&self, Money::Order: Money, cx: &mut StepCx<'_>) -> Result<(), CallError> {
        self.order_call(cx).await
    }

    async fn reconcile(&self, Money::Order: Money, cx: &mut StepCx<'_>) -> Reconciled {
        self.order_reconcile(cx).await
    }

    /// Every server of the account (`server_list` without an item), each with the
    /// `reference` of the order its item belongs to (`order_list`): the job id.
    async fn inventory(&self) -> Result<Option<Vec<Upstream>>, CallError> {
        let orders = self.api.order_list().await?;
        let servers = self.api.server_list(None).await?;
        let reference_of = |item: &str| {
            orders
                .iter()
                .find(|o| o.items.iter().any(|i| i.id == item))
                .and_then(|o| o.reference.clone())
        };
        Ok(Some(
            servers
                .into_iter()
                .map(|s| Upstream {
                    reference: s.order_item_id.as_deref().and_then(reference_of),
                    detail: format!(
                        "server {}{}",
                        s.name.as_deref().unwrap_or(&s.id),
                        match s.is_running {
                            Some(true) => " (running)",
                            Some(false) => " (stopped)",
                            None => "",
                        }
                    ),
                    id: s.id,
                    unpaid: false,
                    created_ms: None,
                })
                .collect(),
        ))
    }
}
