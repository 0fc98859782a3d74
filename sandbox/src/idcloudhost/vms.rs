//! `user-resource/vm*` and `network/ip_addresses`: VMs in one location, validated by
//! the seed's "VM parameters", and their floating IPs.

use serde_json::{Value, json};

use super::state::{Account, Answer, Invoice, Params, Refusal, Vm};
use super::{IdcloudhostEvent, InvoiceStatus, VmStatus, views};
use crate::sim::VirtualTime;

/// OS names and versions from the seed's "VM parameters", image lists and examples.
const OS_CATALOG: &[(&str, &[&str])] = &[
    ("ubuntu", &["16.04", "20.04", "22.04-lts"]),
    ("centos", &["7.3.1611", "6.9.1611", "7.6", "8.2"]),
    ("debian", &["9.1"]),
    ("almalinux", &["8"]),
    ("windows", &["2016"]),
];

/// `GET config/vm_images`: the catalogue above in the seed's "VM images list" shape.
pub(super) fn vm_images() -> Value {
    Value::Array(
        OS_CATALOG
            .iter()
            .enumerate()
            .map(|(i, (name, versions))| {
                json!({
                    "os_name": name,
                    "display_name": name,
                    "ui_position": i + 1,
                    "is_default": i == 0,
                    "is_app_catalog": false,
                    "versions": versions
                        .iter()
                        .map(|v| json!({"os_version": v, "display_name": v, "published": true}))
                        .collect::<Vec<_>>(),
                })
            })
            .collect(),
    )
}

/// `^[0-9a-zA-Z][-0-9a-zA-Z]{2,}[0-9a-zA-Z]$`
fn valid_name(name: &str) -> bool {
    let b = name.as_bytes();
    b.len() >= 4
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
}

/// `^(?=.{1,30}$)[a-zA-Z_][0-9a-zA-Z_-]*$`
fn valid_username(name: &str) -> bool {
    let b = name.as_bytes();
    (1..=30).contains(&b.len())
        && (b[0].is_ascii_alphabetic() || b[0] == b'_')
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || *c == b'_' || *c == b'-')
}

/// `^(?=.*[a-z])(?=.*[A-Z])(?=.*\d).{8,}$`
fn valid_password(p: &str) -> bool {
    p.chars().count() >= 8
        && p.chars().any(|c| c.is_ascii_lowercase())
        && p.chars().any(|c| c.is_ascii_uppercase())
        && p.chars().any(|c| c.is_ascii_digit())
}

const PASSWORD_RULE: &str =
    "Must be at least 8 characters with a lower case letter, an upper case letter and a digit";

/// Checks an OS name and version against the catalog, adding failures to `errors`.
fn check_os(
    errors: &mut Vec<(&'static str, String)>,
    os_name: Option<&str>,
    version: Option<&str>,
) {
    let Some(name) = os_name else {
        errors.push(("os_name", "Missing required parameter".into()));
        return;
    };
    let Some((_, versions)) = OS_CATALOG.iter().find(|(n, _)| *n == name) else {
        let known: Vec<&str> = OS_CATALOG.iter().map(|(n, _)| *n).collect();
        errors.push(("os_name", format!("Must be one of {}", known.join(", "))));
        return;
    };
    match version {
        None => errors.push(("os_version", "Missing required parameter".into())),
        Some(v) if !versions.contains(&v) => errors.push((
            "os_version",
            format!("Must be one of {} for {name}", versions.join(", ")),
        )),
        Some(_) => {}
    }
}

/// A whole number in `range`, or a failure for `field`.
fn whole_in(
    errors: &mut Vec<(&'static str, String)>,
    params: &Params,
    field: &'static str,
    min: u64,
    max: u64,
) -> u64 {
    match params.get(field).map(str::parse::<u64>) {
        None => errors.push((field, "Missing required parameter".into())),
        Some(Ok(n)) if (min..=max).contains(&n) => return n,
        Some(_) => errors.push((field, format!("Must be a whole number from {min} to {max}"))),
    }
    0
}

impl Account {
    fn vm_in(&self, location: &str, params: &Params) -> Result<&Vm, Refusal> {
        let uuid = params.required("uuid")?;
        self.vms
            .get(uuid)
            .filter(|vm| vm.location == location)
            .ok_or_else(|| Refusal::no_such_vm(uuid))
    }

    /// `POST user-resource/vm`: a new VM, `starting`, with its unpaid invoice.
    pub fn create_vm(&mut self, location: &str, params: &Params, now: VirtualTime) -> Answer {
        let mut errors: Vec<(&'static str, String)> = Vec::new();
        let name = params.get("name").unwrap_or_default().to_owned();
        if !valid_name(&name) {
            errors.push((
                "name",
                "Must match ^[0-9a-zA-Z][-0-9a-zA-Z]{2,}[0-9a-zA-Z]$".into(),
            ));
        }
        let os_name = params.get("os_name");
        check_os(&mut errors, os_name, params.get("os_version"));
        let windows = os_name == Some("windows");
        let disk_gb = whole_in(&mut errors, params, "disks", 20, 240);
        let vcpu = whole_in(&mut errors, params, "vcpu", if windows { 2 } else { 1 }, 16);
        let ram_mb = whole_in(
            &mut errors,
            params,
            "ram",
            if windows { 1024 } else { 512 },
            65536,
        );
        let username = params.get("username").unwrap_or_default().to_owned();
        if !(valid_username(&username) || (windows && username.is_empty())) {
            errors.push((
                "username",
                "Must be 1 to 30 letters, digits, '_' or '-', starting with a letter or '_'".into(),
            ));
        }
        if !params.get("password").is_some_and(valid_password) {
            errors.push(("password", PASSWORD_RULE.into()));
        }
        let billing_account_id = match params.get("billing_account_id").map(str::parse::<u64>) {
            None => Some(self.opts.billing_account_id),
            Some(Ok(id)) if id == self.opts.billing_account_id => Some(id),
            Some(_) => {
                errors.push((
                    "billing_account_id",
                    "Provided billing account is incorrect.".into(),
                ));
                None
            }
        };
        let cloud_init_ok = params
            .get("cloud_init")
            .is_none_or(|c| serde_json::from_str::<Value>(c).is_ok_and(|v| v.is_object()));
        if !cloud_init_ok {
            errors.push(("cloud_init", "Must be a JSON object".into()));
        }
        let flags = (params.flag("reserve_public_ip"), params.flag("backup"));
        let (reserve_ip, backup) = match flags {
            (Ok(r), Ok(b)) => (r.unwrap_or(true), b.unwrap_or(false)),
            (Err(e), _) | (_, Err(e)) => return Err(e),
        };
        if !errors.is_empty() {
            return Err(Refusal::invalid(errors));
        }

        let uuid = self.new_uuid();
        let (ipv4, ipv6, private, mac) = self.new_addresses();
        let id = self.next_vm_id;
        self.next_vm_id += 1;
        let invoice_id = self.next_invoice_id;
        self.next_invoice_id += 1;
        let billing_account_id = billing_account_id.unwrap_or(self.opts.billing_account_id);
        let vm = Vm {
            uuid: uuid.clone(),
            id,
            name: name.clone(),
            description: params.get("description").unwrap_or_default().to_owned(),
            location: location.to_owned(),
            os_name: os_name.unwrap_or_default().to_owned(),
            os_version: params.get("os_version").unwrap_or_default().to_owned(),
            vcpu,
            ram_mb,
            disk_gb,
            username,
            billing_account_id,
            backup,
            designated_pool_uuid: params.get("designated_pool_uuid").map(str::to_owned),
            status: VmStatus::Starting,
            boot_due: None,
            created_at: now,
            updated_at: None,
            public_ipv4: reserve_ip.then_some(ipv4),
            public_ipv6: ipv6,
            private_ipv4: private,
            mac,
            invoice_id,
            reinstalls: 0,
        };
        let subtotal = self.price_cents;
        let vat = (subtotal * i64::from(self.opts.vat_percentage) + 50) / 100;
        self.invoices.insert(
            invoice_id,
            Invoice {
                id: invoice_id,
                vm_uuid: uuid.clone(),
                billing_account_id,
                record_name: views::record_name(&vm),
                location: location.to_owned(),
                subtotal_cents: subtotal,
                vat_cents: vat,
                status: InvoiceStatus::Unpaid,
                created_at: now,
                paid_at: None,
            },
        );
        self.ledger.record_at(
            IdcloudhostEvent::VmCreated {
                uuid: uuid.clone(),
                name,
                description: vm.description.clone(),
                location: location.to_owned(),
            },
            now,
        );
        self.vms.insert(uuid.clone(), vm);
        self.boot(&uuid, now);
        Ok(views::vm(self, &self.vms[&uuid]))
    }

    /// `GET user-resource/vm?uuid=`.
    pub fn get_vm(&self, location: &str, params: &Params) -> Answer {
        let vm = self.vm_in(location, params)?;
        Ok(views::vm(self, vm))
    }

    /// `GET user-resource/vm/list`: this location's VMs, newest first (as the seed).
    pub fn list_vms(&self, location: &str) -> Answer {
        let mut vms: Vec<&Vm> = self
            .vms
            .values()
            .filter(|vm| vm.location == location)
            .collect();
        vms.sort_by_key(|vm| std::cmp::Reverse(vm.id));
        Ok(Value::Array(
            vms.into_iter().map(|vm| views::vm(self, vm)).collect(),
        ))
    }

    /// `POST user-resource/vm/reinstall`: the same or another OS; boots again.
    pub fn reinstall_vm(&mut self, location: &str, params: &Params, now: VirtualTime) -> Answer {
        let vm = self.vm_in(location, params)?;
        let os_name = params.get("os_name").unwrap_or(&vm.os_name).to_owned();
        let os_version = params
            .get("os_version")
            .unwrap_or(&vm.os_version)
            .to_owned();
        let mut errors = Vec::new();
        check_os(&mut errors, Some(&os_name), Some(&os_version));
        if params.get("password").is_some_and(|p| !valid_password(p)) {
            errors.push(("password", PASSWORD_RULE.into()));
        }
        if !errors.is_empty() {
            return Err(Refusal::invalid(errors));
        }
        let uuid = vm.uuid.clone();
        let vm = self.vms.get_mut(&uuid).expect("found above");
        vm.os_name = os_name.clone();
        vm.os_version = os_version.clone();
        vm.reinstalls += 1;
        self.ledger.record_at(
            IdcloudhostEvent::Reinstall {
                uuid: uuid.clone(),
                os_name,
                os_version,
            },
            now,
        );
        self.boot(&uuid, now);
        Ok(views::vm(self, &self.vms[&uuid]))
    }

    /// `POST user-resource/vm/start`: a stopped VM boots; a running one is refused.
    pub fn start_vm(&mut self, location: &str, params: &Params, now: VirtualTime) -> Answer {
        let vm = self.vm_in(location, params)?;
        let uuid = vm.uuid.clone();
        match vm.status {
            VmStatus::Running => return Err(Refusal::bad("Virtual machine is already running.")),
            VmStatus::Stopped => self.boot(&uuid, now),
            VmStatus::Starting => {}
        }
        Ok(views::vm(self, &self.vms[&uuid]))
    }

    /// `POST user-resource/vm/stop` (`force` is accepted; the stop is immediate).
    pub fn stop_vm(&mut self, location: &str, params: &Params, now: VirtualTime) -> Answer {
        params.flag("force")?;
        let uuid = self.vm_in(location, params)?.uuid.clone();
        let vm = self.vms.get_mut(&uuid).expect("found above");
        vm.status = VmStatus::Stopped;
        vm.boot_due = None;
        vm.updated_at = Some(now);
        Ok(views::vm(self, &self.vms[&uuid]))
    }

    /// `DELETE user-resource/vm` (GAPS: `{"success": true}`).
    pub fn delete_vm(&mut self, location: &str, params: &Params, now: VirtualTime) -> Answer {
        let uuid = self.vm_in(location, params)?.uuid.clone();
        self.vms.remove(&uuid);
        self.ledger
            .record_at(IdcloudhostEvent::Deleted { uuid }, now);
        Ok(json!({ "success": true }))
    }

    /// `GET network/ip_addresses`: the public IPv4 of each VM in this location, as a
    /// floating IP assigned to it; filtered by `vm_uuid` and `billing_account_id`.
    pub fn floating_ips(&self, location: &str, params: &Params) -> Answer {
        let billing = match params.get("billing_account_id") {
            Some(b) => Some(b.parse::<u64>().map_err(|_| {
                Refusal::invalid(vec![(
                    "billing_account_id",
                    "Must be a whole number".into(),
                )])
            })?),
            None => None,
        };
        let vm_uuid = params.get("vm_uuid");
        let ips: Vec<Value> = self
            .vms
            .values()
            .filter(|vm| vm.location == location)
            .filter(|vm| vm_uuid.is_none_or(|u| u == vm.uuid))
            .filter(|vm| billing.is_none_or(|b| b == vm.billing_account_id))
            .filter_map(|vm| views::floating_ip(self, vm))
            .collect();
        Ok(Value::Array(ips))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seeds_patterns() {
        assert!(valid_name("web-1-example-com"));
        assert!(valid_name("Ubuntu-16-04"));
        assert!(!valid_name("web-1.example.com"));
        assert!(!valid_name("abc"));
        assert!(!valid_name("-abc"));
        assert!(valid_username("root"));
        assert!(valid_username("_svc-1"));
        assert!(!valid_username("1root"));
        assert!(valid_password("Password123"));
        assert!(!valid_password("password123"));
        assert!(!valid_password("Pass1"));
    }
}
