//! The actions: `order_create` (with the seeds' validation), `order_status`,
//! `order_list`, `order_cancel` and `server_list`, each taking the request's JSON body.

use serde_json::{Map, Value, json};

use super::state::{Account, Item, OS_CATALOGUE, Order, Refused, bad_request, not_found};
use super::{KlikkEvent, OsChoice, views};
use crate::sim::VirtualTime;

/// A successful answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    Json(Value),
    /// "Response is an empty 200 OK" (`order_cancel`).
    Empty,
}

type Body = Map<String, Value>;

impl Account {
    pub fn dispatch(
        &mut self,
        action: &str,
        body: &Body,
        now: VirtualTime,
    ) -> Result<Reply, Refused> {
        match action {
            "order_create" => self.order_create(body, now),
            "order_status" => {
                let order = self.order(body)?;
                Ok(Reply::Json(views::order(order, false)))
            }
            "order_list" => Ok(Reply::Json(json!({
                "orders": self.orders.values().rev().map(|o| views::order(o, true)).collect::<Vec<_>>(),
            }))),
            "order_cancel" => self.order_cancel(body, now),
            "server_list" => {
                let item = optional_id(body, "order_item_id")?.filter(|id| *id != 0);
                let servers: Vec<Value> = self
                    .servers
                    .values()
                    .filter(|s| item.is_none_or(|id| s.order_item_id == id))
                    .map(|s| views::server(s, self.opts.customer_id))
                    .collect();
                Ok(Reply::Json(json!({ "servers": servers })))
            }
            "" => bad_request("action is required"),
            other => bad_request(format!("Unknown action: {other}")),
        }
    }

    fn order_create(&mut self, body: &Body, now: VirtualTime) -> Result<Reply, Refused> {
        let Some(Value::Array(items)) = body.get("items") else {
            return bad_request("items is required");
        };
        if items.is_empty() {
            return bad_request("items must hold at least one item");
        }
        let reference = match body.get("reference") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()).filter(|s| !s.trim().is_empty()),
            Some(Value::Number(n)) => Some(n.to_string()),
            Some(_) => return bad_request("reference must be a string"),
        };
        let mut parsed = items
            .iter()
            .enumerate()
            .map(|(i, item)| read_item(item, &format!("items[{i}]")))
            .collect::<Result<Vec<_>, _>>()?;
        for item in &mut parsed {
            item.id = self.next_item_id;
            self.next_item_id += 1;
        }
        let id = self.next_order_id;
        self.next_order_id += 1;
        let item_ids = parsed.iter().map(|item| item.id).collect();
        self.orders.insert(
            id,
            Order {
                id,
                reference: reference.clone(),
                paid_at: None,
                completed: false,
                items: parsed,
            },
        );
        self.ledger.record_at(
            KlikkEvent::Order {
                order_id: id,
                reference,
                items: item_ids,
            },
            now,
        );
        if self.opts.auto_pay {
            self.mark_paid(id, now)?;
        }
        let (status, message) = self.orders[&id].status();
        Ok(Reply::Json(
            json!({ "order_id": id, "status": status, "message": message }),
        ))
    }
}

/// One item of `order_create`, validated (its id is given once every item is valid).
fn read_item(item: &Value, at: &str) -> Result<Item, Refused> {
    let name = nonempty(item.get("name"), &format!("{at}.name"))?;
    let product = item.get("product");
    let product_name = nonempty(
        product.and_then(|p| p.get("name")),
        &format!("{at}.product.name"),
    )?;
    let at = format!("{at}.product.options");
    let Some(options) = product
        .and_then(|p| p.get("options"))
        .filter(|o| o.is_object())
    else {
        return bad_request(format!("{at} is required"));
    };
    let ram_gb = number(options.get("quantity_ram_gb"))
        .filter(|r| *r > 0.0)
        .map_or_else(
            || bad_request(format!("{at}.quantity_ram_gb must be a number above 0")),
            Ok,
        )?;
    let positive = |key: &str| {
        whole(options.get(key)).filter(|n| *n > 0).map_or_else(
            || bad_request(format!("{at}.{key} must be a whole number above 0")),
            Ok,
        )
    };
    let cpu = positive("quantity_cpu")?;
    let storage_gb = positive("quantity_storage_gb")?;
    let os = read_os(options, &at)?;
    let features = options.get("features");
    let sshd = features.and_then(|f| f.get("sshd"));
    let ip_allow = nonempty(
        sshd.and_then(|s| s.get("ip_allow")),
        &format!("{at}.features.sshd.ip_allow"),
    )?;
    let ipv4 = match features.and_then(|f| f.get("ipv4")) {
        None | Some(Value::Null) => true,
        Some(v) => flag(v).map_or_else(
            || bad_request(format!("{at}.features.ipv4 must be 0 or 1")),
            Ok,
        )?,
    };
    let cloud_init_url = match features
        .and_then(|f| f.get("cloud_init_url"))
        .filter(|u| !u.is_null())
    {
        None => None,
        Some(url) => match url.as_str() {
            Some(u) if u.starts_with("https://") || u.starts_with("http://") => Some(u.to_owned()),
            _ => {
                return bad_request(format!(
                    "{at}.features.cloud_init_url must be an http(s) URL"
                ));
            }
        },
    };
    let authorized_keys = sshd
        .and_then(|s| s.get("authorized_keys"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    Ok(Item {
        id: 0,
        name,
        product: product_name,
        os,
        ram_gb,
        cpu,
        storage_gb,
        ipv4,
        ip_allow,
        authorized_keys,
        cloud_init_url,
        cancelled: false,
        cancel_requested: false,
        server_id: None,
    })
}

impl Account {
    fn order(&self, body: &Body) -> Result<&Order, Refused> {
        let Some(id) = optional_id(body, "order_id")? else {
            return bad_request("order_id is required");
        };
        self.orders
            .get(&id)
            .map_or_else(|| not_found(format!("Order {id} not found")), Ok)
    }

    /// The whole order, or one item; a completed or cancelled target is left as it is
    /// (GAPS) but marked as not renewed.
    fn order_cancel(&mut self, body: &Body, now: VirtualTime) -> Result<Reply, Refused> {
        let order_id = self.order(body)?.id;
        let item_id = optional_id(body, "order_item_id")?.filter(|id| *id != 0);
        let order = self.orders.get_mut(&order_id).expect("found above");
        if let Some(item) = item_id
            && !order.items.iter().any(|i| i.id == item)
        {
            return not_found(format!("Order item {item} not found in order {order_id}"));
        }
        let open = !order.completed;
        let mut changed = false;
        for item in order
            .items
            .iter_mut()
            .filter(|i| item_id.is_none_or(|id| i.id == id))
        {
            item.cancel_requested = true;
            if open && !item.cancelled {
                item.cancelled = true;
                changed = true;
            }
        }
        self.ledger.record_at(
            KlikkEvent::Cancel {
                order_id,
                order_item_id: item_id,
                changed,
            },
            now,
        );
        Ok(Reply::Empty)
    }
}

fn read_os(options: &Value, at: &str) -> Result<OsChoice, Refused> {
    match options.get("os") {
        Some(Value::String(name)) if !name.trim().is_empty() => {
            let name = name.trim();
            let Some((_, known, versions)) = OS_CATALOGUE
                .iter()
                .find(|(_, n, _)| n.eq_ignore_ascii_case(name))
            else {
                return bad_request(format!("Unknown operating system: {name}"));
            };
            let version = match options.get("os_version") {
                None | Some(Value::Null) => versions.last().copied().unwrap_or_default().to_owned(),
                Some(v) => {
                    let v = match v {
                        Value::String(s) => s.trim().to_owned(),
                        other => other.to_string(),
                    };
                    if !versions.contains(&v.as_str()) {
                        return bad_request(format!(
                            "{known} has no version {v} (available: {})",
                            versions.join(", ")
                        ));
                    }
                    v
                }
            };
            Ok(OsChoice::Name {
                name: (*known).to_owned(),
                version,
            })
        }
        Some(v @ (Value::Number(_) | Value::String(_))) => {
            let Some(id) = whole(Some(v)) else {
                return bad_request(format!("{at}.os must be an OS name or id"));
            };
            if !OS_CATALOGUE.iter().any(|(known, _, _)| *known == id) {
                return bad_request(format!("Unknown operating system id: {id}"));
            }
            Ok(OsChoice::Id(id))
        }
        _ => bad_request(format!("{at}.os is required")),
    }
}

fn nonempty(v: Option<&Value>, path: &str) -> Result<String, Refused> {
    match v.and_then(Value::as_str).map(str::trim) {
        Some(s) if !s.is_empty() => Ok(s.to_owned()),
        _ => bad_request(format!("{path} is required")),
    }
}

/// An id as a number or a numeric string; absent, null or "" is `None`.
fn optional_id(body: &Body, key: &str) -> Result<Option<u64>, Refused> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        v => whole(v)
            .map(Some)
            .map_or_else(|| bad_request(format!("{key} must be a number")), Ok),
    }
}

fn number(v: Option<&Value>) -> Option<f64> {
    match v? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn whole(v: Option<&Value>) -> Option<u64> {
    match v? {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn flag(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => n.as_u64().filter(|n| *n <= 1).map(|n| n == 1),
        Value::String(s) => match s.trim() {
            "0" => Some(false),
            "1" => Some(true),
            _ => None,
        },
        _ => None,
    }
}
