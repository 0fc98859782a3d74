//! The kinds of job, and what each kind of job carries at each provider.

use super::order::{HostkeyOrder, IdcloudhostOrder, InfernoOrder, KlikkOrder, NoopOrder};
use super::validate::{Hostname, ServerId};
use crate::provider::ProviderKind;
use serde::{Deserialize, Serialize};
use std::fmt;

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

/// What a job does, per provider and kind: only the combinations the API accepts
/// exist, each with the fields it needs (a provision has its host name and the
/// provider's own order; a reinstall or deprovision its server).
#[derive(Debug, Clone, PartialEq)]
pub enum Work {
    Hostkey(HostkeyWork),
    Klikk(KlikkWork),
    Inferno(InfernoWork),
    Idcloudhost(IdcloudhostWork),
    Noop(NoopWork),
}

/// A deprovision: the server to cancel. A host name given along is kept (it is
/// shown back), not used.
#[derive(Debug, Clone, PartialEq)]
pub struct Deprovision {
    pub server_id: ServerId,
    pub hostname: Option<Hostname>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum HostkeyWork {
    /// `reinstall_os`: the OS installed over PXE right after delivery (`reinstall.os_id`).
    Provision {
        hostname: Hostname,
        order: HostkeyOrder,
        reinstall_os: Option<u64>,
    },
    Reinstall {
        server_id: ServerId,
        hostname: Hostname,
        os_id: u64,
    },
    Deprovision(Deprovision),
}

/// Klikk's API offers no reinstall.
#[derive(Debug, Clone, PartialEq)]
pub enum KlikkWork {
    Provision {
        hostname: Hostname,
        order: KlikkOrder,
    },
    Deprovision(Deprovision),
}

#[derive(Debug, Clone, PartialEq)]
pub enum InfernoWork {
    Provision {
        hostname: Hostname,
        order: InfernoOrder,
    },
    /// `server_id` is the order id, a whole number.
    Reinstall {
        server_id: ServerId,
        hostname: Option<Hostname>,
        os_template: String,
    },
    Deprovision(Deprovision),
}

#[derive(Debug, Clone, PartialEq)]
pub enum IdcloudhostWork {
    Provision {
        hostname: Hostname,
        order: IdcloudhostOrder,
    },
    Reinstall {
        server_id: ServerId,
        hostname: Option<Hostname>,
        os_name: String,
        os_version: String,
    },
    Deprovision(Deprovision),
}

/// The built-in no-op provider needs no host name.
#[derive(Debug, Clone, PartialEq)]
pub enum NoopWork {
    Provision {
        hostname: Option<Hostname>,
        order: NoopOrder,
    },
    Reinstall {
        server_id: ServerId,
        hostname: Option<Hostname>,
    },
    Deprovision(Deprovision),
}

/// One provider's [`Work`]: lets a provider's steps take their own type from a job.
pub trait ProviderWork: Sized {
    const PROVIDER: ProviderKind;
    fn of(work: &Work) -> Option<&Self>;
}

macro_rules! provider_work {
    ($($ty:ident => $variant:ident),+ $(,)?) => {$(
        impl ProviderWork for $ty {
            const PROVIDER: ProviderKind = ProviderKind::$variant;
            fn of(work: &Work) -> Option<&Self> {
                match work {
                    Work::$variant(w) => Some(w),
                    _ => None,
                }
            }
        }
    )+};
}

provider_work! {
    HostkeyWork => Hostkey,
    KlikkWork => Klikk,
    InfernoWork => Inferno,
    IdcloudhostWork => Idcloudhost,
    NoopWork => Noop,
}

/// The fields every kind enum has, read the same way.
macro_rules! kind_of {
    ($w:expr, $ty:ident) => {
        match $w {
            $ty::Provision { .. } => JobKind::Provision,
            $ty::Reinstall { .. } => JobKind::Reinstall,
            $ty::Deprovision(_) => JobKind::Deprovision,
        }
    };
}

impl Work {
    pub fn provider(&self) -> ProviderKind {
        match self {
            Work::Hostkey(_) => ProviderKind::Hostkey,
            Work::Klikk(_) => ProviderKind::Klikk,
            Work::Inferno(_) => ProviderKind::Inferno,
            Work::Idcloudhost(_) => ProviderKind::Idcloudhost,
            Work::Noop(_) => ProviderKind::Noop,
        }
    }

    pub fn kind(&self) -> JobKind {
        match self {
            Work::Hostkey(w) => match w {
                HostkeyWork::Provision { .. } => JobKind::Provision,
                HostkeyWork::Reinstall { .. } => JobKind::Reinstall,
                HostkeyWork::Deprovision(_) => JobKind::Deprovision,
            },
            Work::Klikk(w) => match w {
                KlikkWork::Provision { .. } => JobKind::Provision,
                KlikkWork::Deprovision(_) => JobKind::Deprovision,
            },
            Work::Inferno(w) => kind_of!(w, InfernoWork),
            Work::Idcloudhost(w) => kind_of!(w, IdcloudhostWork),
            Work::Noop(w) => kind_of!(w, NoopWork),
        }
    }

    /// The host name given, if any (every provision has one but the noop provider's).
    pub fn hostname(&self) -> Option<&Hostname> {
        match self {
            Work::Hostkey(HostkeyWork::Provision { hostname, .. })
            | Work::Hostkey(HostkeyWork::Reinstall { hostname, .. })
            | Work::Klikk(KlikkWork::Provision { hostname, .. })
            | Work::Inferno(InfernoWork::Provision { hostname, .. })
            | Work::Idcloudhost(IdcloudhostWork::Provision { hostname, .. }) => Some(hostname),
            Work::Inferno(InfernoWork::Reinstall { hostname, .. })
            | Work::Idcloudhost(IdcloudhostWork::Reinstall { hostname, .. })
            | Work::Noop(NoopWork::Provision { hostname, .. })
            | Work::Noop(NoopWork::Reinstall { hostname, .. }) => hostname.as_ref(),
            Work::Hostkey(HostkeyWork::Deprovision(d))
            | Work::Klikk(KlikkWork::Deprovision(d))
            | Work::Inferno(InfernoWork::Deprovision(d))
            | Work::Idcloudhost(IdcloudhostWork::Deprovision(d))
            | Work::Noop(NoopWork::Deprovision(d)) => d.hostname.as_ref(),
        }
    }

    /// The server a reinstall or deprovision was given; `None` for a provision.
    pub fn server_id(&self) -> Option<&ServerId> {
        match self {
            Work::Hostkey(HostkeyWork::Reinstall { server_id, .. })
            | Work::Inferno(InfernoWork::Reinstall { server_id, .. })
            | Work::Idcloudhost(IdcloudhostWork::Reinstall { server_id, .. })
            | Work::Noop(NoopWork::Reinstall { server_id, .. }) => Some(server_id),
            Work::Hostkey(HostkeyWork::Deprovision(d))
            | Work::Klikk(KlikkWork::Deprovision(d))
            | Work::Inferno(InfernoWork::Deprovision(d))
            | Work::Idcloudhost(IdcloudhostWork::Deprovision(d))
            | Work::Noop(NoopWork::Deprovision(d)) => Some(&d.server_id),
            Work::Hostkey(HostkeyWork::Provision { .. })
            | Work::Klikk(KlikkWork::Provision { .. })
            | Work::Inferno(InfernoWork::Provision { .. })
            | Work::Idcloudhost(IdcloudhostWork::Provision { .. })
            | Work::Noop(NoopWork::Provision { .. }) => None,
        }
    }
}
