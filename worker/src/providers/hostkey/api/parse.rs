//! Pure readers for invapi answers: one `parse_*` per answer shape, each taking the body
//! as received, so every documented example and GAPS convention is unit-tested.
//!
//! Every reader goes through [`answer`], which reads the body leniently (strict JSON
//! first, then the seed repair of [`lenient_json`]) and turns the error envelope
//! `{"result": -1, "error": "<text>"}` (GAPS) into a `CallError` quoting the text.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};

use secrecy::SecretString;
use serde_json::{Map, Value};

use super::answers::{
    AsyncAnswer, CreditMove, INSTALL_STAGES, Invoice, InvoiceItem, InvoiceStatus, KeyStatus, Login,
    Payment, ServerInfo, ServerList, ServerStatus, Tag,
};
use crate::providers::error::{CallError, bounded, quote};
use crate::providers::fields::{id_text, ip_addr, number_u64, text};
use crate::providers::lenient_json;

pub(super) const PROVIDER: &str = "hostkey";

/// `auth/login`: `result.token` (or a top-level `token`), `token_expire`, `servers`.
/// Any refusal of a login is a refusal of our API key: `Unauthorized`.
pub fn parse_login(body: &str) -> Result<Login, CallError> {
    let a = answer(body).map_err(|e| match e {
        CallError::Rejected { message, .. } => CallError::Unauthorized {
            provider: PROVIDER,
            message,
        },
        other => other,
    })?;
    let root = a.inner();
    let token = root
        .get("token")
        .or_else(|| a.value.get("token"))
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| a.bad())?;
    Ok(Login {
        token: SecretString::from(token),
        token_expire: root.get("token_expire").and_then(number_u64),
        servers: root
            .get("servers")
            .map(ids)
            .transpose()
            .map_err(|()| a.bad())?
            .unwrap_or_default(),
    })
}

/// The asynchronous shape. A `result: "OK"` whose scope says the PIN is wrong is the
/// seed's `check_pin` failure: it becomes `Rejected` with the seed's words.
pub fn parse_async(body: &str) -> Result<AsyncAnswer, CallError> {
    let a = answer(body)?;
    a.expect_ok()?;
    let v = &a.value;
    let scope = v.get("scope").and_then(text).unwrap_or_default();
    let debug = v.get("debug").and_then(text).filter(|d| !d.is_empty());
    if scope.to_ascii_lowercase().contains("invalid pin") {
        let message = match &debug {
            Some(d) => format!("{}: {d}", scope.trim()),
            None => scope.trim().to_owned(),
        };
        return Err(rejected(bounded(&message)));
    }
    let context = v.get("context");
    let field = |k: &str| context.and_then(|c| c.get(k)).and_then(id_text);
    Ok(AsyncAnswer {
        key: v.get("key").and_then(id_text),
        server_id: field("id"),
        action: field("action"),
        location: field("location"),
        scope,
        debug,
    })
}

/// `eq/update_servers` (GAPS) and `auth/info` (seed): `servers` as a map or a list,
/// `deploy_keys` as a map (or PHP's empty list), at the top or inside `result`.
pub fn parse_server_list(body: &str) -> Result<ServerList, CallError> {
    let a = answer(body)?;
    a.expect_ok()?;
    let root = a.inner();
    let servers = root.get("servers").ok_or_else(|| a.bad())?;
    Ok(ServerList {
        servers: ids(servers).map_err(|()| a.bad())?,
        deploy_keys: deploy_keys(root.get("deploy_keys")).ok_or_else(|| a.bad())?,
    })
}

/// `eq/list`: `{"result":"OK","servers":[ids…]}` (GAPS), ids as numbers or strings.
pub fn parse_list(body: &str) -> Result<Vec<String>, CallError> {
    let a = answer(body)?;
    a.expect_ok()?;
    let servers = a.inner().get("servers").ok_or_else(|| a.bad())?;
    ids(servers).map_err(|()| a.bad())
}

/// `eq/show`: the seed's layout (`server_data`, `IP[]`, `tags[]`, `location`), with the
/// GAPS fields (`hostname`, `status`) read at the top level or inside `server_data`.
pub fn parse_show(body: &str) -> Result<ServerInfo, CallError> {
    let a = answer(body)?;
    a.expect_ok()?;
    let v = &a.value;
    let data = v.get("server_data").filter(|d| d.is_object()).unwrap_or(v);
    let pick = |k: &str| data.get(k).or_else(|| v.get(k));
    let id = pick("id").and_then(id_text).ok_or_else(|| a.bad())?;
    let status = pick("status")
        .or_else(|| data.get("Condition_Component"))
        .and_then(text)
        .map(|s| ServerStatus::parse(&s))
        .ok_or_else(|| a.bad())?;

    let mut password = None;
    let mut tags = Vec::new();
    for tag in read_tags(v.get("tags")) {
        if tag.name.eq_ignore_ascii_case("password") {
            password.get_or_insert_with(|| SecretString::from(tag.value));
        } else {
            tags.push(tag);
        }
    }
    let hostname = pick("hostname")
        .and_then(text)
        .or_else(|| {
            tags.iter()
                .find(|t| t.name == "hostname")
                .map(|t| t.value.clone())
        })
        .filter(|h| !h.is_empty());
    let (ipv4, ipv6) = addresses(v);
    let location = match v.get("location") {
        Some(Value::Object(l)) => l.get("dc_location").and_then(text),
        other => other.and_then(text),
    };
    Ok(ServerInfo {
        id,
        status,
        hostname,
        ipv4,
        ipv6,
        password,
        tags,
        location,
    })
}

/// `get_related_invoices` (`invoices: [...]`) and `get_invoices` (WHMCS's
/// `invoices: {"invoice": [...]}`); an id-keyed map or an empty `""` are read too.
pub fn parse_invoices(body: &str) -> Result<Vec<Invoice>, CallError> {
    let a = answer(body)?;
    a.expect_ok()?;
    let list: Vec<&Value> = match a.inner().get("invoices").ok_or_else(|| a.bad())? {
        Value::Array(l) => l.iter().collect(),
        Value::Object(o) => match o.get("invoice") {
            Some(Value::Array(l)) => l.iter().collect(),
            Some(single @ Value::Object(_)) => vec![single],
            Some(_) => return Err(a.bad()),
            None => o.values().collect(),
        },
        Value::Null => Vec::new(),
        Value::String(s) if s.trim().is_empty() => Vec::new(),
        _ => return Err(a.bad()),
    };
    list.into_iter()
        .map(|i| i.as_object().and_then(invoice).ok_or_else(|| a.bad()))
        .collect()
}

/// `get_invoice`: a flat invoice with `invoiceid` (or `id`) and `balance`.
pub fn parse_invoice(body: &str) -> Result<Invoice, CallError> {
    let a = answer(body)?;
    a.expect_ok()?;
    let root = match a.value.get("invoice") {
        Some(Value::Object(o)) => o,
        _ => a.value.as_object().ok_or_else(|| a.bad())?,
    };
    invoice(root).ok_or_else(|| a.bad())
}

/// `whmcs/get_client`: the account's credit balance, `client.credit` (seed: "998.39").
pub fn parse_client_credit(body: &str) -> Result<String, CallError> {
    let a = answer(body)?;
    a.expect_ok()?;
    let client = a.value.get("client").filter(|c| c.is_object());
    client
        .and_then(|c| c.get("credit"))
        .or_else(|| a.value.get("credit"))
        .and_then(money)
        .ok_or_else(|| a.bad())
}

/// `whmcs/getcredits`: the credit log, `message.credits.credit[]` in the seed (also
/// read without the `message` envelope, or with `credits` as a plain list); no
/// `credits` with `totalresults` 0, or an empty `""`, is an empty log.
pub fn parse_credit_log(body: &str) -> Result<Vec<CreditMove>, CallError> {
    let a = answer(body)?;
    a.expect_ok()?;
    let root = match a.value.get("message") {
        Some(m @ Value::Object(_)) => {
            if let Some(message) = error_text(m) {
                return Err(rejected(message));
            }
            m
        }
        _ => &a.value,
    };
    let credits = match root.get("credits") {
        Some(Value::Object(o)) => o.get("credit").cloned().unwrap_or(Value::Null),
        Some(other) => other.clone(),
        None if root.get("totalresults").and_then(number_u64) == Some(0) => Value::Null,
        None => return Err(a.bad()),
    };
    let list: Vec<&Value> = match &credits {
        Value::Array(l) => l.iter().collect(),
        single @ Value::Object(_) => vec![single],
        Value::Null => Vec::new(),
        Value::String(s) if s.trim().is_empty() => Vec::new(),
        _ => return Err(a.bad()),
    };
    list.into_iter()
        .map(|v| {
            let o = v.as_object().ok_or_else(|| a.bad())?;
            Ok(CreditMove {
                id: o.get("id").and_then(number_u64),
                date: o.get("date").and_then(text),
                description: o.get("description").and_then(text).unwrap_or_default(),
                amount: o.get("amount").and_then(money),
            })
        })
        .collect()
}

/// `apply_credit` (GAPS): `{"result":"success","invoiceid":N,"amount":"5.00","invoicepaid":true}`.
pub fn parse_payment(body: &str) -> Result<Payment, CallError> {
    let a = answer(body)?;
    a.expect_ok()?;
    let v = &a.value;
    Ok(Payment {
        invoice_id: ["invoiceid", "invoice_id"]
            .iter()
            .find_map(|k| v.get(*k))
            .and_then(id_text),
        amount: v.get("amount").and_then(money),
        invoice_paid: v.get("invoicepaid").and_then(flag),
    })
}

/// `eq_callback/check`: `OK` → done, `Stage` → the stage in its scope, another word →
/// pending. A key that is gone is an error envelope and so a `Rejected` (GAPS).
pub fn parse_check(body: &str) -> Result<KeyStatus, CallError> {
    let a = answer(body)?;
    let result = a
        .value
        .get("result")
        .and_then(Value::as_str)
        .ok_or_else(|| a.bad())?;
    let scope = a.value.get("scope").and_then(text).unwrap_or_default();
    if is_ok_word(result) {
        return Ok(KeyStatus::Done);
    }
    if result.trim().eq_ignore_ascii_case("stage") {
        return Ok(match stage_of(&scope) {
            Some((stage, of, text)) => KeyStatus::Stage {
                stage: Some(stage),
                of,
                text: text.to_owned(),
            },
            None => KeyStatus::Stage {
                stage: None,
                of: INSTALL_STAGES,
                text: scope.trim().to_owned(),
            },
        });
    }
    let said = if scope.trim().is_empty() {
        result
    } else {
        scope.trim()
    };
    Ok(KeyStatus::Pending(said.to_owned()))
}

/// Answers that carry nothing we use (`request_cancellation`): any non-error answer
/// whose `result`, if present, says OK.
pub fn parse_done(body: &str) -> Result<(), CallError> {
    answer(body)?.expect_ok()
}

/// Classifies a non-2xx answer, keeping the provider's own text when the body is an
/// error envelope; otherwise as [`CallError::from_status`] does.
pub(crate) fn http_error(
    status: u16,
    retry_after: Option<std::time::Duration>,
    body: &str,
) -> CallError {
    let own_text = lenient_json::parse(body).and_then(|v| error_text(&v));
    match own_text {
        Some(message) if (400..500).contains(&status) && status != 429 => {
            if matches!(status, 401 | 403) || is_auth_text(&message) {
                CallError::Unauthorized {
                    provider: PROVIDER,
                    message,
                }
            } else {
                CallError::Rejected {
                    provider: PROVIDER,
                    message,
                    status: Some(status),
                }
            }
        }
        _ => CallError::from_status(PROVIDER, status, retry_after, body),
    }
}

/// A body read as JSON, past the error envelope.
struct Answer<'a> {
    body: &'a str,
    value: Value,
}

impl Answer<'_> {
    /// `result` when it is an object (`auth/login`, `auth/info`), else the whole answer.
    fn inner(&self) -> &Value {
        self.value
            .get("result")
            .filter(|r| r.is_object())
            .unwrap_or(&self.value)
    }

    /// `result` may be absent, "OK"/"success" (any case), `true` or an object.
    fn expect_ok(&self) -> Result<(), CallError> {
        match self.value.get("result") {
            None | Some(Value::Object(_)) | Some(Value::Bool(true)) => Ok(()),
            Some(Value::String(s)) if is_ok_word(s) => Ok(()),
            Some(_) => Err(self.bad()),
        }
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
    if let Some(message) = error_text(&value) {
        return Err(if is_auth_text(&message) {
            CallError::Unauthorized {
                provider: PROVIDER,
                message,
            }
        } else {
            rejected(message)
        });
    }
    Ok(Answer { body, value })
}

/// The text of an error envelope: `{"result": -1, "error": …}` (GAPS), or WHMCS's own
/// `{"result": "error", "message": …}` from the `whmcs.php` calls.
fn error_text(v: &Value) -> Option<String> {
    let failed = match v.get("result")? {
        Value::Number(n) => n.as_i64() == Some(-1),
        Value::String(s) => s.trim() == "-1" || s.trim().eq_ignore_ascii_case("error"),
        _ => false,
    };
    if !failed {
        return None;
    }
    let own = ["error", "message", "scope"]
        .iter()
        .find_map(|k| v.get(*k).and_then(text))
        .filter(|t| !t.trim().is_empty());
    Some(own.map_or_else(|| quote(&v.to_string()), |t| bounded(&t)))
}

/// GAPS: an expired or invalid token is an error whose text starts with `auth:`.
fn is_auth_text(message: &str) -> bool {
    message
        .trim_start()
        .get(..5)
        .is_some_and(|p| p.eq_ignore_ascii_case("auth:"))
}

fn is_ok_word(s: &str) -> bool {
    let s = s.trim();
    s.eq_ignore_ascii_case("ok") || s.eq_ignore_ascii_case("success")
}

fn rejected(message: String) -> CallError {
    CallError::Rejected {
        provider: PROVIDER,
        message,
        status: None,
    }
}

/// `BadResponse` quoting the body ([`quote`] masks its secrets: answers such as
/// `auth/login` and `eq/show` carry a token or the root password).
fn bad_response(body: &str) -> CallError {
    CallError::BadResponse {
        provider: PROVIDER,
        body: quote(body),
    }
}

fn money(v: &Value) -> Option<String> {
    match v {
        Value::String(_) | Value::Number(_) => id_text(v),
        _ => None,
    }
}

fn flag(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => n.as_i64().map(|n| n != 0),
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" => Some(true),
            "false" | "0" | "no" | "" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// Server ids from a list or a map, without repeats. For a map the values are taken:
/// PHP prints a filtered list as `{"0": 34533, "2": 17405}`, where only the values are
/// ids. A map's order is not kept.
fn ids(v: &Value) -> Result<Vec<String>, ()> {
    let found: Vec<Option<String>> = match v {
        Value::Array(l) => l.iter().map(id_text).collect(),
        Value::Object(o) => o
            .iter()
            .map(|(k, val)| {
                if val.is_object() || val.is_array() {
                    id_text(&Value::from(k.as_str()))
                } else {
                    id_text(val)
                }
            })
            .collect(),
        Value::Null => Vec::new(),
        Value::String(s) if s.trim().is_empty() => Vec::new(),
        _ => return Err(()),
    };
    let mut out: Vec<String> = Vec::with_capacity(found.len());
    for id in found {
        let id = id.ok_or(())?;
        if !out.contains(&id) {
            out.push(id);
        }
    }
    Ok(out)
}

/// `deploy_keys`: `{id: key}`, PHP's `[]` when empty, or a list of `{id, key}` objects.
fn deploy_keys(v: Option<&Value>) -> Option<BTreeMap<String, String>> {
    match v {
        None | Some(Value::Null) => Some(BTreeMap::new()),
        Some(Value::Object(o)) => o
            .iter()
            .map(|(k, val)| Some((k.clone(), id_text(val)?)))
            .collect(),
        Some(Value::Array(l)) => l
            .iter()
            .map(|e| {
                let id = e
                    .get("id")
                    .or_else(|| e.get("server_id"))
                    .and_then(id_text)?;
                let key = e
                    .get("key")
                    .or_else(|| e.get("deploy_key"))
                    .and_then(id_text)?;
                Some((id, key))
            })
            .collect(),
        Some(_) => None,
    }
}

/// Tags as the seed lists them (`[{tag, value, extra}]`) or as a `{name: value}` map.
fn read_tags(v: Option<&Value>) -> Vec<Tag> {
    match v {
        Some(Value::Array(l)) => l
            .iter()
            .filter_map(|t| {
                Some(Tag {
                    name: t.get("tag").and_then(text)?,
                    value: t.get("value").and_then(text).unwrap_or_default(),
                    extra: t.get("extra").and_then(text).unwrap_or_default(),
                })
            })
            .collect(),
        Some(Value::Object(o)) => o
            .iter()
            .map(|(k, val)| Tag {
                name: k.clone(),
                value: text(val).unwrap_or_default(),
                extra: String::new(),
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// The main IPv4 and an IPv6 from the seed's `IP: [{IP, main_ip}]`, or plain lists of
/// addresses, or `ipv4`/`ipv6` fields.
fn addresses(v: &Value) -> (Option<Ipv4Addr>, Option<Ipv6Addr>) {
    let mut listed: Vec<(String, bool)> = Vec::new();
    for key in ["IP", "ip", "ips", "ipv4", "ipv6", "IPv6"] {
        match v.get(key) {
            Some(Value::Array(l)) => listed.extend(l.iter().filter_map(|e| match e {
                Value::Object(o) => {
                    let addr = ["IP", "ip", "address"]
                        .iter()
                        .find_map(|k| o.get(*k))
                        .and_then(text)?;
                    let main = o.get("main_ip").and_then(flag).unwrap_or(false);
                    Some((addr, main))
                }
                other => text(other).map(|a| (a, false)),
            })),
            Some(Value::String(s)) => listed.push((s.clone(), false)),
            _ => {}
        }
    }
    let parsed = |(a, main): &(String, bool)| ip_addr(a).map(|ip| (ip, *main));
    let all: Vec<_> = listed.iter().filter_map(parsed).collect();
    let pick_v4 = |want_main: bool| {
        all.iter().find_map(|(ip, main)| match ip {
            std::net::IpAddr::V4(v4) if *main || !want_main => Some(*v4),
            _ => None,
        })
    };
    let pick_v6 = |want_main: bool| {
        all.iter().find_map(|(ip, main)| match ip {
            std::net::IpAddr::V6(v6) if *main || !want_main => Some(*v6),
            _ => None,
        })
    };
    (
        pick_v4(true).or_else(|| pick_v4(false)),
        pick_v6(true).or_else(|| pick_v6(false)),
    )
}

fn invoice(o: &Map<String, Value>) -> Option<Invoice> {
    let s = |k: &str| o.get(k).and_then(text).filter(|t| !t.is_empty());
    let m = |k: &str| o.get(k).and_then(money);
    let items = match o.get("items") {
        Some(Value::Object(i)) => i.get("item"),
        other => other,
    };
    let items = match items {
        Some(Value::Array(l)) => l.iter().filter_map(item).collect(),
        Some(single @ Value::Object(_)) => item(single).into_iter().collect(),
        _ => Vec::new(),
    };
    Some(Invoice {
        id: ["invoiceid", "id"]
            .iter()
            .find_map(|k| o.get(*k))
            .and_then(id_text)?,
        status: InvoiceStatus::parse(&s("status")?),
        subtotal: m("subtotal"),
        credit: m("credit"),
        total: m("total"),
        balance: m("balance"),
        currency: s("currencycode"),
        date: s("date"),
        due_date: s("duedate"),
        description: s("description"),
        notes: s("notes"),
        items,
        transactions: match o.get("transactions") {
            Some(Value::Array(l)) => l.len(),
            Some(Value::Object(t)) => match t.get("transaction") {
                Some(Value::Array(l)) => l.len(),
                _ => usize::from(!t.is_empty()),
            },
            Some(Value::String(t)) => usize::from(!t.trim().is_empty()),
            _ => 0,
        },
    })
}

fn item(v: &Value) -> Option<InvoiceItem> {
    Some(InvoiceItem {
        id: v.get("id").and_then(id_text),
        kind: v.get("type").and_then(id_text),
        rel_id: v.get("relid").and_then(id_text),
        description: v.get("description").and_then(text)?,
        amount: v.get("amount").and_then(money),
    })
}

/// The first `N/M` in a stage text (" (3/5) post-install…") and the words after it.
fn stage_of(scope: &str) -> Option<(u8, u8, &str)> {
    let b = scope.as_bytes();
    let digits_from = |mut j: usize| {
        while j < b.len() && b[j].is_ascii_digit() {
            j += 1;
        }
        j
    };
    let mut i = 0;
    while i < b.len() {
        if !b[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let end = digits_from(i);
        if b.get(end) == Some(&b'/') {
            let of_end = digits_from(end + 1);
            if of_end > end + 1 {
                let stage = scope[i..end].parse().ok()?;
                let of = scope[end + 1..of_end].parse().ok()?;
                let rest = scope[of_end..].trim_start_matches(')').trim();
                return Some((stage, of, rest));
            }
        }
        i = end;
    }
    None
}

/// `presets/list`: the instances on offer in one location, each as HOSTKEY wrote it
/// (`id`, `name`, `active`, `locations`, `price.<LOCATION>.EUR`, …), for dry runs.
pub fn parse_presets(body: &str) -> Result<Vec<Value>, CallError> {
    let a = answer(body)?;
    a.expect_ok()?;
    match a.value.get("presets") {
        Some(Value::Array(list)) => Ok(list.clone()),
        Some(Value::Object(map)) => Ok(map.values().cloned().collect()),
        _ => Err(a.bad()),
    }
}
