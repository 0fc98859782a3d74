//! The stored (and wire) form of a request: the `req` JSON of every job in Redis,
//! in today's exact shape, so jobs stored before the typed form still decode, and
//! the conversion to [`JobRequest`]'s typed form and back.
//!
//! The conversion checks the rules that tie fields to a kind and a provider (with
//! the API's own messages: [`JobRequest::parse`] goes through it too); the values
//! themselves were checked at enqueue and are not checked again.

use super::kinds::{
    Deprovision, HostkeyWork, IdcloudhostWork, InfernoWork, JobKind, KlikkWork, NoopWork, Work,
};
use super::order::{Order, Reinstall};
use super::validate::{CallbackUrl, Hostname, ServerId};
use super::{FieldError, JobRequest};
use crate::provider::ProviderKind;
use crate::secret::Sealed;
use serde::{Deserialize, Serialize};

/// A request as stored: one optional field per member of the request JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredRequest {
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

const KLIKK_NO_REINSTALL: &str = "klikk's API offers no reinstall: reinstall from the Klikk portal, or deprovision and provision again";

fn err(field: &str, message: impl Into<String>) -> FieldError {
    FieldError::new(field, message)
}

/// An order or reinstall for another provider than the account's (only a stored
/// job edited by hand can have one).
fn mismatch(field: &str, provider: ProviderKind) -> FieldError {
    err(field, format!("is not one for {provider}"))
}

impl TryFrom<StoredRequest> for JobRequest {
    type Error = FieldError;

    fn try_from(s: StoredRequest) -> Result<JobRequest, FieldError> {
        let p = s.provider;
        let hostname = s.hostname.map(Hostname::stored);
        let server_id = s.server_id.map(ServerId::stored);
        let work = match s.kind {
            JobKind::Provision => {
                let order = s
                    .order
                    .ok_or_else(|| err("order", "is required for a provision"))?;
                if server_id.is_some() {
                    return Err(err(
                        "server_id",
                        "is not allowed for a provision (it orders a new server)",
                    ));
                }
                let need_host = || {
                    hostname
                        .clone()
                        .ok_or_else(|| err("hostname", "is required for a provision"))
                };
                if p != ProviderKind::Noop {
                    need_host()?;
                }
                // `root_password` is optional at every provider (crate::credentials):
                // one is generated where we set it, and a provider that sets its own
                // gets the job a warning instead of a refusal.
                if s.reinstall.is_some() && p != ProviderKind::Hostkey {
                    return Err(err(
                        "reinstall",
                        format!(
                            "a reinstall right after delivery is only offered for hostkey, not {p}"
                        ),
                    ));
                }
                match (p, order) {
                    (ProviderKind::Hostkey, Order::Hostkey(order)) => {
                        let reinstall_os = match s.reinstall {
                            None => None,
                            Some(Reinstall::Hostkey { os_id }) => Some(os_id),
                            Some(_) => return Err(mismatch("reinstall", p)),
                        };
                        Work::Hostkey(HostkeyWork::Provision {
                            hostname: need_host()?,
                            order,
                            reinstall_os,
                        })
                    }
                    (ProviderKind::Klikk, Order::Klikk(order)) => {
                        Work::Klikk(KlikkWork::Provision {
                            hostname: need_host()?,
                            order,
                        })
                    }
                    (ProviderKind::Inferno, Order::Inferno(order)) => {
                        Work::Inferno(InfernoWork::Provision {
                            hostname: need_host()?,
                            order,
                        })
                    }
                    (ProviderKind::Idcloudhost, Order::Idcloudhost(order)) => {
                        Work::Idcloudhost(IdcloudhostWork::Provision {
                            hostname: need_host()?,
                            order,
                        })
                    }
                    (ProviderKind::Noop, Order::Noop(order)) => {
                        Work::Noop(NoopWork::Provision { hostname, order })
                    }
                    _ => return Err(mismatch("order", p)),
                }
            }
            JobKind::Reinstall => {
                let server_id =
                    server_id.ok_or_else(|| err("server_id", "is required for a reinstall"))?;
                if s.order.is_some() {
                    return Err(err(
                        "order",
                        "is not allowed for a reinstall; give server_id",
                    ));
                }
                match (p, s.reinstall) {
                    (ProviderKind::Klikk, _) => return Err(err("kind", KLIKK_NO_REINSTALL)),
                    (ProviderKind::Noop, None) => Work::Noop(NoopWork::Reinstall {
                        server_id,
                        hostname,
                    }),
                    (ProviderKind::Noop, Some(_)) => {
                        return Err(err("reinstall", "the noop provider takes no reinstall"));
                    }
                    (_, None) => {
                        return Err(err("reinstall", "is required for a reinstall"));
                    }
                    (ProviderKind::Hostkey, Some(Reinstall::Hostkey { os_id })) => {
                        let hostname = hostname.ok_or_else(|| {
                            err("hostname", "is required for a reinstall at hostkey")
                        })?;
                        Work::Hostkey(HostkeyWork::Reinstall {
                            server_id,
                            hostname,
                            os_id,
                        })
                    }
                    (ProviderKind::Inferno, Some(Reinstall::Inferno { os_template })) => {
                        Work::Inferno(InfernoWork::Reinstall {
                            server_id,
                            hostname,
                            os_template,
                        })
                    }
                    (
                        ProviderKind::Idcloudhost,
                        Some(Reinstall::Idcloudhost {
                            os_name,
                            os_version,
                        }),
                    ) => Work::Idcloudhost(IdcloudhostWork::Reinstall {
                        server_id,
                        hostname,
                        os_name,
                        os_version,
                    }),
                    (_, Some(_)) => return Err(mismatch("reinstall", p)),
                }
            }
            JobKind::Deprovision => {
                let server_id =
                    server_id.ok_or_else(|| err("server_id", "is required for a deprovision"))?;
                for (present, field) in [
                    (s.order.is_some(), "order"),
                    (s.reinstall.is_some(), "reinstall"),
                    (s.root_password.is_some(), "root_password"),
                ] {
                    if present {
                        return Err(err(field, "is not allowed for a deprovision"));
                    }
                }
                let d = Deprovision {
                    server_id,
                    hostname,
                };
                match p {
                    ProviderKind::Hostkey => Work::Hostkey(HostkeyWork::Deprovision(d)),
                    ProviderKind::Klikk => Work::Klikk(KlikkWork::Deprovision(d)),
                    ProviderKind::Inferno => Work::Inferno(InfernoWork::Deprovision(d)),
                    ProviderKind::Idcloudhost => Work::Idcloudhost(IdcloudhostWork::Deprovision(d)),
                    ProviderKind::Noop => Work::Noop(NoopWork::Deprovision(d)),
                }
            }
        };
        Ok(JobRequest {
            account: s.account,
            reference: s.reference,
            root_password: s.root_password,
            ssh_keys: s.ssh_keys,
            post_install_script: s.post_install_script,
            callback_url: s.callback_url.map(CallbackUrl::stored),
            work,
        })
    }
}

impl From<JobRequest> for StoredRequest {
    fn from(r: JobRequest) -> StoredRequest {
        let kind = r.work.kind();
        let provider = r.work.provider();
        let (hostname, server_id, order, reinstall) = match r.work {
            Work::Hostkey(w) => match w {
                HostkeyWork::Provision {
                    hostname,
                    order,
                    reinstall_os,
                } => (
                    Some(hostname),
                    None,
                    Some(Order::Hostkey(order)),
                    reinstall_os.map(|os_id| Reinstall::Hostkey { os_id }),
                ),
                HostkeyWork::Reinstall {
                    server_id,
                    hostname,
                    os_id,
                } => (
                    Some(hostname),
                    Some(server_id),
                    None,
                    Some(Reinstall::Hostkey { os_id }),
                ),
                HostkeyWork::Deprovision(d) => (d.hostname, Some(d.server_id), None, None),
            },
            Work::Klikk(w) => match w {
                KlikkWork::Provision { hostname, order } => {
                    (Some(hostname), None, Some(Order::Klikk(order)), None)
                }
                KlikkWork::Deprovision(d) => (d.hostname, Some(d.server_id), None, None),
            },
            Work::Inferno(w) => match w {
                InfernoWork::Provision { hostname, order } => {
                    (Some(hostname), None, Some(Order::Inferno(order)), None)
                }
                InfernoWork::Reinstall {
                    server_id,
                    hostname,
                    os_template,
                } => (
                    hostname,
                    Some(server_id),
                    None,
                    Some(Reinstall::Inferno { os_template }),
                ),
                InfernoWork::Deprovision(d) => (d.hostname, Some(d.server_id), None, None),
            },
            Work::Idcloudhost(w) => match w {
                IdcloudhostWork::Provision { hostname, order } => {
                    (Some(hostname), None, Some(Order::Idcloudhost(order)), None)
                }
                IdcloudhostWork::Reinstall {
                    server_id,
                    hostname,
                    os_name,
                    os_version,
                } => (
                    hostname,
                    Some(server_id),
                    None,
                    Some(Reinstall::Idcloudhost {
                        os_name,
                        os_version,
                    }),
                ),
                IdcloudhostWork::Deprovision(d) => (d.hostname, Some(d.server_id), None, None),
            },
            Work::Noop(w) => match w {
                NoopWork::Provision { hostname, order } => {
                    (hostname, None, Some(Order::Noop(order)), None)
                }
                NoopWork::Reinstall {
                    server_id,
                    hostname,
                } => (hostname, Some(server_id), None, None),
                NoopWork::Deprovision(d) => (d.hostname, Some(d.server_id), None, None),
            },
        };
        StoredRequest {
            kind,
            account: r.account,
            provider,
            reference: r.reference,
            hostname: hostname.map(String::from),
            server_id: server_id.map(String::from),
            order,
            reinstall,
            root_password: r.root_password,
            ssh_keys: r.ssh_keys,
            post_install_script: r.post_install_script,
            callback_url: r.callback_url.map(String::from),
        }
    }
}
