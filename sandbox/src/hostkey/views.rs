//! JSON shapes of `eq/show`, tags and WHMCS invoices, following the seed's examples
//! (fields the simulator has no use for are left out; clients must tolerate that).

use std::time::Duration;

use serde_json::{Value, json};

use super::state::{Account, CreditEntry, Invoice, Server, WHMCS_ID, format_cents};
use crate::sim::{sql_date, sql_datetime};

const NEVER: &str = "0000-00-00 00:00:00";

/// `eq/show`'s answer (seed: "eq/show" positive response).
pub fn show(account: &Account, server: &Server) -> Value {
    let due = account
        .clock
        .wall(server.ordered_at + Duration::from_secs(30 * 24 * 3600));
    let status = server.status.as_str();
    json!({
        "result": "OK",
        "server_data": {
            "id": server.id,
            "ref_tableName": "VPS",
            "Condition_Component": status,
            "account_id": 5724,
            "type_billing": "whmcs_com",
            "is_owner": "Rent",
            "hwconfig": preset_description(&server.preset),
            "status": status,
            "type": "VPS",
            "due_date": sql_date(due),
        },
        "hardware": { "config": preset_description(&server.preset) },
        "location": {
            "dc_location": server.location,
            "location_id": location_id(&server.location),
        },
        "OS": null,
        "IP": [
            {
                "port": "eth0",
                "MAC": server.mac,
                "IP": server.ipv4,
                "status": "enable",
                "main_ip": 1,
                "locked": 0,
                "main_int": 1,
                "description": "",
            },
            {
                "port": "eth0",
                "MAC": server.mac,
                "IP": server.ipv6,
                "status": "enable",
                "main_ip": 0,
                "locked": 0,
                "main_int": 1,
                "description": "",
            },
        ],
        "interfaces": [
            { "type": "eth0", "mac": server.mac, "IsMain": 1, "IsVirt": 0, "Status": "enable" },
        ],
        "tags": tags(server),
        "preset": server.preset,
        "preset_description": preset_description(&server.preset),
    })
}

/// Tags in the seed's shape (`component: "Component1"`, `component_id` = server).
pub fn tags(server: &Server) -> Vec<Value> {
    server
        .tags
        .iter()
        .map(|tag| {
            json!({
                "id": tag.id,
                "component": "Component1",
                "component_id": server.id,
                "tag": tag.name,
                "value": tag.value,
                "extra": "",
                "internal": 0,
            })
        })
        .collect()
}

fn preset_description(preset: &str) -> String {
    format!("Instance {preset}")
}

fn location_id(location: &str) -> usize {
    super::state::LOCATIONS
        .iter()
        .position(|known| *known == location)
        .map_or(1, |index| index + 1)
}

fn dates(account: &Account, invoice: &Invoice) -> (String, String, String) {
    let created = account.clock.wall(invoice.created_at);
    let paid = invoice.paid_at.map_or_else(
        || NEVER.to_owned(),
        |at| sql_datetime(account.clock.wall(at)),
    );
    (sql_date(created), sql_datetime(created), paid)
}

/// One invoice as `get_related_invoices` (and, `with_client`, `get_invoices`) list it.
pub fn invoice_row(account: &Account, invoice: &Invoice, with_client: bool) -> Value {
    let (date, created_at, datepaid) = dates(account, invoice);
    let updated_at = if invoice.paid_at.is_some() {
        datepaid.clone()
    } else {
        created_at.clone()
    };
    let mut row = json!({
        "id": invoice.id,
        "userid": WHMCS_ID,
        "invoicenum": "",
        "date": date,
        "duedate": date,
        "datepaid": datepaid,
        "last_capture_attempt": NEVER,
        "date_refunded": NEVER,
        "date_cancelled": NEVER,
        "subtotal": format_cents(invoice.total_cents),
        "credit": format_cents(invoice.paid_cents),
        "tax": "0.00",
        "tax2": "0.00",
        "total": format_cents(invoice.balance_cents()),
        "taxrate": "0.00",
        "taxrate2": "0.00",
        "status": invoice.status.as_str(),
        "paymentmethod": "paypal",
        "paymethodid": null,
        "notes": "",
        "created_at": created_at,
        "updated_at": updated_at,
    });
    if with_client && let Some(fields) = row.as_object_mut() {
        fields.insert("firstname".into(), json!("Sandbox"));
        fields.insert("lastname".into(), json!("Hostkey"));
        fields.insert("companyname".into(), json!(""));
        fields.insert("currencycode".into(), json!("EUR"));
        fields.insert("currencyprefix".into(), json!(""));
        fields.insert("currencysuffix".into(), json!("EUR"));
    }
    row
}

/// `whmcs/get_invoice`: balance, and an item whose description names the server.
pub fn invoice_detail(account: &Account, invoice: &Invoice) -> Value {
    let (date, _, datepaid) = dates(account, invoice);
    json!({
        "result": "success",
        "invoiceid": invoice.id,
        "invoicenum": "",
        "userid": WHMCS_ID,
        "date": date,
        "duedate": date,
        "datepaid": datepaid,
        "lastcaptureattempt": NEVER,
        "subtotal": format_cents(invoice.total_cents),
        "credit": format_cents(invoice.paid_cents),
        "tax": "0.00",
        "tax2": "0.00",
        "total": format_cents(invoice.total_cents),
        "balance": format_cents(invoice.balance_cents()),
        "taxrate": "0.00",
        "taxrate2": "0.00",
        "status": invoice.status.as_str(),
        "paymentmethod": "paypal",
        "notes": "",
        "ccgateway": false,
        "items": {
            "item": [{
                "id": invoice.id + 2000,
                "type": "Hosting",
                "relid": invoice.server_id,
                "description": invoice.description,
                "amount": format_cents(invoice.total_cents),
                "taxed": 0,
            }]
        },
        "transactions": "",
    })
}

/// `whmcs/get_client` (seed: the fields that matter; `credit` is the balance).
pub fn client(account: &Account) -> Value {
    json!({
        "result": "success",
        "client": {
            "userid": WHMCS_ID,
            "id": WHMCS_ID,
            "firstname": "Sandbox",
            "lastname": "Hostkey",
            "fullname": "Sandbox Hostkey",
            "companyname": "",
            "email": "sandbox@example.com",
            "countrycode": "NL",
            "currency": 2,
            "status": "Active",
            "credit": format_cents(account.credit_cents),
            "currency_code": "EUR",
        },
    })
}

/// `whmcs/getcredits` in the seed's envelope (`message.credits.credit[]`).
pub fn credit_log(account: &Account) -> Value {
    let entries: Vec<Value> = account
        .credit_log
        .iter()
        .map(|e: &CreditEntry| {
            json!({
                "id": e.id,
                "date": sql_date(account.clock.wall(e.at)),
                "description": e.description,
                "amount": format_cents(e.amount_cents),
                "relid": 0,
            })
        })
        .collect();
    json!({
        "result": "OK",
        "message": {
            "result": "success",
            "totalresults": entries.len(),
            "clientid": WHMCS_ID,
            "credits": { "credit": entries },
        },
    })
}
