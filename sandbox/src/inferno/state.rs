//! The simulated Inferno account: orders, their VPSs and the account's SSH keys, as
//! plain data. This file holds the data, request parameters and answers, the order
//! actions (`list`, `create`, `orders`, `cancel`, paying) and `settle`, which applies
//! what became due in virtual time; `vps.rs` holds `install`, `getinfo`, the power
//! actions and `sshkey.*`.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;

use super::print_r::PrintRLayout;
use super::{InfernoEvent, InfernoOptions, OrderSnapshot, OrderStatus, VpsSnapshot};
use crate::sim::{Ledger, VirtualTime};

/// A failure, answered `{"result":"fail","message":"<text>"}` (GAPS.md).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused(pub String);

pub fn refuse<T>(message: impl Into<String>) -> Result<T, Refused> {
    Err(Refused(message.into()))
}

/// A successful answer, already printed: JSON, or `print_r` text for `install`.
#[derive(Debug, Clone)]
pub enum Answer {
    Json(String),
    Text(String),
}

impl Answer {
    pub fn json(value: &impl Serialize) -> Answer {
        Answer::Json(serde_json::to_string(value).unwrap_or_else(|_| "{}".to_owned()))
    }
}

/// `{"result":"success"}`: what `cancel` answers (seed §5), and the power actions.
#[derive(Serialize)]
pub struct Done {
    pub result: &'static str,
}

pub const DONE: Done = Done { result: "success" };

/// A request's parameters: the form body over the query string (PHP's `$_REQUEST`);
/// `body` says which came in the POST body (seed §11 wants the key there).
#[derive(Debug, Default, Clone)]
pub struct Params {
    pub all: HashMap<String, String>,
    pub body: HashMap<String, String>,
}

impl Params {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.all
            .get(name)
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
    }

    pub fn required(&self, name: &str) -> Result<&str, Refused> {
        self.get(name)
            .map_or_else(|| refuse(format!("missing required parameter {name}")), Ok)
    }

    /// A required order id: `orderid` as a number.
    pub fn order_id(&self) -> Result<u64, Refused> {
        self.required("orderid")?
            .parse()
            .or_else(|_| refuse("orderid must be an integer"))
    }
}

#[derive(Debug, Clone)]
pub struct Order {
    pub id: u64,
    pub ordernum: String,
    pub invoice_id: u64,
    pub service_id: u64,
    pub product_id: u64,
    pub amount: String,
    pub status: OrderStatus,
    /// When auto-pay pays it (`auto_pay`), while it is Pending.
    pub pay_at: Option<VirtualTime>,
    pub vps: Option<Vps>,
}

#[derive(Debug, Clone)]
pub struct Vps {
    pub main_id: u64,
    pub name: String,
    pub ip: String,
    pub password: String,
    pub template: String,
    pub ssh_key_ids: Vec<u64>,
    /// While an install runs: when it completes.
    pub installing_until: Option<VirtualTime>,
    /// Installs started on this VPS (the first one and reinstalls).
    pub installs: u32,
    pub power_on: bool,
}

pub struct Account {
    pub opts: InfernoOptions,
    pub layout: PrintRLayout,
    pub ledger: Ledger<InfernoEvent>,
    pub orders: BTreeMap<u64, Order>,
    pub keys: BTreeMap<u64, String>,
    pub rng: StdRng,
    next_order: u64,
    next_invoice: u64,
    next_service: u64,
    pub next_main_id: u64,
    pub next_key: u64,
    pub next_host: u32,
}

pub fn lock(state: &Arc<Mutex<Account>>) -> MutexGuard<'_, Account> {
    // A panicking handler must not take the simulator down with it.
    state.lock().unwrap_or_else(|e| e.into_inner())
}

/// One order as `orders` lists it (seed §4): every field a string.
#[derive(Serialize)]
struct Listed<'a> {
    id: String,
    ordernum: &'a str,
    amount: &'a str,
    invoiceid: String,
    status: &'a str,
}

#[derive(Serialize)]
struct Created {
    result: &'static str,
    orderid: u64,
    invoiceid: u64,
    productids: String,
}

#[derive(Serialize)]
struct ProductView<'a> {
    pid: String,
    name: &'a str,
    price: &'a str,
}

impl Account {
    pub fn new(opts: InfernoOptions, ledger: Ledger<InfernoEvent>) -> Account {
        Account {
            layout: opts.layout,
            rng: StdRng::seed_from_u64(opts.seed),
            next_order: opts.first_order_id,
            next_invoice: opts.first_invoice_id,
            next_service: opts.first_service_id,
            next_main_id: opts.first_main_id,
            next_key: opts.first_key_id,
            next_host: 0,
            ledger,
            orders: BTreeMap::new(),
            keys: BTreeMap::new(),
            opts,
        }
    }

    /// `cid` and `key` must be the account's (seed: every action but `list`).
    pub fn authorize(&self, params: &Params) -> Result<(), Refused> {
        let cid_ok = params.get("cid") == Some(self.opts.client_id.to_string().as_str());
        let key_ok = params.get("key") == Some(self.opts.api_key.as_str());
        if cid_ok && key_ok {
            Ok(())
        } else {
            refuse("Authorization error: wrong cid or key")
        }
    }

    /// `list` (seed §2): `products` keyed by pid, `ostpls` the template names.
    pub fn list(&self) -> Answer {
        let products: BTreeMap<String, ProductView<'_>> = self
            .opts
            .products
            .iter()
            .map(|p| {
                (
                    p.id.to_string(),
                    ProductView {
                        pid: p.id.to_string(),
                        name: &p.name,
                        price: &p.price,
                    },
                )
            })
            .collect();
        Answer::json(&serde_json::json!({
            "result": "success",
            "ostpls": self.opts.templates,
            "products": products,
        }))
    }

    /// `create` (seed §3): a Pending order with its invoice.
    pub fn create(&mut self, params: &Params, now: VirtualTime) -> Result<Answer, Refused> {
        let pid: u64 = params
            .required("pid")?
            .parse()
            .or_else(|_| refuse("pid must be an integer"))?;
        let id = self.place(pid, now)?;
        let order = &self.orders[&id];
        Ok(Answer::json(&Created {
            result: "success",
            orderid: order.id,
            invoiceid: order.invoice_id,
            productids: order.service_id.to_string(),
        }))
    }

    /// Places an order of product `pid` (also how a customer's manual order arrives).
    pub fn place(&mut self, pid: u64, now: VirtualTime) -> Result<u64, Refused> {
        let Some(product) = self.opts.products.iter().find(|p| p.id == pid) else {
            return refuse(format!("Product ID {pid} not found"));
        };
        let amount = product.price.clone();
        let (id, invoice_id, service_id) = (self.next_order, self.next_invoice, self.next_service);
        self.next_order += 1;
        self.next_invoice += 1;
        self.next_service += 1;
        let ordernum = format!(
            "{:010}",
            self.rng.random_range(1_000_000_000u64..9_999_999_999)
        );
        let pay_at = self.opts.auto_pay.then(|| now + self.opts.payment_delay);
        self.orders.insert(
            id,
            Order {
                id,
                ordernum,
                invoice_id,
                service_id,
                product_id: pid,
                amount,
                status: OrderStatus::Pending,
                pay_at,
                vps: None,
            },
        );
        self.ledger.record_at(
            InfernoEvent::Order {
                order_id: id,
                invoice_id,
                product_id: pid,
            },
            now,
        );
        Ok(id)
    }

    /// `orders` (seed §4): "both active and unpaid (Pending) orders", so cancelled ones
    /// are not listed; a map keyed by id, or PHP's `[]` when there is none.
    pub fn list_orders(&self) -> Answer {
        let listed: BTreeMap<String, Listed<'_>> = self
            .orders
            .values()
            .filter(|o| o.status != OrderStatus::Cancelled)
            .map(|o| {
                (
                    o.id.to_string(),
                    Listed {
                        id: o.id.to_string(),
                        ordernum: &o.ordernum,
                        amount: &o.amount,
                        invoiceid: o.invoice_id.to_string(),
                        status: o.status.as_str(),
                    },
                )
            })
            .collect();
        if listed.is_empty() {
            return Answer::Json(r#"{"result":"success","orders":[]}"#.to_owned());
        }
        Answer::json(&serde_json::json!({ "result": "success", "orders": listed }))
    }

    /// `cancel` (seed §5): Pending orders only, with the seed's refusal otherwise.
    pub fn cancel(&mut self, params: &Params, now: VirtualTime) -> Result<Answer, Refused> {
        const REFUSAL: &str = "Order ID not found or Status not Pending";
        let id = params.order_id().or_else(|_| refuse(REFUSAL))?;
        match self.orders.get_mut(&id) {
            Some(o) if o.status == OrderStatus::Pending => {
                o.status = OrderStatus::Cancelled;
                o.pay_at = None;
                self.ledger
                    .record_at(InfernoEvent::Cancel { order_id: id }, now);
                Ok(Answer::json(&DONE))
            }
            _ => refuse(REFUSAL),
        }
    }

    /// The customer paid the order's invoice (outside the API, GAPS.md).
    pub fn pay(&mut self, id: u64, now: VirtualTime) -> bool {
        let Some(o) = self.orders.get_mut(&id) else {
            return false;
        };
        if o.status != OrderStatus::Pending {
            return o.status == OrderStatus::Active;
        }
        o.status = OrderStatus::Active;
        o.pay_at = None;
        let invoice_id = o.invoice_id;
        self.ledger.record_at(
            InfernoEvent::Paid {
                order_id: id,
                invoice_id,
            },
            now,
        );
        true
    }

    /// Applies what became due by `now` (auto-payments, finished installs); returns
    /// when the next change is due.
    pub fn settle(&mut self, now: VirtualTime) -> Option<VirtualTime> {
        let due_payments: Vec<(u64, VirtualTime)> = self
            .orders
            .values()
            .filter_map(|o| o.pay_at.filter(|at| *at <= now).map(|at| (o.id, at)))
            .collect();
        for (id, at) in due_payments {
            self.pay(id, at);
        }
        let mut finished = Vec::new();
        for o in self.orders.values_mut() {
            if let Some(vps) = o.vps.as_mut()
                && let Some(at) = vps.installing_until.filter(|at| *at <= now)
            {
                vps.installing_until = None;
                vps.power_on = true;
                finished.push((o.id, at));
            }
        }
        for (order_id, at) in finished {
            self.ledger
                .record_at(InfernoEvent::InstallCompleted { order_id }, at);
        }
        self.orders
            .values()
            .flat_map(|o| [o.pay_at, o.vps.as_ref().and_then(|v| v.installing_until)])
            .flatten()
            .min()
    }

    pub fn snapshot(&self, id: u64) -> Option<OrderSnapshot> {
        let o = self.orders.get(&id)?;
        Some(OrderSnapshot {
            id: o.id,
            invoice_id: o.invoice_id,
            product_id: o.product_id,
            status: o.status,
            vps: o.vps.as_ref().map(|v| VpsSnapshot {
                main_id: v.main_id,
                name: v.name.clone(),
                ip: v.ip.clone(),
                password: v.password.clone(),
                template: v.template.clone(),
                ssh_key_ids: v.ssh_key_ids.clone(),
                installing: v.installing_until.is_some(),
                installs: v.installs,
                power_on: v.power_on,
            }),
        })
    }
}
