//! Typed client for the IDCloudHost API (seed 004, with the conventions of `GAPS.md`).
//!
//! REST under `{base_url}/v1/`, the API key in an `apikey` header on every request,
//! parameters as form bodies (query strings for GET), as the seed's `curl -d` examples
//! send them. VM and floating-IP routes take the location slug right after `v1/`
//! (`v1/{slug}/user-resource/vm`; no slug = the provider's default location); payment
//! routes never do (GAPS). Answers are read by the pure functions of [`parse`], so each
//! documented shape is unit-tested without a network.

mod answers;
mod parse;
#[cfg(test)]
mod tests;

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

use reqwest::Method;
use reqwest::header::{HeaderName, HeaderValue};
use secrecy::{ExposeSecret, SecretString};
use url::Url;

use crate::providers::Gate;
use crate::providers::http::{self, CallLog, Params, ParamsMut, Peer};
use crate::step::{CallError, KnownSecrets};

pub use answers::{
    Deletion, FloatingIp, Invoice, InvoiceRecord, InvoiceStatus, Location, Payment, Vm, VmStatus,
};
use parse::PROVIDER;
/// How a non-2xx answer reads; reachable for the fuzz targets (`crate::fuzzing`).
pub(crate) use parse::http_error;
pub use parse::{
    parse_done, parse_floating_ips, parse_invoice, parse_invoices, parse_locations, parse_payment,
    parse_unpaid_amount, parse_vm, parse_vm_images, parse_vm_list,
};

const PEER: Peer = Peer {
    provider: PROVIDER,
    http_error: parse::http_error,
};

/// The seed's text for a VM that does not exist ("No such virtual machine exists.").
const NO_SUCH_VM: &str = "no such virtual machine";

/// `POST user-resource/vm`'s form parameters (seed, "Create VM").
#[derive(Clone)]
pub struct CreateVm<'a> {
    /// Must match the seed's `^[0-9a-zA-Z][-0-9a-zA-Z]{2,}[0-9a-zA-Z]$`.
    pub name: &'a str,
    /// Free text; we put our reference here so that reconciliation can find the VM.
    pub description: &'a str,
    pub os_name: &'a str,
    pub os_version: &'a str,
    /// Size of the boot disk in GB (`disks`).
    pub disks_gb: u64,
    pub vcpu: u64,
    /// `ram`, in MB.
    pub ram_mb: u64,
    pub username: &'a str,
    pub password: &'a SecretString,
    pub public_key: Option<&'a str>,
    pub billing_account_id: Option<u64>,
    pub designated_pool_uuid: Option<&'a str>,
    pub network_uuid: Option<&'a str>,
    /// JSON text (`runcmd`, `write_files`).
    pub cloud_init: Option<&'a str>,
    pub reserve_public_ip: Option<bool>,
}

impl fmt::Debug for CreateVm<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CreateVm")
            .field("name", &self.name)
            .field("description", &self.description)
            .field("os", &(self.os_name, self.os_version))
            .field("password", &"[REDACTED]")
            .finish_non_exhaustive()
    }
}

/// `POST user-resource/vm/reinstall`: the seed's `uuid`, `os_name`, `os_version`, and
/// a new password for the VM's user.
#[derive(Clone)]
pub struct ReinstallVm<'a> {
    pub uuid: &'a str,
    pub os_name: &'a str,
    pub os_version: &'a str,
    pub password: Option<&'a SecretString>,
}

/// A client for one IDCloudHost account.
pub struct IdcloudhostApi {
    http: reqwest::Client,
    base_url: Url,
    api_key: SecretString,
    timeout: Duration,
    /// The account's rate limit, shared by all workers.
    gate: Gate,
}

impl fmt::Debug for IdcloudhostApi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IdcloudhostApi")
            .field("base_url", &self.base_url.as_str())
            .field("timeout", &self.timeout)
            .field("api_key", &"[REDACTED]")
            .finish_non_exhaustive()
    }
}

impl IdcloudhostApi {
    /// `base_url` is the API's root (`https://api.idcloudhost.com`); one ending in
    /// `/v1` is accepted too.
    pub fn new(
        http: reqwest::Client,
        base_url: Url,
        api_key: SecretString,
        timeout: Duration,
    ) -> Self {
        IdcloudhostApi {
            http,
            base_url,
            api_key,
            timeout,
            gate: Gate::unlimited(),
        }
    }

    /// Sends every call through `gate` (the account's shared rate limit).
    pub fn with_gate(mut self, gate: Gate) -> Self {
        self.gate = gate;
        self
    }

    /// `POST [slug/]user-resource/vm`: answers the new VM.
    pub async fn create_vm(&self, slug: Option<&str>, vm: &CreateVm<'_>) -> Result<Vm, CallError> {
        let req = Request::new(Method::POST, Some(slug), "user-resource/vm")
            .money()
            .param("name", vm.name)
            .param("description", vm.description)
            .param("os_name", vm.os_name)
            .param("os_version", vm.os_version)
            .param("disks", vm.disks_gb.to_string())
            .param("vcpu", vm.vcpu.to_string())
            .param("ram", vm.ram_mb.to_string())
            .param("username", vm.username)
            .secret("password", vm.password)
            .opt("public_key", vm.public_key)
            .opt(
                "billing_account_id",
                vm.billing_account_id.map(|b| b.to_string()),
            )
            .opt("designated_pool_uuid", vm.designated_pool_uuid)
            .opt("network_uuid", vm.network_uuid)
            .opt("cloud_init", vm.cloud_init)
            .opt("reserve_public_ip", vm.reserve_public_ip.map(bool_text));
        self.call(req, parse_vm).await
    }

    /// `GET [slug/]user-resource/vm?uuid=`.
    pub async fn vm(&self, slug: Option<&str>, uuid: &str) -> Result<Vm, CallError> {
        let req = Request::new(Method::GET, Some(slug), "user-resource/vm").param("uuid", uuid);
        self.call(req, parse_vm).await
    }

    /// `GET [slug/]user-resource/vm/list`: every VM in one location.
    pub async fn list_vms(&self, slug: Option<&str>) -> Result<Vec<Vm>, CallError> {
        let req = Request::new(Method::GET, Some(slug), "user-resource/vm/list");
        self.call(req, parse_vm_list).await
    }

    /// `POST [slug/]user-resource/vm/reinstall`: answers the VM.
    pub async fn reinstall(
        &self,
        slug: Option<&str>,
        r: &ReinstallVm<'_>,
    ) -> Result<Vm, CallError> {
        let req = Request::new(Method::POST, Some(slug), "user-resource/vm/reinstall")
            .param("uuid", r.uuid)
            .param("os_name", r.os_name)
            .param("os_version", r.os_version)
            .opt_secret("password", r.password);
        self.call(req, parse_vm).await
    }

    /// `POST [slug/]user-resource/vm/start`.
    pub async fn start(&self, slug: Option<&str>, uuid: &str) -> Result<(), CallError> {
        let req =
            Request::new(Method::POST, Some(slug), "user-resource/vm/start").param("uuid", uuid);
        self.call(req, parse_done).await
    }

    /// `POST [slug/]user-resource/vm/stop`; `force` pulls the plug (seed).
    pub async fn stop(&self, slug: Option<&str>, uuid: &str, force: bool) -> Result<(), CallError> {
        let req = Request::new(Method::POST, Some(slug), "user-resource/vm/stop")
            .param("uuid", uuid)
            .opt("force", force.then_some("true"));
        self.call(req, parse_done).await
    }

    /// `DELETE [slug/]user-resource/vm`. A VM that does not exist (404, or the seed's
    /// "No such virtual machine exists.") is [`Deletion::AlreadyGone`].
    pub async fn delete_vm(&self, slug: Option<&str>, uuid: &str) -> Result<Deletion, CallError> {
        let req = Request::new(Method::DELETE, Some(slug), "user-resource/vm").param("uuid", uuid);
        match self.call(req, parse_done).await {
            Ok(()) => Ok(Deletion::Deleted),
            Err(CallError::Rejected {
                message, status, ..
            }) if status == Some(404) || message.to_ascii_lowercase().contains(NO_SUCH_VM) => {
                Ok(Deletion::AlreadyGone(message))
            }
            Err(e) => Err(e),
        }
    }

    /// `GET [slug/]network/ip_addresses?vm_uuid=`: the floating IPs of one VM.
    pub async fn floating_ips(
        &self,
        slug: Option<&str>,
        vm_uuid: &str,
    ) -> Result<Vec<FloatingIp>, CallError> {
        let req =
            Request::new(Method::GET, Some(slug), "network/ip_addresses").param("vm_uuid", vm_uuid);
        self.call(req, parse_floating_ips).await
    }

    /// `GET config/locations`.
    pub async fn locations(&self) -> Result<Vec<Location>, CallError> {
        let req = Request::new(Method::GET, None, "config/locations");
        self.call(req, parse_locations).await
    }

    /// `GET config/vm_images`: the OS names and versions on offer (dry runs).
    pub async fn vm_images(&self) -> Result<Vec<(String, Vec<String>)>, CallError> {
        let req = Request::new(Method::GET, None, "config/vm_images");
        self.call(req, parse_vm_images).await
    }

    /// `GET payment/billing_account/unpaid_amount`: what the account owes, VAT included.
    pub async fn unpaid_amount(&self, billing_account_id: u64) -> Result<String, CallError> {
        let req = Request::new(Method::GET, None, "payment/billing_account/unpaid_amount")
            .param("billing_account_id", billing_account_id.to_string());
        self.call(req, parse_unpaid_amount).await
    }

    /// `GET payment/invoice/list`: the billing account's invoices.
    pub async fn invoices(&self, billing_account_id: u64) -> Result<Vec<Invoice>, CallError> {
        let req = Request::new(Method::GET, None, "payment/invoice/list")
            .param("billing_account_id", billing_account_id.to_string());
        self.call(req, parse_invoices).await
    }

    /// `GET payment/invoice?invoice_id=`.
    pub async fn invoice(&self, invoice_id: &str) -> Result<Invoice, CallError> {
        let req =
            Request::new(Method::GET, None, "payment/invoice").param("invoice_id", invoice_id);
        self.call(req, parse_invoice).await
    }

    /// `POST payment/pay_invoice` (GAPS: answers like `pay_amount`).
    pub async fn pay_invoice(&self, invoice_id: &str) -> Result<Payment, CallError> {
        let req = Request::new(Method::POST, None, "payment/pay_invoice")
            .money()
            .param("invoice_id", invoice_id);
        self.call(req, parse_payment).await
    }

    /// `POST payment/pay_all`: every unpaid invoice of the billing account, oldest
    /// first. Not used by the steps: it would pay invoices that are not ours.
    pub async fn pay_all(&self, billing_account_id: u64) -> Result<Payment, CallError> {
        let req = Request::new(Method::POST, None, "payment/pay_all")
            .money()
            .param("billing_account_id", billing_account_id.to_string());
        self.call(req, parse_payment).await
    }

    /// The longest a call may take (per request).
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// How long a money call may wait for the account's rate limit.
    fn money_queue(&self) -> Duration {
        self.timeout / 4
    }

    /// The URL of `route`: `{base}/v1/[{slug}/]{route}`. `scope` is `None` for routes
    /// without a location (payment, config), `Some(None)` for the default location.
    fn url(&self, scope: Option<Option<&str>>, route: &str) -> Result<Url, CallError> {
        let mut url = self.base_url.clone();
        let has_v1 = url
            .path_segments()
            .and_then(|mut s| s.rfind(|seg| !seg.is_empty()))
            .is_some_and(|last| last == "v1");
        let not_sent = |message: String| CallError::NotSent {
            provider: PROVIDER,
            message,
        };
        {
            let mut segments = url
                .path_segments_mut()
                .map_err(|()| not_sent(format!("{} cannot take a path", self.base_url)))?;
            segments.pop_if_empty();
            if !has_v1 {
                segments.push("v1");
            }
            if let Some(Some(slug)) = scope {
                segments.push(slug);
            }
            segments.extend(route.split('/'));
        }
        Ok(url)
    }

    async fn call<T>(
        &self,
        req: Request<'_>,
        read: fn(&str) -> Result<T, CallError>,
    ) -> Result<T, CallError> {
        let sent = self.sent(&req);
        let body = self.send(&req, &sent).await?;
        read(&body).map_err(|e| e.scrubbed(&sent))
    }

    /// The secrets `req` carries: the API key and its secret parameters.
    fn sent(&self, req: &Request<'_>) -> KnownSecrets {
        req.secrets
            .iter()
            .fold(KnownSecrets::new().with(&self.api_key), |k, s| k.with(s))
    }

    /// The one place an HTTP request leaves this client: admitted by the account's
    /// gate first (money calls wait only briefly), then [`http::exchange`]. Returns
    /// the body of a 2xx answer; never logs bodies or parameters.
    async fn send(&self, req: &Request<'_>, sent: &KnownSecrets) -> Result<String, CallError> {
        let url = self.url(req.scope, req.route)?;
        let mut key = HeaderValue::from_str(self.api_key.expose_secret()).map_err(|_| {
            CallError::NotSent {
                provider: PROVIDER,
                message: "the account's api_key is not a valid header value".into(),
            }
        })?;
        key.set_sensitive(true);
        let params: Vec<(&str, &str)> = req.params.iter().map(|(k, v)| (*k, v.as_ref())).collect();
        let mut builder = self
            .http
            .request(req.method.clone(), url)
            .timeout(self.timeout)
            .header(HeaderName::from_static("apikey"), key);
        builder = if req.method == Method::GET {
            builder.query(&params)
        } else {
            builder.form(&params)
        };

        if req.money {
            // A money call waits in the account's line only briefly: past that it is
            // not sent at all, so its step cannot run out of time with the call still
            // queued and its outcome unknowable.
            tokio::time::timeout(self.money_queue(), self.gate.admit())
                .await
                .map_err(|_| CallError::RateLimited {
                    provider: PROVIDER,
                    retry_after: None,
                })??;
        } else {
            self.gate.admit().await?;
        }
        let log = CallLog {
            method: Some(req.method.as_str()),
            route: Some(req.route),
            slug: Some(req.slug()),
            ..CallLog::default()
        };
        http::exchange(&PEER, &self.gate, builder, log, sent).await
    }
}

fn bool_text(b: bool) -> &'static str {
    if b { "true" } else { "false" }
}

/// One request. Not `Debug`: parameters hold passwords.
struct Request<'a> {
    method: Method,
    /// `None`: a route without location; `Some(slug)`: a location route.
    scope: Option<Option<&'a str>>,
    route: &'static str,
    params: Vec<(&'static str, Cow<'a, str>)>,
    /// Creates something billable or pays: see [`IdcloudhostApi::send`].
    money: bool,
    /// The parameters' secrets, masked in this request's errors.
    secrets: Vec<&'a SecretString>,
}

impl<'a> Params<'a> for Request<'a> {
    fn parts(&mut self) -> ParamsMut<'_, 'a> {
        (&mut self.params, &mut self.secrets)
    }
}

impl<'a> Request<'a> {
    fn new(method: Method, scope: Option<Option<&'a str>>, route: &'static str) -> Self {
        Request {
            method,
            scope,
            route,
            params: Vec::new(),
            money: false,
            secrets: Vec::new(),
        }
    }

    fn money(mut self) -> Self {
        self.money = true;
        self
    }

    /// The location, for logs.
    fn slug(&self) -> &str {
        self.scope.flatten().unwrap_or("")
    }
}
