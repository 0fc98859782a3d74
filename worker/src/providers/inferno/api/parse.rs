//! Pure readers for Inferno's answers: one `parse_*` per answer, each taking the body as
//! received, so every seed example and GAPS convention is unit-tested.
//!
//! JSON answers go through [`answer`], which reads leniently (strict first, then the
//! seed repair of [`lenient_json`]) and turns the failure shape
//! `{"result":"fail","message":"<text>"}` (GAPS) into a `Rejected` quoting the text.
//! `install` answers in `print_r` text ([`super::print_r`]); [`parse_install`] reads
//! that, or JSON should the service ever answer so.

use secrecy::SecretString;
use serde_json::{Map, Value};

use super::answers::{
    ALREADY_INSTALLING, CreatedOrder, InstallAnswer, OrderInfo, OrderStatus, OrderSummary, Product,
    SshKey, Vps, VpsDetails,
};
use super::print_r::{self, PhpArray, PhpValue};
use crate::providers::error::{CallError, bounded, quote};
use crate::providers::fields::{id_text, text};
use crate::providers::lenient_json;

pub(super) const PROVIDER: &str = "inferno";

/// `create` (seed §3): `orderid` (required), `invoiceid`, `productids`.
pub fn parse_create(body: &str) -> Result<CreatedOrder, CallError> {
    let a = answer(body)?;
    a.expect_success()?;
    Ok(CreatedOrder {
        order_id: a.id("orderid").ok_or_else(|| a.bad())?,
        invoice_id: a.id("invoiceid"),
        product_ids: a.id("productids"),
    })
}

/// `list` (seed §2): `products`, a map keyed by pid or a list, each with its `pid` (or
/// `id`), `name` and `price` (or `amount`); the seed shows no example.
pub fn parse_products(body: &str) -> Result<Vec<Product>, CallError> {
    let a = answer(body)?;
    a.expect_success()?;
    let listed: Vec<(Option<&str>, &Value)> = match a.value.get("products") {
        Some(Value::Object(m)) => m.iter().map(|(k, v)| (Some(k.as_str()), v)).collect(),
        Some(Value::Array(l)) => l.iter().map(|v| (None, v)).collect(),
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) if s.trim().is_empty() => Vec::new(),
        Some(_) => return Err(a.bad()),
    };
    listed
        .into_iter()
        .map(|(key, v)| {
            let o = v.as_object().ok_or_else(|| a.bad())?;
            let id = ["pid", "id"]
                .iter()
                .find_map(|k| o.get(*k).and_then(id_text))
                .or_else(|| key.map(str::to_owned))
                .ok_or_else(|| a.bad())?;
            Ok(Product {
                id,
                name: o.get("name").and_then(text),
                price: ["price", "amount"]
                    .iter()
                    .find_map(|k| o.get(*k).and_then(id_text)),
            })
        })
        .collect()
}

/// `orders` (seed §4): a map keyed by order id (or a list), PHP's `[]` when empty.
pub fn parse_orders(body: &str) -> Result<Vec<OrderSummary>, CallError> {
    let a = answer(body)?;
    a.expect_success()?;
    let listed: Vec<(Option<&str>, &Value)> = match a.value.get("orders").ok_or_else(|| a.bad())? {
        Value::Object(m) => m.iter().map(|(k, v)| (Some(k.as_str()), v)).collect(),
        Value::Array(l) => l.iter().map(|v| (None, v)).collect(),
        Value::Null => Vec::new(),
        Value::String(s) if s.trim().is_empty() => Vec::new(),
        _ => return Err(a.bad()),
    };
    listed
        .into_iter()
        .map(|(key, v)| {
            let o = v.as_object().ok_or_else(|| a.bad())?;
            let id = ["id", "orderid"]
                .iter()
                .find_map(|k| o.get(*k).and_then(id_text))
                .or_else(|| key.map(str::to_owned))
                .ok_or_else(|| a.bad())?;
            let status = o.get("status").and_then(text).ok_or_else(|| a.bad())?;
            Ok(OrderSummary {
                id,
                number: o.get("ordernum").and_then(id_text),
                amount: o.get("amount").and_then(id_text),
                invoice_id: o.get("invoiceid").and_then(id_text),
                status: OrderStatus::parse(&status),
            })
        })
        .collect()
}

/// Answers that carry nothing but success (`cancel`, `reboot`, `stop`, `boot`).
pub fn parse_done(body: &str) -> Result<(), CallError> {
    answer(body)?.expect_success()
}

/// `getinfo` (seed §7); before the install `vps_info.result` is `"fail"` (GAPS).
pub fn parse_getinfo(body: &str) -> Result<OrderInfo, CallError> {
    let a = answer(body)?;
    a.expect_success()?;
    let v = &a.value;
    let field = |names: &[&str]| names.iter().find_map(|k| v.get(*k).and_then(text));
    let order_status = field(&["orderStatus", "order_status", "status"]).ok_or_else(|| a.bad())?;
    let vps = match v.get("vps_info") {
        Some(Value::Object(info)) => vps(info),
        None | Some(Value::Null) => Vps::Absent {
            message: String::new(),
        },
        Some(Value::Array(l)) if l.is_empty() => Vps::Absent {
            message: String::new(),
        },
        Some(_) => return Err(a.bad()),
    };
    Ok(OrderInfo {
        order_id: a.id("orderid"),
        order_status: OrderStatus::parse(&order_status),
        product_status: field(&["productStatus", "product_status"]),
        dedicated_ip: field(&["dedicatedip"]).filter(|ip| !ip.trim().is_empty()),
        vps,
    })
}

fn vps(info: &Map<String, Value>) -> Vps {
    let s = |k: &str| {
        info.get(k)
            .and_then(text)
            .map(|t| t.trim().to_owned())
            .filter(|t| !t.is_empty())
    };
    let failed = info
        .get("result")
        .and_then(text)
        .is_some_and(|r| is_fail_word(&r));
    if failed {
        return Vps::Absent {
            message: s("message").unwrap_or_default(),
        };
    }
    Vps::Present(VpsDetails {
        main_id: s("main_id"),
        name: s("vps_name"),
        ip: s("ip"),
        // Kept as printed: the seed's " Included" starts with a space.
        state: info.get("real_state").and_then(text),
        message: s("message"),
        password: s("vps_password").map(SecretString::from),
    })
}

/// `sshkey.add` (GAPS: `{"result":"success","id":N}`).
pub fn parse_sshkey_add(body: &str) -> Result<String, CallError> {
    let a = answer(body)?;
    a.expect_success()?;
    a.id("id")
        .or_else(|| a.id("key_id"))
        .or_else(|| {
            a.value
                .get("key")
                .and_then(|k| k.get("id"))
                .and_then(id_text)
        })
        .ok_or_else(|| a.bad())
}

/// `sshkey.list` (GAPS: `{"result":"success","keys":[{"id","sshkey"}]}`); a map keyed
/// by id and PHP's `[]` are read too.
pub fn parse_sshkey_list(body: &str) -> Result<Vec<SshKey>, CallError> {
    let a = answer(body)?;
    a.expect_success()?;
    let listed: Vec<(Option<&str>, &Value)> = match a.value.get("keys").ok_or_else(|| a.bad())? {
        Value::Array(l) => l.iter().map(|v| (None, v)).collect(),
        Value::Object(m) => m.iter().map(|(k, v)| (Some(k.as_str()), v)).collect(),
        Value::Null => Vec::new(),
        _ => return Err(a.bad()),
    };
    listed
        .into_iter()
        .map(|(key, v)| {
            let id = v
                .get("id")
                .and_then(id_text)
                .or_else(|| key.map(str::to_owned))
                .ok_or_else(|| a.bad())?;
            let key = ["sshkey", "key", "public_key"]
                .iter()
                .find_map(|k| v.get(*k).and_then(text))
                .or_else(|| text(v))
                .ok_or_else(|| a.bad())?;
            Ok(SshKey { id, key })
        })
        .collect()
}

/// `install` (seed §6): `print_r` text in the seed's or PHP's layout (or JSON). Success
/// is `result: success` with no failing `retx`; `error_code` 904 anywhere is an install
/// already under way; any other failure is `Rejected` with `msg` and its code.
pub fn parse_install(body: &str) -> Result<InstallAnswer, CallError> {
    let tree = if body.trim_start().starts_with('{') {
        let value = lenient_json::parse(body)
            .filter(Value::is_object)
            .ok_or_else(|| bad_response(body))?;
        json_to_php(&value)
    } else {
        print_r::parse(body).map_err(|_| bad_response(body))?
    };
    let message = |a: &PhpArray| {
        a.text("msg")
            .or_else(|| a.text("message"))
            .unwrap_or_default()
            .to_owned()
    };
    let code = |a: &PhpArray| a.text("error_code").and_then(|c| c.parse::<i64>().ok());
    let retx = tree.array("retx");
    for part in std::iter::once(&tree).chain(retx) {
        if code(part) == Some(ALREADY_INSTALLING) {
            return Ok(InstallAnswer::AlreadyInstalling {
                message: message(part),
            });
        }
    }
    let refusal = |part: &PhpArray| {
        let said = message(part);
        let said = if said.is_empty() {
            quote(body)
        } else {
            bounded(&said)
        };
        rejected(match code(part) {
            Some(c) if c != 0 => format!("{said} (error_code {c})"),
            _ => said,
        })
    };
    let result = tree.text("result").ok_or_else(|| bad_response(body))?;
    if is_fail_word(result) {
        return Err(refusal(&tree));
    }
    if !is_success_word(result) {
        return Err(bad_response(body));
    }
    if let Some(r) = retx {
        let failed = r.text("result").is_some_and(is_fail_word) || code(r).is_some_and(|c| c != 0);
        if failed {
            return Err(refusal(r));
        }
    }
    let said = retx
        .map(message)
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| message(&tree));
    Ok(InstallAnswer::Accepted { message: said })
}

/// Classifies a non-2xx answer, keeping Inferno's own text when the body is its
/// failure shape; otherwise as [`CallError::from_status`] does.
pub(crate) fn http_error(
    status: u16,
    retry_after: Option<std::time::Duration>,
    body: &str,
) -> CallError {
    let own = lenient_json::parse(body).and_then(|v| fail_text(&v));
    match own {
        Some(message) if matches!(status, 401 | 403) => CallError::Unauthorized {
            provider: PROVIDER,
            message,
        },
        Some(message) if (400..500).contains(&status) && status != 429 => CallError::Rejected {
            provider: PROVIDER,
            message,
            status: Some(status),
        },
        _ => CallError::from_status(PROVIDER, status, retry_after, body),
    }
}

/// A JSON body, past the failure shape.
struct Answer<'a> {
    body: &'a str,
    value: Value,
}

impl Answer<'_> {
    /// `result` may be absent (the seed's `orders`), or say success.
    fn expect_success(&self) -> Result<(), CallError> {
        match self.value.get("result") {
            None => Ok(()),
            Some(Value::Bool(true)) => Ok(()),
            Some(v) if text(v).is_some_and(|t| is_success_word(&t)) => Ok(()),
            Some(_) => Err(self.bad()),
        }
    }

    fn id(&self, key: &str) -> Option<String> {
        self.value.get(key).and_then(id_text)
    }

    fn bad(&self) -> CallError {
        bad_response(self.body)
    }
}

fn answer(body: &str) -> Result<Answer<'_>, CallError> {
    let value = lenient_json::parse(body).ok_or_else(|| bad_response(body))?;
    if !value.is_object() {
        return Err(bad_response(body));
    }
    if let Some(message) = fail_text(&value) {
        return Err(rejected(message));
    }
    Ok(Answer { body, value })
}

/// The text of `{"result":"fail","message":…}` (GAPS), also under `msg` or `error`.
fn fail_text(v: &Value) -> Option<String> {
    let result = v.get("result").and_then(text)?;
    if !is_fail_word(&result) {
        return None;
    }
    let own = ["message", "msg", "error"]
        .iter()
        .find_map(|k| v.get(*k).and_then(text))
        .filter(|t| !t.trim().is_empty());
    Some(own.map_or_else(|| quote(&v.to_string()), |t| bounded(&t)))
}

fn is_fail_word(s: &str) -> bool {
    let s = s.trim();
    ["fail", "failed", "error", "false"]
        .iter()
        .any(|w| s.eq_ignore_ascii_case(w))
}

fn is_success_word(s: &str) -> bool {
    let s = s.trim();
    ["success", "ok", "true"]
        .iter()
        .any(|w| s.eq_ignore_ascii_case(w))
}

fn rejected(message: String) -> CallError {
    CallError::Rejected {
        provider: PROVIDER,
        message,
        status: None,
    }
}

/// `BadResponse` quoting the body ([`quote`] masks the VPS password and keys).
fn bad_response(body: &str) -> CallError {
    CallError::BadResponse {
        provider: PROVIDER,
        body: quote(body),
    }
}

/// JSON as a `print_r` tree, so one reader classifies both shapes of `install`.
fn json_to_php(v: &Value) -> PhpArray {
    let entries = match v {
        Value::Object(o) => o
            .iter()
            .map(|(k, val)| (k.clone(), json_value_to_php(val)))
            .collect(),
        _ => Vec::new(),
    };
    PhpArray(entries)
}

fn json_value_to_php(v: &Value) -> PhpValue {
    match v {
        Value::Object(_) => PhpValue::Array(json_to_php(v)),
        Value::Array(l) => PhpValue::Array(PhpArray(
            l.iter()
                .enumerate()
                .map(|(i, e)| (i.to_string(), json_value_to_php(e)))
                .collect(),
        )),
        other => PhpValue::Text(text(other).unwrap_or_default()),
    }
}

/// `list`'s `ostpls` (seed §2): the template names an install may name, for dry runs.
pub fn parse_templates(body: &str) -> Result<Vec<String>, CallError> {
    let a = answer(body)?;
    a.expect_success()?;
    match a.value.get("ostpls") {
        Some(Value::Array(l)) => Ok(l.iter().filter_map(text).collect()),
        Some(Value::Object(m)) => Ok(m
            .iter()
            .map(|(k, v)| text(v).unwrap_or_else(|| k.clone()))
            .collect()),
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(_) => Err(a.bad()),
    }
}
