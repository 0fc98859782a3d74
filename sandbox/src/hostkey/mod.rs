//! The HOSTKEY invapi simulator, faithful to seed `002_…` and `GAPS.md`.
//!
//! Form POSTs to `/auth.php`, `/eq.php`, `/whmcs.php`, `/eq_callback.php` and
//! `/tag.php`, dispatched on `action=`; session tokens from `auth/login`; PIN checks;
//! WHMCS invoices paid from a credit balance; delivery after payment; the PXE
//! reinstall (`eq/reinstall` → `eq/create_pxe` → `eq/boot_dev` → `eq/reboot` →
//! stages on `eq_callback/check` → `eq/boot_dev media=disk` → `eq/clear_pxe`).
//!
//! Where the seed is silent, the simulator follows `GAPS.md`; the remaining choices
//! are documented where they are made and summarised here:
//!
//! - Token lifetimes (`ttl`, default 7200 s) run on the real clock, not the virtual
//!   one: a token is a credential, not a provisioning process, and a compressed
//!   clock would expire it every few real seconds. [`HostkeySim::expire_tokens`]
//!   tests re-login. A login while a token is still valid returns that token (seed:
//!   "If the token is requested again within this time, a valid token will be
//!   returned") with `"new": 0` and its server list refreshed.
//! - Each token keeps its own snapshot of the account's servers (GAPS.md): `eq/*`
//!   and `tag/*` actions on a server ordered after the last login or
//!   `eq/update_servers` answer -1. Billing (`whmcs.php`) is account-wide and does
//!   not depend on the snapshot, so a new order's invoice can be paid at once.
//! - `eq_callback/check` needs no token and takes the key as `key` or
//!   `reinstall_key`. A deploy key answers `Stage` (" (0/5) waiting for the invoice
//!   to be paid", then " (1/5) deployment in progress") until delivery, then `OK`;
//!   deploy and action keys keep answering `OK`; only the reinstall master key is
//!   removed after its `OK` (the seed says so for that key only).
//! - A PXE install starts only on `eq/reboot` while a PXE config exists and the boot
//!   device is `pxe`; stage 0 lasts until the installer "boots". A reboot during an
//!   install restarts it; a reboot into a config whose install already completed is
//!   a [`HostkeyEvent::SuddenReinstall`]. `create_pxe` without `reinstall_key`
//!   reports to the server's newest `eq/reinstall` key, if any; a new `eq/reinstall`
//!   supersedes an unused older key and is refused while an install runs.
//! - `eq/order_instance` with `id` reinstalls without PXE (stages on the returned
//!   master key) and is refused while a reinstall runs (seed: "Do not begin a new
//!   reinstallation until the previous one is complete").
//! - `eq/create_pxe` checks its own password policy (seed: "min 8 symbols, with some
//!   numbers and letters in caps"), which differs from `eq/order_instance`'s.
//! - `eq/create_pxe`, `eq/reinstall`, `eq/reboot`, `eq/on`, `eq/off` need a delivered
//!   (`rent`) server; `eq/boot_dev` and `eq/clear_pxe` work in any state, so that
//!   finalizers can always run. `eq/clear_pxe`'s `hostname` must be the server's
//!   hostname or its PXE config's; clearing when no config exists answers `OK`.
//! - `whmcs/request_cancellation` answers like WHMCS AddCancelRequest
//!   (`{"result":"success","serviceid":N,"userid":N}`); type 1 cancels after the
//!   action delay, type 0 at the end of the month; unpaid invoices are cancelled.
//! - `whmcs/get_client` shows the credit balance as `client.credit`; `whmcs/getcredits`
//!   (also spelled `getcredit`, as the seed's table does) lists every credit movement
//!   in the seed's envelope, oldest first: `apply_credit` (and auto-pay) log
//!   "Credit Applied to Invoice #N" with a negative amount. Ids start at 2526.
//! - `tag/clear` removes the tags added through `tag.php` and keeps the provider's
//!   own (hostname, password, OS), since the seed keeps the root password as a tag.
//! - GET is accepted only for the actions the seed marks "POST/GET" (`set_pin`,
//!   `check_pin`); other GETs answer -1. Unknown `.php` resources answer 404.
//! - New servers get addresses 37.1.0.10, 37.1.0.11, … and 2001:db8:40::8, …; the
//!   OS tag names the seed's example OS ids (180, 187, 205) and "OS #N" otherwise.

mod billing;
mod install;
mod orders;
mod presets;
mod pxe;
mod routes;
mod servers;
mod sessions;
mod state;
mod views;

use std::collections::BTreeMap;
use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;

use crate::sim::{CallbackRecord, CallbackSender, Settler, SimCore, SimHandle};

pub use install::STAGE_SCOPES;

/// How a [`HostkeySim`] behaves. `Default` gives a demo-friendly simulator (one real
/// second is one virtual minute).
#[derive(Clone)]
pub struct HostkeyOptions {
    /// Virtual seconds per real second.
    pub time_factor: f64,
    /// The account API key `auth/login` accepts.
    pub api_key: String,
    /// The account PIN.
    pub pin: String,
    /// Starting credit balance, e.g. `"1000.00"`.
    pub credit: String,
    /// Virtual time from payment to delivery (`pending` → `rent`).
    pub delivery: Duration,
    /// Virtual length of install stages 0 (waiting for PXE boot) to 5.
    pub stage_durations: [Duration; 6],
    /// Virtual time until an action key (create_pxe, boot_dev, reboot, …) says `OK`.
    pub action_delay: Duration,
    /// Seeds the RNG for keys, tokens and faults.
    pub seed: u64,
    /// Id of the first server ordered.
    pub first_server_id: u64,
    /// Id of the first invoice issued.
    pub first_invoice_id: u64,
    /// Monthly price per preset; other presets cost `default_price`.
    pub prices: BTreeMap<String, String>,
    /// Monthly price of presets not in `prices`.
    pub default_price: String,
    /// Pay new invoices from credit at once (the seed: "a credit check will be
    /// performed (if autopayments from credit is set) or a payment invoice will be
    /// issued"). Off by default: the client pays with `whmcs/apply_credit`.
    pub auto_pay: bool,
}

impl Default for HostkeyOptions {
    fn default() -> Self {
        let minute = Duration::from_secs(60);
        HostkeyOptions {
            time_factor: 60.0,
            api_key: "sandbox-hostkey-api-key".into(),
            pin: "1234".into(),
            credit: "1000.00".into(),
            delivery: 10 * minute,
            stage_durations: [
                2 * minute,
                3 * minute,
                3 * minute,
                2 * minute,
                2 * minute,
                minute,
            ],
            action_delay: Duration::from_secs(5),
            seed: 2,
            first_server_id: 40500,
            first_invoice_id: 23500,
            prices: BTreeMap::new(),
            default_price: "5.00".into(),
            auto_pay: false,
        }
    }
}

impl std::fmt::Debug for HostkeyOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostkeyOptions")
            .field("time_factor", &self.time_factor)
            .field("api_key", &"[REDACTED]")
            .field("pin", &"[REDACTED]")
            .field("credit", &self.credit)
            .field("delivery", &self.delivery)
            .field("stage_durations", &self.stage_durations)
            .field("action_delay", &self.action_delay)
            .field("seed", &self.seed)
            .finish_non_exhaustive()
    }
}

/// What the HOSTKEY simulator did that moved money or touched a machine.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum HostkeyEvent {
    /// `eq/order_instance`: a new server, or a reinstall of one (`id` given).
    Order {
        server_id: u64,
        hostname: String,
        preset: String,
        reinstall: bool,
    },
    /// `whmcs/apply_credit` (or auto-pay) moved credit to an invoice.
    Payment {
        invoice_id: u64,
        amount: String,
    },
    /// A paid server was delivered (`pending` → `rent`).
    Delivered {
        server_id: u64,
    },
    PxeCreated {
        server_id: u64,
    },
    /// `eq/clear_pxe` removed an existing PXE config.
    PxeCleared {
        server_id: u64,
    },
    BootDev {
        server_id: u64,
        media: BootDevice,
    },
    Reboot {
        server_id: u64,
    },
    Power {
        server_id: u64,
        on: bool,
    },
    InstallStarted {
        server_id: u64,
    },
    InstallCompleted {
        server_id: u64,
    },
    Cancellation {
        server_id: u64,
    },
    /// A reboot into a PXE config whose install had already completed: the server
    /// was wiped and installed again. Must never happen.
    SuddenReinstall {
        server_id: u64,
    },
}

/// A server's lifecycle as `eq/show` reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ServerStatus {
    /// Ordered, not delivered yet.
    Pending,
    /// Delivered and rented.
    Rent,
    /// Cancelled through `whmcs/request_cancellation`.
    Cancelled,
}

impl ServerStatus {
    /// The status text of `eq/show`.
    pub fn as_str(self) -> &'static str {
        match self {
            ServerStatus::Pending => "pending",
            ServerStatus::Rent => "rent",
            ServerStatus::Cancelled => "cancelled",
        }
    }
}

/// Where a server boots from (`eq/boot_dev media=`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BootDevice {
    Disk,
    Pxe,
    Cd,
}

/// A WHMCS invoice's status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum InvoiceStatus {
    Unpaid,
    Paid,
    Cancelled,
}

impl InvoiceStatus {
    /// The WHMCS status text.
    pub fn as_str(self) -> &'static str {
        match self {
            InvoiceStatus::Unpaid => "Unpaid",
            InvoiceStatus::Paid => "Paid",
            InvoiceStatus::Cancelled => "Cancelled",
        }
    }
}

/// An install as seen from Rust.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstallSnapshot {
    /// 0..=5 while running.
    pub stage: Option<usize>,
    pub completed: bool,
    /// Started by a PXE boot (false: by `eq/order_instance` with `id`).
    pub via_pxe: bool,
}

/// A server as seen from Rust, for tests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerSnapshot {
    pub id: u64,
    pub status: ServerStatus,
    pub hostname: String,
    pub preset: String,
    pub location: String,
    pub ipv4: String,
    pub ipv6: String,
    /// Every tag, `(name, value)`, the `password` tag included.
    pub tags: Vec<(String, String)>,
    pub pxe_config: bool,
    pub boot_device: BootDevice,
    pub power_on: bool,
    pub invoice_id: Option<u64>,
    pub invoice_status: Option<InvoiceStatus>,
    pub install: Option<InstallSnapshot>,
    pub cancellation_requested: bool,
}

impl ServerSnapshot {
    /// The value of tag `name`.
    pub fn tag(&self, name: &str) -> Option<&str> {
        self.tags
            .iter()
            .find(|(tag, _)| tag == name)
            .map(|(_, value)| value.as_str())
    }
}

/// A running HOSTKEY invapi simulator. Dropping it stops the server.
///
/// `base_url()` is the invapi base URL (append `/eq.php` etc.); faults and request
/// counts are per `resource/action` (e.g. `auth/login`). These and `ledger()` and
/// `clock()` come from its [`SimHandle`].
pub struct HostkeySim {
    sim: SimHandle<HostkeyEvent>,
    state: Arc<Mutex<state::Account>>,
    callbacks: CallbackSender,
    api_key: String,
    _settler: Settler,
}

impl std::fmt::Debug for HostkeySim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostkeySim")
            .field("base_url", &self.base_url())
            .finish_non_exhaustive()
    }
}

impl std::ops::Deref for HostkeySim {
    type Target = SimHandle<HostkeyEvent>;

    fn deref(&self) -> &SimHandle<HostkeyEvent> {
        &self.sim
    }
}

impl HostkeySim {
    /// Starts the simulator on a random loopback port (inside a tokio runtime).
    pub async fn start(options: HostkeyOptions) -> io::Result<HostkeySim> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        Self::start_on(options, listener)
    }

    /// Starts the simulator on a listener the caller bound (a fixed port).
    pub fn start_on(
        options: HostkeyOptions,
        listener: tokio::net::TcpListener,
    ) -> io::Result<HostkeySim> {
        let core = SimCore::new(options.time_factor, options.seed);
        let api_key = options.api_key.clone();
        let account = state::Account::new(options, core.ledger.clone(), core.clock.clone())
            .map_err(|err| io::Error::new(io::ErrorKind::InvalidInput, err.0))?;
        let state = Arc::new(Mutex::new(account));
        let callbacks = CallbackSender::new();

        let settler = {
            let state = Arc::clone(&state);
            let callbacks = callbacks.clone();
            Settler::spawn(core.clock.clone(), core.shutdown.clone(), move |now| {
                let mut account = state::lock(&state);
                let next = account.settle(now);
                for (subject, url) in account.take_callbacks() {
                    callbacks.send(subject, url);
                }
                next
            })
        };
        let app = routes::App {
            core: core.clone(),
            state: Arc::clone(&state),
            callbacks: callbacks.clone(),
            settler: settler.waker(),
        };
        let sim = SimHandle::serve_on(core, routes::router(app), "HOSTKEY", listener)?;
        Ok(HostkeySim {
            sim,
            state,
            callbacks,
            api_key,
            _settler: settler,
        })
    }

    /// The API key `auth/login` accepts.
    pub fn api_key(&self) -> &str {
        &self.api_key
    }

    /// The account PIN (as changed by `eq/set_pin`, if it was).
    pub fn pin(&self) -> String {
        state::lock(&self.state).opts.pin.clone()
    }

    /// One server as it is now.
    pub fn server(&self, id: u64) -> Option<ServerSnapshot> {
        let mut account = self.settled();
        account.snapshot(id)
    }

    /// Removes a server as the provider's staff would, behind our back (the drift
    /// sweep's gone); false when there is no such server.
    pub fn remove_server(&self, id: u64) -> bool {
        self.settled().servers.remove(&id).is_some()
    }

    /// Every server, by id.
    pub fn servers(&self) -> Vec<ServerSnapshot> {
        let mut account = self.settled();
        let ids: Vec<u64> = account.server_ids();
        ids.into_iter()
            .filter_map(|id| account.snapshot(id))
            .collect()
    }

    /// The credit balance, e.g. `"995.00"`.
    pub fn credit(&self) -> String {
        self.settled().credit()
    }

    /// Makes every session token invalid at once (the next call with one answers
    /// `auth: …`), to test re-login.
    pub fn expire_tokens(&self) {
        state::lock(&self.state).expire_tokens();
    }

    /// Post-install callbacks sent so far.
    pub fn callbacks(&self) -> Vec<CallbackRecord> {
        self.callbacks.records()
    }

    /// Stops the server and waits for it.
    pub async fn shutdown(self) {
        self.sim.shutdown().await;
    }

    /// The account with due changes applied (and their callbacks sent).
    fn settled(&self) -> std::sync::MutexGuard<'_, state::Account> {
        let mut account = state::lock(&self.state);
        account.settle(self.clock().now());
        for (subject, url) in account.take_callbacks() {
            self.callbacks.send(subject, url);
        }
        account
    }
}
