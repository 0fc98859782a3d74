//! Job requests: parsed once at the API boundary into types that cannot be invalid.
//!
//! `JobRequest::parse` takes the request JSON and returns either a `JobRequest` (with
//! its secrets already sealed for the job) or a `FieldError` naming the offending
//! field (`order.os_id`, `hostname`). Nothing after the API re-checks these rules.

use crate::config::{Config, PlanConfig};
use crate::provider::ProviderKind;
use crate::secret::{Sealed, Sealer};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A problem with one field of a request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    pub field: String,
    pub message: String,
    /// The HTTP status this problem deserves (422 unless said otherwise).
    pub status: u16,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            message: message.into(),
            status: 422,
        }
    }

    pub fn with_status(mut self, status: u16) -> Self {
        self.status = status;
        self
    }
}

mod fields;
mod kinds;
mod order;
mod stored;
#[cfg(test)]
mod tests;
mod validate;

use fields::Fields;
use order::{parse_order, parse_reinstall};
use validate::{check_password, parse_reference, parse_ssh_keys};

pub use kinds::{
    Deprovision, HostkeyWork, IdcloudhostWork, InfernoWork, JobKind, KlikkWork, NoopWork,
    ProviderWork, Work,
};
pub use order::{
    HostkeyOrder, IdcloudhostOrder, InfernoOrder, KlikkOrder, KlikkOs, NoopOrder, Order, Reinstall,
};
pub use stored::StoredRequest;
pub use validate::{CallbackUrl, Hostname, ServerId, check_outbound_url, parse_hostname};

/// A valid job request. Secrets inside are sealed for this job's id. It is stored
/// (and read back) as a [`StoredRequest`], the request JSON's own shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "StoredRequest", into = "StoredRequest")]
pub struct JobRequest {
    pub account: String,
    pub reference: Option<String>,
    pub root_password: Option<Sealed>,
    pub ssh_keys: Vec<String>,
    pub post_install_script: Option<Sealed>,
    pub callback_url: Option<CallbackUrl>,
    /// The kind and provider, with what that kind needs there.
    pub work: Work,
}

impl JobRequest {
    pub fn kind(&self) -> JobKind {
        self.work.kind()
    }

    pub fn provider(&self) -> ProviderKind {
        self.work.provider()
    }

    /// The host name given, if any (every provision but a noop one has one).
    pub fn hostname(&self) -> Option<&Hostname> {
        self.work.hostname()
    }

    /// The server a reinstall or deprovision names; `None` for a provision.
    pub fn server_id(&self) -> Option<&ServerId> {
        self.work.server_id()
    }
}

/// What the parser needs to know beyond the JSON.
pub struct ParseContext<'a> {
    pub config: &'a Config,
    pub sealer: &'a Sealer,
    pub job_id: &'a str,
}

const MAX_SCRIPT: usize = 64 * 1024;

impl JobRequest {
    /// Parses a request body. `body` must be a JSON object.
    pub fn parse(body: &Value, cx: &ParseContext<'_>) -> Result<JobRequest, FieldError> {
        let obj = body
            .as_object()
            .ok_or_else(|| FieldError::new("body", "must be a JSON object").with_status(400))?;
        let f = Fields::root(obj);
        f.reject_unknown(&[
            "kind",
            "account",
            "reference",
            "order",
            "server_id",
            "hostname",
            "root_password",
            "ssh_keys",
            "post_install_script",
            "reinstall",
            "callback_url",
        ])?;
        let kind = match f.req_str("kind")? {
            "provision" => JobKind::Provision,
            "reinstall" => JobKind::Reinstall,
            "deprovision" => JobKind::Deprovision,
            other => {
                return Err(FieldError::new(
                    "kind",
                    format!("`{other}` is not one of provision, reinstall, deprovision"),
                ));
            }
        };
        let account_name = f.req_str("account")?;
        let account = cx.config.account(account_name).ok_or_else(|| {
            FieldError::new("account", format!("no account named `{account_name}`"))
        })?;
        let provider = account.provider;

        let reference = f
            .opt_str("reference")?
            .map(|r| parse_reference(r, "reference"))
            .transpose()?;
        let hostname = f
            .opt_str("hostname")?
            .map(|h| Hostname::parse(h, "hostname"))
            .transpose()?;
        let server_id = f.opt_id("server_id")?.map(ServerId::stored);
        let ssh_keys = parse_ssh_keys(&f)?;
        let root_password = f
            .opt_str("root_password")?
            .map(|p| {
                check_password(p, provider, "root_password")?;
                Ok::<_, FieldError>(cx.sealer.seal(p, cx.job_id))
            })
            .transpose()?;
        let post_install_script = f
            .opt_str("post_install_script")?
            .map(|s| {
                if s.len() > MAX_SCRIPT {
                    return Err(FieldError::new(
                        "post_install_script",
                        "is longer than 64 KiB",
                    ));
                }
                Ok(cx.sealer.seal(s, cx.job_id))
            })
            .transpose()?;
        let callback_url = f
            .opt_str("callback_url")?
            .map(|u| CallbackUrl::parse(u, cx.config.callbacks.allow_private, "callback_url"))
            .transpose()?;

        let order = match f.get("order") {
            None | Some(Value::Null) => None,
            Some(v) => Some(parse_order(
                provider,
                v,
                "order",
                cx.config.callbacks.allow_private,
            )?),
        };
        let reinstall = match f.get("reinstall") {
            None | Some(Value::Null) => None,
            Some(v) => Some(parse_reinstall(provider, v, "reinstall")?),
        };

        let stored = StoredRequest {
            kind,
            account: account.name.clone(),
            provider,
            reference,
            hostname: hostname.map(String::from),
            server_id: server_id.map(String::from),
            order,
            reinstall,
            root_password,
            ssh_keys,
            post_install_script,
            callback_url: callback_url.map(String::from),
        };
        let req = JobRequest::try_from(stored)?;
        // An Inferno server is its order, named by a number (seed 003: `orderid`).
        if provider == ProviderKind::Inferno && !req.server_id().is_none_or(ServerId::is_numeric) {
            return Err(FieldError::new(
                "server_id",
                "an Inferno server is named by its order id, a whole number",
            ));
        }
        Ok(req)
    }
}

/// Checks a `[plans.NAME]` table at config load, so a bad plan stops the process.
pub fn check_plan(provider: ProviderKind, plan: &PlanConfig) -> Result<(), FieldError> {
    parse_order(provider, &plan.order, "order", true)?;
    if let Some(r) = &plan.reinstall {
        parse_reinstall(provider, r, "reinstall")?;
    }
    Ok(())
}
