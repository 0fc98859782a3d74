//! The steps of IDCloudHost's plans (DESIGN.md, "Provider plans"), on top of [`api`].
//!
//! Provision: create_vm (money: the VM's description carries the job id, so a lost
//! answer is found again in `vm/list`) → pay (money, only with the account's
//! `pay_invoices`: the one unpaid invoice naming our VM, keyed by its id) →
//! await_running. Reinstall: reinstall → await_reinstall. Deprovision: delete_vm.
//!
//! A server id is the VM's uuid, or `{slug}/{uuid}` when the VM lives in another
//! location than the account's, so that a later reinstall or deprovision naming it
//! reaches the right location (VM routes are per location; seed, "Locations").
//!
//! [`api`]: super::api

use super::api::{
    CreateVm, Deletion, IdcloudhostApi, Invoice, InvoiceStatus, ReinstallVm, Vm, VmStatus,
};
use super::names::{VmRef, vm_name};
use crate::providers::Gate;
use crate::step::{
    CallError, Outcome, Prepared, Provider, Reconciled, StepCx, Upstream, step_names,
};
use provisioner_shared::config::Account;
use provisioner_shared::dry_run::DryRunReport;
use provisioner_shared::request::JobRequest;
use provisioner_shared::request::{Hostname, IdcloudhostOrder, IdcloudhostWork};
use secrecy::SecretString;
use serde_json::{Value, json};
use std::time::Duration;
use tokio::time::Instant;

const PROVIDER: &str = "idcloudhost";

/// The VM user when the order names none: the seed's VM parameters require a
/// `username` (except for Windows), and our requests carry a root password.
const DEFAULT_USERNAME: &str = "root";

pub struct Idcloudhost {
    pub(super) api: IdcloudhostApi,
    /// The account's location slug; `None` = the provider's default location.
    pub(super) location: Option<String>,
    pub(super) billing_account_id: Option<u64>,
    pay_invoices: bool,
}

impl Idcloudhost {
    pub fn new(account: &Account, http: reqwest::Client, gate: Gate, timeout: Duration) -> Self {
        let api_key = account
            .api_key
            .as_ref()
            .map(|s| s.expose().to_owned())
            .unwrap_or_default();
        Idcloudhost {
            api: IdcloudhostApi::new(
                http,
                account.base_url.clone(),
                SecretString::from(api_key),
                timeout,
            )
            .with_gate(gate),
            location: account.location.clone().filter(|l| !l.trim().is_empty()),
            billing_account_id: account.billing_account_id,
            pay_invoices: account.pay_invoices,
        }
    }
}

/// A provision's host name and order.
fn provision<'a>(cx: &StepCx<'a>) -> Result<(&'a Hostname, &'a IdcloudhostOrder), Outcome> {
    match cx.work::<IdcloudhostWork>()? {
        IdcloudhostWork::Provision { hostname, order } => Ok((hostname, order)),
        _ => Err(Outcome::fail("only a provision creates a VM")),
    }
}

fn root_password(cx: &StepCx<'_>) -> Result<SecretString, Outcome> {
    cx.root_password()?
        .ok_or_else(|| Outcome::fail("this job has no root password"))
}

/// A step's own refusal, before anything was sent.
fn refusal(outcome: &Outcome) -> CallError {
    CallError::refused_before_call(PROVIDER, outcome)
}

fn intent_field<'a>(cx: &'a StepCx<'_>, key: &str) -> Option<&'a Value> {
    cx.step.intent.as_ref().and_then(|i| i.data.get(key))
}

fn intent_str(cx: &StepCx<'_>, key: &str) -> Option<String> {
    intent_field(cx, key)
        .and_then(Value::as_str)
        .map(str::to_owned)
}

impl Idcloudhost {
    /// Where a new VM goes: the order's location, else the account's.
    fn slug_for(&self, order: &IdcloudhostOrder) -> Option<String> {
        order
            .location
            .clone()
            .filter(|l| !l.trim().is_empty())
            .or_else(|| self.location.clone())
    }

    /// The VM this job works on: the one it created (or an operator adopted), or
    /// the one the request names.
    fn vm_ref(&self, cx: &StepCx<'_>) -> Result<VmRef, Outcome> {
        let id = cx
            .outputs
            .server_id
            .clone()
            .or_else(|| cx.outputs.order_id.clone())
            .or_else(|| cx.request.server_id().map(ToString::to_string))
            .ok_or_else(|| Outcome::fail("no VM yet: create_vm has not recorded one"))?;
        Ok(VmRef::parse(&id, self.location.as_deref()))
    }

    /// Records a VM this job created as its server.
    fn adopt(&self, cx: &mut StepCx<'_>, vm: &Vm, slug: Option<&str>) {
        let at = VmRef {
            slug: slug.map(str::to_owned),
            uuid: vm.uuid.clone(),
        };
        cx.outputs.server_id = Some(at.server_id(self.location.as_deref()));
        cx.set_extra("vm_uuid", vm.uuid.clone());
        cx.set_extra("vm_name", vm.name.clone());
        if let Some(slug) = slug {
            cx.set_extra("location", slug);
        }
        if let Some(b) = vm.billing_account {
            cx.set_extra("billing_account_id", b);
        }
        record_addresses(cx, vm);
    }

    /// A money call is sent only with most of the step's time still ahead: after a
    /// slow lookup (a rate-limited account) the step waits and prepares afresh, so
    /// that it does not run out of time with its call's outcome unknown.
    fn too_slow_to_call(&self, started: Instant, what: &str) -> Option<Outcome> {
        (started.elapsed() > self.api.timeout() / 2).then(|| Outcome::Wait {
            after: Some(Duration::from_secs(1)),
            note: format!("{what}: the provider answers slowly; calling on the next attempt"),
        })
    }

    /// The billing account that pays: the order's, the account's, else the VM's own.
    fn billing_account(&self, cx: &StepCx<'_>) -> Option<u64> {
        let ordered = provision(cx)
            .ok()
            .and_then(|(_, order)| order.billing_account_id);
        ordered
            .or(self.billing_account_id)
            .or_else(|| cx.outputs.extra.get("billing_account_id")?.as_u64())
    }

    async fn create_prepare(&self, cx: &mut StepCx<'_>) -> Result<Prepared, Outcome> {
        let (hostname, order) = provision(cx)?;
        let name = vm_name(hostname.as_str());
        let slug = self.slug_for(order);
        let started = Instant::now();
        // The VMs that exist before the call: a new one with our name but without our
        // reference then shows that the provider dropped the description.
        let known: Vec<String> = self
            .api
            .list_vms(slug.as_deref())
            .await?
            .into_iter()
            .map(|vm| vm.uuid)
            .collect();
        if let Some(slow) = self.too_slow_to_call(started, &name) {
            return Ok(Prepared::Skip(slow));
        }
        Ok(Prepared::Call {
            reference: cx.job_id.to_owned(),
            data: json!({ "location": slug, "name": name, "known": known }),
        })
    }

    async fn create_call(&self, cx: &mut StepCx<'_>) -> Result<(), CallError> {
        let (host, order) = provision(cx).map_err(|o| refusal(&o))?;
        let password = root_password(cx).map_err(|o| refusal(&o))?;
        let slug = self.slug_for(order);
        let name = vm_name(host.as_str());
        let cloud_init = order.cloud_init.as_ref().map(Value::to_string);
        // The seed takes one `public_key`: the first of the request's keys.
        let public_key = cx.request.ssh_keys.first().cloned();
        let description = cx.job_id.to_owned();
        let vm = self
            .api
            .create_vm(
                slug.as_deref(),
                &CreateVm {
                    name: &name,
                    description: &description,
                    os_name: &order.os_name,
                    os_version: &order.os_version,
                    disks_gb: order.disk_gb,
                    vcpu: order.vcpu,
                    ram_mb: order.ram_mb,
                    username: order.username.as_deref().unwrap_or(DEFAULT_USERNAME),
                    password: &password,
                    public_key: public_key.as_deref(),
                    billing_account_id: order.billing_account_id.or(self.billing_account_id),
                    designated_pool_uuid: order.designated_pool_uuid.as_deref(),
                    network_uuid: order.network_uuid.as_deref(),
                    cloud_init: cloud_init.as_deref(),
                    reserve_public_ip: order.reserve_public_ip,
                },
            )
            .await?;
        self.adopt(cx, &vm, slug.as_deref());
        cx.detail(format!("created VM {} ({})", vm.uuid, vm.name));
        Ok(())
    }

    /// Looks for the VM of an intent without a result: ours carries the job id in its
    /// description (our reference).
    async fn create_reconcile(&self, cx: &mut StepCx<'_>) -> Reconciled {
        let slug = intent_str(cx, "location");
        let name = intent_str(cx, "name").unwrap_or_default();
        let known: Vec<String> = intent_field(cx, "known")
            .and_then(Value::as_array)
            .map(|l| {
                l.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        let vms = match self.api.list_vms(slug.as_deref()).await {
            Ok(vms) => vms,
            Err(e) => {
                return Reconciled::lookup_failed(e, "cannot list VMs to reconcile create_vm");
            }
        };
        let (ours, others): (Vec<Vm>, Vec<Vm>) = vms
            .into_iter()
            .partition(|vm| vm.description.contains(cx.job_id));
        match ours.as_slice() {
            [vm] => {
                self.adopt(cx, vm, slug.as_deref());
                cx.detail(format!(
                    "VM {} found by its description and adopted",
                    vm.uuid
                ));
                Reconciled::Done
            }
            [] => {
                let strangers: Vec<String> = others
                    .into_iter()
                    .filter(|vm| !known.contains(&vm.uuid) && vm.name.eq_ignore_ascii_case(&name))
                    .map(|vm| vm.uuid)
                    .collect();
                if strangers.is_empty() {
                    Reconciled::Absent
                } else {
                    Reconciled::Unknown(format!(
                        "new VM(s) named {name} appeared without our reference ({}); adopt the right one or reorder",
                        strangers.join(", ")
                    ))
                }
            }
            many => Reconciled::Unknown(format!(
                "{} VMs carry this job's reference ({}); adopt the right one",
                many.len(),
                many.iter()
                    .map(|v| v.uuid.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        }
    }

    async fn pay_prepare(&self, cx: &mut StepCx<'_>) -> Result<Prepared, Outcome> {
        if !self.pay_invoices {
            cx.detail("invoices are paid outside Provisioner (pay_invoices = false)");
            return Ok(Prepared::Skip(Outcome::Next));
        }
        let vm = self.vm_ref(cx)?;
        let billing = self.billing_account(cx).ok_or_else(|| {
            Outcome::fail(
                "no billing account to pay from: set billing_account_id on the account or the order",
            )
        })?;
        let started = Instant::now();
        let invoices = self.api.invoices(billing).await?;
        // Only invoices naming our VM by its uuid (or our reference): never an
        // unrelated unpaid one (GAPS), nor that of another VM with the same name.
        let ours: Vec<&Invoice> = invoices
            .iter()
            .filter(|i| i.names_vm(&vm.uuid, cx.job_id))
            .collect();
        let unpaid: Vec<&&Invoice> = ours
            .iter()
            .filter(|i| i.status == InvoiceStatus::Unpaid)
            .collect();
        match unpaid.as_slice() {
            [invoice] => {
                cx.outputs.invoice_id = Some(invoice.id.clone());
                if let Some(slow) = self.too_slow_to_call(started, &invoice.id) {
                    return Ok(Prepared::Skip(slow));
                }
                Ok(Prepared::Call {
                    reference: invoice.id.clone(),
                    data: json!({
                        "invoice_id": invoice.id,
                        "billing_account_id": billing,
                        "total": invoice.total,
                        "vm_uuid": vm.uuid,
                    }),
                })
            }
            [] => match ours.iter().find(|i| i.status == InvoiceStatus::Paid) {
                Some(paid) => {
                    cx.outputs.invoice_id = Some(paid.id.clone());
                    cx.detail(format!(
                        "invoice {} of VM {} already paid",
                        paid.id, vm.uuid
                    ));
                    Ok(Prepared::Skip(Outcome::Next))
                }
                None => {
                    // Only here, where no payment follows in this step: what is owed.
                    let owed = self.api.unpaid_amount(billing).await?;
                    Ok(Prepared::Skip(Outcome::wait(format!(
                        "waiting for the invoice of VM {} (the account owes {owed})",
                        vm.uuid
                    ))))
                }
            },
            many => Ok(Prepared::Skip(Outcome::Attention(format!(
                "{} unpaid invoices name VM {} ({}); pay the right one at IDCloudHost, then resolve (adopt)",
                many.len(),
                vm.uuid,
                many.iter()
                    .map(|i| i.id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )))),
        }
    }

    async fn pay_call(&self, cx: &mut StepCx<'_>) -> Result<(), CallError> {
        let invoice = intent_str(cx, "invoice_id").unwrap_or_default();
        let paid = self.api.pay_invoice(&invoice).await?;
        let said = paid.said();
        if !paid.success {
            return Err(CallError::Rejected {
                provider: PROVIDER,
                message: if said.is_empty() {
                    format!("pay_invoice {invoice} answered success: false")
                } else {
                    said
                },
                status: None,
            });
        }
        if paid
            .paid_invoices
            .as_ref()
            .is_some_and(|l| !l.contains(&invoice))
        {
            // Something was paid, but not visibly ours: reconcile before anything else.
            return Err(CallError::Unknown {
                provider: PROVIDER,
                message: format!("pay_invoice did not list invoice {invoice} as paid: {said}"),
            });
        }
        cx.outputs.invoice_id = Some(invoice.clone());
        let total = intent_field(cx, "total")
            .and_then(Value::as_str)
            .map(|t| format!(" ({t})"))
            .unwrap_or_default();
        cx.detail(format!("invoice {invoice} paid{total}"));
        Ok(())
    }

    /// Payments are keyed by invoice id, and the invoice record answers what happened:
    /// paid → adopted; unpaid with no credit on it and no transaction logged (the
    /// provider's record of a payment attempt) → nothing was applied, so the engine may
    /// pay again once its settle window has passed; unpaid with a trace of a payment,
    /// or a status we do not know → an operator looks.
    async fn pay_reconcile(&self, cx: &mut StepCx<'_>) -> Reconciled {
        let invoice = intent_str(cx, "invoice_id").unwrap_or_default();
        let Some(billing) = intent_field(cx, "billing_account_id").and_then(Value::as_u64) else {
            return Reconciled::Unknown(format!(
                "the payment intent of invoice {invoice} names no billing account"
            ));
        };
        let invoices = match self.api.invoices(billing).await {
            Ok(i) => i,
            Err(e) => return Reconciled::lookup_failed(e, "cannot list invoices to reconcile"),
        };
        let resolve = "check it at IDCloudHost, then resolve (adopt if paid, reorder to pay again)";
        let Some(found) = invoices.iter().find(|i| i.id == invoice) else {
            return Reconciled::Pending(format!("invoice {invoice} is not listed yet"));
        };
        match payment_trace(found) {
            PaymentTrace::Paid => {
                cx.outputs.invoice_id = Some(invoice.clone());
                cx.detail(format!("invoice {invoice} paid (found on reconciliation)"));
                Reconciled::Done
            }
            PaymentTrace::Untouched => Reconciled::Absent,
            PaymentTrace::Contradiction(why) => Reconciled::Unknown(format!(
                "a payment of invoice {invoice} was attempted and cannot be told: {why}; {resolve}"
            )),
        }
    }

    /// Polls the VM until it runs (GAPS: `starting` → `running`), then records its
    /// addresses. With `want_os`, the VM must also report that OS (a reinstall).
    async fn await_running(
        &self,
        cx: &mut StepCx<'_>,
        want_os: Option<(&str, &str)>,
    ) -> Result<Outcome, Outcome> {
        let at = self.vm_ref(cx)?;
        let vm = self.api.vm(at.slug.as_deref(), &at.uuid).await?;
        if vm.status.is_broken() {
            return Err(Outcome::fail(format!(
                "VM {} is `{}`",
                vm.uuid,
                vm.status.as_str()
            )));
        }
        if vm.status != VmStatus::Running {
            return Ok(Outcome::wait(format!(
                "VM {} is {}",
                vm.uuid,
                vm.status.as_str()
            )));
        }
        if let Some((name, version)) = want_os {
            let reported = (vm.os_name.as_deref(), vm.os_version.as_deref());
            let matches =
                |got: Option<&str>, want: &str| got.is_none_or(|g| g.eq_ignore_ascii_case(want));
            if !matches(reported.0, name) || !matches(reported.1, version) {
                return Ok(Outcome::wait(format!(
                    "VM {} runs {} {}; waiting for {name} {version}",
                    vm.uuid,
                    reported.0.unwrap_or("?"),
                    reported.1.unwrap_or("?")
                )));
            }
        }
        record_addresses(cx, &vm);
        if cx.outputs.server_id.is_none() {
            // An operator adopted the VM (as `order_id`), or a reinstall names it.
            cx.outputs.server_id = Some(at.server_id(self.location.as_deref()));
        }
        if cx.outputs.ipv4.is_none() {
            // GAPS: the floating-IP list filtered by vm_uuid shows the address too.
            let ips = self.api.floating_ips(at.slug.as_deref(), &at.uuid).await?;
            let public = ips.iter().find(|ip| {
                ip.address.is_ipv4()
                    && ip.assigned_to.as_deref().is_none_or(|a| a == at.uuid)
                    && ip.kind.as_deref().is_none_or(|k| k == "public")
            });
            cx.outputs.ipv4 = public.map(|ip| ip.address.to_string());
        }
        cx.detail(format!(
            "VM {} running{}",
            vm.uuid,
            cx.outputs
                .ipv4
                .as_deref()
                .map(|ip| format!(" at {ip}"))
                .unwrap_or_else(|| " (no public IPv4 reported)".into())
        ));
        Ok(Outcome::Next)
    }

    async fn reinstall(&self, cx: &mut StepCx<'_>) -> Result<Outcome, Outcome> {
        let (os_name, os_version) = reinstall_os(cx)?;
        let at = self.vm_ref(cx)?;
        let password = root_password(cx)?;
        let vm = self
            .api
            .reinstall(
                at.slug.as_deref(),
                &ReinstallVm {
                    uuid: &at.uuid,
                    os_name,
                    os_version,
                    password: Some(&password),
                },
            )
            .await?;
        cx.detail(format!(
            "reinstalling VM {} with {os_name} {os_version} ({})",
            vm.uuid,
            vm.status.as_str()
        ));
        Ok(Outcome::Next)
    }

    async fn delete(&self, cx: &mut StepCx<'_>, compensating: bool) -> Result<Outcome, Outcome> {
        let at = match self.vm_ref(cx) {
            Ok(at) => at,
            Err(_) if compensating => {
                cx.detail("nothing to delete: no VM was created");
                return Ok(Outcome::Next);
            }
            Err(o) => return Err(o),
        };
        match self.api.delete_vm(at.slug.as_deref(), &at.uuid).await? {
            Deletion::Deleted => cx.detail(format!("VM {} deleted", at.uuid)),
            // A 404 means the VM is gone already: what we wanted.
            Deletion::AlreadyGone(said) => {
                cx.detail(format!("VM {} was already gone: {said}", at.uuid))
            }
        }
        Ok(Outcome::Next)
    }
}

/// What an invoice's record says about payments made to it.
#[derive(Debug, PartialEq, Eq)]
enum PaymentTrace {
    Paid,
    /// Unpaid, no credit applied, no transaction logged: no payment reached it.
    Untouched,
    Contradiction(String),
}

/// IDCloudHost prints money as a float does.
fn money_to_cents(text: &str) -> Option<i64> {
    crate::providers::fields::money_to_cents(text, crate::providers::fields::Decimals::Rounded)
}

fn payment_trace(invoice: &Invoice) -> PaymentTrace {
    let id = &invoice.id;
    match invoice.status {
        InvoiceStatus::Paid => return PaymentTrace::Paid,
        InvoiceStatus::Unpaid => {}
        InvoiceStatus::Other(code) => {
            return PaymentTrace::Contradiction(format!(
                "invoice {id} has status {code}, which is neither unpaid (5) nor paid (10)"
            ));
        }
    }
    let credit = invoice.credit.as_deref().unwrap_or("0");
    match money_to_cents(credit) {
        Some(0) => {}
        Some(_) => {
            return PaymentTrace::Contradiction(format!(
                "invoice {id} is still unpaid but {credit} of credit is applied to it (partly paid)"
            ));
        }
        None => {
            return PaymentTrace::Contradiction(format!(
                "invoice {id} shows credit `{credit}`, which cannot be read"
            ));
        }
    }
    if invoice.transactions > 0 {
        return PaymentTrace::Contradiction(format!(
            "invoice {id} is still unpaid but lists {} transaction(s)",
            invoice.transactions
        ));
    }
    PaymentTrace::Untouched
}

/// A reinstall's OS.
fn reinstall_os<'a>(cx: &StepCx<'a>) -> Result<(&'a str, &'a str), Outcome> {
    match cx.work::<IdcloudhostWork>()? {
        IdcloudhostWork::Reinstall {
            os_name,
            os_version,
            ..
        } => Ok((os_name, os_version)),
        _ => Err(Outcome::fail("only a reinstall installs an OS")),
    }
}

fn record_addresses(cx: &mut StepCx<'_>, vm: &Vm) {
    if let Some(ip) = vm.public_ipv4 {
        cx.outputs.ipv4 = Some(ip.to_string());
    }
    if let Some(ip) = vm.public_ipv6 {
        cx.outputs.ipv6 = Some(ip.to_string());
    }
}

step_names! {
    /// IDCloudHost's action and compensation steps.
    pub enum Action {
        AwaitRunning = "await_running",
        Reinstall = "reinstall",
        AwaitReinstall = "await_reinstall",
        DeleteVm = "delete_vm",
        CompensateCancel = "compensate_cancel",
    }
}

step_names! {
    /// IDCloudHost's money steps.
    pub enum Money {
        CreateVm = "create_vm",
        Pay = "pay",
    }
}

impl Provider for Idcloudhost {
    type Action = Action;
    type Money = Money;

    async fn dry_run(&self, request: &JobRequest) -> DryRunReport {
        super::dry_run::check(self, request).await
    }

    async fn run(&self, step: Action, cx: &mut StepCx<'_>) -> Outcome {
        let outcome = match step {
            Action::AwaitRunning => self.await_running(cx, None).await,
            Action::Reinstall => self.reinstall(cx).await,
            Action::AwaitReinstall => match reinstall_os(cx) {
                Ok(os) => self.await_running(cx, Some(os)).await,
                Err(o) => Err(o),
            },
            Action::DeleteVm => self.delete(cx, false).await,
            Action::CompensateCancel => self.delete(cx, true).await,
        };
        outcome.unwrap_or_else(|o| o)
    }

    async fn prepare(&self, step: Money, cx: &mut StepCx<'_>) -> Prepared {
        let prepared = match step {
            Money::CreateVm => self.create_prepare(cx).await,
            Money::Pay => self.pay_prepare(cx).await,
        };
        prepared.unwrap_or_else(Prepared::Skip)
    }

    async fn call(&self, step: Money, cx: &mut StepCx<'_>) -> Result<(), CallError> {
        match step {
            Money::CreateVm => self.create_call(cx).await,
            Money::Pay => self.pay_call(cx).await,
        }
    }

    async fn reconcile(&self, step: Money, cx: &mut StepCx<'_>) -> Reconciled {
        match step {
            Money::CreateVm => self.create_reconcile(cx).await,
            Money::Pay => self.pay_reconcile(cx).await,
        }
    }

    /// The VMs of every location (`config/locations`, then each one's `vm/list`, the
    /// call create_vm's reconciliation makes), by the server id a job would hold
    /// (`slug/uuid` outside the account's location); a ULID-shaped description is our
    /// reference.
    async fn inventory(&self) -> Result<Option<Vec<Upstream>>, CallError> {
        let locations = self.api.locations().await?;
        // A job's bare uuid is in the account's location, else the default one.
        let home = self.location.clone().or_else(|| {
            locations
                .iter()
                .find(|l| l.is_default)
                .map(|l| l.slug.clone())
        });
        let mut listed = Vec::new();
        for location in locations {
            let slug = Some(location.slug);
            for vm in self.api.list_vms(slug.as_deref()).await? {
                let at = VmRef {
                    slug: slug.clone(),
                    uuid: vm.uuid.clone(),
                };
                listed.push(Upstream {
                    reference: Some(vm.description.trim().to_owned())
                        .filter(|d| d.len() == 26 && d.bytes().all(|b| b.is_ascii_alphanumeric())),
                    detail: format!("VM {} ({})", vm.name, vm.status.as_str()),
                    id: at.server_id(home.as_deref()),
                    unpaid: false,
                    created_ms: None,
                });
            }
        }
        Ok(Some(listed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invoice(status: InvoiceStatus, credit: &str, transactions: usize) -> Invoice {
        Invoice {
            id: "3782544".into(),
            status,
            billing_account_id: Some(6),
            total: Some("6.00".into()),
            created: None,
            records: vec![],
            credit: Some(credit.into()),
            transactions,
        }
    }

    #[test]
    fn an_unpaid_invoice_without_credit_or_transactions_was_not_paid() {
        let untouched = invoice(InvoiceStatus::Unpaid, "0.0", 0);
        assert_eq!(payment_trace(&untouched), PaymentTrace::Untouched);
        let paid = invoice(InvoiceStatus::Paid, "-0.10", 1);
        assert_eq!(payment_trace(&paid), PaymentTrace::Paid);
    }

    #[test]
    fn a_trace_of_a_payment_on_an_unpaid_invoice_is_a_contradiction() {
        for (inv, needle) in [
            (invoice(InvoiceStatus::Unpaid, "-0.10", 0), "partly paid"),
            (invoice(InvoiceStatus::Unpaid, "0", 1), "1 transaction"),
            (invoice(InvoiceStatus::Unpaid, "soon", 0), "cannot be read"),
            (invoice(InvoiceStatus::Other(7), "0", 0), "status 7"),
        ] {
            match payment_trace(&inv) {
                PaymentTrace::Contradiction(why) => assert!(why.contains(needle), "{why}"),
                other => panic!("{needle}: {other:?}"),
            }
        }
    }
}
