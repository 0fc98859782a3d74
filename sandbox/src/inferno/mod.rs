//! The Inferno simulator, faithful to seed `003_…` and `GAPS.md`.
//!
//! One endpoint, `/api_client.php`, dispatched on `action=`, GET or POST (seed §2), every
//! action but `list` checked against the account's `cid` and `key`. Orders are Pending
//! until paid outside the API (GAPS.md); `install` answers in PHP `print_r` text.
//!
//! Where the seed is silent, the simulator follows `GAPS.md`; the remaining choices:
//!
//! - Failures are `{"result":"fail","message":"<text>"}` with HTTP 200, also for a wrong
//!   `cid`/`key` ("Authorization error: wrong cid or key") and unknown actions.
//! - `list` answers `{"result":"success","ostpls":[names…],"products":{pid:{pid,name,price}}}`.
//! - `create` refuses an unknown `pid`. Orders are paid by [`InfernoSim::mark_paid`],
//!   `POST /_sandbox/inferno/pay`, or, with `auto_pay` (the default), by themselves
//!   `payment_delay` after they were placed.
//! - `orders` lists Pending and Active orders only (seed: "Returns both active and
//!   unpaid (Pending) orders"): a cancelled order is no longer listed. With no order it
//!   answers PHP's empty array: `"orders":[]`.
//! - `install` checks, in this order: the order exists (else error_code 901), no install
//!   is under way (904, the seed's text "Vps exists with current main_id (M) , W:O"),
//!   the order is Active (902), the template is one of `ostpls` (903), every
//!   `sshkey_ids` id exists (905), `run` is 0 or 1 (906); a missing `orderid`/`ostpl`
//!   is 900. `run=0` answers success with `msg` "parameters are valid" (GAPS.md);
//!   `run=1` answers the seed's success text and starts the install, which takes
//!   `install_duration`. Failures are printed with the outer `Array (` (as the seed's 904
//!   example), the success answers without (as the seed's success example); the
//!   [`PrintRLayout::Php`] knob prints PHP's real layout instead. An install on an order
//!   whose VPS is up reinstalls it: same main id and address, a new password.
//! - `getinfo` before any install has `vps_info: {"result":"fail","message":"VPS not
//!   found"}` (GAPS.md). While installing, `vps_info.real_state` is `"Installing"`,
//!   `message` says so, the password is empty, and a first install has no `ip` yet;
//!   afterwards `real_state` is the seed's `" Included"` (`" Turned off"` after
//!   `stop`). `orderStatus` and `productStatus` are the order's status; `dedicatedip`
//!   is empty, as in the seed. VPSs get 37.1.0.111, 37.1.0.112, … (the seed's example
//!   address first) and main ids from 21968.
//! - `cancel` cancels Pending orders only, refusing others with the seed's text "Order
//!   ID not found or Status not Pending".
//! - `sshkey.add` takes the key only from a POST body (seed §11) and refuses a key the
//!   account already has ("SSH key already exists"); ids start at 7. `sshkey.list` and
//!   `sshkey.add` answer as GAPS.md says; `sshkey.remove` answers `{"result":"success"}`.
//! - `reboot`, `stop` and `boot` answer `{"result":"success"}` for an installed VPS and
//!   refuse while none exists or an install runs.

mod print_r;
mod routes;
mod state;
mod vps;

use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;

use crate::sim::{Settler, SimCore, SimHandle};

pub use print_r::PrintRLayout;
pub use vps::{
    ALREADY_INSTALLING, BAD_RUN, MISSING_PARAMETER, ORDER_NOT_FOUND, ORDER_NOT_PAID,
    SSH_KEY_NOT_FOUND, TEMPLATE_NOT_FOUND,
};

/// A tariff `create` accepts (`pid`).
#[derive(Clone, Debug)]
pub struct Product {
    pub id: u64,
    pub name: String,
    /// Monthly price, as `orders` prints `amount` ("5.00").
    pub price: String,
}

/// How an [`InfernoSim`] behaves. `Default` gives a demo-friendly simulator (one real
/// second is one virtual minute).
#[derive(Clone)]
pub struct InfernoOptions {
    /// Virtual seconds per real second.
    pub time_factor: f64,
    /// The account's `cid` (the seed's example is 777).
    pub client_id: u64,
    /// The account's `key`.
    pub api_key: String,
    pub products: Vec<Product>,
    /// Template names (`ostpls`).
    pub templates: Vec<String>,
    /// Orders pay themselves `payment_delay` after they were placed.
    pub auto_pay: bool,
    pub payment_delay: Duration,
    /// Virtual time from `install` with `run=1` to an installed, running VPS.
    pub install_duration: Duration,
    /// How `install` answers are printed.
    pub layout: PrintRLayout,
    /// Seeds the RNG for passwords, order numbers and faults.
    pub seed: u64,
    pub first_order_id: u64,
    pub first_invoice_id: u64,
    /// First id of `productids` (the ordered service).
    pub first_service_id: u64,
    pub first_main_id: u64,
    pub first_key_id: u64,
}

impl Default for InfernoOptions {
    fn default() -> Self {
        let minute = Duration::from_secs(60);
        InfernoOptions {
            time_factor: 60.0,
            client_id: 777,
            api_key: "sandbox-inferno-api-key".into(),
            products: vec![
                Product {
                    id: 303,
                    name: "VPS-1".into(),
                    price: "5.00".into(),
                },
                Product {
                    id: 304,
                    name: "VPS-2".into(),
                    price: "9.00".into(),
                },
            ],
            templates: vec![
                "centos7-64-default".into(),
                "debian12-64-default".into(),
                "ubuntu22-64-default".into(),
            ],
            auto_pay: true,
            payment_delay: 2 * minute,
            install_duration: 5 * minute,
            layout: PrintRLayout::Seed,
            seed: 3,
            first_order_id: 47000,
            first_invoice_id: 366000,
            first_service_id: 49700,
            first_main_id: 21968,
            first_key_id: 7,
        }
    }
}

impl std::fmt::Debug for InfernoOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InfernoOptions")
            .field("time_factor", &self.time_factor)
            .field("client_id", &self.client_id)
            .field("api_key", &"[REDACTED]")
            .field("auto_pay", &self.auto_pay)
            .field("payment_delay", &self.payment_delay)
            .field("install_duration", &self.install_duration)
            .field("layout", &self.layout)
            .finish_non_exhaustive()
    }
}

/// What the Inferno simulator did that moved money or touched a machine.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum InfernoEvent {
    /// `create` (or a customer's manual order).
    Order {
        order_id: u64,
        invoice_id: u64,
        product_id: u64,
    },
    /// The customer paid the order's invoice (outside the API).
    Paid {
        order_id: u64,
        invoice_id: u64,
    },
    /// `install` with `run=1` (or the panel's install button); `reinstall` when the
    /// order's VPS had been installed before.
    Install {
        order_id: u64,
        template: String,
        reinstall: bool,
    },
    InstallCompleted {
        order_id: u64,
    },
    /// `cancel` of a Pending order.
    Cancel {
        order_id: u64,
    },
    /// `reboot`, `stop` or `boot`.
    Power {
        order_id: u64,
        action: String,
    },
}

/// An order's status as `orders` and `getinfo` print it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum OrderStatus {
    Pending,
    Active,
    Cancelled,
}

impl OrderStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Pending => "Pending",
            OrderStatus::Active => "Active",
            OrderStatus::Cancelled => "Cancelled",
        }
    }
}

/// A VPS as seen from Rust, for tests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VpsSnapshot {
    pub main_id: u64,
    pub name: String,
    pub ip: String,
    pub password: String,
    pub template: String,
    pub ssh_key_ids: Vec<u64>,
    pub installing: bool,
    /// Installs started (1 = the first; more are reinstalls).
    pub installs: u32,
    pub power_on: bool,
}

/// An order as seen from Rust, for tests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderSnapshot {
    pub id: u64,
    pub invoice_id: u64,
    pub product_id: u64,
    pub status: OrderStatus,
    pub vps: Option<VpsSnapshot>,
}

/// A running Inferno simulator. Dropping it stops the server.
///
/// `base_url()` is the panel's base URL (append `/api_client.php`); faults and request
/// counts are per action name (`create`, `install`, `sshkey.add`, …). These and
/// `ledger()` and `clock()` come from its [`SimHandle`].
pub struct InfernoSim {
    sim: SimHandle<InfernoEvent>,
    state: Arc<Mutex<state::Account>>,
    client_id: u64,
    api_key: String,
    _settler: Settler,
}

impl std::fmt::Debug for InfernoSim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InfernoSim")
            .field("base_url", &self.base_url())
            .finish_non_exhaustive()
    }
}

impl std::ops::Deref for InfernoSim {
    type Target = SimHandle<InfernoEvent>;

    fn deref(&self) -> &SimHandle<InfernoEvent> {
        &self.sim
    }
}

impl InfernoSim {
    /// Starts the simulator on a random loopback port (inside a tokio runtime).
    pub async fn start(options: InfernoOptions) -> io::Result<InfernoSim> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        Self::start_on(options, listener)
    }

    /// Starts the simulator on a listener the caller bound (a fixed port).
    pub fn start_on(
        options: InfernoOptions,
        listener: tokio::net::TcpListener,
    ) -> io::Result<InfernoSim> {
        let core = SimCore::new(options.time_factor, options.seed);
        let (client_id, api_key) = (options.client_id, options.api_key.clone());
        let state = Arc::new(Mutex::new(state::Account::new(
            options,
            core.ledger.clone(),
        )));
        // Applies auto-payments and finished installs on time, so that the ledger is
        // right even when nobody asks.
        let settler = {
            let state = Arc::clone(&state);
            Settler::spawn(core.clock.clone(), core.shutdown.clone(), move |now| {
                state::lock(&state).settle(now)
            })
        };
        let app = routes::App {
            core: core.clone(),
            state: Arc::clone(&state),
            settler: settler.waker(),
        };
        let sim = SimHandle::serve_on(core, routes::router(app), "Inferno", listener)?;
        Ok(InfernoSim {
            sim,
            state,
            client_id,
            api_key,
            _settler: settler,
        })
    }

    /// The account's `cid`.
    pub fn client_id(&self) -> u64 {
        self.client_id
    }

    /// The account's `key`.
    pub fn api_key(&self) -> &str {
        &self.api_key
    }

    /// The customer pays the order; false when there is no such Pending or Active order.
    pub fn mark_paid(&self, order_id: u64) -> bool {
        let now = self.clock().now();
        let mut account = self.settled();
        account.pay(order_id, now)
    }

    /// A customer's order placed outside this service (in Inferno's panel); its id.
    pub fn place_order(&self, product_id: u64) -> Option<u64> {
        let now = self.clock().now();
        self.settled().place(product_id, now).ok()
    }

    /// Starts an install on a paid order as the panel's button would, outside the API
    /// (an install "already being created" when the client asks).
    pub fn start_install(&self, order_id: u64, template: &str) -> Result<(), String> {
        let now = self.clock().now();
        let mut account = self.settled();
        match account.orders.get(&order_id) {
            Some(o) if o.status == OrderStatus::Active => {
                account.start_install(order_id, template, Vec::new(), now);
                Ok(())
            }
            Some(o) => Err(format!("order {order_id} is {}", o.status.as_str())),
            None => Err(format!("no order {order_id}")),
        }
    }

    /// How `install` answers are printed from now on.
    pub fn set_layout(&self, layout: PrintRLayout) {
        state::lock(&self.state).layout = layout;
    }

    /// One order as it is now.
    pub fn order(&self, id: u64) -> Option<OrderSnapshot> {
        self.settled().snapshot(id)
    }

    /// Every order, by id (cancelled ones included).
    pub fn orders(&self) -> Vec<OrderSnapshot> {
        let account = self.settled();
        account
            .orders
            .keys()
            .filter_map(|id| account.snapshot(*id))
            .collect()
    }

    /// The account's SSH keys, `(id, key)`.
    pub fn ssh_keys(&self) -> Vec<(u64, String)> {
        state::lock(&self.state)
            .keys
            .iter()
            .map(|(id, k)| (*id, k.clone()))
            .collect()
    }

    /// Stops the server and waits for it.
    pub async fn shutdown(self) {
        self.sim.shutdown().await;
    }

    fn settled(&self) -> std::sync::MutexGuard<'_, state::Account> {
        let mut account = state::lock(&self.state);
        account.settle(self.clock().now());
        account
    }
}
