//! The steps of HOSTKEY's plans (DESIGN.md, "Provider plans"), on top of [`api`].
//!
//! Provision: order → pay (`payment.rs`) → await_delivery → [reinstall_key → create_pxe → boot_pxe →
//! reboot (at most once: it is reconciled like money) → await_install → boot_disk → clear_pxe] → collect. Every asynchronous
//! action's key is kept in the step's scratch and checked until it says OK, so a
//! step that is re-entered after a crash checks its key instead of sending again.

use super::api::{
    AsyncAnswer, BootMedia, CreatePxe, HostkeyApi, KeyStatus, OrderInstance, OrderTarget,
    ServerStatus,
};
use crate::providers::Gate;
use crate::step::{
    CallError, Outcome, Prepared, Provider, Reconciled, StepCx, Upstream, step_names,
};
use provisioner_shared::config::Account;
use provisioner_shared::credentials;
use provisioner_shared::dry_run::DryRunReport;
use provisioner_shared::request::JobRequest;
use provisioner_shared::request::{HostkeyOrder, HostkeyWork, Hostname};
use secrecy::SecretString;
use serde_json::{Value, json};
use std::time::Duration;

/// The servers that appeared since an order's intent.
#[derive(Default)]
struct NewServers {
    /// With our hostname: `(id, deploy key)`.
    ours: Vec<(String, Option<String>)>,
    /// Showing no hostname.
    unnamed: Vec<String>,
}

/// How often an action's key may vanish before we saw it finish (then it is sent again).
const MAX_SENDS: u64 = 3;

pub struct Hostkey {
    pub(super) api: HostkeyApi,
}

impl Hostkey {
    pub fn new(account: &Account, http: reqwest::Client, gate: Gate, timeout: Duration) -> Self {
        let secret = |s: &Option<provisioner_shared::secret::ConfigSecret>| {
            SecretString::from(
                s.as_ref()
                    .map(|s| s.expose().to_owned())
                    .unwrap_or_default(),
            )
        };
        Hostkey {
            api: HostkeyApi::new(
                http,
                account.base_url.clone(),
                secret(&account.api_key),
                secret(&account.pin),
                timeout,
            )
            .with_gate(gate),
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

/// A provision's host name, order and the OS a PXE install puts on after delivery.
fn provision<'a>(
    cx: &StepCx<'a>,
) -> Result<(&'a Hostname, &'a HostkeyOrder, Option<u64>), Outcome> {
    match cx.work::<HostkeyWork>()? {
        HostkeyWork::Provision {
            hostname,
            order,
            reinstall_os,
        } => Ok((hostname, order, *reinstall_os)),
        _ => Err(Outcome::fail("only a provision orders a server")),
    }
}

/// The host name of a provision or a reinstall (the PXE steps send it).
fn hostname<'a>(cx: &StepCx<'a>) -> Result<&'a Hostname, Outcome> {
    match cx.work::<HostkeyWork>()? {
        HostkeyWork::Provision { hostname, .. } | HostkeyWork::Reinstall { hostname, .. } => {
            Ok(hostname)
        }
        HostkeyWork::Deprovision(_) => Err(Outcome::fail("a deprovision installs nothing")),
    }
}

/// What a PXE install puts on: a reinstall's OS, or the one a provision installs
/// after delivery.
fn pxe_os(cx: &StepCx<'_>) -> Result<u64, Outcome> {
    match cx.work::<HostkeyWork>()? {
        HostkeyWork::Provision {
            reinstall_os: Some(os_id),
            ..
        }
        | HostkeyWork::Reinstall { os_id, .. } => Ok(*os_id),
        _ => Err(Outcome::fail("this job installs no OS over PXE")),
    }
}

fn root_password(cx: &StepCx<'_>) -> Result<SecretString, Outcome> {
    cx.root_password()?
        .ok_or_else(|| Outcome::fail("this job has no root password"))
}

/// HOSTKEY's order takes one `ssh_key`: we pass the first and say so in the detail.
fn ssh_key(cx: &StepCx<'_>) -> Option<String> {
    cx.request.ssh_keys.first().cloned()
}

fn post_install_script(cx: &StepCx<'_>) -> Result<Option<SecretString>, Outcome> {
    cx.request
        .post_install_script
        .as_ref()
        .map(|s| cx.open(s))
        .transpose()
}

fn key_of(answer: &AsyncAnswer, action: &str) -> Result<String, Outcome> {
    answer.key.clone().ok_or_else(|| {
        Outcome::fail(format!(
            "hostkey answered {action} without an asynchronous key: {}",
            answer.scope
        ))
    })
}

/// The note of a pending action: the provider's words, named once.
fn action_note(what: &str, status: &KeyStatus) -> String {
    let text = stage_note(status);
    if text.contains(what)
        || what.contains(text.split(':').next().unwrap_or("")) && text.contains(':')
    {
        text
    } else {
        format!("{what}: {text}")
    }
}

fn stage_note(status: &KeyStatus) -> String {
    match status {
        KeyStatus::Done => "done".into(),
        KeyStatus::Stage {
            stage: Some(n),
            of,
            text,
        } => format!("({n}/{of}) {text}"),
        KeyStatus::Stage {
            stage: None, text, ..
        } => text.clone(),
        KeyStatus::Pending(text) => text.clone(),
    }
}

impl Hostkey {
    /// Sends an asynchronous action once, then waits on its key until it is done.
    async fn action<F, Fut>(&self, cx: &mut StepCx<'_>, what: &str, send: F) -> Outcome
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<AsyncAnswer, CallError>>,
    {
        if let Some(key) = cx.scratch_str("key").map(str::to_owned) {
            match self.api.check(&key).await {
                Ok(KeyStatus::Done) => {
                    cx.detail(format!("{what}: done"));
                    return Outcome::Next;
                }
                Ok(status) => return Outcome::wait(action_note(what, &status)),
                // The key is gone before we saw it finish (e.g. a crash right after
                // the check said OK): send the action again, a bounded number of times.
                Err(CallError::Rejected { message, .. }) => {
                    let lost = cx
                        .step
                        .scratch
                        .get("lost")
                        .and_then(Value::as_u64)
                        .unwrap_or(0)
                        + 1;
                    if lost >= MAX_SENDS {
                        return Outcome::fail(format!(
                            "{what}: its key vanished {lost} times before it finished: {message}"
                        ));
                    }
                    tracing::info!(action = what, provider_message = %message, "action key gone; sending again");
                    cx.set_scratch("lost", lost);
                    cx.step.scratch.remove("key");
                }
                Err(e) => return e.into(),
            }
        }
        let answer = match send().await {
            Ok(a) => a,
            Err(e) => return e.into(),
        };
        let key = tri!(key_of(&answer, what));
        cx.set_scratch("key", key.clone());
        match self.api.check(&key).await {
            Ok(KeyStatus::Done) => {
                cx.detail(format!("{what}: done"));
                Outcome::Next
            }
            Ok(status) => Outcome::wait(action_note(what, &status)),
            // A failed first check is no reason to send again: poll the key later.
            Err(e) => Outcome::wait(format!("{what}: sent; checking its key failed ({e})")),
        }
    }

    async fn await_delivery(&self, cx: &mut StepCx<'_>) -> Outcome {
        let id = tri!(cx.server_id());
        // A new server shows in eq/show only after eq/update_servers (GAPS).
        if let Err(e) = self.api.update_servers().await {
            return e.into();
        }
        let info = match self.api.show(&id).await {
            Ok(info) => info,
            Err(e) => return e.into(),
        };
        match info.status {
            ServerStatus::Rent => {
                cx.outputs.ipv4 = info.ipv4.map(|ip| ip.to_string());
                cx.outputs.ipv6 = info.ipv6.map(|ip| ip.to_string());
                cx.detail(format!(
                    "server {id} delivered{}",
                    cx.outputs
                        .ipv4
                        .as_deref()
                        .map(|ip| format!(" at {ip}"))
                        .unwrap_or_default()
                ));
                Outcome::Next
            }
            ServerStatus::Pending => Outcome::wait(format!("server {id} is being deployed")),
            ServerStatus::PowerOff | ServerStatus::Other(_) => {
                let status = match info.status {
                    ServerStatus::Other(s) => s,
                    _ => "power_off".into(),
                };
                Outcome::fail(format!(
                    "server {id} is `{status}` instead of being delivered"
                ))
            }
        }
    }

    async fn await_install(&self, cx: &mut StepCx<'_>) -> Outcome {
        if cx.outputs.extra.get("install_done") == Some(&Value::Bool(true)) {
            cx.detail("install complete (seen while reconciling the reboot)");
            return Outcome::Next;
        }
        let Some(key) = cx.extra_str("reinstall_key").map(str::to_owned) else {
            return Outcome::fail("no reinstall key recorded (reinstall_key step)");
        };
        match self.api.check(&key).await {
            Ok(KeyStatus::Done) => {
                cx.detail("install complete");
                Outcome::Next
            }
            Ok(status) => {
                if let KeyStatus::Stage { stage: Some(n), .. } = status {
                    cx.set_scratch("stage", n);
                }
                Outcome::wait(stage_note(&status))
            }
            // The key disappears once its OK has been read (GAPS). If we had seen the
            // install progress, a vanished key means that OK was read by an attempt
            // that did not live to record it.
            Err(CallError::Rejected { message, .. }) if cx.step.scratch.contains_key("stage") => {
                cx.detail(format!(
                    "install complete (reinstall key retired: {message})"
                ));
                Outcome::Next
            }
            Err(e) => e.into(),
        }
    }

    async fn collect(&self, cx: &mut StepCx<'_>) -> Outcome {
        let id = tri!(cx.server_id());
        let info = match self.api.show(&id).await {
            Ok(info) => info,
            Err(e) => return e.into(),
        };
        if let Some(ip) = info.ipv4 {
            cx.outputs.ipv4 = Some(ip.to_string());
        }
        if let Some(ip) = info.ipv6 {
            cx.outputs.ipv6 = Some(ip.to_string());
        }
        if let Some(pw) = &info.password {
            let sealed = cx.seal(secrecy::ExposeSecret::expose_secret(pw));
            cx.outputs
                .secrets
                .insert(credentials::PROVIDER_PASSWORD.into(), sealed);
        }
        cx.detail(format!(
            "server {id}{}",
            cx.outputs
                .ipv4
                .as_deref()
                .map(|ip| format!(" at {ip}"))
                .unwrap_or_default()
        ));
        Outcome::Next
    }

    async fn cancel_service(&self, cx: &mut StepCx<'_>) -> Outcome {
        let Ok(id) = cx.server_id() else {
            cx.detail("nothing to cancel: no server was ordered");
            return Outcome::Next;
        };
        let reason = format!("provisioner job {}", cx.job_id);
        match self.api.request_cancellation(&id, true, &reason).await {
            Ok(()) => {
                cx.detail(format!("cancellation of server {id} requested"));
                Outcome::Next
            }
            Err(e) => e.into(),
        }
    }

    /// The new servers since the intent whose hostname is ours (GAPS: reconcile by
    /// hostname: eq/update_servers → eq/list → eq/show of new ids), and the new ones
    /// that show no hostname at all (they could be ours: they prove nothing). What
    /// each new id showed is kept in the step's scratch for this intent, so a lookup
    /// interrupted by a failed `eq/show` goes on where it stopped instead of showing
    /// every new server again (on a busy account a full pass may never succeed).
    async fn find_ordered(&self, cx: &mut StepCx<'_>) -> Result<NewServers, CallError> {
        let known: Vec<String> = cx
            .step
            .intent
            .as_ref()
            .and_then(|i| i.data.get("known"))
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        let hostname = match provision(cx) {
            Ok((hostname, _, _)) => hostname.as_str(),
            // not an order's reconciliation: nothing new can be ours
            Err(_) => return Ok(NewServers::default()),
        };
        let listed = self.api.update_servers().await?;
        let deploy_keys = listed.deploy_keys.clone();
        let mut ids = self.api.list().await?;
        for id in listed.servers {
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        let attempt = cx.step.intent.as_ref().map(|i| i.attempt);
        if cx.step.scratch.get("shown_for").and_then(Value::as_u64) != attempt.map(u64::from) {
            cx.step.scratch.remove("shown");
            if let Some(a) = attempt {
                cx.set_scratch("shown_for", a);
            }
        }
        let mut new = NewServers::default();
        for id in ids.into_iter().filter(|id| !known.contains(id)) {
            let shown = cx
                .step
                .scratch
                .get("shown")
                .and_then(|s| s.get(&id))
                .cloned();
            let named = match shown.as_ref().and_then(Value::as_str) {
                Some(h) => Some(h.to_owned()),
                None => {
                    let info = self.api.show(&id).await?;
                    let named = info
                        .hostname
                        .clone()
                        .or_else(|| info.tag("hostname").map(str::to_owned))
                        .filter(|h| !h.trim().is_empty());
                    // A server that shows no hostname yet may show one later: only
                    // a name is remembered.
                    if let Some(h) = &named {
                        let entry = cx
                            .step
                            .scratch
                            .entry("shown")
                            .or_insert_with(|| Value::Object(Default::default()));
                        if let Value::Object(map) = entry {
                            map.insert(id.clone(), Value::String(h.clone()));
                        }
                    }
                    named
                }
            };
            match named {
                Some(h) if h.eq_ignore_ascii_case(hostname) => {
                    new.ours.push((id.clone(), deploy_keys.get(&id).cloned()));
                }
                Some(_) => {}
                None => new.unnamed.push(id),
            }
        }
        Ok(new)
    }

    async fn order_call(&self, cx: &mut StepCx<'_>) -> Result<(), CallError> {
        let (hostname, order, pxe_os) =
            provision(cx).map_err(|o| CallError::refused_before_call("hostkey", &o))?;
        let root = root_password(cx).map_err(|_| CallError::Rejected {
            provider: "hostkey",
            message: "this job's root password cannot be opened".into(),
            status: None,
        })?;
        let script = post_install_script(cx).ok().flatten();
        let key = ssh_key(cx);
        // With a PXE reinstall to follow, the server ships without an OS (seed: own_os).
        let pxe_follows = pxe_os.is_some();
        let answer = self
            .api
            .order_instance(&OrderInstance {
                target: OrderTarget::New {
                    preset: &order.preset,
                    location_name: &order.location,
                    traffic_plan: &order.traffic_plan,
                    deploy_period: &order.deploy_period,
                    deploy_notify: false,
                },
                os_id: order.os_id,
                root_pass: &root,
                hostname: Some(hostname.as_str()),
                ssh_key: key.as_deref(),
                soft_id: order.soft_id,
                os_name: None,
                own_os: pxe_follows,
                root_size: order.root_size,
                // the simulator (and HOSTKEY) call it on delivery: cuts that wait short
                post_install_callback: cx.callback_url,
                post_install_script: if pxe_follows { None } else { script.as_ref() },
                jenkins_task: order.jenkins_task,
            })
            .await?;
        let Some(id) = answer.server_id.clone() else {
            return Err(CallError::BadResponse {
                provider: "hostkey",
                body: format!(
                    "order_instance answered without a server id: {}",
                    answer.scope
                ),
            });
        };
        cx.outputs.server_id = Some(id.clone());
        if let Some(k) = answer.key {
            cx.set_extra("deploy_key", k);
        }
        cx.detail(format!("ordered server {id}"));
        Ok(())
    }
}

impl Hostkey {
    /// Did an earlier reboot (whose answer we never recorded) start the install? A
    /// second reboot into a finished install would reinstall the server again.
    async fn reboot_reconcile(&self, cx: &mut StepCx<'_>) -> Reconciled {
        let Some(key) = cx.extra_str("reinstall_key").map(str::to_owned) else {
            return Reconciled::Unknown(
                "no reinstall key to tell whether the reboot happened".into(),
            );
        };
        match self.api.check(&key).await {
            Ok(KeyStatus::Stage { stage: Some(n), .. }) if n >= 1 => {
                cx.detail(format!("the earlier reboot took: install at stage {n}"));
                Reconciled::Done
            }
            Ok(KeyStatus::Done) => {
                // The OK was read now, and the key is gone after it (GAPS): remember.
                cx.set_extra("install_done", true);
                cx.detail("the earlier reboot took: install already complete");
                Reconciled::Done
            }
            Ok(KeyStatus::Stage { stage: Some(0), .. }) => Reconciled::Absent,
            Ok(status) => Reconciled::Pending(stage_note(&status)),
            // The reinstall key is removed once its install said OK (GAPS), and it
            // exists from our own eq/reinstall until then: gone means the install
            // ran to the end, so the reboot took (its OK was read by nobody).
            Err(CallError::Rejected { message, .. }) => {
                cx.set_extra("install_done", true);
                cx.detail(format!(
                    "the earlier reboot took: the reinstall key is gone, so its install completed ({message})"
                ));
                Reconciled::Done
            }
            Err(e) => Reconciled::lookup_failed(
                e,
                "cannot tell whether the reboot into the installer happened",
            ),
        }
    }
}

step_names! {
    /// HOSTKEY's action, finalizer and compensation steps.
    pub enum Action {
        AwaitDelivery = "await_delivery",
        ReinstallKey = "reinstall_key",
        CreatePxe = "create_pxe",
        BootPxe = "boot_pxe",
        AwaitInstall = "await_install",
        BootDisk = "boot_disk",
        ClearPxe = "clear_pxe",
        Collect = "collect",
        CancelService = "cancel_service",
        CompensateCancel = "compensate_cancel",
    }
}

step_names! {
    /// HOSTKEY's money steps, and the reboot into the installer (once).
    pub enum Money {
        Order = "order",
        Pay = "pay",
        Reboot = "reboot",
    }
}

impl Provider for Hostkey {
    type Action = Action;
    type Money = Money;

    async fn dry_run(&self, request: &JobRequest) -> DryRunReport {
        super::dry_run::check(self, request).await
    }

    async fn run(&self, step: Action, cx: &mut StepCx<'_>) -> Outcome {
        match step {
            Action::AwaitDelivery => self.await_delivery(cx).await,
            Action::ReinstallKey => self.reinstall_key(cx).await,
            Action::CreatePxe => self.create_pxe(cx).await,
            Action::BootPxe => self.boot(cx, step, BootMedia::Pxe).await,
            Action::BootDisk => self.boot(cx, step, BootMedia::Disk).await,
            Action::AwaitInstall => self.await_install(cx).await,
            Action::ClearPxe => self.clear_pxe(cx).await,
            Action::Collect => self.collect(cx).await,
            Action::CancelService | Action::CompensateCancel => self.cancel_service(cx).await,
        }
    }

    async fn prepare(&self, step: Money, cx: &mut StepCx<'_>) -> Prepared {
        match step {
            Money::Order => self.order_prepare(cx).await,
            Money::Pay => self.pay_prepare(cx).await,
            Money::Reboot => match cx.server_id() {
                Ok(id) => Prepared::Call {
                    reference: id,
                    data: Value::Null,
                },
                Err(o) => Prepared::Skip(o),
            },
        }
    }

    async fn call(&self, step: Money, cx: &mut StepCx<'_>) -> Result<(), CallError> {
        match step {
            Money::Order => self.order_call(cx).await,
            Money::Pay => self.pay_call(cx).await,
            Money::Reboot => {
                let id = cx.server_id().unwrap_or_default();
                self.api.reboot(&id).await?;
                cx.detail(format!("server {id} rebooting into the installer"));
                Ok(())
            }
        }
    }

    async fn reconcile(&self, step: Money, cx: &mut StepCx<'_>) -> Reconciled {
        match step {
            Money::Order => self.order_reconcile(cx).await,
            Money::Pay => self.pay_reconcile(cx).await,
            Money::Reboot => self.reboot_reconcile(cx).await,
        }
    }

    /// Every server on the token: `eq/update_servers` then `eq/list`, the calls the
    /// order's reconciliation makes. Only ids (an `eq/show` per server would cost a
    /// call each), so a server is ours when a job names its id.
    async fn inventory(&self) -> Result<Option<Vec<Upstream>>, CallError> {
        self.api.update_servers().await?;
        let ids = self.api.list().await?;
        Ok(Some(
            ids.into_iter()
                .map(|id| Upstream {
                    detail: format!("server {id}"),
                    id,
                    reference: None,
                    unpaid: false,
                    created_ms: None,
                })
                .collect(),
        ))
    }
}

impl Hostkey {
    async fn reinstall_key(&self, cx: &mut StepCx<'_>) -> Outcome {
        let id = tri!(cx.server_id());
        match self.api.reinstall(&id).await {
            Ok(answer) => {
                let key = tri!(key_of(&answer, "reinstall"));
                cx.set_extra("reinstall_key", key);
                cx.detail("reinstall key created");
                Outcome::Next
            }
            Err(e) => e.into(),
        }
    }

    async fn create_pxe(&self, cx: &mut StepCx<'_>) -> Outcome {
        let id = tri!(cx.server_id());
        let os_id = tri!(pxe_os(cx));
        let root = tri!(root_password(cx));
        let host = tri!(hostname(cx));
        let script = tri!(post_install_script(cx));
        let key = ssh_key(cx);
        let reinstall_key = cx.extra_str("reinstall_key").map(str::to_owned);
        // called when the install completes: cuts the install wait short
        let callback = cx.callback_url;
        let api = &self.api;
        self.action(cx, "create_pxe", || async {
            api.create_pxe(&CreatePxe {
                server_id: &id,
                os_id,
                root_pass: &root,
                hostname: host.as_str(),
                ssh_key: key.as_deref(),
                post_install_callback: callback,
                post_install_script: script.as_ref(),
                reinstall_key: reinstall_key.as_deref(),
            })
            .await
        })
        .await
    }

    /// `boot_pxe` or `boot_disk`: the server's next boot device.
    async fn boot(&self, cx: &mut StepCx<'_>, step: Action, media: BootMedia) -> Outcome {
        let id = tri!(cx.server_id());
        let api = &self.api;
        self.action(cx, step.name(), || async { api.boot_dev(&id, media).await })
            .await
    }

    async fn clear_pxe(&self, cx: &mut StepCx<'_>) -> Outcome {
        let id = tri!(cx.server_id());
        let host = tri!(hostname(cx));
        let api = &self.api;
        let outcome = self
            .action(cx, "clear_pxe", || async {
                api.clear_pxe(&id, host.as_str()).await
            })
            .await;
        if outcome == Outcome::Next {
            cx.outputs.pxe_armed = false;
        }
        outcome
    }

    async fn order_prepare(&self, cx: &mut StepCx<'_>) -> Prepared {
        let host = match provision(cx) {
            Ok((host, _, _)) => host,
            Err(o) => return Prepared::Skip(o),
        };
        // The ids that exist before the call: reconciliation looks only at new ones.
        let known = match self.api.update_servers().await {
            Ok(list) => list.servers,
            Err(e) => return Prepared::Skip(e.into()),
        };
        Prepared::Call {
            reference: host.to_string(),
            data: json!({ "known": known }),
        }
    }

    /// New servers matched by hostname: one is adopted, none proves the order absent.
    async fn order_reconcile(&self, cx: &mut StepCx<'_>) -> Reconciled {
        match self.find_ordered(cx).await {
            Ok(new) if new.ours.len() == 1 => {
                let (id, key) = new.ours.into_iter().next().expect("one");
                cx.outputs.server_id = Some(id.clone());
                if let Some(k) = key {
                    cx.set_extra("deploy_key", k);
                }
                cx.detail(format!("server {id} found by hostname and adopted"));
                Reconciled::Done
            }
            Ok(new) if new.ours.is_empty() && new.unnamed.is_empty() => Reconciled::Absent,
            Ok(new) if new.ours.is_empty() => Reconciled::Unknown(format!(
                "new server(s) {} show no hostname, so whether one is this job's order \
             cannot be told; adopt it or reorder",
                new.unnamed.join(", ")
            )),
            Ok(new) => Reconciled::Unknown(format!(
                "{} new servers carry our hostname ({}); adopt the right one",
                new.ours.len(),
                new.ours
                    .iter()
                    .map(|(id, _)| id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
            Err(e) => Reconciled::lookup_failed(e, "cannot list servers to reconcile the order"),
        }
    }
}
