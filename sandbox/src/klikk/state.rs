//! The simulated Klikk profile: orders, their items and the servers they became, as
//! plain data. The actions live in `orders.rs`; this file holds the data, the status
//! codes, refusals, and `settle`, which completes paid orders when their time comes.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use super::{ItemSnapshot, KlikkEvent, KlikkOptions, OrderSnapshot, OsChoice, ServerSnapshot};
use crate::sim::{Ledger, VirtualTime};

/// The operating systems the simulated profile can order: `(id, name, versions)`,
/// newest version last. Seed 000 orders "Debian" "10.4", seed 001 the id 2.
pub const OS_CATALOGUE: &[(u64, &str, &[&str])] = &[
    (1, "Debian", &["10.4", "11", "12"]),
    (2, "Ubuntu", &["20.04", "22.04", "24.04"]),
    (3, "AlmaLinux", &["8", "9"]),
    (4, "Rocky Linux", &["9"]),
];

/// Status codes and texts (seeds' "Status codes"; texts from GAPS).
pub const COMPLETED: (i64, &str) = (0, "Order is fully completed");
pub const PAYMENT_REQUIRED: (i64, &str) =
    (100, "Payment required. Go to billing menu to view invoices");
pub const PROCESSING: (i64, &str) = (200, "Order is being processed");
pub const CANCELLED: (i64, &str) = (900, "Order is cancelled");

/// A refusal: answered with HTTP `status` and `{"status": status, "message": ...}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub status: u16,
    pub message: String,
}

pub fn bad_request<T>(message: impl Into<String>) -> Result<T, Refused> {
    Err(Refused {
        status: 400,
        message: message.into(),
    })
}

pub fn not_found<T>(message: impl Into<String>) -> Result<T, Refused> {
    Err(Refused {
        status: 404,
        message: message.into(),
    })
}

#[derive(Debug)]
pub struct Item {
    pub id: u64,
    pub name: String,
    pub product: String,
    pub os: OsChoice,
    pub ram_gb: f64,
    pub cpu: u64,
    pub storage_gb: u64,
    pub ipv4: bool,
    pub ip_allow: String,
    pub authorized_keys: Option<String>,
    /// Fetched by the item's server when it first boots.
    pub cloud_init_url: Option<String>,
    pub cancelled: bool,
    pub cancel_requested: bool,
    pub server_id: Option<u64>,
}

#[derive(Debug)]
pub struct Order {
    pub id: u64,
    pub reference: Option<String>,
    pub paid_at: Option<VirtualTime>,
    pub completed: bool,
    pub items: Vec<Item>,
}

impl Order {
    /// The order's status code and text.
    pub fn status(&self) -> (i64, &'static str) {
        if self.items.iter().all(|item| item.cancelled) {
            CANCELLED
        } else if self.completed {
            COMPLETED
        } else if self.paid_at.is_some() {
            PROCESSING
        } else {
            PAYMENT_REQUIRED
        }
    }

    pub fn item_status(&self, item: &Item) -> (i64, &'static str) {
        if item.cancelled {
            CANCELLED
        } else {
            self.status()
        }
    }
}

#[derive(Debug)]
pub struct Server {
    pub id: u64,
    pub order_id: u64,
    pub order_item_id: u64,
    pub name: String,
    pub cpu: u64,
    pub ram_gb: f64,
    pub storage_gb: u64,
    pub ipv4: Option<String>,
    pub ipv6: String,
}

/// The whole simulated profile.
#[derive(Debug)]
pub struct Account {
    pub opts: KlikkOptions,
    pub ledger: Ledger<KlikkEvent>,
    pub orders: BTreeMap<u64, Order>,
    pub servers: BTreeMap<u64, Server>,
    pub next_order_id: u64,
    pub next_item_id: u64,
    next_server_id: u64,
    next_address: u32,
    /// New servers whose cloud-init document is yet to be fetched: (server, URL).
    boots: Vec<(u64, String)>,
}

/// Locks the profile, surviving a panicked holder (the data stays usable for tests).
pub fn lock(state: &Arc<Mutex<Account>>) -> MutexGuard<'_, Account> {
    state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Account {
    pub fn new(opts: KlikkOptions, ledger: Ledger<KlikkEvent>) -> Account {
        Account {
            next_order_id: opts.first_order_id,
            next_item_id: opts.first_item_id,
            next_server_id: opts.first_server_id,
            next_address: 0,
            boots: Vec::new(),
            opts,
            ledger,
            orders: BTreeMap::new(),
            servers: BTreeMap::new(),
        }
    }

    /// Completes every paid order whose provisioning time has passed (creating its
    /// servers at that virtual time) and returns when the next one is due.
    pub fn settle(&mut self, now: VirtualTime) -> Option<VirtualTime> {
        let provisioning = self.opts.provisioning;
        let mut next: Option<VirtualTime> = None;
        let mut due = Vec::new();
        for order in self.orders.values() {
            let Some(paid_at) = order.paid_at else {
                continue;
            };
            if order.completed || order.items.iter().all(|item| item.cancelled) {
                continue;
            }
            let at = paid_at + provisioning;
            if at <= now {
                due.push((order.id, at));
            } else {
                next = Some(next.map_or(at, |n| n.min(at)));
            }
        }
        for (id, at) in due {
            self.complete(id, at);
        }
        next
    }

    fn complete(&mut self, order_id: u64, at: VirtualTime) {
        let mut created = Vec::new();
        let Some(order) = self.orders.get(&order_id) else {
            return;
        };
        for item in order.items.iter().filter(|item| !item.cancelled) {
            created.push((
                item.id,
                item.name.clone(),
                item.cpu,
                item.ram_gb,
                item.storage_gb,
                item.ipv4,
                item.cloud_init_url.clone(),
            ));
        }
        for (item_id, name, cpu, ram_gb, storage_gb, wants_ipv4, cloud_init_url) in created {
            let server_id = self.next_server_id;
            self.next_server_id += 1;
            let n = self.next_address;
            self.next_address += 1;
            let ipv4 = wants_ipv4.then(|| format!("198.51.{}.{}", 100 + n / 250, n % 250 + 2));
            self.servers.insert(
                server_id,
                Server {
                    id: server_id,
                    order_id,
                    order_item_id: item_id,
                    name,
                    cpu,
                    ram_gb,
                    storage_gb,
                    ipv4: ipv4.clone(),
                    ipv6: format!("2001:db8:4b::{:x}", n + 1),
                },
            );
            if let Some(item) = self
                .orders
                .get_mut(&order_id)
                .and_then(|o| o.items.iter_mut().find(|i| i.id == item_id))
            {
                item.server_id = Some(server_id);
            }
            if let Some(url) = cloud_init_url {
                self.boots.push((server_id, url));
            }
            self.ledger.record_at(
                KlikkEvent::ServerCreated {
                    server_id,
                    order_id,
                    order_item_id: item_id,
                    ipv4,
                },
                at,
            );
        }
        if let Some(order) = self.orders.get_mut(&order_id) {
            order.completed = true;
        }
    }

    /// Pays an order's invoice (auto-pay, `mark_paid`, the pay route).
    pub fn mark_paid(
        &mut self,
        order_id: u64,
        now: VirtualTime,
    ) -> Result<(i64, &'static str), Refused> {
        let Some(order) = self.orders.get_mut(&order_id) else {
            return not_found(format!("Order {order_id} not found"));
        };
        if order.items.iter().all(|item| item.cancelled) {
            return Err(Refused {
                status: 409,
                message: format!("Order {order_id} is cancelled"),
            });
        }
        if order.paid_at.is_none() {
            order.paid_at = Some(now);
            self.ledger.record_at(KlikkEvent::Paid { order_id }, now);
        }
        Ok(self.orders[&order_id].status())
    }

    /// The new servers whose cloud-init documents are to be fetched now.
    pub fn take_boots(&mut self) -> Vec<(u64, String)> {
        std::mem::take(&mut self.boots)
    }

    // ---- views for Rust ----------------------------------------------------------

    pub fn order_ids(&self) -> Vec<u64> {
        self.orders.keys().copied().collect()
    }

    pub fn order_snapshot(&self, id: u64) -> Option<OrderSnapshot> {
        let order = self.orders.get(&id)?;
        Some(OrderSnapshot {
            id,
            reference: order.reference.clone(),
            status: order.status().0,
            paid: order.paid_at.is_some(),
            items: order
                .items
                .iter()
                .map(|item| ItemSnapshot {
                    id: item.id,
                    name: item.name.clone(),
                    product: item.product.clone(),
                    os: item.os.clone(),
                    ram_gb: item.ram_gb,
                    cpu: item.cpu,
                    storage_gb: item.storage_gb,
                    ipv4: item.ipv4,
                    ip_allow: item.ip_allow.clone(),
                    authorized_keys: item.authorized_keys.clone(),
                    cloud_init_url: item.cloud_init_url.clone(),
                    status: order.item_status(item).0,
                    cancel_requested: item.cancel_requested,
                    server_id: item.server_id,
                })
                .collect(),
        })
    }

    pub fn server_snapshots(&self) -> Vec<ServerSnapshot> {
        self.servers
            .values()
            .map(|s| ServerSnapshot {
                id: s.id,
                order_id: s.order_id,
                order_item_id: s.order_item_id,
                name: s.name.clone(),
                ipv4: s.ipv4.clone(),
                ipv6: s.ipv6.clone(),
            })
            .collect()
    }
}
