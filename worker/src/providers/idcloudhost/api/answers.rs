//! What IDCloudHost's answers mean, as typed values: ids and money stay the provider's
//! text (`"3782543"`, `"59.96"`), addresses are parsed, unknown fields are ignored.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// A virtual machine, from `user-resource/vm` (create, get, reinstall, stop) or
/// `vm/list`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vm {
    pub uuid: String,
    /// The provider's numeric id (`id`), not used to address the VM.
    pub id: Option<String>,
    pub name: String,
    /// Where we put our reference (the job id) when creating it.
    pub description: String,
    pub hostname: Option<String>,
    pub status: VmStatus,
    pub os_name: Option<String>,
    pub os_version: Option<String>,
    /// GAPS: `public_ipv4` is part of the VM's JSON (as in `billing_resources`).
    pub public_ipv4: Option<Ipv4Addr>,
    pub public_ipv6: Option<Ipv6Addr>,
    pub private_ipv4: Option<Ipv4Addr>,
    /// `billing_account`: the billing account the VM is charged to.
    pub billing_account: Option<u64>,
    pub created_at: Option<String>,
}

/// A VM's `status` (GAPS: VMs start `starting`, then become `running`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VmStatus {
    Starting,
    Running,
    Stopped,
    Other(String),
}

impl VmStatus {
    pub fn parse(s: &str) -> VmStatus {
        match s.trim().to_ascii_lowercase().as_str() {
            "starting" => VmStatus::Starting,
            "running" => VmStatus::Running,
            "stopped" => VmStatus::Stopped,
            _ => VmStatus::Other(s.trim().to_owned()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            VmStatus::Starting => "starting",
            VmStatus::Running => "running",
            VmStatus::Stopped => "stopped",
            VmStatus::Other(s) => s,
        }
    }

    /// Words that say the VM will never come up by itself.
    pub fn is_broken(&self) -> bool {
        match self {
            VmStatus::Other(s) => {
                let s = s.to_ascii_lowercase();
                ["error", "fail", "deleted", "destroyed"]
                    .iter()
                    .any(|w| s.contains(w))
            }
            _ => false,
        }
    }
}

/// An invoice's `status` code (seed, "Invoice details": 5 unpaid, 10 paid).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvoiceStatus {
    Unpaid,
    Paid,
    Other(i64),
}

impl InvoiceStatus {
    pub fn from_code(code: i64) -> InvoiceStatus {
        match code {
            5 => InvoiceStatus::Unpaid,
            10 => InvoiceStatus::Paid,
            other => InvoiceStatus::Other(other),
        }
    }

    pub fn code(self) -> i64 {
        match self {
            InvoiceStatus::Unpaid => 5,
            InvoiceStatus::Paid => 10,
            InvoiceStatus::Other(c) => c,
        }
    }
}

/// One line of an invoice's `records_list`: the seed names the VM in `name`
/// (`"Ubuntu-16-04, 2 CPUs, 2 GB RAM, 20 GB disk"`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvoiceRecord {
    pub name: String,
    pub descr: Option<String>,
    pub amount: Option<String>,
}

/// An invoice from `payment/invoice` or `payment/invoice/list`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invoice {
    pub id: String,
    pub status: InvoiceStatus,
    pub billing_account_id: Option<u64>,
    /// `totals.total`, VAT included, as the provider wrote it.
    pub total: Option<String>,
    /// Epoch seconds.
    pub created: Option<u64>,
    pub records: Vec<InvoiceRecord>,
    /// `totals.credit`: credit applied to it (the seed's paid invoice shows `-0.10`).
    pub credit: Option<String>,
    /// How many payments `transaction_list` shows: a payment attempt the provider logged.
    pub transactions: usize,
}

impl Invoice {
    /// Whether a record names our VM (GAPS: a new VM's invoice has a record naming
    /// it): its uuid anywhere in the record, or our reference (the job id, which is
    /// the VM's description) in the record's description. Never by the VM's name:
    /// two VMs may share a hostname, and each must pay only its own invoice.
    pub fn names_vm(&self, uuid: &str, reference: &str) -> bool {
        let has = |text: &str, needle: &str| !needle.trim().is_empty() && text.contains(needle);
        self.records.iter().any(|r| {
            let descr = r.descr.as_deref().unwrap_or_default();
            has(&r.name, uuid) || has(descr, uuid) || has(descr, reference)
        })
    }
}

/// `pay_invoice`, `pay_all`, `pay_amount` (GAPS: `pay_invoice` answers like `pay_amount`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payment {
    pub success: bool,
    pub message: Option<String>,
    pub error_log: Option<String>,
    /// `paid_invoices`, when the answer lists them.
    pub paid_invoices: Option<Vec<String>>,
    pub amount_used: Option<String>,
}

impl Payment {
    /// The provider's words about the payment: its message, and its error log if any.
    pub fn said(&self) -> String {
        [self.message.as_deref(), self.error_log.as_deref()]
            .into_iter()
            .flatten()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// A floating IP from `network/ip_addresses` (seed, "List Floating IPs").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FloatingIp {
    pub address: IpAddr,
    /// The uuid of the VM (or service) it is assigned to.
    pub assigned_to: Option<String>,
    /// `public`, …
    pub kind: Option<String>,
}

/// A location from `config/locations`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub slug: String,
    pub display_name: Option<String>,
    pub is_default: bool,
}

/// What `DELETE user-resource/vm` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Deletion {
    Deleted,
    /// The VM did not exist (GAPS: 404), in the provider's words.
    AlreadyGone(String),
}
