//! What Inferno's answers mean, as typed values: ids are always `String`s, money stays
//! the provider's text, the VPS password is a `SecretString` that prints `[REDACTED]`.

use secrecy::SecretString;

/// `create`'s answer (seed §3): "order id, save it".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedOrder {
    pub order_id: String,
    pub invoice_id: Option<String>,
    /// `productids`: the service (product instance) ids of the order.
    pub product_ids: Option<String>,
}

/// An order's status as `orders` and `getinfo` print it (WHMCS words).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrderStatus {
    /// Not paid yet: the only status `cancel` accepts (seed §5).
    Pending,
    Active,
    Cancelled,
    Other(String),
}

impl OrderStatus {
    pub fn parse(s: &str) -> OrderStatus {
        let s = s.trim();
        match s.to_ascii_lowercase().as_str() {
            "pending" => OrderStatus::Pending,
            "active" => OrderStatus::Active,
            "cancelled" | "canceled" => OrderStatus::Cancelled,
            _ => OrderStatus::Other(s.to_owned()),
        }
    }

    /// The status word, as recorded for the API's deprovision check.
    pub fn as_str(&self) -> &str {
        match self {
            OrderStatus::Pending => "Pending",
            OrderStatus::Active => "Active",
            OrderStatus::Cancelled => "Cancelled",
            OrderStatus::Other(s) => s,
        }
    }

    /// Cancelled, refused as fraud, terminated: no install can follow.
    pub fn is_dead(&self) -> bool {
        match self {
            OrderStatus::Cancelled => true,
            OrderStatus::Other(s) => {
                let s = s.to_ascii_lowercase();
                ["fraud", "terminat", "cancel", "refund"]
                    .iter()
                    .any(|w| s.contains(w))
            }
            _ => false,
        }
    }
}

/// A tariff of `list` (seed §2: "products - list of tariffs").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Product {
    pub id: String,
    pub name: Option<String>,
    /// As the provider wrote it; `orders` shows the same as an order's `amount`.
    pub price: Option<String>,
}

/// One order of `orders` (seed §4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderSummary {
    pub id: String,
    /// `ordernum`.
    pub number: Option<String>,
    pub amount: Option<String>,
    pub invoice_id: Option<String>,
    pub status: OrderStatus,
}

/// `getinfo`'s answer (seed §7).
#[derive(Debug, Clone)]
pub struct OrderInfo {
    pub order_id: Option<String>,
    /// `orderStatus`.
    pub order_status: OrderStatus,
    /// `productStatus`, as printed.
    pub product_status: Option<String>,
    /// `dedicatedip` (empty in the seed; `vps_info.ip` holds the address).
    pub dedicated_ip: Option<String>,
    pub vps: Vps,
}

/// `vps_info`: absent until an install created the VPS (GAPS: `result: "fail"`).
#[derive(Debug, Clone)]
pub enum Vps {
    Absent { message: String },
    Present(VpsDetails),
}

#[derive(Debug, Clone)]
pub struct VpsDetails {
    pub main_id: Option<String>,
    pub name: Option<String>,
    pub ip: Option<String>,
    /// `real_state` as printed (the seed's " Included" means powered on).
    pub state: Option<String>,
    pub message: Option<String>,
    pub password: Option<SecretString>,
}

impl VpsDetails {
    /// An install (or reinstall) is still running: the state says so, or no address
    /// has been given yet.
    pub fn installing(&self) -> bool {
        let state = self
            .state
            .as_deref()
            .unwrap_or_default()
            .to_ascii_lowercase();
        let busy = ["install", "creat", "queue", "build", "deploy", "progress"]
            .iter()
            .any(|w| state.contains(w));
        busy || self.ip.is_none()
    }
}

impl OrderInfo {
    /// The VPS when it is up: the order Active, the VPS created and addressed, and no
    /// install running.
    pub fn ready_vps(&self) -> Option<&VpsDetails> {
        let product_ok = self
            .product_status
            .as_deref()
            .is_none_or(|p| p.trim().is_empty() || p.trim().eq_ignore_ascii_case("active"));
        match &self.vps {
            Vps::Present(v)
                if self.order_status == OrderStatus::Active && product_ok && !v.installing() =>
            {
                Some(v)
            }
            _ => None,
        }
    }
}

/// A key of `sshkey.list` (GAPS: `{"id": "...", "sshkey": "..."}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshKey {
    pub id: String,
    pub key: String,
}

/// What `install` said, past its failures (which are `CallError`s).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InstallAnswer {
    /// `result: success`: queued (`run=1`) or the parameters are valid (`run=0`).
    Accepted { message: String },
    /// `error_code` 904, "Vps exists…": an install is already under way (seed §6).
    AlreadyInstalling { message: String },
}

/// The error code of "the VPS is already being created" (seed §6).
pub const ALREADY_INSTALLING: i64 = 904;

/// Two public keys are the same key when their type and body match; the comment
/// (Inferno's "label") does not count.
pub fn same_ssh_key(a: &str, b: &str) -> bool {
    let core = |k: &str| {
        let mut parts = k.split_whitespace();
        (
            parts.next().map(str::to_owned),
            parts.next().map(str::to_owned),
        )
    };
    let (ta, ba) = core(a);
    ta.is_some() && ba.is_some() && (ta, ba) == core(b)
}
