//! JSON shapes of VMs, floating IPs, invoices, billing accounts and locations,
//! following the seed's examples (fields the simulator has no use for are left out;
//! clients must tolerate that).

use std::time::Duration;

use serde_json::{Value, json};

use super::state::{Account, Invoice, Vm, money};
use crate::sim::{VirtualTime, sql_datetime};

const USER_ID: u64 = 8;
const POOL_UUID: &str = "d2fc6881-9316-46d7-b515-b6cddaeee927";

fn when(account: &Account, t: VirtualTime) -> String {
    sql_datetime(account.clock.wall(t))
}

/// A VM as `user-resource/vm` answers it (seed: "Get VM Info", plus `public_ipv4`
/// per GAPS).
pub fn vm(account: &Account, vm: &Vm) -> Value {
    json!({
        "backup": vm.backup,
        "billing_account": vm.billing_account_id,
        "created_at": when(account, vm.created_at),
        "description": vm.description,
        "designated_pool_name": "General purpose",
        "designated_pool_uuid": vm.designated_pool_uuid.as_deref().unwrap_or(POOL_UUID),
        "hostname": vm.name,
        "id": vm.id,
        "mac": vm.mac,
        "memory": vm.ram_mb,
        "name": vm.name,
        "os_name": vm.os_name,
        "os_version": vm.os_version,
        "private_ipv4": vm.private_ipv4,
        "public_ipv4": vm.public_ipv4,
        "public_ipv6": vm.public_ipv6,
        "status": vm.status.as_str(),
        "storage": [{
            "created_at": when(account, vm.created_at),
            "id": vm.id,
            "name": "sda",
            "pool": "default2",
            "primary": true,
            "replica": [],
            "shared": false,
            "size": vm.disk_gb,
            "type": "block",
            "updated_at": null,
            "user_id": USER_ID,
            "uuid": vm.uuid,
        }],
        "tags": null,
        "updated_at": vm.updated_at.map(|t| when(account, t)),
        "user_id": USER_ID,
        "username": vm.username,
        "uuid": vm.uuid,
        "vcpu": vm.vcpu,
    })
}

/// The invoice record's name for a VM, in the seed's layout
/// (`"Ubuntu-16-04, 2 CPUs, 2 GB RAM, 20 GB disk"`).
pub fn record_name(vm: &Vm) -> String {
    let ram = if vm.ram_mb.is_multiple_of(1024) {
        (vm.ram_mb / 1024).to_string()
    } else {
        format!("{:.1}", vm.ram_mb as f64 / 1024.0)
    };
    format!(
        "{}, {} CPUs, {ram} GB RAM, {} GB disk",
        vm.name, vm.vcpu, vm.disk_gb
    )
}

/// A VM's public IPv4 as a floating IP (seed: "List Floating IPs").
pub fn floating_ip(account: &Account, vm: &Vm) -> Option<Value> {
    let address = vm.public_ipv4.as_ref()?;
    Some(json!({
        "id": vm.id,
        "address": address,
        "user_id": USER_ID,
        "billing_account_id": vm.billing_account_id,
        "type": "public",
        "network_id": null,
        "name": vm.name,
        "enabled": true,
        "created_at": when(account, vm.created_at),
        "updated_at": null,
        "is_deleted": false,
        "is_virtual": false,
        "assigned_to": vm.uuid,
        "assigned_to_resource_type": "virtual_machine",
        "assigned_to_private_ip": vm.private_ipv4,
    }))
}

/// An invoice as `payment/invoice` and `payment/invoice/list` answer it.
pub fn invoice(account: &Account, invoice: &Invoice) -> Value {
    let created = account.clock.unix_secs(invoice.created_at);
    let due = account
        .clock
        .unix_secs(invoice.created_at + Duration::from_secs(14 * 24 * 3600));
    let transactions: Vec<Value> = invoice
        .paid_at
        .map(|at| {
            json!({
                "amount": money(invoice.total_cents()),
                "created": account.clock.unix_secs(at),
                "id": invoice.id,
                "identifier": format!("credit_{}", invoice.id),
                "payment_object_id": null,
            })
        })
        .into_iter()
        .collect();
    json!({
        "billing_account_id": invoice.billing_account_id,
        "created": created,
        "discount_percentage": 0,
        "due_date": due,
        "id": invoice.id,
        "padded_id": format!("{:09}", invoice.id),
        "period_end": due,
        "period_start": created,
        "records_list": [{
            "amount": money(invoice.subtotal_cents),
            "created": created,
            "descr": invoice.vm_uuid,
            "id": invoice.id,
            "invoice_id": invoice.id,
            "item_price": money(invoice.subtotal_cents),
            "location_slug": invoice.location,
            "name": invoice.record_name,
            "qty": 1,
            "qty_unit": "month",
        }],
        "status": invoice.status.code(),
        "totals": {
            "subtotal": money(invoice.subtotal_cents),
            "discount_amount": 0.0,
            "credit": 0.0,
            "vat_tax": money(invoice.vat_cents),
            "total": money(invoice.total_cents()),
        },
        "transaction_list": transactions,
        "vat_percentage": account.opts.vat_percentage,
    })
}

/// The billing account (seed: "Billing account details", the fields that matter).
pub fn billing_account(account: &Account, unpaid_cents: i64) -> Value {
    json!({
        "allow_debt": false,
        "can_pay": !account.opts.payments_forbidden,
        "credit_amount": money(account.credit_cents),
        "email": "user@example.com",
        "id": account.opts.billing_account_id,
        "is_active": true,
        "is_default": true,
        "is_deleted": false,
        "running_totals": {
            "credit_amount": 0,
            "credit_available": money(account.credit_cents),
            "total": 0,
        },
        "title": "sandbox",
        "unpaid_amount": money(unpaid_cents),
        "user_id": USER_ID,
        "vat_percentage": account.opts.vat_percentage,
    })
}

/// `config/locations`.
pub fn locations(account: &Account) -> Value {
    Value::Array(
        account
            .opts
            .locations
            .iter()
            .enumerate()
            .map(|(i, l)| {
                json!({
                    "display_name": l.display_name,
                    "is_default": l.is_default,
                    "is_preferred": false,
                    "description": "",
                    "order_nr": i + 1,
                    "slug": l.slug,
                    "country_code": "est",
                })
            })
            .collect(),
    )
}
