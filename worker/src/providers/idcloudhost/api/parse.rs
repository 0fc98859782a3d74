//! Pure readers for IDCloudHost answers: one `parse_*` per answer shape, each taking
//! the body as received, so every seed example and GAPS convention is unit-tested.
//!
//! Every reader goes through [`answer`], which turns the seed's error envelope
//! `{"errors": {...}}` into a `CallError` quoting the provider's text, also when it
//! comes with HTTP 200 (the seed prints error bodies without their status).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde_json::{Map, Value};

use super::answers::{
    FloatingIp, Invoice, InvoiceRecord, InvoiceStatus, Location, Payment, Vm, VmStatus,
};
use crate::providers::error::{CallError, bounded, quote};
use crate::providers::fields::{id_text, ip_addr, number_u64, text};

pub(super) const PROVIDER: &str = "idcloudhost";

/// One VM (create, get, reinstall, stop answers); `uuid` is required.
pub fn parse_vm(body: &str) -> Result<Vm, CallError> {
    let v = answer(body)?;
    v.as_object().and_then(vm).ok_or_else(|| bad_response(body))
}

/// `vm/list` and `billing_resources`: a list of VMs (or one wrapped in `data`).
pub fn parse_vm_list(body: &str) -> Result<Vec<Vm>, CallError> {
    let v = answer(body)?;
    list(&v)
        .ok_or_else(|| bad_response(body))?
        .iter()
        .map(|e| e.as_object().and_then(vm).ok_or_else(|| bad_response(body)))
        .collect()
}

/// `payment/invoice/list`: a list of invoices.
pub fn parse_invoices(body: &str) -> Result<Vec<Invoice>, CallError> {
    let v = answer(body)?;
    list(&v)
        .ok_or_else(|| bad_response(body))?
        .iter()
        .map(|e| {
            e.as_object()
                .and_then(invoice)
                .ok_or_else(|| bad_response(body))
        })
        .collect()
}

/// `payment/invoice?invoice_id=`: one invoice.
pub fn parse_invoice(body: &str) -> Result<Invoice, CallError> {
    let v = answer(body)?;
    v.as_object()
        .and_then(invoice)
        .ok_or_else(|| bad_response(body))
}

/// `billing_account/unpaid_amount`: the seed's `{"message": 59.96}`; a bare number or
/// an `unpaid_amount` field are read too. The amount is kept as the provider's text.
pub fn parse_unpaid_amount(body: &str) -> Result<String, CallError> {
    let v = answer(body)?;
    let found = match &v {
        Value::Object(o) => ["message", "unpaid_amount", "amount"]
            .iter()
            .find_map(|k| o.get(*k).and_then(number_text)),
        other => number_text(other),
    };
    found.ok_or_else(|| bad_response(body))
}

/// `pay_invoice`, `pay_all`, `pay_amount`: `success`, `message`, `paid_invoices`.
/// An answer without `success` counts as a success when it carries no error.
pub fn parse_payment(body: &str) -> Result<Payment, CallError> {
    let v = answer(body)?;
    let o = v.as_object().ok_or_else(|| bad_response(body))?;
    let success = match o.get("success") {
        None | Some(Value::Null) => true,
        Some(s) => flag(s).ok_or_else(|| bad_response(body))?,
    };
    let paid_invoices = match o.get("paid_invoices") {
        Some(Value::Array(l)) => Some(
            l.iter()
                .map(|i| id_text(i).ok_or_else(|| bad_response(body)))
                .collect::<Result<Vec<_>, _>>()?,
        ),
        _ => None,
    };
    Ok(Payment {
        success,
        message: o.get("message").and_then(text).filter(|m| !m.is_empty()),
        error_log: o.get("error_log").and_then(text).filter(|m| !m.is_empty()),
        paid_invoices,
        amount_used: o.get("amount_used").and_then(number_text),
    })
}

/// Answers that carry nothing we use (`DELETE user-resource/vm`: `{"success": true}`
/// per GAPS; `vm/start`): an empty body or any object without an error, unless it
/// says `"success": false`.
pub fn parse_done(body: &str) -> Result<(), CallError> {
    if body.trim().is_empty() {
        return Ok(());
    }
    let v = answer(body)?;
    match v.get("success").map(flag) {
        Some(Some(false)) => Err(rejected(
            v.get("message")
                .and_then(text)
                .map_or_else(|| quote(body), |t| bounded(&t)),
            None,
        )),
        Some(None) => Err(bad_response(body)),
        _ => Ok(()),
    }
}

/// `network/ip_addresses`: floating IPs; entries without a readable address are skipped.
pub fn parse_floating_ips(body: &str) -> Result<Vec<FloatingIp>, CallError> {
    let v = answer(body)?;
    let items = list(&v).ok_or_else(|| bad_response(body))?;
    Ok(items
        .iter()
        .filter_map(|e| {
            Some(FloatingIp {
                address: e.get("address").and_then(text)?.trim().parse().ok()?,
                assigned_to: e.get("assigned_to").and_then(id_text),
                kind: e.get("type").and_then(id_text),
            })
        })
        .collect())
}

/// `config/locations`.
pub fn parse_locations(body: &str) -> Result<Vec<Location>, CallError> {
    let v = answer(body)?;
    list(&v)
        .ok_or_else(|| bad_response(body))?
        .iter()
        .map(|e| {
            Ok(Location {
                slug: e
                    .get("slug")
                    .and_then(id_text)
                    .ok_or_else(|| bad_response(body))?,
                display_name: e.get("display_name").and_then(text),
                is_default: e.get("is_default").and_then(flag).unwrap_or(false),
            })
        })
        .collect()
}

/// Classifies a non-2xx answer, quoting the provider's own text where the body has
/// one (GAPS: 400 validation, 401/403 auth, 404 unknown VM, invoice or route).
pub(crate) fn http_error(
    status: u16,
    retry_after: Option<std::time::Duration>,
    body: &str,
) -> CallError {
    let own = serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| error_text(&v).or_else(|| plain_message(&v)));
    match (status, own) {
        (429, _) | (500..=599, _) | (_, None) => {
            CallError::from_status(PROVIDER, status, retry_after, body)
        }
        (401 | 403, Some(message)) => CallError::Unauthorized {
            provider: PROVIDER,
            message,
        },
        (_, Some(message)) => rejected(message, Some(status)),
    }
}

/// The body as JSON, past the error envelope.
fn answer(body: &str) -> Result<Value, CallError> {
    let v: Value = serde_json::from_str(body.trim()).map_err(|_| bad_response(body))?;
    if let Some(message) = error_text(&v) {
        return Err(if is_consumer_refusal(&v) {
            CallError::Unauthorized {
                provider: PROVIDER,
                message,
            }
        } else {
            rejected(message, None)
        });
    }
    Ok(v)
}

/// The text of a non-empty `errors` member: `{"Error": "text"}` (seed), `{"field":
/// "text"}` or `{"field": ["text", …]}` (GAPS: validation), and the seed's
/// `{"consumer::resource_forbidden": {"msg": "text", …}}`.
fn error_text(v: &Value) -> Option<String> {
    let parts: Vec<String> = match v.get("errors")? {
        Value::Object(o) => o.iter().filter_map(|(k, e)| entry_text(k, e)).collect(),
        Value::Array(l) => l.iter().filter_map(|e| entry_text("", e)).collect(),
        Value::String(s) => vec![s.trim().to_owned()],
        _ => Vec::new(),
    };
    let parts: Vec<String> = parts.into_iter().filter(|p| !p.is_empty()).collect();
    (!parts.is_empty()).then(|| bounded(&parts.join("; ")))
}

fn entry_text(key: &str, e: &Value) -> Option<String> {
    let own = match e {
        Value::Object(o) => ["msg", "message", "error"]
            .iter()
            .find_map(|k| o.get(*k).and_then(text))
            .unwrap_or_else(|| e.to_string()),
        Value::Array(l) => l.iter().filter_map(text).collect::<Vec<_>>().join(", "),
        Value::Null => return None,
        other => text(other)?,
    };
    let own = own.trim().to_owned();
    // The seed's generic key says nothing; a field name says which field.
    let generic = key.is_empty() || key.eq_ignore_ascii_case("error") || key.contains("::");
    Some(if generic || own.is_empty() {
        own
    } else {
        format!("{key}: {own}")
    })
}

/// The seed's `consumer::resource_forbidden`: the API gateway refusing our key.
fn is_consumer_refusal(v: &Value) -> bool {
    v.get("errors").and_then(Value::as_object).is_some_and(|o| {
        o.iter().any(|(k, e)| {
            k.starts_with("consumer::") || e.get("type").and_then(Value::as_str) == Some("consumer")
        })
    })
}

/// An API gateway's own refusal (`{"message": "Invalid authentication credentials"}`).
fn plain_message(v: &Value) -> Option<String> {
    ["message", "error", "detail"]
        .iter()
        .find_map(|k| v.get(*k).and_then(Value::as_str))
        .map(bounded)
        .filter(|s| !s.is_empty())
}

fn rejected(message: String, status: Option<u16>) -> CallError {
    CallError::Rejected {
        provider: PROVIDER,
        message,
        status,
    }
}

/// `BadResponse` quoting the body ([`quote`] masks its secrets: token lists and
/// service secrets carry them).
fn bad_response(body: &str) -> CallError {
    CallError::BadResponse {
        provider: PROVIDER,
        body: quote(body),
    }
}

/// The list of an answer: a JSON array, or an object wrapping one in `data`, `items`,
/// `results` or `vms`.
fn list(v: &Value) -> Option<&Vec<Value>> {
    match v {
        Value::Array(l) => Some(l),
        Value::Object(o) => ["data", "items", "results", "vms", "invoices"]
            .iter()
            .find_map(|k| o.get(*k).and_then(Value::as_array)),
        _ => None,
    }
}

fn vm(o: &Map<String, Value>) -> Option<Vm> {
    let s = |k: &str| o.get(k).and_then(text).filter(|t| !t.trim().is_empty());
    Some(Vm {
        uuid: o.get("uuid").and_then(id_text)?,
        id: o.get("id").and_then(id_text),
        name: s("name").unwrap_or_default(),
        description: o.get("description").and_then(text).unwrap_or_default(),
        hostname: s("hostname"),
        status: VmStatus::parse(&s("status").unwrap_or_default()),
        os_name: s("os_name"),
        os_version: s("os_version"),
        public_ipv4: o.get("public_ipv4").and_then(ipv4),
        public_ipv6: o.get("public_ipv6").and_then(ipv6),
        private_ipv4: o.get("private_ipv4").and_then(ipv4),
        billing_account: o
            .get("billing_account")
            .or_else(|| o.get("billing_account_id"))
            .and_then(number_u64),
        created_at: s("created_at"),
    })
}

fn invoice(o: &Map<String, Value>) -> Option<Invoice> {
    let records = match o.get("records_list").or_else(|| o.get("records")) {
        Some(Value::Array(l)) => l
            .iter()
            .filter_map(|r| {
                Some(InvoiceRecord {
                    name: r.get("name").and_then(text)?,
                    descr: r.get("descr").and_then(text),
                    amount: r.get("amount").and_then(number_text),
                })
            })
            .collect(),
        _ => Vec::new(),
    };
    let status = match o.get("status")? {
        Value::Number(n) => n.as_i64()?,
        Value::String(s) => s.trim().parse().ok()?,
        _ => return None,
    };
    Some(Invoice {
        id: o.get("id").and_then(id_text)?,
        status: InvoiceStatus::from_code(status),
        billing_account_id: o.get("billing_account_id").and_then(number_u64),
        total: o
            .get("totals")
            .and_then(|t| t.get("total"))
            .and_then(number_text),
        created: o.get("created").and_then(number_u64),
        records,
        credit: o
            .get("totals")
            .and_then(|t| t.get("credit"))
            .and_then(number_text),
        transactions: match o.get("transaction_list") {
            Some(Value::Array(l)) => l.len(),
            Some(Value::Object(t)) => t.len(),
            _ => 0,
        },
    })
}

/// A number, or a string holding one, as the provider's text.
fn number_text(v: &Value) -> Option<String> {
    match v {
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) if s.trim().parse::<f64>().is_ok() => Some(s.trim().to_owned()),
        _ => None,
    }
}

fn flag(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => n.as_i64().map(|n| n != 0),
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" => Some(true),
            "false" | "0" | "no" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// An address; `""` and `null` (the seed's "no address") are `None`.
fn ipv4(v: &Value) -> Option<Ipv4Addr> {
    match ip_addr(v.as_str()?)? {
        IpAddr::V4(a) => Some(a),
        IpAddr::V6(_) => None,
    }
}

fn ipv6(v: &Value) -> Option<Ipv6Addr> {
    match ip_addr(v.as_str()?)? {
        IpAddr::V6(a) => Some(a),
        IpAddr::V4(_) => None,
    }
}

/// `GET config/vm_images`: each image's `os_name` and its `os_version`s (the seed's
/// "VM images list"), for dry runs.
pub fn parse_vm_images(body: &str) -> Result<Vec<(String, Vec<String>)>, CallError> {
    let v = answer(body)?;
    list(&v)
        .ok_or_else(|| bad_response(body))?
        .iter()
        .map(|e| {
            let name = e
                .get("os_name")
                .and_then(text)
                .ok_or_else(|| bad_response(body))?;
            let versions = e
                .get("versions")
                .and_then(Value::as_array)
                .map(|vs| {
                    vs.iter()
                        .filter_map(|v| v.get("os_version").and_then(id_text))
                        .collect()
                })
                .unwrap_or_default();
            Ok((name, versions))
        })
        .collect()
}
