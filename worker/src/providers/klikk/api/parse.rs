//! Pure readers for Klikk's answers: one `parse_*` per answer shape, each taking the
//! body as received, so every seed example and GAPS convention is unit-tested.
//!
//! Every reader goes through [`answer`], which reads the body leniently (strict JSON
//! first, then the seed repair of [`lenient_json`]) and turns the error shape
//! `{"status": <4xx/5xx>, "message": "<text>"}` (GAPS) into a `CallError` quoting the
//! text, should a provider ever send it with a 2xx status.

use std::net::IpAddr;
use std::time::Duration;

use serde_json::{Map, Value};

use super::answers::{Order, OrderItem, Server, Status};
use crate::providers::error::{CallError, bounded, quote};
use crate::providers::fields::{id_text, ip_addr, text};
use crate::providers::lenient_json;

pub(super) const PROVIDER: &str = "klikk";

/// `order_create`: the seed's `{"order_id", "status", "message"}` (items when given).
pub fn parse_order(body: &str) -> Result<Order, CallError> {
    let a = answer(body)?;
    let root = a.object()?;
    order(root).ok_or_else(|| bad_response(body))
}

/// `order_status`: like [`parse_order`], and a status code is required (the order's
/// or, failing that, an item's).
pub fn parse_order_status(body: &str) -> Result<Order, CallError> {
    let order = parse_order(body)?;
    if order.status().is_none() {
        return Err(bad_response(body));
    }
    Ok(order)
}

/// `order_list` (GAPS): `{"orders": [<order_status shape> + "reference", ...]}`,
/// newest first; a bare list or an empty answer are read too.
pub fn parse_orders(body: &str) -> Result<Vec<Order>, CallError> {
    if body.trim().is_empty() {
        return Ok(Vec::new());
    }
    let a = answer(body)?;
    list(&a.value, "orders")
        .ok_or_else(|| bad_response(body))?
        .iter()
        .map(|o| {
            o.as_object()
                .and_then(order)
                .ok_or_else(|| bad_response(body))
        })
        .collect()
}

/// `server_list` (seed 000's example): `{"servers": [...]}`, each with `networks`.
pub fn parse_servers(body: &str) -> Result<Vec<Server>, CallError> {
    if body.trim().is_empty() {
        return Ok(Vec::new());
    }
    let a = answer(body)?;
    list(&a.value, "servers")
        .ok_or_else(|| bad_response(body))?
        .iter()
        .map(|s| server(s).ok_or_else(|| bad_response(body)))
        .collect()
}

/// `order_cancel`: "Response is an empty 200 OK" (seeds); any other non-error answer
/// is taken as done as well.
pub fn parse_cancelled(body: &str) -> Result<(), CallError> {
    if body.trim().is_empty() {
        return Ok(());
    }
    match lenient_json::parse(body) {
        Some(v) => match envelope(&v) {
            Some((status, message)) => Err(refusal(status, message)),
            None => Ok(()),
        },
        // Some servers answer a bare "OK"; it carries nothing we need.
        None if body.len() < 64 && !body.contains('<') => Ok(()),
        None => Err(bad_response(body)),
    }
}

/// Classifies a non-2xx answer, keeping the provider's own text when the body is the
/// GAPS error shape; otherwise as [`CallError::from_status`] does.
pub(crate) fn http_error(status: u16, retry_after: Option<Duration>, body: &str) -> CallError {
    let slow_down = status == 429 || (status == 503 && retry_after.is_some());
    match lenient_json::parse(body).and_then(|v| message_of(&v)) {
        Some(message) if !slow_down && status >= 500 => CallError::Unknown {
            provider: PROVIDER,
            message: format!("HTTP {status}: {message}"),
        },
        Some(message) if !slow_down => refusal(status, message),
        _ => CallError::from_status(PROVIDER, status, retry_after, body),
    }
}

/// A body read as JSON, past the error shape.
struct Answer<'a> {
    body: &'a str,
    value: Value,
}

impl Answer<'_> {
    fn object(&self) -> Result<&Map<String, Value>, CallError> {
        self.value
            .as_object()
            .ok_or_else(|| bad_response(self.body))
    }
}

fn answer(body: &str) -> Result<Answer<'_>, CallError> {
    let value = lenient_json::parse(body).ok_or_else(|| bad_response(body))?;
    if let Some((status, message)) = envelope(&value) {
        return Err(refusal(status, message));
    }
    Ok(Answer { body, value })
}

/// The GAPS error shape: a `status` of 4xx/5xx (never an order status: those are 0,
/// 1xx, 2xx and 9xx) with a `message`, and no order in it.
fn envelope(v: &Value) -> Option<(u16, String)> {
    let o = v.as_object()?;
    if o.contains_key("order_id") {
        return None;
    }
    let status = o.get("status").and_then(status_code)?;
    if !(400..=599).contains(&status.0) {
        return None;
    }
    Some((status.0 as u16, message_of(v)?))
}

/// The provider's words in an error body: `message`, else `error`.
fn message_of(v: &Value) -> Option<String> {
    ["message", "error"]
        .iter()
        .find_map(|k| v.get(*k).and_then(text))
        .map(|t| bounded(&t))
        .filter(|t| !t.is_empty())
}

fn refusal(status: u16, message: String) -> CallError {
    match status {
        401 | 403 => CallError::Unauthorized {
            provider: PROVIDER,
            message,
        },
        _ => CallError::Rejected {
            provider: PROVIDER,
            message,
            status: Some(status),
        },
    }
}

fn bad_response(body: &str) -> CallError {
    CallError::BadResponse {
        provider: PROVIDER,
        body: quote(body),
    }
}

/// The list under `key`, a bare list, or nothing (`null`, PHP's empty `{}`).
fn list<'v>(v: &'v Value, key: &str) -> Option<&'v [Value]> {
    let inner = match v {
        Value::Object(o) => match o.get(key) {
            Some(inner) => inner,
            None if o.is_empty() => return Some(&[]),
            None => return None,
        },
        other => other,
    };
    match inner {
        Value::Array(l) => Some(l),
        Value::Null => Some(&[]),
        Value::Object(o) if o.is_empty() => Some(&[]),
        _ => None,
    }
}

fn order(o: &Map<String, Value>) -> Option<Order> {
    let items = match o.get("order_items").or_else(|| o.get("items")) {
        Some(Value::Array(l)) => l.iter().map(item).collect::<Option<Vec<_>>>()?,
        None | Some(Value::Null) => Vec::new(),
        Some(_) => return None,
    };
    Some(Order {
        order_id: o
            .get("order_id")
            .or_else(|| o.get("id"))
            .and_then(id_text)?,
        status: match o.get("status") {
            None | Some(Value::Null) => None,
            Some(s) => Some(status_code(s)?),
        },
        message: o.get("message").and_then(text).unwrap_or_default(),
        reference: o.get("reference").and_then(id_text),
        items,
    })
}

fn item(v: &Value) -> Option<OrderItem> {
    let o = v.as_object()?;
    Some(OrderItem {
        id: o
            .get("id")
            .or_else(|| o.get("order_item_id"))
            .and_then(id_text)?,
        status: o.get("status").and_then(status_code),
        name: o.get("name").and_then(id_text),
        reference: o.get("reference").and_then(id_text),
        message: o.get("message").and_then(text),
    })
}

fn server(v: &Value) -> Option<Server> {
    let o = v.as_object()?;
    let mut addresses: Vec<IpAddr> = Vec::new();
    let mut take = |holder: &Map<String, Value>| {
        for key in ["ipv4", "ipv6"] {
            if let Some(ip) = holder.get(key).and_then(text).and_then(|a| ip_addr(&a)) {
                addresses.push(ip);
            }
        }
    };
    if let Some(Value::Array(networks)) = o.get("networks") {
        networks
            .iter()
            .filter_map(Value::as_object)
            .for_each(&mut take);
    }
    take(o);
    Some(Server {
        id: o.get("id").and_then(id_text)?,
        name: o.get("name").and_then(id_text),
        order_item_id: o.get("order_item_id").and_then(id_text),
        is_running: o.get("is_running").and_then(flag),
        ipv4: addresses.iter().find_map(|a| match a {
            IpAddr::V4(v4) => Some(*v4),
            IpAddr::V6(_) => None,
        }),
        ipv6: addresses.iter().find_map(|a| match a {
            IpAddr::V6(v6) => Some(*v6),
            IpAddr::V4(_) => None,
        }),
    })
}

/// A status code as a number or a numeric string.
fn status_code(v: &Value) -> Option<Status> {
    match v {
        Value::Number(n) => n.as_i64().map(Status),
        Value::String(s) => s.trim().parse().ok().map(Status),
        _ => None,
    }
}

fn flag(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => n.as_i64().map(|n| n != 0),
        Value::String(s) => match s.trim() {
            "1" | "true" => Some(true),
            "0" | "false" | "" => Some(false),
            _ => None,
        },
        _ => None,
    }
}
