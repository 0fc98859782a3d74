//! Typed client for Inferno's `api_client.php` (seed 003, with the conventions of
//! `GAPS.md`).
//!
//! Every call goes to `{base_url}/api_client.php` with `action=`, the account's `cid`
//! (client id) and `key` (API key). The seed allows GET or POST for every action; we
//! always POST a form body, so that the key never sits in a URL (and `sshkey.add`
//! must be a urlencoded POST anyway, seed §11). Answers are read by the pure functions
//! of `parse` (JSON) and [`print_r`] (`install`'s PHP text), so each documented shape
//! is unit-tested without a network.

mod answers;
mod parse;
pub mod print_r;
#[cfg(test)]
mod tests;

use std::fmt;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use url::Url;

use crate::providers::Gate;
use crate::providers::http::{self, CallLog, Peer};
use crate::step::{CallError, KnownSecrets};

pub use answers::{
    ALREADY_INSTALLING, CreatedOrder, InstallAnswer, OrderInfo, OrderStatus, OrderSummary, Product,
    SshKey, Vps, VpsDetails, same_ssh_key,
};
use parse::PROVIDER;
/// How a non-2xx answer reads; reachable for the fuzz targets (`crate::fuzzing`).
pub(crate) use parse::http_error;
pub use parse::{
    parse_create, parse_done, parse_getinfo, parse_install, parse_orders, parse_products,
    parse_sshkey_add, parse_sshkey_list, parse_templates,
};

const PEER: Peer = Peer {
    provider: PROVIDER,
    http_error: parse::http_error,
};

/// `install`'s parameters (seed §6).
#[derive(Debug, Clone)]
pub struct InstallRequest<'a> {
    pub order_id: &'a str,
    /// The template name, e.g. `centos7-64-default` (from `list`'s `ostpls`).
    pub template: &'a str,
    /// `sshkey_ids`: ids from `sshkey.list`/`sshkey.add`; sent only when not empty.
    pub ssh_key_ids: &'a [String],
    /// `run=1` starts the install; `run=0` only checks the parameters.
    pub run: bool,
}

/// `reboot`, `stop` and `boot` (seed §8–10).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Power {
    Reboot,
    Stop,
    Boot,
}

impl Power {
    pub fn action(self) -> &'static str {
        match self {
            Power::Reboot => "reboot",
            Power::Stop => "stop",
            Power::Boot => "boot",
        }
    }
}

/// A client for one Inferno account.
pub struct InfernoApi {
    http: reqwest::Client,
    endpoint: Url,
    client_id: String,
    api_key: SecretString,
    timeout: Duration,
    /// The account's rate limit, shared by all workers.
    gate: Gate,
}

impl fmt::Debug for InfernoApi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InfernoApi")
            .field("endpoint", &self.endpoint.as_str())
            .field("client_id", &self.client_id)
            .field("api_key", &"[REDACTED]")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl InfernoApi {
    /// `base_url` is the panel's root (`https://cp.inferno.name`); `api_client.php` is
    /// joined below it, after whatever path it has.
    pub fn new(
        http: reqwest::Client,
        base_url: Url,
        client_id: u64,
        api_key: SecretString,
        timeout: Duration,
    ) -> Self {
        let mut base = base_url;
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        let endpoint = base.join("api_client.php").unwrap_or(base);
        InfernoApi {
            http,
            endpoint,
            client_id: client_id.to_string(),
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

    /// `list` (seed §2): the tariffs, with their prices.
    pub async fn products(&self) -> Result<Vec<Product>, CallError> {
        self.send("list", &[], parse_products).await
    }

    /// `list`'s templates (seed §2), for dry runs.
    pub async fn templates(&self) -> Result<Vec<String>, CallError> {
        self.send("list", &[], parse_templates).await
    }

    /// `create` with `pid` (seed §3): a new order, Pending until paid.
    pub async fn create(&self, product_id: u64) -> Result<CreatedOrder, CallError> {
        self.send("create", &[("pid", product_id.to_string())], parse_create)
            .await
    }

    /// `orders` (seed §4): active and unpaid (Pending) orders.
    pub async fn orders(&self) -> Result<Vec<OrderSummary>, CallError> {
        self.send("orders", &[], parse_orders).await
    }

    /// `cancel` (seed §5): only a Pending order can be cancelled; otherwise `Rejected`
    /// with Inferno's words ("Order ID not found or Status not Pending").
    pub async fn cancel(&self, order_id: &str) -> Result<(), CallError> {
        self.send("cancel", &[("orderid", order_id.to_owned())], parse_done)
            .await
    }

    /// `install` (seed §6), answered in `print_r` text.
    pub async fn install(&self, r: &InstallRequest<'_>) -> Result<InstallAnswer, CallError> {
        let mut params = vec![
            ("orderid", r.order_id.to_owned()),
            ("ostpl", r.template.to_owned()),
        ];
        if !r.ssh_key_ids.is_empty() {
            params.push(("sshkey_ids", r.ssh_key_ids.join(",")));
        }
        params.push(("run", if r.run { "1" } else { "0" }.to_owned()));
        self.send("install", &params, parse_install).await
    }

    /// `getinfo` (seed §7): the order's status and its VPS, password included.
    pub async fn getinfo(&self, order_id: &str) -> Result<OrderInfo, CallError> {
        self.send(
            "getinfo",
            &[("orderid", order_id.to_owned())],
            parse_getinfo,
        )
        .await
    }

    /// `sshkey.list` (seed §11).
    pub async fn sshkey_list(&self) -> Result<Vec<SshKey>, CallError> {
        self.send("sshkey.list", &[], parse_sshkey_list).await
    }

    /// `sshkey.add` (seed §11): the public key, urlencoded in the POST body; its new id.
    pub async fn sshkey_add(&self, public_key: &str) -> Result<String, CallError> {
        self.send(
            "sshkey.add",
            &[("sshkey", public_key.trim().to_owned())],
            parse_sshkey_add,
        )
        .await
    }

    /// `reboot`, `stop` or `boot` of the order's VPS (seed §8–10).
    pub async fn power(&self, order_id: &str, action: Power) -> Result<(), CallError> {
        self.send(
            action.action(),
            &[("orderid", order_id.to_owned())],
            parse_done,
        )
        .await
    }

    /// The one place an HTTP request leaves this client: a urlencoded POST, through
    /// [`http::send`], its 2xx answer as `read` reads it. Every error has the API key
    /// masked; nothing logs bodies or parameters (the key is one of them).
    async fn send<T>(
        &self,
        action: &'static str,
        params: &[(&str, String)],
        read: fn(&str) -> Result<T, CallError>,
    ) -> Result<T, CallError> {
        let mut form: Vec<(&str, &str)> = vec![
            ("action", action),
            ("cid", &self.client_id),
            ("key", self.api_key.expose_secret()),
        ];
        form.extend(params.iter().map(|(k, v)| (*k, v.as_str())));
        let order_id = params
            .iter()
            .find(|(k, _)| *k == "orderid")
            .map(|(_, v)| v.as_str());

        let request = self
            .http
            .post(self.endpoint.clone())
            .timeout(self.timeout)
            .form(&form);
        let log = CallLog {
            action: Some(action),
            order_id,
            ..CallLog::default()
        };
        let sent = KnownSecrets::new().with(&self.api_key);
        let body = http::send(&PEER, &self.gate, request, log, &sent).await?;
        read(&body).map_err(|e| e.scrubbed(&sent))
    }
}
