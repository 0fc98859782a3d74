//! Job requests: parsed once at the API boundary into types that cannot be invalid.
//!
//! `JobRequest::parse` takes the request JSON and returns either a `JobRequest` (with
//! its secrets already sealed for the job) or a `FieldError` naming the offending
//! field (`order.os_id`, `hostname`). Nothing after the API re-checks these rules.

use crate::config::{Config, PlanConfig};
use crate::provider::ProviderKind;
use crate::secret::{Sealed, Sealer};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::fmt;

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

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobKind {
    Provision,
    Reinstall,
    Deprovision,
}

impl JobKind {
    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::Provision => "provision",
            JobKind::Reinstall => "reinstall",
            JobKind::Deprovision => "deprovision",
        }
    }
}

impl fmt::Display for JobKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A valid job request. Secrets inside are sealed for this job's id.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JobRequest {
    pub kind: JobKind,
    pub account: String,
    pub provider: ProviderKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<Order>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reinstall: Option<Reinstall>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root_password: Option<Sealed>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ssh_keys: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post_install_script: Option<Sealed>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback_url: Option<String>,
}

/// What to order, per provider (CONTRACT.md lists the fields).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "provider", rename_all = "lowercase")]
pub enum Order {
    Hostkey(HostkeyOrder),
    Klikk(KlikkOrder),
    Inferno(InfernoOrder),
    Idcloudhost(IdcloudhostOrder),
    Noop(NoopOrder),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostkeyOrder {
    pub preset: String,
    pub location: String,
    pub os_id: u64,
    pub traffic_plan: String,
    pub deploy_period: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub soft_id: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root_size: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jenkins_task: Option<i64>,
}

/// Klikk takes the OS by name (seed 000, with `os_version`) or by numeric id (seed 001).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum KlikkOs {
    Id(u64),
    Name(String),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KlikkOrder {
    pub product: String,
    pub ram_gb: f64,
    pub cpu: u64,
    pub storage_gb: u64,
    pub os: KlikkOs,
    pub ip_allow: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub antiaffinity: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub firewall_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub firewall_addme: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv4: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_ports_allow: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloud_init_url: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InfernoOrder {
    pub product_id: u64,
    pub os_template: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IdcloudhostOrder {
    pub os_name: String,
    pub os_version: String,
    pub vcpu: u64,
    pub ram_mb: u64,
    pub disk_gb: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub billing_account_id: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub designated_pool_uuid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_uuid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloud_init: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reserve_public_ip: Option<bool>,
}

/// The built-in no-op provider: `steps` steps that each answer at once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NoopOrder {
    pub steps: u32,
    /// Optional delay of each step, to stand in for provider latency.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_ms: Option<u64>,
    /// The first step waits this long once (a job parked in a provider wait).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait_ms: Option<u64>,
}

/// The OS to (re)install, per provider.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "provider", rename_all = "lowercase")]
pub enum Reinstall {
    Hostkey { os_id: u64 },
    Inferno { os_template: String },
    Idcloudhost { os_name: String, os_version: String },
}

/// What the parser needs to know beyond the JSON.
pub struct ParseContext<'a> {
    pub config: &'a Config,
    pub sealer: &'a Sealer,
    pub job_id: &'a str,
}

const MAX_SSH_KEYS: usize = 32;
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
            .map(|h| parse_hostname(h, "hostname"))
            .transpose()?;
        let server_id = f.opt_id("server_id")?;
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
            .map(|u| check_outbound_url(u, cx.config.callbacks.allow_private, "callback_url"))
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

        let req = JobRequest {
            kind,
            account: account.name.clone(),
            provider,
            reference,
            hostname,
            server_id,
            order,
            reinstall,
            root_password,
            ssh_keys,
            post_install_script,
            callback_url,
        };
        req.check_kind()?;
        Ok(req)
    }

    /// The rules that depend on `kind` and the provider.
    fn check_kind(&self) -> Result<(), FieldError> {
        let p = self.provider;
        match self.kind {
            JobKind::Provision => {
                if self.order.is_none() {
                    return Err(FieldError::new("order", "is required for a provision"));
                }
                if self.server_id.is_some() {
                    return Err(FieldError::new(
                        "server_id",
                        "is not allowed for a provision (it orders a new server)",
                    ));
                }
                if p != ProviderKind::Noop && self.hostname.is_none() {
                    return Err(FieldError::new("hostname", "is required for a provision"));
                }
                // `root_password` is optional at every provider (crate::credentials):
                // one is generated where we set it, and a provider that sets its own
                // gets the job a warning instead of a refusal.
                if self.reinstall.is_some() && p != ProviderKind::Hostkey {
                    return Err(FieldError::new(
                        "reinstall",
                        format!(
                            "a reinstall right after delivery is only offered for hostkey, not {p}"
                        ),
                    ));
                }
            }
            JobKind::Reinstall => {
                if self.server_id.is_none() {
                    return Err(FieldError::new("server_id", "is required for a reinstall"));
                }
                if self.order.is_some() {
                    return Err(FieldError::new(
                        "order",
                        "is not allowed for a reinstall; give server_id",
                    ));
                }
                match p {
                    ProviderKind::Klikk => {
                        return Err(FieldError::new(
                            "kind",
                            "klikk's API offers no reinstall: reinstall from the Klikk portal, or deprovision and provision again",
                        ));
                    }
                    ProviderKind::Noop => {}
                    _ if self.reinstall.is_none() => {
                        return Err(FieldError::new("reinstall", "is required for a reinstall"));
                    }
                    _ => {}
                }
                if p == ProviderKind::Hostkey && self.hostname.is_none() {
                    return Err(FieldError::new(
                        "hostname",
                        "is required for a reinstall at hostkey",
                    ));
                }
            }
            JobKind::Deprovision => {
                if self.server_id.is_none() {
                    return Err(FieldError::new(
                        "server_id",
                        "is required for a deprovision",
                    ));
                }
                for (present, field) in [
                    (self.order.is_some(), "order"),
                    (self.reinstall.is_some(), "reinstall"),
                    (self.root_password.is_some(), "root_password"),
                ] {
                    if present {
                        return Err(FieldError::new(field, "is not allowed for a deprovision"));
                    }
                }
            }
        }
        // An Inferno server is its order, named by a number (seed 003: `orderid`).
        let numeric = |id: &String| id.bytes().all(|b| b.is_ascii_digit());
        if p == ProviderKind::Inferno && !self.server_id.as_ref().is_none_or(numeric) {
            return Err(FieldError::new(
                "server_id",
                "an Inferno server is named by its order id, a whole number",
            ));
        }
        Ok(())
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

fn parse_order(
    provider: ProviderKind,
    v: &Value,
    path: &str,
    allow_private: bool,
) -> Result<Order, FieldError> {
    let obj = v
        .as_object()
        .ok_or_else(|| FieldError::new(path, "must be an object"))?;
    let f = Fields::nested(obj, path);
    Ok(match provider {
        ProviderKind::Hostkey => {
            f.reject_unknown(&[
                "preset",
                "location",
                "os_id",
                "traffic_plan",
                "deploy_period",
                "soft_id",
                "root_size",
                "jenkins_task",
            ])?;
            let location = f.req_str("location")?.to_ascii_uppercase();
            if !["NL", "US", "FI", "DE", "IS", "TR"].contains(&location.as_str()) {
                return Err(f.err("location", "must be one of NL, US, FI, DE, IS, TR"));
            }
            let deploy_period = f.req_str("deploy_period")?;
            if !["monthly", "quarterly", "semi-annually", "annually"].contains(&deploy_period) {
                return Err(f.err(
                    "deploy_period",
                    "must be one of monthly, quarterly, semi-annually, annually",
                ));
            }
            let root_size = f.opt_u64("root_size")?;
            if root_size.is_some_and(|r| r == 0 || r > 100) {
                return Err(f.err("root_size", "is a percentage of the disk: 1 to 100"));
            }
            let jenkins_task = f.opt_i64("jenkins_task")?;
            if jenkins_task.is_some_and(|j| !(-1..=3).contains(&j)) {
                return Err(f.err("jenkins_task", "must be -1, 1, 2 or 3"));
            }
            Order::Hostkey(HostkeyOrder {
                preset: f.req_nonempty("preset")?.to_owned(),
                location,
                os_id: f.req_u64("os_id")?,
                traffic_plan: f.req_id("traffic_plan")?,
                deploy_period: deploy_period.to_owned(),
                soft_id: f.opt_u64("soft_id")?,
                root_size,
                jenkins_task,
            })
        }
        ProviderKind::Klikk => {
            f.reject_unknown(&[
                "product",
                "ram_gb",
                "cpu",
                "storage_gb",
                "os",
                "os_version",
                "ip_allow",
                "antiaffinity",
                "firewall_id",
                "firewall_addme",
                "ipv4",
                "public_ports_allow",
                "cloud_init_url",
            ])?;
            let ram_gb = f.req_f64("ram_gb")?;
            if ram_gb <= 0.0 {
                return Err(f.err("ram_gb", "must be more than 0"));
            }
            let os = match f.get("os") {
                None | Some(Value::Null) => return Err(f.err("os", "is required")),
                Some(Value::Number(n)) => KlikkOs::Id(
                    n.as_u64()
                        .ok_or_else(|| f.err("os", "must be an OS name or a whole number"))?,
                ),
                Some(Value::String(s)) if !s.trim().is_empty() => {
                    KlikkOs::Name(s.trim().to_owned())
                }
                Some(_) => return Err(f.err("os", "must be an OS name or a whole number")),
            };
            Order::Klikk(KlikkOrder {
                product: f.opt_str("product")?.unwrap_or("VPS").to_owned(),
                ram_gb,
                cpu: f.req_positive("cpu")?,
                storage_gb: f.req_positive("storage_gb")?,
                os,
                ip_allow: f.req_nonempty("ip_allow")?.to_owned(),
                os_version: f.opt_str("os_version")?.map(str::to_owned),
                antiaffinity: f.opt_id("antiaffinity")?,
                firewall_id: f.opt_id("firewall_id")?,
                firewall_addme: f.opt_bool("firewall_addme")?,
                ipv4: f.opt_bool("ipv4")?,
                public_ports_allow: f.opt_str("public_ports_allow")?.map(str::to_owned),
                cloud_init_url: f
                    .opt_str("cloud_init_url")?
                    .map(|u| {
                        check_outbound_url(u, allow_private, &format!("{path}.cloud_init_url"))
                    })
                    .transpose()?,
            })
        }
        ProviderKind::Inferno => {
            f.reject_unknown(&["product_id", "os_template"])?;
            Order::Inferno(InfernoOrder {
                product_id: f.req_u64("product_id")?,
                os_template: f.req_nonempty("os_template")?.to_owned(),
            })
        }
        ProviderKind::Idcloudhost => {
            f.reject_unknown(&[
                "os_name",
                "os_version",
                "vcpu",
                "ram_mb",
                "disk_gb",
                "username",
                "location",
                "billing_account_id",
                "designated_pool_uuid",
                "network_uuid",
                "cloud_init",
                "reserve_public_ip",
            ])?;
            let cloud_init = match f.get("cloud_init") {
                None | Some(Value::Null) => None,
                Some(v @ Value::Object(_)) => Some(v.clone()),
                Some(Value::String(s)) => Some(
                    serde_json::from_str::<Value>(s)
                        .ok()
                        .filter(Value::is_object)
                        .ok_or_else(|| {
                            f.err("cloud_init", "must be a JSON object (or its text)")
                        })?,
                ),
                Some(_) => return Err(f.err("cloud_init", "must be a JSON object")),
            };
            Order::Idcloudhost(IdcloudhostOrder {
                os_name: f.req_nonempty("os_name")?.to_owned(),
                os_version: f.req_nonempty("os_version")?.to_owned(),
                vcpu: f.req_positive("vcpu")?,
                ram_mb: f.req_positive("ram_mb")?,
                disk_gb: f.req_positive("disk_gb")?,
                username: f.opt_str("username")?.map(str::to_owned),
                location: f.opt_str("location")?.map(str::to_owned),
                billing_account_id: f.opt_u64("billing_account_id")?,
                designated_pool_uuid: f.opt_str("designated_pool_uuid")?.map(str::to_owned),
                network_uuid: f.opt_str("network_uuid")?.map(str::to_owned),
                cloud_init,
                reserve_public_ip: f.opt_bool("reserve_public_ip")?,
            })
        }
        ProviderKind::Noop => {
            f.reject_unknown(&["steps", "delay_ms", "wait_ms"])?;
            let steps = f.opt_u64("steps")?.unwrap_or(4);
            if steps == 0 || steps > 1000 {
                return Err(f.err("steps", "must be 1 to 1000"));
            }
            Order::Noop(NoopOrder {
                steps: steps as u32,
                delay_ms: f.opt_u64("delay_ms")?,
                wait_ms: f.opt_u64("wait_ms")?,
            })
        }
    })
}

fn parse_reinstall(provider: ProviderKind, v: &Value, path: &str) -> Result<Reinstall, FieldError> {
    let obj = v
        .as_object()
        .ok_or_else(|| FieldError::new(path, "must be an object"))?;
    let f = Fields::nested(obj, path);
    Ok(match provider {
        ProviderKind::Hostkey => {
            f.reject_unknown(&["os_id"])?;
            Reinstall::Hostkey {
                os_id: f.req_u64("os_id")?,
            }
        }
        ProviderKind::Inferno => {
            f.reject_unknown(&["os_template"])?;
            Reinstall::Inferno {
                os_template: f.req_nonempty("os_template")?.to_owned(),
            }
        }
        ProviderKind::Idcloudhost => {
            f.reject_unknown(&["os_name", "os_version"])?;
            Reinstall::Idcloudhost {
                os_name: f.req_nonempty("os_name")?.to_owned(),
                os_version: f.req_nonempty("os_version")?.to_owned(),
            }
        }
        ProviderKind::Klikk => {
            return Err(FieldError::new(
                path,
                "klikk's API offers no reinstall: reinstall from the Klikk portal, or deprovision and provision again",
            ));
        }
        ProviderKind::Noop => {
            return Err(FieldError::new(
                path,
                "the noop provider takes no reinstall",
            ));
        }
    })
}

/// Typed access to the fields of one JSON object, with dotted paths in errors.
struct Fields<'a> {
    map: &'a Map<String, Value>,
    prefix: Option<&'a str>,
}

impl<'a> Fields<'a> {
    fn root(map: &'a Map<String, Value>) -> Self {
        Fields { map, prefix: None }
    }

    fn nested(map: &'a Map<String, Value>, prefix: &'a str) -> Self {
        Fields {
            map,
            prefix: Some(prefix),
        }
    }

    fn path(&self, name: &str) -> String {
        match self.prefix {
            Some(p) => format!("{p}.{name}"),
            None => name.to_owned(),
        }
    }

    fn err(&self, name: &str, message: impl Into<String>) -> FieldError {
        FieldError::new(self.path(name), message)
    }

    fn get(&self, name: &str) -> Option<&'a Value> {
        self.map.get(name)
    }

    fn present(&self, name: &str) -> Option<&'a Value> {
        self.map.get(name).filter(|v| !v.is_null())
    }

    fn reject_unknown(&self, allowed: &[&str]) -> Result<(), FieldError> {
        match self.map.keys().find(|k| !allowed.contains(&k.as_str())) {
            // An empty name would make an empty (or dangling `order.`) field path:
            // the object holding it is named instead.
            Some(k) if k.is_empty() => Err(FieldError::new(
                self.prefix.unwrap_or("body"),
                "has a member with an empty name",
            )),
            Some(k) => Err(self.err(k, "is not a known field")),
            None => Ok(()),
        }
    }

    fn opt_str(&self, name: &str) -> Result<Option<&'a str>, FieldError> {
        match self.present(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_str())),
            Some(_) => Err(self.err(name, "must be a string")),
        }
    }

    fn req_str(&self, name: &str) -> Result<&'a str, FieldError> {
        self.opt_str(name)?
            .ok_or_else(|| self.err(name, "is required"))
    }

    fn req_nonempty(&self, name: &str) -> Result<&'a str, FieldError> {
        let s = self.req_str(name)?.trim();
        if s.is_empty() {
            return Err(self.err(name, "must not be empty"));
        }
        Ok(s)
    }

    fn opt_u64(&self, name: &str) -> Result<Option<u64>, FieldError> {
        match self.present(name) {
            None => Ok(None),
            Some(Value::Number(n)) => n
                .as_u64()
                .map(Some)
                .ok_or_else(|| self.err(name, "must be a whole number of 0 or more")),
            Some(_) => Err(self.err(name, "must be a whole number")),
        }
    }

    fn req_u64(&self, name: &str) -> Result<u64, FieldError> {
        self.opt_u64(name)?
            .ok_or_else(|| self.err(name, "is required"))
    }

    fn req_positive(&self, name: &str) -> Result<u64, FieldError> {
        match self.req_u64(name)? {
            0 => Err(self.err(name, "must be more than 0")),
            n => Ok(n),
        }
    }

    fn opt_i64(&self, name: &str) -> Result<Option<i64>, FieldError> {
        match self.present(name) {
            None => Ok(None),
            Some(Value::Number(n)) => n
                .as_i64()
                .map(Some)
                .ok_or_else(|| self.err(name, "must be a whole number")),
            Some(_) => Err(self.err(name, "must be a whole number")),
        }
    }

    fn req_f64(&self, name: &str) -> Result<f64, FieldError> {
        match self.present(name) {
            None => Err(self.err(name, "is required")),
            Some(Value::Number(n)) => n.as_f64().ok_or_else(|| self.err(name, "must be a number")),
            Some(_) => Err(self.err(name, "must be a number")),
        }
    }

    fn opt_bool(&self, name: &str) -> Result<Option<bool>, FieldError> {
        match self.present(name) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(Value::Number(n)) if n.as_u64() == Some(0) || n.as_u64() == Some(1) => {
                Ok(Some(n.as_u64() == Some(1)))
            }
            Some(_) => Err(self.err(name, "must be true or false")),
        }
    }

    /// An identifier given as a string or a whole number; kept as a string.
    fn opt_id(&self, name: &str) -> Result<Option<String>, FieldError> {
        let id = match self.present(name) {
            None => return Ok(None),
            Some(Value::String(s)) => s.trim().to_owned(),
            Some(Value::Number(n)) if n.is_u64() => n.to_string(),
            Some(_) => return Err(self.err(name, "must be a string or a whole number")),
        };
        if id.is_empty() || id.len() > 64 || id.chars().any(|c| c.is_control() || c.is_whitespace())
        {
            return Err(self.err(name, "must be 1 to 64 characters without spaces"));
        }
        Ok(Some(id))
    }

    fn req_id(&self, name: &str) -> Result<String, FieldError> {
        self.opt_id(name)?
            .ok_or_else(|| self.err(name, "is required"))
    }
}

fn parse_reference(r: &str, field: &str) -> Result<String, FieldError> {
    if r.is_empty() || r.len() > 128 || r.chars().any(char::is_control) {
        return Err(FieldError::new(
            field,
            "must be 1 to 128 printable characters",
        ));
    }
    Ok(r.to_owned())
}

/// RFC 1123 host names: labels of letters, digits and '-', not at either end.
pub fn parse_hostname(h: &str, field: &str) -> Result<String, FieldError> {
    let h = h.trim_end_matches('.');
    let ok = !h.is_empty()
        && h.len() <= 253
        && h.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    if !ok {
        return Err(FieldError::new(
            field,
            "must be a host name: labels of letters, digits and '-', dot-separated, at most 253 characters",
        ));
    }
    Ok(h.to_ascii_lowercase())
}

fn check_password(p: &str, provider: ProviderKind, field: &str) -> Result<(), FieldError> {
    let len = p.chars().count();
    if !(8..=128).contains(&len) {
        return Err(FieldError::new(field, "must be 8 to 128 characters"));
    }
    if p.chars().any(|c| c.is_control()) {
        return Err(FieldError::new(
            field,
            "must not contain control characters",
        ));
    }
    let upper = p.chars().any(|c| c.is_ascii_uppercase());
    let lower = p.chars().any(|c| c.is_ascii_lowercase());
    let special = p.chars().any(|c| !c.is_ascii_alphanumeric());
    let digit = p.chars().any(|c| c.is_ascii_digit());
    // HOSTKEY's rule (seed 002): upper and lower case Latin letters and a special character.
    let ok = match provider {
        ProviderKind::Hostkey => upper && lower && special,
        _ => upper && lower && (digit || special),
    };
    if !ok {
        let rule = match provider {
            ProviderKind::Hostkey => {
                "upper- and lower-case letters and at least one special character"
            }
            _ => "upper- and lower-case letters and a digit or special character",
        };
        return Err(FieldError::new(field, format!("must contain {rule}")));
    }
    Ok(())
}

fn parse_ssh_keys(f: &Fields<'_>) -> Result<Vec<String>, FieldError> {
    let items = match f.present("ssh_keys") {
        None => return Ok(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(_) => return Err(f.err("ssh_keys", "must be a list of public keys")),
    };
    if items.len() > MAX_SSH_KEYS {
        return Err(f.err("ssh_keys", format!("takes at most {MAX_SSH_KEYS} keys")));
    }
    items
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let field = format!("ssh_keys[{i}]");
            let s = v
                .as_str()
                .ok_or_else(|| FieldError::new(&field, "must be a string"))?
                .trim();
            let key_type = s.split_whitespace().next().unwrap_or("");
            let known = key_type.starts_with("ssh-")
                || key_type.starts_with("ecdsa-")
                || key_type.starts_with("sk-");
            if !known || s.split_whitespace().count() < 2 || s.len() > 16 * 1024 || s.contains('\n')
            {
                return Err(FieldError::new(
                    &field,
                    "must be one OpenSSH public key line (ssh-ed25519 AAAA… comment)",
                ));
            }
            Ok(s.to_owned())
        })
        .collect()
}

/// URLs we will fetch or call (`callback_url`, `cloud_init_url`): https, no
/// credentials, and no host that is not public ([`net_guard`](crate::net_guard):
/// loopback, private, link-local, reserved and special-purpose addresses in any
/// spelling the URL standard reads as an address, `localhost` and other local-only
/// names) unless the config allows it (tests, the sandbox); then `http` is accepted
/// too.
pub fn check_outbound_url(
    raw: &str,
    allow_private: bool,
    field: &str,
) -> Result<String, FieldError> {
    let url =
        url::Url::parse(raw).map_err(|e| FieldError::new(field, format!("is not a URL: {e}")))?;
    match url.scheme() {
        "https" => {}
        "http" if allow_private => {}
        _ => return Err(FieldError::new(field, "must be an https:// URL")),
    }
    let host = url
        .host()
        .ok_or_else(|| FieldError::new(field, "must name a host"))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(FieldError::new(field, "must not carry credentials"));
    }
    if !allow_private && let Some(why) = crate::net_guard::refused_host(&host) {
        return Err(FieldError::new(
            field,
            format!("must point at a public host: {why}"),
        ));
    }
    Ok(url.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;
    use serde_json::json;

    fn config() -> Config {
        let text = r#"
[redis]
url = "redis://127.0.0.1:6379"
[secrets]
key = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
[[accounts]]
name = "hk-nl"
provider = "hostkey"
base_url = "https://invapi.hostkey.com"
api_key = "k"
pin = "1234"
[[accounts]]
name = "klikk"
provider = "klikk"
base_url = "https://klikk.example/api"
token = "t"
"#;
        Config::from_toml(text).unwrap()
    }

    fn good() -> Value {
        json!({
            "kind": "provision",
            "account": "hk-nl",
            "reference": "whmcs-service-1234",
            "order": {"preset": "vm.pico", "location": "NL", "os_id": 180, "traffic_plan": 25, "deploy_period": "monthly"},
            "hostname": "web-1.example.com",
            "root_password": "S3cure!pass",
            "ssh_keys": ["ssh-ed25519 AAAAC3Nza ops@example.com"],
            "reinstall": {"os_id": 183},
            "callback_url": "https://billing.example.com/hooks/provisioner"
        })
    }

    fn parse(v: &Value) -> Result<JobRequest, FieldError> {
        let c = config();
        let sealer = c.sealer();
        JobRequest::parse(
            v,
            &ParseContext {
                config: &c,
                sealer: &sealer,
                job_id: "job-1",
            },
        )
    }

    #[test]
    fn the_contract_example_parses_and_seals_the_password() {
        let r = parse(&good()).unwrap();
        assert_eq!(r.provider, ProviderKind::Hostkey);
        let Some(Order::Hostkey(o)) = &r.order else {
            panic!()
        };
        assert_eq!(o.traffic_plan, "25");
        let stored = serde_json::to_string(&r).unwrap();
        assert!(!stored.contains("S3cure"));
        let c = config();
        let pw = c
            .sealer()
            .open(r.root_password.as_ref().unwrap(), "job-1")
            .unwrap();
        assert_eq!(pw.expose_secret(), "S3cure!pass");
    }

    #[test]
    fn every_required_field_is_named_when_missing() {
        for (path, field) in [
            ("kind", "kind"),
            ("account", "account"),
            ("order", "order"),
            ("hostname", "hostname"),
            ("order.preset", "order.preset"),
            ("order.location", "order.location"),
            ("order.os_id", "order.os_id"),
            ("order.traffic_plan", "order.traffic_plan"),
            ("order.deploy_period", "order.deploy_period"),
        ] {
            let mut v = good();
            match path.split_once('.') {
                Some((a, b)) => {
                    v[a].as_object_mut().unwrap().remove(b);
                }
                None => {
                    v.as_object_mut().unwrap().remove(path);
                }
            }
            let e = parse(&v).unwrap_err();
            assert_eq!(e.field, field, "removing {path}: {e}");
        }
    }

    #[test]
    fn wrong_types_and_values_are_named() {
        let mut v = good();
        v["order"]["os_id"] = json!("180");
        assert_eq!(parse(&v).unwrap_err().field, "order.os_id");
        let mut v = good();
        v["hostname"] = json!("bad_host!");
        assert_eq!(parse(&v).unwrap_err().field, "hostname");
        let mut v = good();
        v["account"] = json!("nope");
        assert_eq!(parse(&v).unwrap_err().field, "account");
        let mut v = good();
        v["root_password"] = json!("short");
        assert_eq!(parse(&v).unwrap_err().field, "root_password");
        let mut v = good();
        v["ssh_keys"] = json!(["not a key"]);
        assert_eq!(parse(&v).unwrap_err().field, "ssh_keys[0]");
        let mut v = good();
        v["callback_url"] = json!("https://127.0.0.1/x");
        assert_eq!(parse(&v).unwrap_err().field, "callback_url");
        let mut v = good();
        v["order"]["colour"] = json!("red");
        assert_eq!(parse(&v).unwrap_err().field, "order.colour");
    }

    #[test]
    fn a_root_password_is_optional_and_taken_at_every_provider() {
        let mut v = good();
        v.as_object_mut().unwrap().remove("root_password");
        assert!(parse(&v).unwrap().root_password.is_none());
        let klikk = json!({
            "kind": "provision", "account": "klikk", "hostname": "k1.example.com",
            "root_password": "S3cure!pass",
            "order": {"ram_gb": 0.5, "cpu": 1, "storage_gb": 25, "os": "Debian", "ip_allow": "192.168.0.0/24"}
        });
        assert!(parse(&klikk).unwrap().root_password.is_some());
        let reinstall = json!({
            "kind": "reinstall", "account": "hk-nl", "server_id": "40514",
            "hostname": "web-1.example.com", "reinstall": {"os_id": 183}
        });
        assert!(parse(&reinstall).unwrap().root_password.is_none());
        let mut weak = klikk.clone();
        weak["root_password"] = json!("password");
        assert_eq!(parse(&weak).unwrap_err().field, "root_password");
    }

    #[test]
    fn a_member_with_an_empty_name_is_named_by_its_object() {
        let mut v = good();
        v[""] = json!(1);
        let e = parse(&v).unwrap_err();
        assert_eq!((e.field.as_str(), e.status), ("body", 422), "{e}");
        assert!(e.message.contains("empty name"), "{e}");
        let mut v = good();
        v["order"][""] = json!(1);
        let e = parse(&v).unwrap_err();
        assert_eq!(e.field, "order", "{e}");
        assert!(e.message.contains("empty name"), "{e}");
    }

    #[test]
    fn klikk_takes_os_by_name_or_id_and_refuses_reinstall() {
        let mut v = json!({
            "kind": "provision", "account": "klikk", "hostname": "k1.example.com",
            "order": {"ram_gb": 0.5, "cpu": 1, "storage_gb": 25, "os": "Debian", "os_version": "10.4", "ip_allow": "192.168.0.0/24"}
        });
        assert!(matches!(
            parse(&v).unwrap().order,
            Some(Order::Klikk(KlikkOrder {
                os: KlikkOs::Name(_),
                ..
            }))
        ));
        v["order"]["os"] = json!(2);
        assert!(matches!(
            parse(&v).unwrap().order,
            Some(Order::Klikk(KlikkOrder {
                os: KlikkOs::Id(2),
                ..
            }))
        ));
        let r = json!({"kind": "reinstall", "account": "klikk", "server_id": "7"});
        let e = parse(&r).unwrap_err();
        assert_eq!(e.field, "kind");
        assert!(e.message.contains("no reinstall"));
    }

    #[test]
    fn outbound_urls_must_point_at_public_hosts() {
        let mut v = json!({
            "kind": "provision", "account": "klikk", "hostname": "k1.example.com",
            "order": {"ram_gb": 1, "cpu": 1, "storage_gb": 25, "os": "Debian", "ip_allow": "192.168.0.0/24",
                      "cloud_init_url": "https://[64:ff9b::a9fe:a9fe]/latest/user-data"}
        });
        let e = parse(&v).unwrap_err();
        assert_eq!(e.field, "order.cloud_init_url");
        assert!(e.message.contains("NAT64"), "{}", e.message);
        v["order"]["cloud_init_url"] = json!("https://example.com/cloud-init?id=3987438");
        assert!(parse(&v).is_ok());
        for (url, says) in [
            ("https://0x7f.1/x", "127.0.0.1 is loopback"),
            ("https://[::127.0.0.1]/x", "IPv4-compatible"),
            ("https://localhost./x", "single-label"),
            ("https://example.com@127.0.0.1/x", "credentials"),
            ("file:///etc/passwd", "https://"),
        ] {
            let e = check_outbound_url(url, false, "callback_url").unwrap_err();
            assert_eq!(e.field, "callback_url");
            assert!(e.message.contains(says), "{url}: {}", e.message);
        }
        // allowed where the config says so (tests, the sandbox)
        assert!(check_outbound_url("http://127.0.0.1:9/x", true, "callback_url").is_ok());
    }
}
