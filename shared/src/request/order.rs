//! What to order and what to reinstall, per provider: the types and their parsers.

use super::FieldError;
use super::fields::Fields;
use super::validate::check_outbound_url;
use crate::provider::ProviderKind;
use serde::{Deserialize, Serialize};
use serde_json::Value;

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

pub(super) fn parse_order(
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

pub(super) fn parse_reinstall(
    provider: ProviderKind,
    v: &Value,
    path: &str,
) -> Result<Reinstall, FieldError> {
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
