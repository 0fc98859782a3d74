//! The simulated HOSTKEY account: servers, invoices, credit, session tokens and
//! asynchronous keys, as plain data. Actions live beside it, one file per concern:
//! `sessions.rs` (auth, tokens, PIN), `orders.rs` (order_instance), `pxe.rs` (the
//! PXE reinstall), `servers.rs` (inventory, eq_callback, tags), `billing.rs`
//! (whmcs). This file holds the data, the request parameters and answers, and
//! `settle`, which applies what became due in virtual time.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;

use super::install::{Install, Progress};
use super::{
    BootDevice, HostkeyEvent, HostkeyOptions, InstallSnapshot, InvoiceStatus, ServerSnapshot,
    ServerStatus,
};
use crate::sim::{Ledger, SimClock, VirtualTime};

/// An invapi failure: answered `{"result": -1, "error": "<text>"}` with HTTP 200.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused(pub String);

/// Shorthand for refusing with a message.
pub fn refuse<T>(message: impl Into<String>) -> Result<T, Refused> {
    Err(Refused(message.into()))
}

/// A successful answer, already serialised (structs keep the seed's field order).
#[derive(Debug, Clone)]
pub struct Answer(pub String);

impl Answer {
    pub fn json(value: &impl Serialize) -> Answer {
        Answer(serde_json::to_string(value).unwrap_or_else(|_| "{}".to_owned()))
    }
}

/// The asynchronous answer shape of the seed (`eq/sensors`, `eq/console`, the
/// `eq_callback/check` example).
#[derive(Debug, Serialize)]
pub struct AsyncAnswer<'a> {
    pub result: &'a str,
    pub scope: &'a str,
    pub context: AsyncContext<'a>,
    pub key: &'a str,
}

#[derive(Debug, Serialize)]
pub struct AsyncContext<'a> {
    pub action: &'a str,
    pub id: String,
    pub location: &'a str,
}

/// A request's parameters (form body merged over the query string, as PHP's
/// `$_REQUEST`); empty values count as absent.
#[derive(Debug, Default, Clone)]
pub struct Params(pub HashMap<String, String>);

impl Params {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .get(name)
            .map(|value| value.trim())
            .filter(|value| !value.is_empty())
    }

    /// Refuses naming every missing parameter of `names` at once.
    pub fn require(&self, action: &str, names: &[&str]) -> Result<(), Refused> {
        let missing: Vec<&str> = names
            .iter()
            .copied()
            .filter(|name| self.get(name).is_none())
            .collect();
        match missing.as_slice() {
            [] => Ok(()),
            [one] => refuse(format!("{action}: missing required parameter {one}")),
            many => refuse(format!(
                "{action}: missing required parameters {}",
                many.join(", ")
            )),
        }
    }

    pub fn required(&self, action: &str, name: &str) -> Result<&str, Refused> {
        self.get(name).map_or_else(
            || refuse(format!("{action}: missing required parameter {name}")),
            Ok,
        )
    }

    /// A required integer parameter.
    pub fn number(&self, action: &str, name: &str) -> Result<u64, Refused> {
        let raw = self.required(action, name)?;
        raw.parse()
            .or_else(|_| refuse(format!("{action}: {name} must be an integer")))
    }
}

#[derive(Debug)]
pub struct Token {
    pub expires: SystemTime,
    pub expired: bool,
    /// The servers this token knows (refreshed by login and `eq/update_servers`).
    pub snapshot: BTreeSet<u64>,
}

#[derive(Debug, Clone)]
pub struct Tag {
    pub id: u64,
    pub name: String,
    pub value: String,
    /// Set by the provider (hostname, password, OS, …); `tag/clear` keeps these.
    pub system: bool,
}

#[derive(Debug, Clone)]
pub struct PxeConfig {
    pub os_id: u64,
    pub hostname: String,
    pub root_pass: String,
    pub callback: Option<String>,
    pub reinstall_key: Option<String>,
    /// An install from this config has completed: booting it again reinstalls.
    pub installed: bool,
}

#[derive(Debug)]
pub struct Server {
    pub id: u64,
    pub status: ServerStatus,
    pub preset: String,
    pub location: String,
    pub ipv4: String,
    pub ipv6: String,
    pub mac: String,
    pub tags: Vec<Tag>,
    pub invoice_id: Option<u64>,
    pub deploy_key: String,
    pub order_callback: Option<String>,
    pub ordered_at: VirtualTime,
    pub delivery_due: Option<VirtualTime>,
    pub cancel_due: Option<VirtualTime>,
    pub pxe: Option<PxeConfig>,
    pub boot: BootDevice,
    pub power_on: bool,
    pub install: Option<Install>,
    /// The newest master key from `eq/reinstall`.
    pub reinstall_key: Option<String>,
}

impl Server {
    pub fn tag(&self, name: &str) -> Option<&str> {
        self.tags
            .iter()
            .find(|tag| tag.name == name)
            .map(|tag| tag.value.as_str())
    }

    pub fn hostname(&self) -> String {
        self.tag("hostname")
            .map_or_else(|| self.id.to_string(), str::to_owned)
    }

    pub fn installing(&self) -> bool {
        self.install
            .as_ref()
            .is_some_and(|install| !install.completed)
    }
}

#[derive(Debug)]
pub struct Invoice {
    pub id: u64,
    pub server_id: u64,
    pub total_cents: i64,
    /// Credit applied so far.
    pub paid_cents: i64,
    pub status: InvoiceStatus,
    pub created_at: VirtualTime,
    pub paid_at: Option<VirtualTime>,
    pub description: String,
}

impl Invoice {
    pub fn balance_cents(&self) -> i64 {
        self.total_cents - self.paid_cents
    }
}

#[derive(Debug, Clone)]
pub enum KeyKind {
    /// Tracks a new server's deployment.
    Deploy,
    /// The reinstall master key: install stages are reported on it.
    Reinstall,
    /// A single action (create_pxe, boot_dev, reboot, …), done at `done_at`.
    Action {
        action: &'static str,
        scope: String,
        done_at: VirtualTime,
    },
}

#[derive(Debug, Clone)]
pub struct AsyncKey {
    pub server_id: u64,
    pub kind: KeyKind,
}

/// One line of the credit log (`whmcs/getcredits`): credit in (positive) or applied
/// to an invoice (negative).
#[derive(Debug, Clone)]
pub struct CreditEntry {
    pub id: u64,
    pub at: VirtualTime,
    pub description: String,
    pub amount_cents: i64,
}

#[derive(Debug, Clone)]
pub struct CancellationRequest {
    pub immediate: bool,
    pub reason: String,
}

/// The whole simulated account.
#[derive(Debug)]
pub struct Account {
    pub opts: HostkeyOptions,
    pub clock: SimClock,
    pub ledger: Ledger<HostkeyEvent>,
    pub servers: BTreeMap<u64, Server>,
    pub invoices: BTreeMap<u64, Invoice>,
    pub credit_cents: i64,
    /// Every movement of `credit_cents`, oldest first.
    pub credit_log: Vec<CreditEntry>,
    pub tokens: HashMap<String, Token>,
    pub keys: HashMap<String, AsyncKey>,
    pub cancellations: BTreeMap<u64, CancellationRequest>,
    pub next_server_id: u64,
    pub next_invoice_id: u64,
    next_tag_id: u64,
    next_ip: u32,
    rng: StdRng,
    callbacks: Vec<(String, String)>,
}

/// Locks the account, surviving a panicked holder (the data stays usable for tests).
pub fn lock(state: &Arc<Mutex<Account>>) -> MutexGuard<'_, Account> {
    state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

pub const WHMCS_ID: u64 = 3172;
pub const LOCATIONS: [&str; 6] = ["NL", "US", "FI", "DE", "IS", "TR"];

impl Account {
    pub fn new(
        opts: HostkeyOptions,
        ledger: Ledger<HostkeyEvent>,
        clock: SimClock,
    ) -> Result<Account, Refused> {
        let credit_cents = parse_cents(&opts.credit)
            .map_or_else(|| refuse("credit must be an amount like 1000.00"), Ok)?;
        for price in opts.prices.values().chain([&opts.default_price]) {
            if parse_cents(price).is_none() {
                return refuse(format!("price {price:?} must be an amount like 5.00"));
            }
        }
        Ok(Account {
            rng: StdRng::seed_from_u64(opts.seed.wrapping_add(0x4b45_5953)),
            next_server_id: opts.first_server_id,
            next_invoice_id: opts.first_invoice_id,
            next_tag_id: 799_100,
            next_ip: 8,
            opts,
            clock,
            ledger,
            servers: BTreeMap::new(),
            invoices: BTreeMap::new(),
            credit_cents,
            credit_log: Vec::new(),
            tokens: HashMap::new(),
            keys: HashMap::new(),
            cancellations: BTreeMap::new(),
            callbacks: Vec::new(),
        })
    }

    /// 32 hex digits, like the seed's tokens and keys.
    pub fn new_key(&mut self) -> String {
        format!("{:032x}", self.rng.random::<u128>())
    }

    pub fn new_tag_id(&mut self) -> u64 {
        self.next_tag_id += 1;
        self.next_tag_id
    }

    /// The next IPv4 (37.1.x.y), IPv6 and MAC address.
    pub fn new_addresses(&mut self) -> (String, String, String) {
        let n = self.next_ip;
        self.next_ip += 1;
        (
            format!("37.1.{}.{}", n / 250, n % 250 + 2),
            format!("2001:db8:40::{:x}", n),
            format!("56:6f:ff:5b:{:02x}:{:02x}", (n >> 8) & 0xff, n & 0xff),
        )
    }

    /// Sets tag `name` (one value per name).
    pub fn set_tag(&mut self, server_id: u64, name: &str, value: &str, system: bool) -> u64 {
        let id = self.new_tag_id();
        let Some(server) = self.servers.get_mut(&server_id) else {
            return id;
        };
        if let Some(tag) = server.tags.iter_mut().find(|tag| tag.name == name) {
            tag.value = value.to_owned();
            return tag.id;
        }
        server.tags.push(Tag {
            id,
            name: name.to_owned(),
            value: value.to_owned(),
            system,
        });
        id
    }

    pub fn remove_tag(&mut self, server_id: u64, name: &str) {
        if let Some(server) = self.servers.get_mut(&server_id) {
            server.tags.retain(|tag| tag.name != name);
        }
    }

    /// Asks for a post-install callback to be sent once the lock is released.
    pub fn queue_callback(&mut self, server_id: u64, url: String) {
        self.callbacks.push((server_id.to_string(), url));
    }

    /// Callbacks queued since the last call, as `(server id, url)`.
    pub fn take_callbacks(&mut self) -> Vec<(String, String)> {
        std::mem::take(&mut self.callbacks)
    }

    // ---- time ------------------------------------------------------------------

    /// Applies every change due by `now` (deliveries, install completions,
    /// cancellations) and returns when the next one is due.
    pub fn settle(&mut self, now: VirtualTime) -> Option<VirtualTime> {
        let mut next: Option<VirtualTime> = None;
        let mut due = |at: VirtualTime| next = Some(next.map_or(at, |n| n.min(at)));
        let ids: Vec<u64> = self.servers.keys().copied().collect();
        for id in ids {
            let Some(server) = self.servers.get_mut(&id) else {
                continue;
            };
            if let (ServerStatus::Pending, Some(at)) = (server.status, server.delivery_due) {
                if at <= now {
                    server.status = ServerStatus::Rent;
                    server.power_on = true;
                    let callback = server.order_callback.take();
                    self.ledger
                        .record_at(HostkeyEvent::Delivered { server_id: id }, at);
                    if let Some(url) = callback {
                        self.queue_callback(id, url);
                    }
                } else {
                    due(at);
                }
            }
            if let Some(at) = self.servers[&id]
                .install
                .as_ref()
                .filter(|install| !install.completed)
                .map(|install| install.done_at)
            {
                if at <= now {
                    self.complete_install(id, at);
                } else {
                    due(at);
                }
            }
            let server = self.servers.get_mut(&id).expect("server exists");
            if let Some(at) = server.cancel_due {
                if at <= now {
                    server.status = ServerStatus::Cancelled;
                    server.cancel_due = None;
                    server.power_on = false;
                    for invoice in self.invoices.values_mut() {
                        if invoice.server_id == id && invoice.status == InvoiceStatus::Unpaid {
                            invoice.status = InvoiceStatus::Cancelled;
                        }
                    }
                } else {
                    due(at);
                }
            }
        }
        next
    }

    fn complete_install(&mut self, id: u64, at: VirtualTime) {
        let Some(server) = self.servers.get_mut(&id) else {
            return;
        };
        let Some(install) = server.install.as_mut() else {
            return;
        };
        install.completed = true;
        let install = install.clone();
        if let Some(pxe) = server.pxe.as_mut() {
            pxe.installed = true;
        }
        if let Some(hostname) = &install.hostname {
            self.set_tag(id, "hostname", hostname, true);
        }
        self.set_tag(id, "password", &install.root_pass, true);
        match &install.os {
            Some(os) => {
                self.set_tag(id, "OS", os, true);
            }
            None => self.remove_tag(id, "OS"),
        }
        self.ledger
            .record_at(HostkeyEvent::InstallCompleted { server_id: id }, at);
        if let Some(url) = install.callback {
            self.queue_callback(id, url);
        }
    }

    // ---- views for Rust ----------------------------------------------------------

    pub fn server_ids(&self) -> Vec<u64> {
        self.servers.keys().copied().collect()
    }

    pub fn credit(&self) -> String {
        format_cents(self.credit_cents)
    }

    pub fn snapshot(&mut self, id: u64) -> Option<ServerSnapshot> {
        let now = self.clock.now();
        let server = self.servers.get(&id)?;
        let invoice = server.invoice_id.and_then(|id| self.invoices.get(&id));
        Some(ServerSnapshot {
            id,
            status: server.status,
            hostname: server.hostname(),
            preset: server.preset.clone(),
            location: server.location.clone(),
            ipv4: server.ipv4.clone(),
            ipv6: server.ipv6.clone(),
            tags: server
                .tags
                .iter()
                .map(|tag| (tag.name.clone(), tag.value.clone()))
                .collect(),
            pxe_config: server.pxe.is_some(),
            boot_device: server.boot,
            power_on: server.power_on,
            invoice_id: server.invoice_id,
            invoice_status: invoice.map(|invoice| invoice.status),
            install: server.install.as_ref().map(|install| {
                let progress = install.progress(now, &self.opts.stage_durations);
                InstallSnapshot {
                    stage: match progress {
                        Progress::Stage(stage) => Some(stage),
                        Progress::Complete => None,
                    },
                    completed: install.completed,
                    via_pxe: install.via == super::install::InstallVia::Pxe,
                }
            }),
            cancellation_requested: self.cancellations.contains_key(&id),
        })
    }
}

/// `"5"`, `"5.0"`, `"5.00"` → 500 cents; anything else (negative, 3 decimals) → None.
pub fn parse_cents(raw: &str) -> Option<i64> {
    let raw = raw.trim();
    let (whole, fraction) = raw.split_once('.').unwrap_or((raw, ""));
    if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if fraction.len() > 2 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let whole: i64 = whole.parse().ok()?;
    let cents: i64 = format!("{fraction:0<2}").parse().ok()?;
    whole.checked_mul(100)?.checked_add(cents)
}

/// 500 → `"5.00"`.
pub fn format_cents(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let cents = cents.unsigned_abs();
    format!("{sign}{}.{:02}", cents / 100, cents % 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_round_trips() {
        assert_eq!(parse_cents("5"), Some(500));
        assert_eq!(parse_cents("5.5"), Some(550));
        assert_eq!(parse_cents("1000.00"), Some(100_000));
        assert_eq!(parse_cents("-1"), None);
        assert_eq!(parse_cents("1.005"), None);
        assert_eq!(parse_cents("abc"), None);
        assert_eq!(format_cents(500), "5.00");
        assert_eq!(format_cents(99_505), "995.05");
    }

    #[test]
    fn params_name_every_missing_field() {
        let params = Params(HashMap::from([
            ("pin".to_owned(), "1234".to_owned()),
            ("preset".to_owned(), "  ".to_owned()),
        ]));
        let err = params
            .require("order_instance", &["pin", "preset", "os_id"])
            .unwrap_err();
        assert_eq!(
            err.0,
            "order_instance: missing required parameters preset, os_id"
        );
    }
}
