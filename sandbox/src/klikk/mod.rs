//! The Klikk simulator, faithful to seeds `000_…` (newer text) and `001_…` (older
//! text) and `GAPS.md`.
//!
//! JSON bodies with `action` POSTed to one endpoint, `/api` (neither seed names a
//! URL); `order_create`, `order_status`, `order_list`, `order_cancel`, `server_list`;
//! errors as HTTP 400/401/404 with `{"status": <code>, "message": "<text>"}` (GAPS).
//!
//! Where the seeds are silent, the simulator follows `GAPS.md`; the remaining choices
//! are made here:
//!
//! - Authentication: `X-Account-Token` (when the header is sent it must be right) or
//!   HTTP Basic with the account's username and password. Digest (seed 000: "Basic and
//!   digest accepted") is not simulated; the token's IP filter is not either.
//! - Both seeds' OS forms are accepted: a name with an optional `os_version` (seed
//!   000; without a version the newest is taken) or a numeric id (seed 001), from a
//!   small catalogue ([`OS_CATALOGUE`]); an unknown OS is a 400 naming it.
//! - `features.sshd.ip_allow` is required (seed 000); `quantity_*` must be positive;
//!   `features.ipv4` may be 0/1 as a number, string or boolean (default 1).
//! - Payment: with `auto_pay` (the default) the profile has the credit and a new order
//!   is paid at once (status 200); without it the order answers and stays 100 "Payment
//!   required…" ("The invoice is already created if so") until [`KlikkSim::mark_paid`]
//!   or `POST /_sandbox/klikk/pay {"order_id": N}`. There is no pay call in the API.
//! - A paid order stays 200 for `provisioning` (virtual time), then becomes 0 with one
//!   server per item that was not cancelled; a server gets an IPv4 unless
//!   `features.ipv4` is 0 (GAPS), and always an IPv6.
//! - `order_create` answers as the seed's example (`order_id`, `status`, `message`,
//!   no items); `order_status` adds `order_items` (each item's `name` is the product and
//!   its `reference` the name the order gave it, as in the seed's example);
//!   `order_list` answers `{"orders": [...]}` newest first, each with the order's
//!   `reference` (GAPS).
//! - `order_cancel` of an order (or one item, seed 001) that is not completed cancels
//!   it (900); of a completed or already cancelled one changes nothing (GAPS) but marks
//!   the items as not renewed. Unknown orders or items answer 404. The answer is an
//!   empty 200 (seeds).
//! - `server_list` with `order_item_id` 0 or absent lists every server.
//! - A new server whose item has a `cloud_init_url` fetches it at its first boot
//!   (when the order completes), from loopback, and the simulator records what the
//!   document sets ([`KlikkSim::cloud_init_fetches`]; `cloud_init.rs`).

mod cloud_init;
mod orders;
mod routes;
mod state;
#[cfg(test)]
mod tests;
mod views;

use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;

use crate::sim::{Settler, SimCore, SimHandle};

pub use cloud_init::{CloudConfig, CloudInitFetch, read_cloud_config};
pub use state::OS_CATALOGUE;

/// The path the API is served at (the account's `base_url` is `base_url() + API_PATH`).
pub const API_PATH: &str = "/api";

/// How a [`KlikkSim`] behaves. `Default` gives a demo-friendly simulator (one real
/// second is one virtual minute).
#[derive(Clone)]
pub struct KlikkOptions {
    /// Virtual seconds per real second.
    pub time_factor: f64,
    /// The `X-Account-Token` the account accepts.
    pub token: String,
    /// HTTP Basic credentials the account accepts.
    pub username: String,
    pub password: String,
    /// New orders are paid from the profile's credit at once; when off, they wait in
    /// 1xx until [`KlikkSim::mark_paid`].
    pub auto_pay: bool,
    /// Virtual time from payment to a completed order (2xx → 0).
    pub provisioning: Duration,
    /// Seeds the fault RNG.
    pub seed: u64,
    pub first_order_id: u64,
    pub first_item_id: u64,
    pub first_server_id: u64,
    /// The `customer_id` of `server_list` (the my.klikk profile).
    pub customer_id: u64,
}

impl Default for KlikkOptions {
    fn default() -> Self {
        KlikkOptions {
            time_factor: 60.0,
            token: "sandbox-klikk-token".into(),
            username: "sandbox@klikk.example".into(),
            password: "sandbox-klikk-password".into(),
            auto_pay: true,
            provisioning: Duration::from_secs(5 * 60),
            seed: 3,
            first_order_id: 7300,
            first_item_id: 12_900,
            first_server_id: 5100,
            customer_id: 4711,
        }
    }
}

impl std::fmt::Debug for KlikkOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KlikkOptions")
            .field("time_factor", &self.time_factor)
            .field("token", &"[REDACTED]")
            .field("username", &self.username)
            .field("password", &"[REDACTED]")
            .field("auto_pay", &self.auto_pay)
            .field("provisioning", &self.provisioning)
            .finish_non_exhaustive()
    }
}

/// What the Klikk simulator did that moved money or touched a machine.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum KlikkEvent {
    /// `order_create` placed an order (its invoice exists from now on).
    Order {
        order_id: u64,
        reference: Option<String>,
        items: Vec<u64>,
    },
    /// The order's invoice was paid (auto-pay, `mark_paid` or the pay route).
    Paid { order_id: u64 },
    /// A completed order item got its server.
    ServerCreated {
        server_id: u64,
        order_id: u64,
        order_item_id: u64,
        ipv4: Option<String>,
    },
    /// `order_cancel`; `changed` is false for a completed or already cancelled target.
    Cancel {
        order_id: u64,
        order_item_id: Option<u64>,
        changed: bool,
    },
}

/// How an order item names its OS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OsChoice {
    /// Seed 000: `"os": "Debian", "os_version": "10.4"`.
    Name { name: String, version: String },
    /// Seed 001: `"os": 2`.
    Id(u64),
}

/// An order item as seen from Rust, for tests.
#[derive(Clone, Debug, PartialEq)]
pub struct ItemSnapshot {
    pub id: u64,
    /// The item's `name` in the order (shown as its `reference`).
    pub name: String,
    pub product: String,
    pub os: OsChoice,
    pub ram_gb: f64,
    pub cpu: u64,
    pub storage_gb: u64,
    pub ipv4: bool,
    pub ip_allow: String,
    pub authorized_keys: Option<String>,
    pub cloud_init_url: Option<String>,
    pub status: i64,
    /// `order_cancel` reached it: it is not renewed.
    pub cancel_requested: bool,
    pub server_id: Option<u64>,
}

/// An order as seen from Rust, for tests.
#[derive(Clone, Debug, PartialEq)]
pub struct OrderSnapshot {
    pub id: u64,
    pub reference: Option<String>,
    pub status: i64,
    pub paid: bool,
    pub items: Vec<ItemSnapshot>,
}

/// A server as seen from Rust, for tests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerSnapshot {
    pub id: u64,
    pub order_id: u64,
    pub order_item_id: u64,
    pub name: String,
    pub ipv4: Option<String>,
    pub ipv6: String,
}

/// A running Klikk simulator. Dropping it stops the server.
///
/// `base_url()` is the server's root, without the API path ([`KlikkSim::endpoint`]
/// has it); faults and request counts are per JSON `action` (e.g. `order_create`).
/// These and `ledger()` and `clock()` come from its [`SimHandle`].
pub struct KlikkSim {
    sim: SimHandle<KlikkEvent>,
    state: Arc<Mutex<state::Account>>,
    settler: Settler,
    cloud_init: cloud_init::CloudInitFetcher,
    options: KlikkOptions,
}

impl std::fmt::Debug for KlikkSim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KlikkSim")
            .field("endpoint", &self.endpoint())
            .finish_non_exhaustive()
    }
}

impl std::ops::Deref for KlikkSim {
    type Target = SimHandle<KlikkEvent>;

    fn deref(&self) -> &SimHandle<KlikkEvent> {
        &self.sim
    }
}

impl KlikkSim {
    /// Starts the simulator on a random loopback port (inside a tokio runtime).
    pub async fn start(options: KlikkOptions) -> io::Result<KlikkSim> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        Self::start_on(options, listener)
    }

    /// Starts the simulator on a listener the caller bound (a fixed port).
    pub fn start_on(
        options: KlikkOptions,
        listener: tokio::net::TcpListener,
    ) -> io::Result<KlikkSim> {
        let core = SimCore::new(options.time_factor, options.seed);
        let account = state::Account::new(options.clone(), core.ledger.clone());
        let state = Arc::new(Mutex::new(account));
        let cloud_init = cloud_init::CloudInitFetcher::new();
        let settler = {
            let state = Arc::clone(&state);
            let cloud_init = cloud_init.clone();
            Settler::spawn(core.clock.clone(), core.shutdown.clone(), move |now| {
                let mut account = state::lock(&state);
                let next = account.settle(now);
                for (server_id, url) in account.take_boots() {
                    cloud_init.fetch(server_id, url);
                }
                next
            })
        };
        let app = routes::App {
            core: core.clone(),
            state: Arc::clone(&state),
            settler: settler.waker(),
        };
        let sim = SimHandle::serve_on(core, routes::router(app), "Klikk", listener)?;
        Ok(KlikkSim {
            sim,
            state,
            settler,
            cloud_init,
            options,
        })
    }

    /// The API endpoint: what an account's `base_url` is set to.
    pub fn endpoint(&self) -> String {
        format!("{}{API_PATH}", self.base_url())
    }

    /// The `X-Account-Token` the account accepts.
    pub fn token(&self) -> &str {
        &self.options.token
    }

    /// The HTTP Basic username the account accepts.
    pub fn username(&self) -> &str {
        &self.options.username
    }

    /// The HTTP Basic password the account accepts.
    pub fn password(&self) -> &str {
        &self.options.password
    }

    /// Pays order `order_id`'s invoice now, as a customer would in the billing menu.
    /// False when the order is unknown or cancelled; paying twice changes nothing.
    pub fn mark_paid(&self, order_id: u64) -> bool {
        let now = self.clock().now();
        let paid = {
            let mut account = state::lock(&self.state);
            account.settle(now);
            account.mark_paid(order_id, now).is_ok()
        };
        self.settler.wake();
        paid
    }

    /// Switches auto-pay for orders placed from now on.
    pub fn set_auto_pay(&self, on: bool) {
        state::lock(&self.state).opts.auto_pay = on;
    }

    /// One order as it is now.
    pub fn order(&self, id: u64) -> Option<OrderSnapshot> {
        self.settled().order_snapshot(id)
    }

    /// Every order, oldest first.
    pub fn orders(&self) -> Vec<OrderSnapshot> {
        let account = self.settled();
        account
            .order_ids()
            .into_iter()
            .filter_map(|id| account.order_snapshot(id))
            .collect()
    }

    /// Removes a server as the provider's console would, behind our back (the drift
    /// sweep's gone); false when there is no such server.
    pub fn remove_server(&self, id: u64) -> bool {
        state::lock(&self.state).servers.remove(&id).is_some()
    }

    /// Every server, oldest first.
    pub fn servers(&self) -> Vec<ServerSnapshot> {
        self.settled().server_snapshots()
    }

    /// The cloud-init documents new servers fetched, and what each sets (fetches in
    /// flight are not listed yet).
    pub fn cloud_init_fetches(&self) -> Vec<CloudInitFetch> {
        drop(self.settled());
        self.cloud_init.records()
    }

    /// Stops the server and waits for it.
    pub async fn shutdown(self) {
        self.sim.shutdown().await;
    }

    /// The profile with due changes applied (and new servers' documents fetched).
    fn settled(&self) -> std::sync::MutexGuard<'_, state::Account> {
        let mut account = state::lock(&self.state);
        account.settle(self.clock().now());
        for (server_id, url) in account.take_boots() {
            self.cloud_init.fetch(server_id, url);
        }
        account
    }
}
