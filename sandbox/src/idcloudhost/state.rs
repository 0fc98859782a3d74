//! The simulated IDCloudHost account: VMs, invoices and credit, as plain data. The
//! actions live beside it: `vms.rs` (VMs and floating IPs), `billing.rs` (billing
//! accounts, invoices, payments). This file holds the data, request parameters,
//! refusals, and `settle`, which applies what became due in virtual time.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use axum::http::StatusCode;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

use super::{
    IdcloudhostEvent, IdcloudhostOptions, InvoiceSnapshot, InvoiceStatus, VmSnapshot, VmStatus,
};
use crate::sim::{Ledger, SimClock, VirtualTime};

/// A refusal: an HTTP status and the seed's error body.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    pub status: StatusCode,
    pub body: Value,
}

impl Refusal {
    /// 400 naming each failing field (GAPS: validation is `{"errors": {...}}`).
    pub fn invalid(fields: Vec<(&str, String)>) -> Refusal {
        let errors: serde_json::Map<String, Value> = fields
            .into_iter()
            .map(|(k, v)| (k.to_owned(), Value::from(v)))
            .collect();
        Refusal {
            status: StatusCode::BAD_REQUEST,
            body: json!({ "errors": errors }),
        }
    }

    /// 400 with the seed's generic `Error` key.
    pub fn bad(text: impl Into<String>) -> Refusal {
        Refusal::with_status(StatusCode::BAD_REQUEST, text)
    }

    /// 404 with the seed's generic `Error` key.
    pub fn not_found(text: impl Into<String>) -> Refusal {
        Refusal::with_status(StatusCode::NOT_FOUND, text)
    }

    pub fn with_status(status: StatusCode, text: impl Into<String>) -> Refusal {
        Refusal {
            status,
            body: json!({ "errors": { "Error": text.into() } }),
        }
    }

    /// The seed's answer to `pay_invoice`/`pay_all` for a consumer without the right.
    pub fn forbidden() -> Refusal {
        Refusal {
            status: StatusCode::FORBIDDEN,
            body: json!({ "errors": { "consumer::resource_forbidden": {
                "msg": "Consumer not allowed to access resource.",
                "subtype": "resource_forbidden",
                "type": "consumer",
            } } }),
        }
    }

    /// The seed's answer for a VM that does not exist (in this location).
    pub fn no_such_vm(uuid: &str) -> Refusal {
        Refusal::not_found(format!("No such virtual machine exists. {uuid}"))
    }
}

pub type Answer = Result<Value, Refusal>;

/// A request's parameters (form body over query string); empty values are absent.
#[derive(Debug, Default, Clone)]
pub struct Params(pub HashMap<String, String>);

impl Params {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(|v| v.trim()).filter(|v| !v.is_empty())
    }

    pub fn required(&self, name: &str) -> Result<&str, Refusal> {
        self.get(name)
            .ok_or_else(|| Refusal::invalid(vec![(name, "Missing required parameter".into())]))
    }

    /// A required whole number.
    pub fn whole(&self, name: &str) -> Result<u64, Refusal> {
        self.required(name)?
            .parse()
            .map_err(|_| Refusal::invalid(vec![(name, "Must be a whole number".into())]))
    }

    /// An optional true/false value (seed: "Accepts a true or false value").
    pub fn flag(&self, name: &str) -> Result<Option<bool>, Refusal> {
        match self.get(name).map(str::to_ascii_lowercase).as_deref() {
            None => Ok(None),
            Some("true" | "1" | "yes" | "on") => Ok(Some(true)),
            Some("false" | "0" | "no" | "off") => Ok(Some(false)),
            Some(_) => Err(Refusal::invalid(vec![(
                name,
                "Must be true or false".into(),
            )])),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Vm {
    pub uuid: String,
    pub id: u64,
    pub name: String,
    pub description: String,
    pub location: String,
    pub os_name: String,
    pub os_version: String,
    pub vcpu: u64,
    pub ram_mb: u64,
    pub disk_gb: u64,
    pub username: String,
    pub billing_account_id: u64,
    pub backup: bool,
    pub designated_pool_uuid: Option<String>,
    pub status: VmStatus,
    /// When a `starting` VM becomes `running`.
    pub boot_due: Option<VirtualTime>,
    pub created_at: VirtualTime,
    pub updated_at: Option<VirtualTime>,
    pub public_ipv4: Option<String>,
    pub public_ipv6: String,
    pub private_ipv4: String,
    pub mac: String,
    pub invoice_id: u64,
    pub reinstalls: u32,
}

#[derive(Debug, Clone)]
pub struct Invoice {
    pub id: u64,
    pub vm_uuid: String,
    pub billing_account_id: u64,
    /// The record's name, which names the VM (GAPS).
    pub record_name: String,
    pub location: String,
    pub subtotal_cents: i64,
    pub vat_cents: i64,
    pub status: InvoiceStatus,
    pub created_at: VirtualTime,
    pub paid_at: Option<VirtualTime>,
}

impl Invoice {
    pub fn total_cents(&self) -> i64 {
        self.subtotal_cents + self.vat_cents
    }
}

/// The whole simulated account.
#[derive(Debug)]
pub struct Account {
    pub opts: IdcloudhostOptions,
    pub clock: SimClock,
    pub ledger: Ledger<IdcloudhostEvent>,
    /// Existing VMs by uuid; deleted ones are removed.
    pub vms: BTreeMap<String, Vm>,
    pub invoices: BTreeMap<u64, Invoice>,
    pub credit_cents: i64,
    pub price_cents: i64,
    pub next_invoice_id: u64,
    pub next_vm_id: u64,
    next_ip: u32,
    rng: StdRng,
}

/// Locks the account, surviving a panicked holder.
pub fn lock(state: &Arc<Mutex<Account>>) -> MutexGuard<'_, Account> {
    state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Account {
    pub fn new(
        opts: IdcloudhostOptions,
        ledger: Ledger<IdcloudhostEvent>,
        clock: SimClock,
    ) -> Result<Account, String> {
        let credit_cents =
            parse_cents(&opts.credit).ok_or("credit must be an amount like 100.00")?;
        let price_cents =
            parse_cents(&opts.vm_price).ok_or("vm_price must be an amount like 5.00")?;
        if opts.locations.iter().filter(|l| l.is_default).count() != 1 {
            return Err("exactly one location must be the default".into());
        }
        Ok(Account {
            rng: StdRng::seed_from_u64(opts.seed.wrapping_add(0x1dc1)),
            next_invoice_id: opts.first_invoice_id,
            next_vm_id: 12,
            next_ip: 10,
            opts,
            clock,
            ledger,
            vms: BTreeMap::new(),
            invoices: BTreeMap::new(),
            credit_cents,
            price_cents,
        })
    }

    /// A random version-4 uuid.
    pub fn new_uuid(&mut self) -> String {
        let n: u128 = self.rng.random();
        let hex = format!("{n:032x}");
        format!(
            "{}-{}-4{}-{}{}-{}",
            &hex[0..8],
            &hex[8..12],
            &hex[13..16],
            ["8", "9", "a", "b"][usize::from(hex.as_bytes()[16] % 4)],
            &hex[17..20],
            &hex[20..32]
        )
    }

    /// The next public IPv4 (80.64.107.x), IPv6, private IPv4 and MAC address.
    pub fn new_addresses(&mut self) -> (String, String, String, String) {
        let n = self.next_ip;
        self.next_ip += 1;
        (
            format!("80.64.{}.{}", 107 + n / 250, n % 250),
            format!("2a05:1cc0:10:30::80:{n:x}"),
            format!("10.1.{}.{}", 14 + n / 250, n % 250),
            format!("52:54:00:a2:{:02x}:{:02x}", (n >> 8) & 0xff, n & 0xff),
        )
    }

    /// The slug of the default location (routes without a slug).
    pub fn default_location(&self) -> String {
        self.opts
            .locations
            .iter()
            .find(|l| l.is_default)
            .map(|l| l.slug.clone())
            .unwrap_or_default()
    }

    pub fn knows_location(&self, slug: &str) -> bool {
        self.opts.locations.iter().any(|l| l.slug == slug)
    }

    /// Applies what is due by `now`: `starting` VMs whose boot is over run. Nothing
    /// else happens without a request, so no settler task is needed.
    pub fn settle(&mut self, now: VirtualTime) {
        for vm in self.vms.values_mut() {
            if let (VmStatus::Starting, Some(at)) = (vm.status, vm.boot_due)
                && at <= now
            {
                vm.status = VmStatus::Running;
                vm.boot_due = None;
                vm.updated_at = Some(at);
            }
        }
    }

    /// Starts the boot of a VM: `starting` until the boot time has passed.
    pub fn boot(&mut self, uuid: &str, now: VirtualTime) {
        let boot = self.opts.boot;
        if let Some(vm) = self.vms.get_mut(uuid) {
            vm.status = VmStatus::Starting;
            vm.boot_due = Some(now + boot);
            vm.updated_at = Some(now);
        }
    }

    // ---- views for Rust ----------------------------------------------------------

    pub fn vm_uuids(&self) -> Vec<String> {
        let mut vms: Vec<&Vm> = self.vms.values().collect();
        vms.sort_by_key(|vm| vm.id);
        vms.into_iter().map(|vm| vm.uuid.clone()).collect()
    }

    pub fn vm_snapshot(&self, uuid: &str) -> Option<VmSnapshot> {
        let vm = self.vms.get(uuid)?;
        Some(VmSnapshot {
            uuid: vm.uuid.clone(),
            name: vm.name.clone(),
            description: vm.description.clone(),
            location: vm.location.clone(),
            status: vm.status,
            os_name: vm.os_name.clone(),
            os_version: vm.os_version.clone(),
            username: vm.username.clone(),
            vcpu: vm.vcpu,
            ram_mb: vm.ram_mb,
            disk_gb: vm.disk_gb,
            public_ipv4: vm.public_ipv4.clone(),
            public_ipv6: vm.public_ipv6.clone(),
            billing_account_id: vm.billing_account_id,
            invoice_id: vm.invoice_id,
            reinstalls: vm.reinstalls,
        })
    }

    pub fn invoice_snapshots(&self) -> Vec<InvoiceSnapshot> {
        self.invoices
            .values()
            .map(|i| InvoiceSnapshot {
                id: i.id,
                status: i.status,
                total: format_cents(i.total_cents()),
                vm_uuid: i.vm_uuid.clone(),
            })
            .collect()
    }

    pub fn credit(&self) -> String {
        format_cents(self.credit_cents)
    }
}

/// `"5"`, `"5.0"`, `"5.00"` → 500 cents; anything else → None.
pub fn parse_cents(raw: &str) -> Option<i64> {
    let raw = raw.trim();
    let (whole, fraction) = raw.split_once('.').unwrap_or((raw, ""));
    if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if fraction.len() > 2 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let cents: i64 = format!("{fraction:0<2}").parse().ok()?;
    whole
        .parse::<i64>()
        .ok()?
        .checked_mul(100)?
        .checked_add(cents)
}

/// 600 → `"6.00"`.
pub fn format_cents(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let c = cents.unsigned_abs();
    format!("{sign}{}.{:02}", c / 100, c % 100)
}

/// Cents as the JSON number the seed prints (`3.55`).
pub fn money(cents: i64) -> Value {
    Value::from(cents as f64 / 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_round_trips() {
        assert_eq!(parse_cents("5"), Some(500));
        assert_eq!(parse_cents("100.00"), Some(10_000));
        assert_eq!(parse_cents("1.005"), None);
        assert_eq!(format_cents(600), "6.00");
        assert_eq!(money(355), json!(3.55));
    }

    #[test]
    fn uuids_look_like_uuids() {
        let clock = SimClock::new(0.0);
        let mut account = Account::new(
            IdcloudhostOptions::default(),
            Ledger::new(clock.clone()),
            clock,
        )
        .unwrap();
        let a = account.new_uuid();
        let b = account.new_uuid();
        assert_ne!(a, b);
        let parts: Vec<usize> = a.split('-').map(str::len).collect();
        assert_eq!(parts, [8, 4, 4, 4, 12], "{a}");
        assert_eq!(a.as_bytes()[14], b'4', "{a}");
    }

    #[test]
    fn params_refuse_with_the_field_named() {
        let params = Params(HashMap::from([("force".to_owned(), "maybe".to_owned())]));
        let e = params.flag("force").unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert_eq!(e.body["errors"]["force"], "Must be true or false");
        assert!(params.required("uuid").is_err());
    }
}
