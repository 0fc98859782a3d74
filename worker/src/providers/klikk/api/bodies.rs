//! The JSON bodies Klikk's actions take, built by pure functions so that the tests can
//! compare them with the seeds' request examples key by key.

use serde_json::{Map, Value, json};

/// The OS of a new server: seed 000 names it (`"os": "Debian", "os_version": "10.4"`),
/// seed 001 gives a numeric id (`"os": 2`). We send whichever the request has.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Os<'a> {
    Name {
        name: &'a str,
        version: Option<&'a str>,
    },
    Id(u64),
}

/// A new order of one server: `order_create` with one item.
#[derive(Debug, Clone)]
pub struct NewOrder<'a> {
    /// The order's `reference`: we send the job id, so that `order_list` can prove
    /// whether an order whose answer was lost exists.
    pub reference: &'a str,
    /// The item's `name`; Klikk shows it as the item's `reference` in `order_status`.
    pub name: &'a str,
    /// `product.name` ("VPS" in the seeds).
    pub product: &'a str,
    pub ram_gb: f64,
    pub cpu: u64,
    pub storage_gb: u64,
    pub os: Os<'a>,
    /// Joined one per line into `features.sshd.authorized_keys` (the seed shows one
    /// key in a string: an authorized_keys file holds one key per line).
    pub authorized_keys: &'a [String],
    /// `features.sshd.ip_allow`: required (seed 000).
    pub ip_allow: &'a str,
    pub public_ports_allow: Option<&'a str>,
    /// `features.ipv4`; absent means Klikk's default (GAPS: an IPv4 unless it is 0).
    pub ipv4: Option<bool>,
    pub antiaffinity: Option<&'a str>,
    pub firewall_id: Option<&'a str>,
    pub firewall_addme: Option<bool>,
    pub cloud_init_url: Option<&'a str>,
}

/// `order_create`, laid out as the seeds' "Order request".
pub fn order_create(o: &NewOrder<'_>) -> Value {
    let mut sshd = Map::new();
    if !o.authorized_keys.is_empty() {
        sshd.insert(
            "authorized_keys".into(),
            o.authorized_keys.join("\n").into(),
        );
    }
    sshd.insert("ip_allow".into(), o.ip_allow.into());
    if let Some(ports) = o.public_ports_allow {
        sshd.insert("public_ports_allow".into(), ports.into());
    }

    let mut features = Map::new();
    if let Some(ipv4) = o.ipv4 {
        features.insert("ipv4".into(), u8::from(ipv4).into());
    }
    features.insert("sshd".into(), sshd.into());
    if let Some(url) = o.cloud_init_url {
        features.insert("cloud_init_url".into(), url.into());
    }

    let mut options = Map::new();
    options.insert("quantity_ram_gb".into(), o.ram_gb.into());
    options.insert("quantity_cpu".into(), o.cpu.into());
    options.insert("quantity_storage_gb".into(), o.storage_gb.into());
    match o.os {
        Os::Name { name, version } => {
            options.insert("os".into(), name.into());
            if let Some(version) = version {
                options.insert("os_version".into(), version.into());
            }
        }
        Os::Id(id) => {
            options.insert("os".into(), id.into());
        }
    }
    // Seed 000 calls antiaffinity "optional number" and firewall_id a group id: sent
    // as numbers when they are whole numbers, as given otherwise.
    if let Some(group) = o.antiaffinity {
        options.insert("antiaffinity".into(), id_value(group));
    }
    if let Some(id) = o.firewall_id {
        options.insert("firewall_id".into(), id_value(id));
    }
    // Seed 000 shows `"firewall_addme": "1"`: a string flag.
    if let Some(add) = o.firewall_addme {
        options.insert("firewall_addme".into(), if add { "1" } else { "0" }.into());
    }
    options.insert("features".into(), features.into());

    json!({
        "action": "order_create",
        "items": [{
            "name": o.name,
            "product": { "name": o.product, "options": options },
        }],
        "reference": o.reference,
    })
}

pub fn order_status(order_id: &str) -> Value {
    json!({ "action": "order_status", "order_id": id_value(order_id) })
}

pub fn order_list() -> Value {
    json!({ "action": "order_list" })
}

/// The whole order, or one item of it (seed 001; seed 000's examples lost the ids).
pub fn order_cancel(order_id: &str, order_item_id: Option<&str>) -> Value {
    let mut body = json!({ "action": "order_cancel", "order_id": id_value(order_id) });
    if let Some(item) = order_item_id {
        body["order_item_id"] = id_value(item);
    }
    body
}

/// The servers of one order item; `None` sends 0, "0 or blank for all servers".
pub fn server_list(order_item_id: Option<&str>) -> Value {
    json!({
        "action": "server_list",
        "order_item_id": order_item_id.map_or(Value::from(0), id_value),
    })
}

/// Ids travel as JSON numbers, as in the seeds, unless they are not numbers.
fn id_value(id: &str) -> Value {
    id.trim()
        .parse::<u64>()
        .map_or_else(|_| Value::from(id), Value::from)
}
