//! `eq/order_instance`: a new server, or (with `id`) a reinstall of one.

use super::install::{Install, InstallVia, total};
use super::state::{
    Account, Answer, AsyncKey, Invoice, KeyKind, LOCATIONS, Params, Refused, Server, refuse,
};
use super::{BootDevice, HostkeyEvent, InvoiceStatus, ServerStatus};
use crate::sim::VirtualTime;

const PERIODS: [&str; 8] = [
    "monthly",
    "quarterly",
    "semi-annually",
    "annually",
    "month",
    "quarter",
    "6 months",
    "year",
];

/// The order's policy (seed, `eq/order_instance`): at least 8 characters, upper
/// and lower case Latin letters and at least one special character.
pub fn order_password_ok(password: &str) -> bool {
    password.chars().count() >= 8
        && password.chars().any(|c| c.is_ascii_uppercase())
        && password.chars().any(|c| c.is_ascii_lowercase())
        && password
            .chars()
            .any(|c| !c.is_ascii_alphanumeric() && !c.is_whitespace())
}

/// `eq/create_pxe`'s own policy (seed: "min 8 symbols, with some numbers and
/// letters in caps").
pub fn pxe_password_ok(password: &str) -> bool {
    password.chars().count() >= 8
        && password.chars().any(|c| c.is_ascii_digit())
        && password.chars().any(|c| c.is_ascii_uppercase())
}

/// OS names for the ids the seed uses in its examples; others are named by id.
pub fn os_name(os_id: u64) -> String {
    match os_id {
        180 => "Debian 11".to_owned(),
        187 => "Ubuntu 22.04".to_owned(),
        205 => "Rocky Linux 9".to_owned(),
        other => format!("OS #{other}"),
    }
}

pub fn callback_url(action: &str, params: &Params) -> Result<Option<String>, Refused> {
    match params.get("post_install_callback") {
        None => Ok(None),
        Some(url) if url.starts_with("http://") || url.starts_with("https://") => {
            Ok(Some(url.to_owned()))
        }
        Some(_) => refuse(format!(
            "{action}: post_install_callback must be an http(s) URL"
        )),
    }
}

impl Account {
    /// `eq/order_instance`: a new server, or with `id` a reinstall of one.
    pub fn order_instance(
        &mut self,
        token: &str,
        params: &Params,
        now: VirtualTime,
    ) -> Result<Answer, Refused> {
        const ACTION: &str = "order_instance";
        if params.get("id").is_some() {
            return self.reinstall_by_order(token, params, now);
        }
        params.require(
            ACTION,
            &[
                "deploy_period",
                "deploy_notify",
                "pin",
                "preset",
                "location_name",
                "os_id",
                "traffic_plan",
                "root_pass",
            ],
        )?;
        let period = params.required(ACTION, "deploy_period")?;
        if !PERIODS.contains(&period) {
            return refuse(format!(
                "{ACTION}: deploy_period must be one of monthly, quarterly, semi-annually, annually"
            ));
        }
        if !matches!(params.get("deploy_notify"), Some("true" | "false")) {
            return refuse(format!("{ACTION}: deploy_notify must be true or false"));
        }
        let location = params
            .required(ACTION, "location_name")?
            .to_ascii_uppercase();
        if !LOCATIONS.contains(&location.as_str()) {
            return refuse(format!(
                "{ACTION}: unknown location_name {location}, use one of NL/US/FI/DE/IS/TR"
            ));
        }
        let os_id = params.number(ACTION, "os_id")?;
        let root_pass = params.required(ACTION, "root_pass")?;
        if !order_password_ok(root_pass) {
            return refuse(format!(
                "{ACTION}: root_pass does not meet the password policy: at least 8 characters, upper and lower case Latin letters and a special character"
            ));
        }
        let callback = callback_url(ACTION, params)?;
        self.check_pin(ACTION, params)?;

        let preset = params.required(ACTION, "preset")?.to_owned();
        let price = self
            .opts
            .prices
            .get(&preset)
            .unwrap_or(&self.opts.default_price);
        let total_cents = super::state::parse_cents(price).unwrap_or(0);
        let id = self.next_server_id;
        self.next_server_id += 1;
        let invoice_id = self.next_invoice_id;
        self.next_invoice_id += 1;
        let hostname = params
            .get("hostname")
            .map_or_else(|| id.to_string(), str::to_owned);
        let own_os = params.get("own_os") == Some("1");
        let (ipv4, ipv6, mac) = self.new_addresses();
        let deploy_key = self.new_key();
        self.servers.insert(
            id,
            Server {
                id,
                status: ServerStatus::Pending,
                preset: preset.clone(),
                location: location.clone(),
                ipv4,
                ipv6,
                mac,
                tags: Vec::new(),
                invoice_id: Some(invoice_id),
                deploy_key: deploy_key.clone(),
                order_callback: callback,
                ordered_at: now,
                delivery_due: None,
                cancel_due: None,
                pxe: None,
                boot: BootDevice::Disk,
                power_on: false,
                install: None,
                reinstall_key: None,
            },
        );
        self.set_tag(id, "order_origin", "invapi", true);
        self.set_tag(id, "hostname", &hostname, true);
        self.set_tag(id, "password", root_pass, true);
        if !own_os {
            let os = params
                .get("os_name")
                .map_or_else(|| os_name(os_id), str::to_owned);
            self.set_tag(id, "OS", &os, true);
        }
        self.set_tag(id, "user_name", "root", true);
        self.invoices.insert(
            invoice_id,
            Invoice {
                id: invoice_id,
                server_id: id,
                total_cents,
                paid_cents: 0,
                status: InvoiceStatus::Unpaid,
                created_at: now,
                paid_at: None,
                description: format!("Instant server {preset} #{id} ({hostname}) - {period}"),
            },
        );
        self.keys.insert(
            deploy_key.clone(),
            AsyncKey {
                server_id: id,
                kind: KeyKind::Deploy,
            },
        );
        self.ledger.record_at(
            HostkeyEvent::Order {
                server_id: id,
                hostname,
                preset,
                reinstall: false,
            },
            now,
        );
        if self.opts.auto_pay && self.credit_cents >= total_cents {
            self.pay(invoice_id, total_cents, now)?;
        }
        let scope = format!("order accepted, invoice #{invoice_id} issued");
        Ok(self.async_answer("OK", &scope, ACTION, id, &deploy_key))
    }

    /// `eq/order_instance` with `id`: the provider reinstalls the server itself; the
    /// stages are reported on the returned master key.
    fn reinstall_by_order(
        &mut self,
        token: &str,
        params: &Params,
        now: VirtualTime,
    ) -> Result<Answer, Refused> {
        const ACTION: &str = "reinstall";
        params.require("order_instance", &["pin", "os_id", "root_pass", "id"])?;
        let id = params.number("order_instance", "id")?;
        let os_id = params.number("order_instance", "os_id")?;
        let root_pass = params.required("order_instance", "root_pass")?;
        if !order_password_ok(root_pass) {
            return refuse(
                "order_instance: root_pass does not meet the password policy: at least 8 characters, upper and lower case Latin letters and a special character",
            );
        }
        let callback = callback_url("order_instance", params)?;
        self.check_pin("order_instance", params)?;
        let server = self.visible(token, ACTION, id)?;
        if server.status != ServerStatus::Rent {
            return refuse(format!(
                "{ACTION}: server {id} is not active (status {})",
                server.status.as_str()
            ));
        }
        if server.installing() {
            return refuse(format!(
                "{ACTION}: the previous reinstallation of server {id} is not complete yet"
            ));
        }
        let (hostname, preset) = (server.hostname(), server.preset.clone());
        let hostname = params.get("hostname").map_or(hostname, str::to_owned);
        let own_os = params.get("own_os") == Some("1");
        let key = self.new_key();
        self.keys.insert(
            key.clone(),
            AsyncKey {
                server_id: id,
                kind: KeyKind::Reinstall,
            },
        );
        let install = Install {
            key: Some(key.clone()),
            via: InstallVia::Order,
            started_at: now,
            done_at: now + total(&self.opts.stage_durations),
            completed: false,
            hostname: Some(hostname.clone()),
            root_pass: root_pass.to_owned(),
            os: (!own_os).then(|| {
                params
                    .get("os_name")
                    .map_or_else(|| os_name(os_id), str::to_owned)
            }),
            callback,
        };
        let server = self.servers.get_mut(&id).expect("visible server exists");
        server.install = Some(install);
        server.reinstall_key = Some(key.clone());
        self.ledger.record_at(
            HostkeyEvent::Order {
                server_id: id,
                hostname,
                preset,
                reinstall: true,
            },
            now,
        );
        self.ledger
            .record_at(HostkeyEvent::InstallStarted { server_id: id }, now);
        Ok(self.async_answer("OK", "reinstallation started", ACTION, id, &key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_password_policy() {
        assert!(order_password_ok("Secret-Pass1"));
        assert!(order_password_ok("aB!aaaaa"));
        assert!(!order_password_ok("aB!aaaa"), "too short");
        assert!(!order_password_ok("mdLus8Ng"), "no special character");
        assert!(!order_password_ok("secret-pass"), "no upper case");
        assert!(!order_password_ok("SECRET-PASS"), "no lower case");
    }

    #[test]
    fn pxe_password_policy() {
        assert!(pxe_password_ok("mdLus8Ng"));
        assert!(!pxe_password_ok("mdLusxNg"), "no digit");
        assert!(!pxe_password_ok("mdlus8ng"), "no capital");
    }
}
