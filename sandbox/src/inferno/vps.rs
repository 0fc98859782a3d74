//! `install` (answered in `print_r` text), `getinfo`, `reboot`/`stop`/`boot` and the
//! account's SSH keys (`sshkey.*`).

use serde::Serialize;

use super::print_r::{Printed, print, text};
use super::state::{Account, Answer, DONE, Params, Refused, Vps, refuse};
use super::{InfernoEvent, OrderStatus};
use crate::sim::VirtualTime;

/// `install`'s error codes. 904 is the seed's; the others are the simulator's own
/// (GAPS.md: "other codes are failures to report").
pub const MISSING_PARAMETER: u32 = 900;
pub const ORDER_NOT_FOUND: u32 = 901;
pub const ORDER_NOT_PAID: u32 = 902;
pub const TEMPLATE_NOT_FOUND: u32 = 903;
pub const ALREADY_INSTALLING: u32 = 904;
pub const SSH_KEY_NOT_FOUND: u32 = 905;
pub const BAD_RUN: u32 = 906;

/// An `install` refusal: printed with `result: fail`, `msg` and `error_code`.
struct InstallFailure(u32, String);

/// What an accepted `install` did.
enum Accepted {
    /// `run=0`: the parameters are valid.
    Checked,
    /// `run=1`: the install is queued.
    Started,
}

#[derive(Serialize)]
struct Info<'a> {
    result: &'static str,
    orderid: u64,
    #[serde(rename = "orderStatus")]
    order_status: &'a str,
    #[serde(rename = "productStatus")]
    product_status: &'a str,
    dedicatedip: &'a str,
    vps_info: VpsInfo<'a>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum VpsInfo<'a> {
    Missing {
        result: &'static str,
        message: &'static str,
    },
    Present {
        result: &'static str,
        message: &'static str,
        main_id: String,
        vps_name: &'a str,
        ip: &'a str,
        real_state: &'static str,
        vps_password: &'a str,
    },
}

#[derive(Serialize)]
struct KeyAdded {
    result: &'static str,
    id: u64,
}

#[derive(Serialize)]
struct KeyView<'a> {
    id: String,
    sshkey: &'a str,
}

impl Account {
    /// `install` (seed §6): `run=0` checks the parameters ("parameters are valid",
    /// GAPS.md), `run=1` queues the install; 904 while one is under way.
    pub fn install(&mut self, params: &Params, now: VirtualTime) -> Answer {
        let layout = self.layout;
        match self.try_install(params, now) {
            Ok(Accepted::Started) => Answer::Text(print(
                &[
                    ("method", text("createVPS")),
                    ("result", text("success")),
                    ("msg", text("ok")),
                    (
                        "retx",
                        Printed::Array(vec![
                            ("result", text("success")),
                            ("msg", text("VSCD: VPS added to queue")),
                            ("error_code", text("0")),
                        ]),
                    ),
                ],
                layout,
                false,
            )),
            Ok(Accepted::Checked) => Answer::Text(print(
                &[
                    ("method", text("createVPS")),
                    ("result", text("success")),
                    ("msg", text("parameters are valid")),
                ],
                layout,
                false,
            )),
            Err(InstallFailure(code, msg)) => Answer::Text(print(
                &[
                    ("method", text("createVPS")),
                    ("result", text("fail")),
                    ("msg", text(msg)),
                    ("error_code", text(code.to_string())),
                ],
                layout,
                true,
            )),
        }
    }

    fn try_install(
        &mut self,
        params: &Params,
        now: VirtualTime,
    ) -> Result<Accepted, InstallFailure> {
        let fail = |code, msg: String| Err(InstallFailure(code, msg));
        let (Some(order_id), Some(template)) = (params.get("orderid"), params.get("ostpl")) else {
            return fail(
                MISSING_PARAMETER,
                "missing required parameter orderid or ostpl".into(),
            );
        };
        let Some(order) = order_id.parse().ok().and_then(|id| self.orders.get(&id)) else {
            return fail(ORDER_NOT_FOUND, format!("Order {order_id} not found"));
        };
        if let Some(vps) = order.vps.as_ref().filter(|v| v.installing_until.is_some()) {
            return fail(
                ALREADY_INSTALLING,
                format!(
                    "Vps exists with current main_id ({}) , W:{}",
                    vps.main_id, order.id
                ),
            );
        }
        if order.status != OrderStatus::Active {
            return fail(
                ORDER_NOT_PAID,
                format!(
                    "Order {} is not paid (status {})",
                    order.id,
                    order.status.as_str()
                ),
            );
        }
        if !self.opts.templates.iter().any(|t| t == template) {
            return fail(TEMPLATE_NOT_FOUND, format!("Template {template} not found"));
        }
        let mut key_ids = Vec::new();
        for raw in params.get("sshkey_ids").unwrap_or("").split(',') {
            let raw = raw.trim();
            if raw.is_empty() {
                continue;
            }
            match raw
                .parse::<u64>()
                .ok()
                .filter(|id| self.keys.contains_key(id))
            {
                Some(id) => key_ids.push(id),
                None => return fail(SSH_KEY_NOT_FOUND, format!("SSH key {raw} not found")),
            }
        }
        match params.get("run") {
            Some("0") => Ok(Accepted::Checked),
            Some("1") => {
                let (id, template) = (order.id, template.to_owned());
                self.start_install(id, &template, key_ids, now);
                Ok(Accepted::Started)
            }
            _ => fail(BAD_RUN, "run must be 0 or 1".into()),
        }
    }

    /// Starts an install on a paid order (through the API, or the panel's button).
    pub fn start_install(
        &mut self,
        order_id: u64,
        template: &str,
        ssh_key_ids: Vec<u64>,
        now: VirtualTime,
    ) {
        let Some(has_vps) = self.orders.get(&order_id).map(|o| o.vps.is_some()) else {
            return;
        };
        let fresh = (!has_vps).then(|| self.new_vps());
        let password = self.password();
        let done_at = now + self.opts.install_duration;
        let Some(order) = self.orders.get_mut(&order_id) else {
            return;
        };
        if let Some(vps) = fresh {
            order.vps = Some(vps);
        }
        let Some(vps) = order.vps.as_mut() else {
            return;
        };
        let reinstall = vps.installs > 0;
        vps.installs += 1;
        vps.template = template.to_owned();
        vps.ssh_key_ids = ssh_key_ids;
        vps.password = password;
        vps.installing_until = Some(done_at);
        vps.power_on = false;
        self.ledger.record_at(
            InfernoEvent::Install {
                order_id,
                template: template.to_owned(),
                reinstall,
            },
            now,
        );
    }

    /// The VPS record of an order's first install: the next main id and address
    /// (37.1.0.111, 37.1.0.112, …, as the seed's example).
    fn new_vps(&mut self) -> Vps {
        let main_id = self.next_main_id;
        let host = 111 + self.next_host;
        self.next_main_id += 1;
        self.next_host += 1;
        let ip = format!("37.1.{}.{}", host / 256, host % 256);
        Vps {
            main_id,
            name: ip.replace('.', "-"),
            ip,
            password: String::new(),
            template: String::new(),
            ssh_key_ids: Vec::new(),
            installing_until: None,
            installs: 0,
            power_on: false,
        }
    }

    fn password(&mut self) -> String {
        use rand::Rng;
        const CHARS: &[u8] = b"abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
        (0..12)
            .map(|_| CHARS[self.rng.random_range(0..CHARS.len())] as char)
            .collect()
    }

    /// `getinfo` (seed §7): before any install `vps_info.result` is `"fail"` (GAPS.md);
    /// while installing the state says so and a first install has no address yet.
    pub fn getinfo(&self, params: &Params) -> Result<Answer, Refused> {
        let id = params.order_id()?;
        let Some(order) = self.orders.get(&id) else {
            return refuse(format!("Order {id} not found"));
        };
        let vps_info = match &order.vps {
            None => VpsInfo::Missing {
                result: "fail",
                message: "VPS not found",
            },
            Some(v) => {
                let installing = v.installing_until.is_some();
                VpsInfo::Present {
                    result: "success",
                    message: if installing {
                        "VPS is being installed"
                    } else {
                        ""
                    },
                    main_id: v.main_id.to_string(),
                    vps_name: &v.name,
                    ip: if installing && v.installs == 1 {
                        ""
                    } else {
                        &v.ip
                    },
                    real_state: match (installing, v.power_on) {
                        (true, _) => "Installing",
                        // The seed's word for a running VPS, leading space included.
                        (false, true) => " Included",
                        (false, false) => " Turned off",
                    },
                    vps_password: if installing { "" } else { &v.password },
                }
            }
        };
        let status = order.status.as_str();
        Ok(Answer::json(&Info {
            result: "success",
            orderid: order.id,
            order_status: status,
            product_status: status,
            dedicatedip: "",
            vps_info,
        }))
    }

    /// `reboot`, `stop`, `boot` (seed §8–10): on a VPS that exists and is not installing.
    pub fn power(
        &mut self,
        action: &str,
        params: &Params,
        now: VirtualTime,
    ) -> Result<Answer, Refused> {
        let id = params.order_id()?;
        let Some(vps) = self.orders.get_mut(&id).and_then(|o| o.vps.as_mut()) else {
            return refuse(format!("VPS of order {id} not found"));
        };
        if vps.installing_until.is_some() {
            return refuse(format!("VPS of order {id} is being installed"));
        }
        vps.power_on = action != "stop";
        self.ledger.record_at(
            InfernoEvent::Power {
                order_id: id,
                action: action.to_owned(),
            },
            now,
        );
        Ok(Answer::json(&DONE))
    }

    /// `sshkey.add` (seed §11): the key urlencoded in the POST body; GAPS.md answer
    /// `{"result":"success","id":N}`. The same key twice is refused.
    pub fn sshkey_add(&mut self, params: &Params) -> Result<Answer, Refused> {
        let Some(key) = params.body.get("sshkey").map(|k| k.trim()) else {
            return refuse("sshkey must be sent in the body of a POST request");
        };
        let mut parts = key.split_whitespace();
        let (kind, body) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        let known_kind = ["ssh-", "ecdsa-", "sk-"]
            .iter()
            .any(|p| kind.starts_with(p));
        if !known_kind || body.is_empty() {
            return refuse("sshkey is not a public SSH key");
        }
        let same = |k: &String| {
            let mut p = k.split_whitespace();
            p.next() == Some(kind) && p.next() == Some(body)
        };
        if self.keys.values().any(same) {
            return refuse("SSH key already exists");
        }
        let id = self.next_key;
        self.next_key += 1;
        self.keys.insert(id, key.to_owned());
        Ok(Answer::json(&KeyAdded {
            result: "success",
            id,
        }))
    }

    /// `sshkey.list` (GAPS.md: `{"result":"success","keys":[{"id","sshkey"}]}`).
    pub fn sshkey_list(&self) -> Answer {
        let keys: Vec<KeyView<'_>> = self
            .keys
            .iter()
            .map(|(id, key)| KeyView {
                id: id.to_string(),
                sshkey: key,
            })
            .collect();
        Answer::json(&serde_json::json!({ "result": "success", "keys": keys }))
    }

    /// `sshkey.remove` with `id`.
    pub fn sshkey_remove(&mut self, params: &Params) -> Result<Answer, Refused> {
        let id: u64 = params
            .required("id")?
            .parse()
            .or_else(|_| refuse("id must be an integer"))?;
        match self.keys.remove(&id) {
            Some(_) => Ok(Answer::json(&DONE)),
            None => refuse(format!("SSH key {id} not found")),
        }
    }
}
