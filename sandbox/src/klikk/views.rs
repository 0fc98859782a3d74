//! JSON shapes of orders and servers, following the seeds' examples (`order_status`
//! and `server_list` response examples; `order_list` per GAPS).

use serde_json::{Value, json};

use super::state::{Order, Server};

/// An order as `order_status` shows it; `order_list` adds the order's `reference`.
pub fn order(order: &Order, with_reference: bool) -> Value {
    let (status, message) = order.status();
    let items: Vec<Value> = order
        .items
        .iter()
        .map(|item| {
            let (status, message) = order.item_status(item);
            // As in the seed's example: the item's `name` is the product, and its
            // `reference` the name the order gave the item.
            json!({
                "id": item.id,
                "status": status,
                "name": item.product,
                "reference": item.name,
                "message": message,
            })
        })
        .collect();
    let mut view = json!({
        "order_id": order.id,
        "status": status,
        "message": message,
        "order_items": items,
    });
    if with_reference {
        view["reference"] = order.reference.clone().map_or(Value::Null, Value::from);
    }
    view
}

/// A server as `server_list` shows it (seed 000's example); a server without IPv4
/// has no `ipv4` field.
pub fn server(server: &Server, customer_id: u64) -> Value {
    let mut network = json!({
        "id": server.id * 10,
        "ifindex": 0,
        "name": "Public",
        "ipv6": server.ipv6,
    });
    if let Some(ipv4) = &server.ipv4 {
        network["ipv4"] = json!(ipv4);
    }
    json!({
        "id": server.id,
        "name": server.name,
        "cpu": server.cpu,
        "memory": (server.ram_gb * 1024.0).round() as u64,
        "is_running": 1,
        "customer_id": customer_id,
        "order_item_id": server.order_item_id,
        "networks": [network],
        "storages": [{
            "id": server.id * 10 + 1,
            "lun": 0,
            "name": "NVM SSD",
            "size": server.storage_gb * 1000,
        }],
    })
}
