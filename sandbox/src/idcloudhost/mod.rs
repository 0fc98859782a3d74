//! The IDCloudHost simulator, faithful to seed `004_…` and `GAPS.md`.
//!
//! REST under `/v1/`, the API key in an `apikey` header, form parameters (query
//! strings for GET). VM and floating-IP routes live per location: `/v1/{slug}/…` or
//! `/v1/…` for the default one (seed, "Locations"); payment and config routes take no
//! slug (GAPS). VMs are created `starting` and become `running` after a boot time;
//! each new VM gets one unpaid invoice (status 5) whose record names it, paid with
//! `pay_invoice` or `pay_all` from a credit balance (status 10).
//!
//! Where the seed and GAPS are silent, the simulator chooses, and says so here:
//!
//! - A missing or wrong `apikey` answers 401 in the API gateway's words
//!   (`{"message": "No API key found in request"}` / `"Invalid authentication
//!   credentials"`): the seed's tokens are registered "at API Gateway" (Kong).
//! - Validation failures answer 400 `{"errors": {"<field>": "<text>", …}}`, naming
//!   every failing field at once; the rules are the seed's "VM parameters" (name and
//!   username patterns, disk 20–240 GB, RAM 512–65536 MB, 1–16 vCPUs, the password
//!   pattern) and OS names and versions from its examples and image lists.
//! - Unknown VMs, invoices, slugs and routes answer 404 `{"errors": {"Error": …}}`
//!   (for a VM the seed's "No such virtual machine exists. <uuid>"); a VM is only
//!   found in the location it was created in. A known route with another method
//!   answers 405 in the same shape.
//! - A VM's `hostname` is its name; `public_ipv4` is in its JSON from creation on
//!   (unless `reserve_public_ip` is false), and its floating IP is listed by
//!   `network/ip_addresses?vm_uuid=`. Addresses are 80.64.107.10, .11, … (the seed's
//!   network), IPv6 2a05:1cc0:10:30::80:a, …
//! - The invoice of a new VM has one record named like the seed's
//!   (`"<vm name>, 2 CPUs, 2 GB RAM, 20 GB disk"`) whose `descr` (the seed's `"TODO"`)
//!   is the VM's uuid, so that two VMs with one name can tell their invoices apart; it
//!   costs [`IdcloudhostOptions::vm_price`] plus VAT, and is charged to the VM's
//!   billing account.
//! - `pay_invoice` answers like `pay_amount` (GAPS); without enough credit it answers
//!   400 and pays nothing. `pay_all` pays the oldest invoices first while the credit
//!   lasts and lists the rest in `error_log`.
//! - A reinstall (and `vm/start`) boots the VM again: `starting` for the boot time,
//!   then `running`. `vm/stop` stops at once. A deleted VM disappears from every
//!   list; its invoice stays.
//! - [`IdcloudhostOptions::payments_forbidden`] answers `pay_invoice` and `pay_all`
//!   with the seed's 403 `consumer::resource_forbidden` (a token restricted from
//!   payments).

mod billing;
mod routes;
mod state;
mod views;
mod vms;

use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;

use crate::sim::{SimCore, SimHandle};

/// The action names requests are counted and faulted under: `"{METHOD} {route}"`
/// without the location slug, as the seed's "HTTP Request" lines write them.
pub mod actions {
    pub const LOCATIONS: &str = "GET config/locations";
    pub const CREATE_VM: &str = "POST user-resource/vm";
    pub const GET_VM: &str = "GET user-resource/vm";
    pub const DELETE_VM: &str = "DELETE user-resource/vm";
    pub const LIST_VMS: &str = "GET user-resource/vm/list";
    pub const REINSTALL_VM: &str = "POST user-resource/vm/reinstall";
    pub const START_VM: &str = "POST user-resource/vm/start";
    pub const STOP_VM: &str = "POST user-resource/vm/stop";
    pub const FLOATING_IPS: &str = "GET network/ip_addresses";
    pub const BILLING_ACCOUNT: &str = "GET payment/billing_account";
    pub const BILLING_ACCOUNTS: &str = "GET payment/billing_account/list";
    pub const UNPAID_AMOUNT: &str = "GET payment/billing_account/unpaid_amount";
    pub const INVOICE: &str = "GET payment/invoice";
    pub const INVOICES: &str = "GET payment/invoice/list";
    pub const PAY_INVOICE: &str = "POST payment/pay_invoice";
    pub const PAY_ALL: &str = "POST payment/pay_all";
}

/// One location the simulated account can use.
#[derive(Clone, Debug)]
pub struct SimLocation {
    pub slug: String,
    pub display_name: String,
    /// The location of routes without a slug (exactly one should be).
    pub is_default: bool,
}

/// How an [`IdcloudhostSim`] behaves. `Default` gives a demo-friendly simulator (one
/// real second is one virtual minute).
#[derive(Clone)]
pub struct IdcloudhostOptions {
    /// Virtual seconds per real second.
    pub time_factor: f64,
    /// The key the `apikey` header must carry.
    pub api_key: String,
    /// Virtual time a VM stays `starting` (after create, reinstall or start).
    pub boot: Duration,
    /// Starting credit balance, e.g. `"100.00"`.
    pub credit: String,
    /// Price of a new VM before VAT, e.g. `"5.00"`.
    pub vm_price: String,
    pub vat_percentage: u32,
    /// The account's (only) billing account.
    pub billing_account_id: u64,
    /// The seed's two: Cycletown (`cyc01`, default) and Busburg (`bus02`).
    pub locations: Vec<SimLocation>,
    /// Id of the first invoice issued.
    pub first_invoice_id: u64,
    /// `pay_invoice` and `pay_all` answer 403 `consumer::resource_forbidden`.
    pub payments_forbidden: bool,
    /// Seeds the RNG for uuids and faults.
    pub seed: u64,
}

impl Default for IdcloudhostOptions {
    fn default() -> Self {
        IdcloudhostOptions {
            time_factor: 60.0,
            api_key: "sandbox-idcloudhost-api-key".into(),
            boot: Duration::from_secs(120),
            credit: "100.00".into(),
            vm_price: "5.00".into(),
            vat_percentage: 20,
            billing_account_id: 6,
            locations: vec![
                SimLocation {
                    slug: "cyc01".into(),
                    display_name: "Cycletown".into(),
                    is_default: true,
                },
                SimLocation {
                    slug: "bus02".into(),
                    display_name: "Busburg".into(),
                    is_default: false,
                },
            ],
            first_invoice_id: 3_782_544,
            payments_forbidden: false,
            seed: 4,
        }
    }
}

impl std::fmt::Debug for IdcloudhostOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdcloudhostOptions")
            .field("time_factor", &self.time_factor)
            .field("api_key", &"[REDACTED]")
            .field("boot", &self.boot)
            .field("credit", &self.credit)
            .field("vm_price", &self.vm_price)
            .field("billing_account_id", &self.billing_account_id)
            .finish_non_exhaustive()
    }
}

/// What the IDCloudHost simulator did that moved money or touched a machine.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum IdcloudhostEvent {
    VmCreated {
        uuid: String,
        name: String,
        description: String,
        location: String,
    },
    /// An invoice paid from credit (`pay_invoice` or `pay_all`).
    Payment {
        invoice_id: u64,
        amount: String,
    },
    Reinstall {
        uuid: String,
        os_name: String,
        os_version: String,
    },
    Deleted {
        uuid: String,
    },
}

/// A VM's lifecycle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum VmStatus {
    Starting,
    Running,
    Stopped,
}

impl VmStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            VmStatus::Starting => "starting",
            VmStatus::Running => "running",
            VmStatus::Stopped => "stopped",
        }
    }
}

/// An invoice's status, with the seed's codes (5 unpaid, 10 paid).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum InvoiceStatus {
    Unpaid,
    Paid,
}

impl InvoiceStatus {
    pub fn code(self) -> u8 {
        match self {
            InvoiceStatus::Unpaid => 5,
            InvoiceStatus::Paid => 10,
        }
    }
}

/// A VM as seen from Rust, for tests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VmSnapshot {
    pub uuid: String,
    pub name: String,
    pub description: String,
    pub location: String,
    pub status: VmStatus,
    pub os_name: String,
    pub os_version: String,
    pub username: String,
    pub vcpu: u64,
    pub ram_mb: u64,
    pub disk_gb: u64,
    pub public_ipv4: Option<String>,
    pub public_ipv6: String,
    pub billing_account_id: u64,
    /// The invoice issued for it.
    pub invoice_id: u64,
    pub reinstalls: u32,
}

/// An invoice as seen from Rust.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvoiceSnapshot {
    pub id: u64,
    pub status: InvoiceStatus,
    /// VAT included, e.g. `"6.00"`.
    pub total: String,
    pub vm_uuid: String,
}

/// A running IDCloudHost simulator. Dropping it stops the server.
///
/// `base_url()` is the API root (append `/v1/…`); faults and request counts are per
/// action as in [`actions`]. These and `ledger()` and `clock()` come from its
/// [`SimHandle`].
pub struct IdcloudhostSim {
    sim: SimHandle<IdcloudhostEvent>,
    state: Arc<Mutex<state::Account>>,
    api_key: String,
}

impl std::fmt::Debug for IdcloudhostSim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdcloudhostSim")
            .field("base_url", &self.base_url())
            .finish_non_exhaustive()
    }
}

impl std::ops::Deref for IdcloudhostSim {
    type Target = SimHandle<IdcloudhostEvent>;

    fn deref(&self) -> &SimHandle<IdcloudhostEvent> {
        &self.sim
    }
}

impl IdcloudhostSim {
    /// Starts the simulator on a random loopback port (inside a tokio runtime).
    pub async fn start(options: IdcloudhostOptions) -> io::Result<IdcloudhostSim> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        Self::start_on(options, listener)
    }

    /// Starts the simulator on a listener the caller bound (a fixed port).
    pub fn start_on(
        options: IdcloudhostOptions,
        listener: tokio::net::TcpListener,
    ) -> io::Result<IdcloudhostSim> {
        let core = SimCore::new(options.time_factor, options.seed);
        let api_key = options.api_key.clone();
        let account = state::Account::new(options, core.ledger.clone(), core.clock.clone())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let state = Arc::new(Mutex::new(account));
        let app = routes::App {
            core: core.clone(),
            state: Arc::clone(&state),
        };
        let sim = SimHandle::serve_on(core, routes::router(app), "IDCloudHost", listener)?;
        Ok(IdcloudhostSim {
            sim,
            state,
            api_key,
        })
    }

    /// The key the `apikey` header must carry.
    pub fn api_key(&self) -> &str {
        &self.api_key
    }

    /// The account's billing account id.
    pub fn billing_account_id(&self) -> u64 {
        state::lock(&self.state).opts.billing_account_id
    }

    /// One VM as it is now (`None` once deleted).
    pub fn vm(&self, uuid: &str) -> Option<VmSnapshot> {
        self.settled().vm_snapshot(uuid)
    }

    /// Every VM that exists, oldest first.
    pub fn vms(&self) -> Vec<VmSnapshot> {
        let account = self.settled();
        account
            .vm_uuids()
            .iter()
            .filter_map(|uuid| account.vm_snapshot(uuid))
            .collect()
    }

    /// Creates a VM as someone using the provider's console would, not through the
    /// API and without our reference: what the drift sweep reports as untracked.
    /// Answers its uuid.
    pub fn plant_vm(&self, name: &str) -> String {
        let now = self.clock().now();
        let mut account = self.settled();
        let params = state::Params(
            [
                ("name", name),
                ("description", "made in the console"),
                ("os_name", "ubuntu"),
                ("os_version", "22.04-lts"),
                ("disks", "20"),
                ("vcpu", "1"),
                ("ram", "1024"),
                ("username", "root"),
                ("password", "Console!pass1"),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
        );
        let location = account.default_location();
        let vm = account
            .create_vm(&location, &params, now)
            .expect("a planted VM's parameters are valid");
        vm["uuid"].as_str().unwrap_or_default().to_owned()
    }

    /// Removes a VM as the console would, behind our back (the drift sweep's gone);
    /// false when there is no such VM.
    pub fn remove_vm(&self, uuid: &str) -> bool {
        state::lock(&self.state).vms.remove(uuid).is_some()
    }

    /// Every invoice, oldest first.
    pub fn invoices(&self) -> Vec<InvoiceSnapshot> {
        self.settled().invoice_snapshots()
    }

    /// The credit balance, e.g. `"94.00"`.
    pub fn credit(&self) -> String {
        self.settled().credit()
    }

    /// Stops the server and waits for it.
    pub async fn shutdown(self) {
        self.sim.shutdown().await;
    }

    /// The account with due changes applied.
    fn settled(&self) -> std::sync::MutexGuard<'_, state::Account> {
        let mut account = state::lock(&self.state);
        account.settle(self.clock().now());
        account
    }
}
