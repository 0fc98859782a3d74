//! Typed client for HOSTKEY invapi (seed 002, with the conventions of `GAPS.md`).
//!
//! Every call is a form POST to `{base_url}/{resource}.php` with `action=` and the
//! session `token=` from `auth/login`. The token is cached per client and renewed a
//! minute before it expires; an error whose text starts with `auth:` (GAPS) drops it,
//! logs in once more and repeats the call once. Answers are read by the pure functions
//! of [`parse`], so each documented shape is unit-tested without a network.

mod answers;
mod parse;
#[cfg(test)]
mod tests;

use std::borrow::Cow;
use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Mutex;
use tokio::time::Instant;
use url::Url;

use crate::providers::Gate;
use crate::providers::http::{self, CallLog, Params, ParamsMut, Peer};
use crate::step::{CallError, KnownSecrets};

pub use answers::{
    AsyncAnswer, CreditMove, INSTALL_STAGES, Invoice, InvoiceItem, InvoiceStatus, KeyStatus, Login,
    Payment, ServerInfo, ServerList, ServerStatus, Tag,
};
use parse::PROVIDER;
/// How a non-2xx answer reads; reachable for the fuzz targets (`crate::fuzzing`).
pub(crate) use parse::http_error;
pub use parse::{
    parse_async, parse_check, parse_client_credit, parse_credit_log, parse_done, parse_invoice,
    parse_invoices, parse_list, parse_login, parse_payment, parse_presets, parse_server_list,
    parse_show,
};

const PEER: Peer = Peer {
    provider: PROVIDER,
    http_error: parse::http_error,
};

/// The session lifetime we ask for, and assume when `token_expire` is unusable (seed:
/// "normally valid for 2 hours", `ttl` default 7200).
pub const TOKEN_TTL: Duration = Duration::from_secs(7200);

/// A token is renewed this long before it expires, so no call races its expiry.
const REFRESH_MARGIN: Duration = Duration::from_secs(60);

/// A new order, or the reinstall of an existing server, through `eq/order_instance`.
#[derive(Debug, Clone)]
pub struct OrderInstance<'a> {
    pub target: OrderTarget<'a>,
    pub os_id: u64,
    pub root_pass: &'a SecretString,
    pub hostname: Option<&'a str>,
    pub ssh_key: Option<&'a str>,
    pub soft_id: Option<u64>,
    pub os_name: Option<&'a str>,
    /// Ship without an OS (`own_os=1`): set when a PXE install follows.
    pub own_os: bool,
    /// Size of `/` in percent of the disk.
    pub root_size: Option<u64>,
    pub post_install_callback: Option<&'a str>,
    pub post_install_script: Option<&'a SecretString>,
    /// -1, 1, 2 or 3 (seed).
    pub jenkins_task: Option<i64>,
}

/// What `eq/order_instance` acts on: the seed's new-order parameters, or `id` of the
/// server to reinstall ("Reinstall server using eq/order_instance").
#[derive(Debug, Clone)]
pub enum OrderTarget<'a> {
    New {
        preset: &'a str,
        location_name: &'a str,
        traffic_plan: &'a str,
        /// monthly, quarterly, semi-annually, annually.
        deploy_period: &'a str,
        deploy_notify: bool,
    },
    Reinstall {
        server_id: &'a str,
    },
}

/// `eq/create_pxe`'s parameters.
#[derive(Debug, Clone)]
pub struct CreatePxe<'a> {
    pub server_id: &'a str,
    pub os_id: u64,
    pub root_pass: &'a SecretString,
    pub hostname: &'a str,
    pub ssh_key: Option<&'a str>,
    pub post_install_callback: Option<&'a str>,
    pub post_install_script: Option<&'a SecretString>,
    /// The master key from `eq/reinstall`, so the installer reports its stages there.
    pub reinstall_key: Option<&'a str>,
}

/// `eq/boot_dev`'s `media`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BootMedia {
    Pxe,
    Disk,
    Cd,
}

impl BootMedia {
    pub fn as_str(self) -> &'static str {
        match self {
            BootMedia::Pxe => "pxe",
            BootMedia::Disk => "disk",
            BootMedia::Cd => "cd",
        }
    }
}

/// A client for one HOSTKEY account.
pub struct HostkeyApi {
    http: reqwest::Client,
    base_url: Url,
    api_key: SecretString,
    pin: SecretString,
    timeout: Duration,
    /// The account's rate limit, shared by all workers.
    gate: Gate,
    /// Held across a login, so concurrent calls wait for one login instead of racing.
    session: Mutex<SessionState>,
}

#[derive(Default)]
struct SessionState {
    current: Option<Session>,
    logins: u64,
}

#[derive(Clone)]
struct Session {
    token: SecretString,
    expires_at: Instant,
    /// Which login made it, so a late auth error cannot drop a newer token.
    generation: u64,
}

impl fmt::Debug for HostkeyApi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HostkeyApi")
            .field("base_url", &self.base_url.as_str())
            .field("timeout", &self.timeout)
            .field("api_key", &"[REDACTED]")
            .field("pin", &"[REDACTED]")
            .finish_non_exhaustive()
    }
}

impl HostkeyApi {
    pub fn new(
        http: reqwest::Client,
        base_url: Url,
        api_key: SecretString,
        pin: SecretString,
        timeout: Duration,
    ) -> Self {
        HostkeyApi {
            http,
            base_url: with_trailing_slash(base_url),
            api_key,
            pin,
            timeout,
            gate: Gate::unlimited(),
            session: Mutex::new(SessionState::default()),
        }
    }

    /// Sends every call through `gate` (the account's shared rate limit).
    pub fn with_gate(mut self, gate: Gate) -> Self {
        self.gate = gate;
        self
    }

    /// `eq/order_instance`: a new order, or a reinstall with `id`. Answers in the
    /// asynchronous shape: `server_id` is the server, `key` its deploy (or reinstall) key.
    pub async fn order_instance(&self, o: &OrderInstance<'_>) -> Result<AsyncAnswer, CallError> {
        let call = Call::new("eq", "order_instance").secret("pin", &self.pin);
        let call = match o.target {
            OrderTarget::New {
                preset,
                location_name,
                traffic_plan,
                deploy_period,
                deploy_notify,
            } => call
                .param("preset", preset)
                .param("location_name", location_name)
                .param("traffic_plan", traffic_plan)
                .param("deploy_period", deploy_period)
                .param(
                    "deploy_notify",
                    if deploy_notify { "true" } else { "false" },
                ),
            OrderTarget::Reinstall { server_id } => call.server(server_id),
        };
        let call = call
            .param("os_id", o.os_id.to_string())
            .secret("root_pass", o.root_pass)
            .opt("hostname", o.hostname)
            .opt("ssh_key", o.ssh_key)
            .opt("soft_id", o.soft_id.map(|s| s.to_string()))
            .opt("os_name", o.os_name)
            .opt("own_os", o.own_os.then_some("1"))
            .opt("root_size", o.root_size.map(|s| s.to_string()))
            .opt("post_install_callback", o.post_install_callback)
            .opt_secret("post_install_script", o.post_install_script)
            .opt("jenkins_task", o.jenkins_task.map(|j| j.to_string()));
        self.call(call, parse_async).await
    }

    /// `eq/update_servers`: refreshes the token's server list; new orders show in
    /// `eq/list`/`eq/show` only after it (GAPS).
    pub async fn update_servers(&self) -> Result<ServerList, CallError> {
        self.call(Call::new("eq", "update_servers"), parse_server_list)
            .await
    }

    /// `eq/list` without filters: every server id on the token.
    pub async fn list(&self) -> Result<Vec<String>, CallError> {
        self.call(Call::new("eq", "list"), parse_list).await
    }

    pub async fn show(&self, server_id: &str) -> Result<ServerInfo, CallError> {
        self.call(Call::new("eq", "show").server(server_id), parse_show)
            .await
    }

    /// `whmcs/get_related_invoices`: the invoices of one server (GAPS: the order's
    /// invoice is found here).
    pub async fn related_invoices(&self, server_id: &str) -> Result<Vec<Invoice>, CallError> {
        let call = Call::new("whmcs", "get_related_invoices").server(server_id);
        self.call(call, parse_invoices).await
    }

    /// `whmcs/get_invoices`: every invoice of the account.
    pub async fn invoices(&self) -> Result<Vec<Invoice>, CallError> {
        self.call(Call::new("whmcs", "get_invoices"), parse_invoices)
            .await
    }

    pub async fn invoice(&self, invoice_id: &str) -> Result<Invoice, CallError> {
        let call = Call::new("whmcs", "get_invoice").param("invoice_id", invoice_id);
        self.call(call, parse_invoice).await
    }

    /// `whmcs/get_client`: the account's credit balance, as printed ("998.39").
    pub async fn client_credit(&self) -> Result<String, CallError> {
        self.call(Call::new("whmcs", "get_client"), parse_client_credit)
            .await
    }

    /// `presets/list location=`: the instances on offer there, with their prices
    /// (read-only; used by dry runs).
    pub async fn presets(&self, location: &str) -> Result<Vec<serde_json::Value>, CallError> {
        let call = Call::new("presets", "list").param("location", location);
        self.call(call, parse_presets).await
    }

    /// `whmcs/getcredits`: every movement of the credit balance. The seed asks for a
    /// server `id` and shows the account's whole log.
    pub async fn credit_log(&self, server_id: &str) -> Result<Vec<CreditMove>, CallError> {
        let call = Call::new("whmcs", "getcredits").server(server_id);
        self.call(call, parse_credit_log).await
    }

    /// `whmcs/apply_credit`: pays `amount` of the invoice from the credit balance.
    pub async fn apply_credit(&self, invoice_id: &str, amount: &str) -> Result<Payment, CallError> {
        let call = Call::new("whmcs", "apply_credit")
            .param("invoice_id", invoice_id)
            .param("amount", amount);
        self.call(call, parse_payment).await
    }

    /// `eq/reinstall`: creates the reinstall master key (`key`) the installer reports to.
    pub async fn reinstall(&self, server_id: &str) -> Result<AsyncAnswer, CallError> {
        self.call(Call::new("eq", "reinstall").server(server_id), parse_async)
            .await
    }

    pub async fn create_pxe(&self, p: &CreatePxe<'_>) -> Result<AsyncAnswer, CallError> {
        let call = Call::new("eq", "create_pxe")
            .server(p.server_id)
            .secret("pin", &self.pin)
            .param("os_id", p.os_id.to_string())
            .secret("root_pass", p.root_pass)
            .param("hostname", p.hostname)
            .opt("ssh_key", p.ssh_key)
            .opt("post_install_callback", p.post_install_callback)
            .opt_secret("post_install_script", p.post_install_script)
            .opt("reinstall_key", p.reinstall_key);
        self.call(call, parse_async).await
    }

    pub async fn boot_dev(
        &self,
        server_id: &str,
        media: BootMedia,
    ) -> Result<AsyncAnswer, CallError> {
        let call = Call::new("eq", "boot_dev")
            .server(server_id)
            .secret("pin", &self.pin)
            .param("media", media.as_str());
        self.call(call, parse_async).await
    }

    pub async fn reboot(&self, server_id: &str) -> Result<AsyncAnswer, CallError> {
        let call = Call::new("eq", "reboot")
            .server(server_id)
            .secret("pin", &self.pin);
        self.call(call, parse_async).await
    }

    /// `eq_callback/check`. The key goes as `reinstall_key` (seed) and as `key` (the
    /// name GAPS and the other `*_callback.php` use); a key that is gone is `Rejected`.
    pub async fn check(&self, key: &str) -> Result<KeyStatus, CallError> {
        let call = Call::new("eq_callback", "check")
            .param("key", key)
            .param("reinstall_key", key);
        self.call(call, parse_check).await
    }

    /// `eq/clear_pxe`: removes the PXE config so the server never reinstalls by surprise.
    pub async fn clear_pxe(
        &self,
        server_id: &str,
        hostname: &str,
    ) -> Result<AsyncAnswer, CallError> {
        let call = Call::new("eq", "clear_pxe")
            .server(server_id)
            .param("hostname", hostname);
        self.call(call, parse_async).await
    }

    /// `whmcs/request_cancellation`: `immediate` is `cancellation_type=1` (now, partial
    /// refund), else 0 (at the end of the billing period).
    pub async fn request_cancellation(
        &self,
        server_id: &str,
        immediate: bool,
        reason: &str,
    ) -> Result<(), CallError> {
        let call = Call::new("whmcs", "request_cancellation")
            .server(server_id)
            .param("cancellation_type", if immediate { "1" } else { "0" })
            .opt(
                "terminate_reason_custom",
                Some(reason).filter(|r| !r.is_empty()),
            );
        self.call(call, parse_done).await
    }

    /// Forgets the cached token; the next call logs in.
    pub async fn invalidate_token(&self) {
        self.session.lock().await.current = None;
    }

    /// Runs a call with the session token; on an auth error, logs in again and repeats
    /// it once. Auth errors are refused before anything is applied, so the repeat is safe
    /// even for money calls.
    async fn call<T>(
        &self,
        call: Call<'_>,
        read: fn(&str) -> Result<T, CallError>,
    ) -> Result<T, CallError> {
        let session = self.session().await?;
        match self.attempt(&call, &session, read).await {
            Err(CallError::Unauthorized { .. }) => {
                tracing::info!(
                    provider = PROVIDER,
                    resource = call.resource,
                    action = call.action,
                    "token refused; logging in again"
                );
                self.forget(session.generation).await;
                let session = self.session().await?;
                self.attempt(&call, &session, read).await
            }
            other => other,
        }
    }

    async fn attempt<T>(
        &self,
        call: &Call<'_>,
        session: &Session,
        read: fn(&str) -> Result<T, CallError>,
    ) -> Result<T, CallError> {
        self.post(call, Some(&session.token), read).await
    }

    /// The cached session, or a new one from `auth/login`.
    async fn session(&self) -> Result<Session, CallError> {
        let mut state = self.session.lock().await;
        if let Some(s) = &state.current
            && Instant::now() + REFRESH_MARGIN < s.expires_at
        {
            return Ok(s.clone());
        }
        let call = Call::new("auth", "login")
            .secret("key", &self.api_key)
            .param("ttl", TOKEN_TTL.as_secs().to_string());
        let login = self.post(&call, None, parse_login).await?;
        let now_epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        state.logins += 1;
        let session = Session {
            token: login.token,
            expires_at: Instant::now() + token_lifetime(login.token_expire, now_epoch),
            generation: state.logins,
        };
        state.current = Some(session.clone());
        Ok(session)
    }

    async fn forget(&self, generation: u64) {
        let mut state = self.session.lock().await;
        if state
            .current
            .as_ref()
            .is_some_and(|s| s.generation == generation)
        {
            state.current = None;
        }
    }

    /// The one place an HTTP request leaves this client, through [`http::send`]: the
    /// 2xx answer as `read` reads it. Every error has the account's key, PIN and token
    /// and the call's secret parameters masked; nothing logs bodies or parameters.
    async fn post<T>(
        &self,
        call: &Call<'_>,
        token: Option<&SecretString>,
        read: fn(&str) -> Result<T, CallError>,
    ) -> Result<T, CallError> {
        let mut sent = KnownSecrets::new().with(&self.api_key).with(&self.pin);
        for secret in token.into_iter().chain(call.secrets.iter().copied()) {
            sent.add(secret);
        }
        let url = self
            .base_url
            .join(&format!("{}.php", call.resource))
            .map_err(|e| CallError::NotSent {
                provider: PROVIDER,
                message: format!("bad URL for {}: {e}", call.resource),
            })?;
        let mut form: Vec<(&str, &str)> = vec![("action", call.action)];
        if let Some(token) = token {
            form.push(("token", token.expose_secret()));
        }
        form.extend(call.params.iter().map(|(k, v)| (*k, v.as_ref())));

        let request = self.http.post(url).timeout(self.timeout).form(&form);
        let log = CallLog {
            resource: Some(call.resource),
            action: Some(call.action),
            server_id: call.server_id,
            ..CallLog::default()
        };
        let body = http::send(&PEER, &self.gate, request, log, &sent).await?;
        read(&body).map_err(|e| e.scrubbed(&sent))
    }
}

/// How long a new token may be used: until `token_expire` when that lies ahead on our
/// clock, else [`TOKEN_TTL`] (GAPS: assume the ttl; an early expiry is an `auth:` error).
fn token_lifetime(token_expire: Option<u64>, now_epoch: u64) -> Duration {
    match token_expire.and_then(|t| t.checked_sub(now_epoch)) {
        Some(left) if left > 2 * REFRESH_MARGIN.as_secs() => Duration::from_secs(left),
        _ => TOKEN_TTL,
    }
}

/// `Url::join` replaces the last path segment unless the base ends with `/`.
fn with_trailing_slash(mut url: Url) -> Url {
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    url
}

/// One request: resource, action and form parameters. Not `Debug`: parameters hold the
/// PIN and passwords.
struct Call<'a> {
    resource: &'static str,
    action: &'static str,
    /// For logs only; also sent as `id` by [`Call::server`].
    server_id: Option<&'a str>,
    params: Vec<(&'static str, Cow<'a, str>)>,
    /// The parameters' secrets, masked in this call's errors.
    secrets: Vec<&'a SecretString>,
}

impl<'a> Params<'a> for Call<'a> {
    fn parts(&mut self) -> ParamsMut<'_, 'a> {
        (&mut self.params, &mut self.secrets)
    }
}

impl<'a> Call<'a> {
    fn new(resource: &'static str, action: &'static str) -> Self {
        Call {
            resource,
            action,
            server_id: None,
            params: Vec::new(),
            secrets: Vec::new(),
        }
    }

    fn server(mut self, id: &'a str) -> Self {
        self.server_id = Some(id);
        self.param("id", id)
    }
}
