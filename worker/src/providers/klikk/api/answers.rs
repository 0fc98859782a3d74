//! What Klikk's answers mean, as typed values: ids are always `String`s (the seeds
//! print them as numbers, or as `NNNN` placeholders), status codes keep their number
//! and say which documented range they fall in.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

/// An order's (or an order item's) `status` code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Status(pub i64);

/// The ranges of the seeds' "Status codes" chapter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// 0: "order is fully completed".
    Completed,
    /// 1xx: "payment required or processing. Go to billing menu to view invoices".
    AwaitingPayment,
    /// 2xx: "pending creation".
    Pending,
    /// 9xx: "order is cancelled".
    Cancelled,
    /// A code outside every documented range.
    Undocumented,
}

impl Status {
    pub fn stage(self) -> Stage {
        match self.0 {
            0 => Stage::Completed,
            100..=199 => Stage::AwaitingPayment,
            200..=299 => Stage::Pending,
            900..=999 => Stage::Cancelled,
            _ => Stage::Undocumented,
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// An order as `order_create`, `order_status` and `order_list` report it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    pub order_id: String,
    /// The order's own status; `None` when the answer had none (see [`Order::status`]).
    pub status: Option<Status>,
    pub message: String,
    /// The order's `reference` (GAPS: shown by `order_list`; we send the job id).
    pub reference: Option<String>,
    pub items: Vec<OrderItem>,
}

/// One entry of `order_items`. In the seed's example the item's `name` is the
/// product ("VPS") and its `reference` the name the order gave the item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderItem {
    pub id: String,
    pub status: Option<Status>,
    pub name: Option<String>,
    pub reference: Option<String>,
    pub message: Option<String>,
}

impl Order {
    /// The order's status, else its first item's (an answer may carry only items').
    pub fn status(&self) -> Option<Status> {
        self.status
            .or_else(|| self.items.iter().find_map(|item| item.status))
    }

    /// The item the order was placed for: the one whose `reference` is `name` (the
    /// name we gave it), else the first.
    pub fn item_named(&self, name: &str) -> Option<&OrderItem> {
        self.items
            .iter()
            .find(|item| item.reference.as_deref() == Some(name))
            .or_else(|| self.items.first())
    }

    pub fn has_item(&self, item_id: &str) -> bool {
        self.items.iter().any(|item| item.id == item_id)
    }
}

/// A server of `server_list`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Server {
    pub id: String,
    pub name: Option<String>,
    pub order_item_id: Option<String>,
    pub is_running: Option<bool>,
    /// The first IPv4 of its `networks`.
    pub ipv4: Option<Ipv4Addr>,
    /// The first IPv6 of its `networks`.
    pub ipv6: Option<Ipv6Addr>,
}
