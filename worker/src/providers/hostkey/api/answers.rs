//! What invapi's answers mean, as typed values: ids are always `String`s, money stays
//! the provider's text, secrets are `SecretString`s that print as `[REDACTED]`.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};

use secrecy::SecretString;

/// The seed's PXE install reports five stages (chapter "Reinstall … (second option)").
pub const INSTALL_STAGES: u8 = 5;

/// `auth/login`'s answer.
#[derive(Debug, Clone)]
pub struct Login {
    pub token: SecretString,
    /// When the token expires, in epoch seconds (GAPS: `token_expire`).
    pub token_expire: Option<u64>,
    pub servers: Vec<String>,
}

/// The documented asynchronous answer: `result`, `scope`, `context`, `debug`, `key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AsyncAnswer {
    /// The key to follow with `eq_callback/check`: a deploy key for a new order, the
    /// reinstall master key for `eq/reinstall`, an action key otherwise (GAPS).
    pub key: Option<String>,
    /// `context.id`: for `eq/order_instance`, the new (or reinstalled) server's id.
    pub server_id: Option<String>,
    /// `context.action`, as the provider names it.
    pub action: Option<String>,
    pub location: Option<String>,
    pub scope: String,
    pub debug: Option<String>,
}

/// `eq/update_servers` and `auth/info`: the servers on the token, and their deploy keys.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerList {
    pub servers: Vec<String>,
    /// Server id → deploy key.
    pub deploy_keys: BTreeMap<String, String>,
}

/// A server's `status` in `eq/show` (GAPS: `pending` until delivered, then `rent`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerStatus {
    Pending,
    Rent,
    PowerOff,
    Other(String),
}

/// One tag of a server (`tag`, `value`, `extra`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tag {
    pub name: String,
    pub value: String,
    pub extra: String,
}

/// What `eq/show` tells about a server.
#[derive(Debug, Clone)]
pub struct ServerInfo {
    pub id: String,
    pub status: ServerStatus,
    /// The `hostname` field, else the `hostname` tag (the seed has only the tag).
    pub hostname: Option<String>,
    /// The main IPv4 (`main_ip: 1`), else the first IPv4 listed.
    pub ipv4: Option<Ipv4Addr>,
    pub ipv6: Option<Ipv6Addr>,
    /// The root password from the `password` tag (GAPS).
    pub password: Option<SecretString>,
    /// Every tag but the password, which only [`ServerInfo::password`] holds.
    pub tags: Vec<Tag>,
    pub location: Option<String>,
}

impl ServerInfo {
    /// The value of the first tag named `name` (ASCII case ignored).
    pub fn tag(&self, name: &str) -> Option<&str> {
        self.tags
            .iter()
            .find(|t| t.name.eq_ignore_ascii_case(name))
            .map(|t| t.value.as_str())
    }
}

/// A WHMCS invoice status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InvoiceStatus {
    Unpaid,
    Paid,
    Cancelled,
    Refunded,
    Other(String),
}

/// One line of an invoice (`items.item[]` in `get_invoice`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvoiceItem {
    pub id: Option<String>,
    pub kind: Option<String>,
    pub rel_id: Option<String>,
    pub description: String,
    pub amount: Option<String>,
}

/// An invoice from `get_invoice`, `get_invoices` or `get_related_invoices`. Money stays
/// as the provider wrote it ("5.00");
/// [`money_to_cents`](crate::providers::fields::money_to_cents) reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invoice {
    pub id: String,
    pub status: InvoiceStatus,
    pub subtotal: Option<String>,
    pub credit: Option<String>,
    pub total: Option<String>,
    /// Only `get_invoice` shows the balance.
    pub balance: Option<String>,
    pub currency: Option<String>,
    pub date: Option<String>,
    pub due_date: Option<String>,
    pub description: Option<String>,
    pub notes: Option<String>,
    pub items: Vec<InvoiceItem>,
    /// How many payment transactions `get_invoice` lists (the seed shows `""` for none).
    pub transactions: usize,
}

impl Invoice {
    /// What is still owed: the balance where shown, else the total (which WHMCS gives
    /// net of applied credit).
    pub fn amount_due(&self) -> Option<&str> {
        self.balance.as_deref().or(self.total.as_deref())
    }

    /// The invoice's own description, its items' and its notes: where GAPS says the
    /// server is named.
    pub fn descriptions(&self) -> impl Iterator<Item = &str> {
        self.description
            .as_deref()
            .into_iter()
            .chain(self.items.iter().map(|i| i.description.as_str()))
            .chain(self.notes.as_deref())
    }
}

/// One movement of the account's credit balance (`whmcs/getcredits`): negative when
/// credit was applied to an invoice (seed: "Credit Applied to Invoice #10116", "-5.00").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreditMove {
    pub id: Option<u64>,
    pub date: Option<String>,
    pub description: String,
    /// As the provider wrote it.
    pub amount: Option<String>,
}

impl CreditMove {
    /// Whether the description names `invoice_id` ("… Invoice #10116"), exactly.
    pub fn names_invoice(&self, invoice_id: &str) -> bool {
        self.description.match_indices('#').any(|(at, _)| {
            let digits: String = self.description[at + 1..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            !digits.is_empty() && digits == invoice_id.trim()
        })
    }
}

/// `whmcs/apply_credit`'s answer (GAPS: like WHMCS ApplyCredit).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payment {
    pub invoice_id: Option<String>,
    pub amount: Option<String>,
    pub invoice_paid: Option<bool>,
}

/// Where an asynchronous key stands (`eq_callback/check`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyStatus {
    /// `result: "OK"`: done; for the reinstall key the install is complete and the key
    /// is gone after this answer (seed).
    Done,
    /// `result: "Stage"`, `scope: " (N/5) text"`; `stage` is `None` when the scope
    /// carries no number.
    Stage {
        stage: Option<u8>,
        of: u8,
        text: String,
    },
    /// Any other `result` word: not done yet, in the provider's words.
    Pending(String),
}

impl ServerStatus {
    pub(super) fn parse(s: &str) -> ServerStatus {
        match s.trim().to_ascii_lowercase().as_str() {
            "pending" => ServerStatus::Pending,
            "rent" => ServerStatus::Rent,
            "power_off" => ServerStatus::PowerOff,
            _ => ServerStatus::Other(s.trim().to_owned()),
        }
    }
}

impl InvoiceStatus {
    pub(super) fn parse(s: &str) -> InvoiceStatus {
        match s.trim().to_ascii_lowercase().as_str() {
            "unpaid" => InvoiceStatus::Unpaid,
            "paid" => InvoiceStatus::Paid,
            "cancelled" | "canceled" => InvoiceStatus::Cancelled,
            "refunded" => InvoiceStatus::Refunded,
            _ => InvoiceStatus::Other(s.trim().to_owned()),
        }
    }
}
